"""HTTP Digest (RFC 7616): the password never crosses the wire.

Run it:  uvicorn examples.digest:app
Try:     curl --digest -u mufasa:'Circle of Life' http://127.0.0.1:8000/
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import asgi_auth as aa

# --8<-- [start:digest]
PASSWORDS = {"mufasa": "Circle of Life"}


@aa.inline
def get_password(username: str) -> str | None:
    return PASSWORDS.get(username)


digest = aa.HTTPDigest(
    realm="http-auth@example.org",
    verifier=get_password,
    algorithms=["SHA-256", "MD5"],  # drop "MD5" once every client speaks SHA-256
    # Workers that share a secret accept each other's nonces (needed with several workers).
    secret=os.environ.get("DIGEST_SECRET", "dev-only-digest-secret-change-me").encode(),
)
policy = aa.AuthPolicy([], default=digest)
# --8<-- [end:digest]


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"Hello, {request.user.display_name}")


app = Starlette(routes=[Route("/", hello)])
app.add_middleware(aa.AuthMiddleware, policy=policy)
