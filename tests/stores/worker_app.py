"""The app each worker process of the multi-worker tests serves: every store on one Redis.

Configured by the environment: `ASGI_AUTH_TEST_REDIS` (the Redis URL),
`ASGI_AUTH_TEST_SECRET` (the Digest secret every worker shares), and optionally
`ASGI_AUTH_TEST_DEADLINE` (the store's deadline) and `ASGI_AUTH_TEST_REPORT_ALL` (log
every store fault, not one in ten seconds). Each answer names
the worker that gave it (`X-Worker`), so a test can tell which process refused.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import asgi_auth as aa
from asgi_auth.redis_store import (
    RedisBackend,
    RedisFailureCounter,
    RedisNonceCounter,
    RedisRevocationList,
)
from tests.stores.workers import ISSUER, JWT_SECRET, PASSWORDS, REFRESH, STALENESS

backend = RedisBackend(
    os.environ["ASGI_AUTH_TEST_REDIS"], deadline=float(os.environ.get("ASGI_AUTH_TEST_DEADLINE", "0.5"))
)
if os.environ.get("ASGI_AUTH_TEST_REPORT_ALL"):
    # Every store fault logged, with when, by which worker, and the whole exception:
    # a test that sees a refusal it did not cause can say what the refusal met.
    def report(what: str, exc: BaseException) -> None:
        trace = "".join(traceback.format_exception(exc)).replace("\n", "\n    ")
        sys.stderr.write(f"{time.time():.3f} worker {os.getpid()}: Redis store {what} failed: {trace}\n")
        sys.stderr.flush()

    backend._report = report  # type: ignore[method-assign]
revocations = RedisRevocationList(backend, refresh_interval=REFRESH, max_staleness=STALENESS)
nonce_counter = RedisNonceCounter(backend)
digest = aa.HTTPDigest(
    verifier=lambda user: PASSWORDS.get(user),
    secret=os.environ["ASGI_AUTH_TEST_SECRET"].encode(),
    nonce_counter=nonce_counter,
)
basic = aa.HTTPBasic(verifier=lambda c: aa.Principal(c.username) if PASSWORDS.get(c.username) == c.password else None)
bearer = aa.HTTPBearer(
    verifier=aa.JWTVerifier(key=JWT_SECRET, algorithms=["HS256"], issuer=ISSUER, revocations=revocations)
)
policy = aa.AuthPolicy(
    [
        aa.Rule("/public", require=[]),
        aa.Rule("/revoke", require=[]),
        aa.Rule("/digest", require=digest),
        aa.Rule("/basic", require=basic),
        aa.Rule("/jwt", require=bearer),
    ],
    default=basic,
    failure_limit=aa.FailureLimit(attempts=5, window=300, schemes=[basic], store=RedisFailureCounter(backend)),
)

WORKER: dict[str, str] = {}
WORKER_ID = str(os.getpid()).encode()


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers=WORKER)


async def revoke(request: Request) -> JSONResponse:
    await revocations.revoke_token(issuer=ISSUER, jti=request.query_params["jti"], expires_at=2e9)
    return JSONResponse({"revoked": True}, headers=WORKER)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    with contextlib.suppress(aa.ServiceUnavailable):  # a Redis down at start-up: 503s until it is back
        await nonce_counter.start()
        await revocations.start()
    yield
    await revocations.aclose()
    await backend.aclose()


routes = [Route(path, ok) for path in ("/public", "/digest", "/basic", "/jwt")] + [
    Route("/revoke", revoke, methods=["POST"])
]
inner = Starlette(routes=routes, lifespan=lifespan)
inner.add_middleware(aa.AuthMiddleware, policy=policy)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Every answer, refusals included, names the worker that gave it."""

    async def named(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-worker", WORKER_ID)]}
        await send(message)

    await inner(scope, receive, named if scope["type"] == "http" else send)
