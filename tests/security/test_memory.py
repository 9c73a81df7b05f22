"""What a client can make the guard keep: bounded in entries and bytes, whatever it sends.

Each test sends a bounded stream of requests designed to grow one table and measures
what stays allocated with tracemalloc, against what one entry costs.
"""

from __future__ import annotations

import random
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
    assert len(policy.match("/r", "GET").decided or {}) <= 1
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


def test_what_any_request_mix_can_pin_is_bounded_as_stated() -> None:
    """docs/security.md: an anonymous client can make the guard keep at most the match
    memo (10,000 entries of at most 256 + 16 characters) and the combined requirements
    (1,024): under 8 MB together, whatever it sends. Everything else it could grow is
    kept only for credentials a verifier accepted."""
    rng = random.Random(7)
    token = jwt.encode({"sub": "u", "exp": int(time.time()) + 600}, SECRET)
    scheme = aa.HTTPBearer(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]))
    key = aa.APIKeyCookie(name="session", verifier=aa.inline({"k": aa.Principal("k")}.get))
    rules = [aa.Rule(f"/r{i}/{{rest:path}}", require=[scheme, key][i % 2]) for i in range(50)]
    policy = aa.AuthPolicy([*rules, aa.Rule("/public", require=[])], default=scheme, root_path="/api")
    app = aa.AuthMiddleware(forgetful, policy)

    def request(i: int) -> tuple[str, str, str, list[tuple[bytes, bytes]]]:
        path = f"/r{i % 60}/" + "/".join("x" * rng.randint(1, 30) for _ in range(rng.randint(1, 8))) + str(i)
        method = rng.choice(["GET", "get", "PoSt", "M" * rng.randint(1, 40), "X" + str(i)])
        root = rng.choice(["", "/api", f"/r{i % 60}", "/x/api"])
        headers = rng.choice(
            [
                [],
                [(b"authorization", b"Bearer" + b" " * rng.randint(1, 50) + token.encode())],
                [(b"authorization", b"Bearer forged" + str(i).encode())],
                [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")],
                [(b"cookie", f"session=k{i}; a=1".encode()), (b"cookie", b"session=k")],
            ]
        )
        return path, method, root, headers

    requests = [request(i) for i in range(25_000)]

    async def go() -> None:
        for path, method, root, headers in requests:
            scope = http_scope(path, method=method, headers=headers, root_path=root)
            await call_asgi(app, scope)

    run(app, [("/public", "GET", [])])  # imports and first-use allocations
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    anyio.run(go)  # from an empty memo to its cap (and emptied on the way)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(policy._memo) <= 10_000 and len(policy._combined) <= 1024
    assert grown < 8_000_000, grown
