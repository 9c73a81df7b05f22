"""API keys in a header, a query parameter or a cookie, checked against a key store.

Run it:  uvicorn examples.api_keys:app
Try:     curl -H 'X-API-Key: key-reader' http://127.0.0.1:8000/reports
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa

# --8<-- [start:store]
# Store digests, not keys: a leaked table then gives nothing away.
KEY_STORE = {
    hashlib.sha256(b"key-reader").hexdigest(): aa.Principal("reporting-bot", ["reports:read"]),
    hashlib.sha256(b"key-admin").hexdigest(): aa.Principal("ops", ["reports:read", "reports:write"]),
}


@aa.inline  # a dict lookup: fast enough to run on the event loop
def lookup(key: str) -> aa.Principal | None:
    digest = hashlib.sha256(key.encode()).hexdigest()
    for stored, principal in KEY_STORE.items():
        if hmac.compare_digest(stored, digest):  # constant time, whatever the key
            return principal
    return None


header_key = aa.APIKeyHeader(name="X-API-Key", verifier=lookup)
query_key = aa.APIKeyQuery(name="api_key", verifier=lookup)
cookie_key = aa.APIKeyCookie(name="session", verifier=lookup)
# --8<-- [end:store]

# --8<-- [start:policy]
policy = aa.AuthPolicy(
    rules=[
        aa.Rule("/reports", methods=["GET"], require=[header_key, query_key, cookie_key]),
        aa.Rule("/reports", methods=["POST"], require={header_key: ["reports:write"]}),
    ],
    default=[],
)
# --8<-- [end:policy]


async def reports(request: Request) -> JSONResponse:
    auth = aa.get_auth(request)
    return JSONResponse({"caller": auth.principal.subject, "via": auth.scheme, "method": request.method})


app = Starlette(routes=[Route("/reports", reports, methods=["GET", "POST"])])
app.add_middleware(aa.AuthMiddleware, policy=policy)
