"""Many callers at once through one middleware: each sees only its own identity."""

from __future__ import annotations

import gc
import time
import tracemalloc
from typing import Any

import anyio
import anyio.lowlevel
import jwt

import asgi_auth as aa
from tests.conftest import http_scope

SECRET = "isolation-secret-" + "x" * 32


def test_ten_thousand_concurrent_identities_never_mix() -> None:
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    bearer = aa.HTTPBearer(verifier=verifier)
    mismatches: list[tuple[str, str]] = []
    seen = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal seen
        expected = scope["path"].rsplit("/", 1)[1]
        await anyio.lowlevel.checkpoint()  # let every other request run in between
        subject = scope["state"]["auth"].principal.subject
        if subject != expected or scope["user"].display_name != expected:
            mismatches.append((expected, subject))
        seen += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = aa.AuthMiddleware(app, aa.AuthPolicy([], default=bearer))
    exp = int(time.time()) + 600
    tokens = {f"user{i}": jwt.encode({"sub": f"user{i}", "exp": exp}, SECRET) for i in range(10_000)}

    async def one(user: str) -> None:
        scope = http_scope(f"/whoami/{user}", headers=[(b"authorization", f"Bearer {tokens[user]}".encode())])

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200

        await middleware(scope, receive, send)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for user in tokens:
                tg.start_soon(one, user)

    anyio.run(main)
    assert seen == 10_000
    assert mismatches == []


def test_memory_stays_bounded_as_distinct_tokens_stream_through() -> None:
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"], cache_size=500)
    exp = int(time.time()) + 600

    async def stream(start: int, count: int) -> None:
        for i in range(start, start + count):
            assert await verifier(jwt.encode({"sub": f"u{i}", "exp": exp}, SECRET)) is not None

    anyio.run(stream, 0, 2_000)  # warm: the cache is full from here on
    tracemalloc.start()
    anyio.run(stream, 2_000, 10_000)  # one-time allocations (event loop, caches) happen here
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    anyio.run(stream, 12_000, 20_000)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert verifier._cache.bypassing and len(verifier._cache) == 0  # no token twice: cold, holding none
    assert after - before < 128 * 1024, after - before  # 20,000 more tokens, no growth to speak of
