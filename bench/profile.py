"""Profile one request kind with pyinstrument: `python -m bench.profile [kind] [-n N]`.

Kinds: `cached` (HS256 bearer, verified-token cache on), `uncached` (cache off),
`apikey`, `401`. Prints the call tree of N requests through the raw app, so that a
change to the hot path starts from where the time actually goes.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from pyinstrument import Profiler

from bench import apps
from bench.__main__ import bearer, scope_for

KINDS: dict[str, tuple[Any, str, list[tuple[bytes, bytes]]]] = {
    "cached": (lambda: apps.asgi_auth_app(apps.raw_app, apps.bearer()), "/users/me/", bearer()),
    "uncached": (lambda: apps.asgi_auth_app(apps.raw_app, apps.bearer(cache=False)), "/users/me/", bearer()),
    "apikey": (lambda: apps.api_key_app(apps.raw_app), "/users/me/", [(b"x-api-key", b"key-123")]),
    "401": (lambda: apps.asgi_auth_app(apps.raw_app, apps.bearer()), "/users/me/", []),
}


async def run(app: Any, template: dict[str, Any], n: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    for _ in range(n):
        await app({**template, "state": {}}, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("kind", nargs="?", default="cached", choices=sorted(KINDS))
    parser.add_argument("-n", type=int, default=200_000, help="requests to profile")
    args = parser.parse_args()
    make, path, headers = KINDS[args.kind]
    app, template = make(), scope_for(path, headers)
    asyncio.run(run(app, template, 1_000))  # warm caches before measuring
    profiler = Profiler(interval=0.0001, async_mode="disabled")
    with profiler:
        asyncio.run(run(app, template, args.n))
    print(profiler.output_text(unicode=True, show_all=False))


if __name__ == "__main__":
    main()
