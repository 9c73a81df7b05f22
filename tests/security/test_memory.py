"""What a client can make the guard keep: bounded in entries and bytes, whatever it sends.

Each test sends a bounded stream of requests designed to grow one table and measures
what stays allocated with tracemalloc, against what one entry costs.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import anyio
import jwt

import asgi_auth as aa
from tests.conftest import call_asgi, http_scope

SECRET = "s" * 40


async def forgetful(scope: Any, receive: Any, send: Any) -> None:
    """Answers 200 and keeps nothing, so what stays allocated is the guard's."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


Request = tuple[str, str, list[tuple[bytes, bytes]]]  # path, method, headers


def run(app: Any, requests: list[Request]) -> list[int]:
    async def go() -> list[int]:
        # Each scope is made and dropped here: the guard writes the context into it.
        return [
            int((await call_asgi(app, http_scope(path, method=method, headers=headers)))[0]["status"])
            for path, method, headers in requests
        ]

    return anyio.run(go)


def retained(app: Any, scopes: list[Request]) -> int:
    """Bytes still allocated after the requests, beyond what a warm-up left."""
    run(app, scopes[:10])
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    statuses = run(app, scopes)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    assert set(statuses) <= {200, 400, 401, 403, 405}, set(statuses)
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def test_one_token_spelled_many_ways_is_remembered_once() -> None:
    """Bearer<spaces>token and re-cased scheme words verify, but are not each remembered."""
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 600}, SECRET)
    scheme = aa.HTTPBearer(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]))
    policy = aa.AuthPolicy([aa.Rule("/r", require=scheme)], default=[])
    app = aa.AuthMiddleware(forgetful, policy)
    spellings = [b"Bearer" + b" " * n + token.encode() for n in range(1, 1500)]
    spellings += [b"bEaReR " + token.encode(), b"Bearer " + token.encode() + b" "]
    scopes: list[Request] = [("/r", "GET", [(b"authorization", raw)]) for raw in spellings]
    grown = retained(app, scopes)
    assert run(app, scopes[:3]) == [200, 200, 200]
    assert len(policy.match("/r", "GET")._decided or {}) <= 1
    assert grown < 200_000, grown  # 1,500 padded copies of a 150-byte token would pin > 1 MB


def test_methods_and_paths_a_client_makes_up_are_bounded() -> None:
    policy = aa.AuthPolicy([aa.Rule("/r", require=[])], default=[])
    app = aa.AuthMiddleware(forgetful, policy)
    scopes: list[Request] = [("/r", "M" * 15_000 + str(i), []) for i in range(300)]  # refused: too long
    scopes += [("/r", f"X{i}" + "Y" * 200, []) for i in range(300)]
    scopes += [("/" + "p" * 2000 + str(i), "GET", []) for i in range(300)]
    grown = retained(app, scopes)
    assert all(len(m) <= 16 and len(p) + len(r) <= 256 for p, r, m in policy._memo)
    assert grown < 300_000, grown  # unbounded, this pins > 5 MB
