"""atheris fuzz target: arbitrary requests through AuthMiddleware under every scheme.

Short run (CI, via tests/security/test_atheris.py):
    python fuzz/fuzz_middleware.py -runs=3000
Long run (documented in docs/security.md; a crash is saved as crash-*):
    python fuzz/fuzz_middleware.py -max_total_time=3600 fuzz/corpus
The property: the answer is 200 (only where the policy allows it), 400, 401, 403
or 431 — never an exception, never a 5xx.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import atheris

with atheris.instrument_imports():
    import asgi_auth as aa

SECRET = "fuzz-secret-" + "x" * 32
SCHEMES = [
    aa.APIKeyHeader(name="X-Key", verifier=aa.inline({"k": aa.Principal("k")}.get)),
    aa.APIKeyQuery(name="key", verifier=aa.inline({"k": aa.Principal("k")}.get)),
    aa.APIKeyCookie(name="session", verifier=aa.inline({"k": aa.Principal("k")}.get)),
    aa.HTTPBasic(verifier=aa.inline(lambda c: aa.Principal(c.username) if c.password == "pw" else None)),
    aa.HTTPBearer(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"])),
    aa.HTTPDigest(verifier=aa.inline({"u": "pw"}.get)),
]
POLICY = aa.AuthPolicy(
    [
        aa.Rule("/public", require=[]),
        aa.Rule("/optional/{rest:path}", require=[{}, *SCHEMES]),
        aa.Rule("/items/{id:int}", methods=["GET"], require={SCHEMES[4]: ["read"]}),
    ],
    default=SCHEMES,
)
HEADER_NAMES = [b"authorization", b"x-key", b"cookie", b"host", b"x-other"]
ALLOWED = {200, 400, 401, 403, 431}


async def inner(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


APP = aa.AuthMiddleware(inner, POLICY)
LOOP = asyncio.new_event_loop()


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    path = "/" + fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 60))
    method = ["GET", "HEAD", "POST", "DELETE"][fdp.ConsumeIntInRange(0, 3)]
    headers = [
        (HEADER_NAMES[fdp.ConsumeIntInRange(0, len(HEADER_NAMES) - 1)], fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200)))
        for _ in range(fdp.ConsumeIntInRange(0, 5))
    ]
    scope = {
        "type": "http" if fdp.ConsumeBool() else "websocket",
        "method": method,
        "path": path,
        "raw_path": path.encode("utf-8", "surrogatepass"),
        "root_path": "",
        "query_string": fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 100)),
        "headers": headers,
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"} if scope["type"] == "websocket" else {"type": "http.request"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])
        elif message["type"] == "websocket.close":
            statuses.append(403 if message["code"] == 1008 else 500)

    LOOP.run_until_complete(APP(scope, receive, send))
    if not statuses or statuses[0] not in ALLOWED:
        raise AssertionError(f"unexpected answer {statuses} for {scope!r}")
    if statuses[0] == 200 and scope["type"] == "http":
        route = path
        if not (route == "/public" or route.startswith("/optional/")):
            context = scope.get("state", {}).get("auth")
            if context is None or not context.authenticated:
                raise AssertionError(f"unauthenticated request passed a protected route: {scope!r}")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
