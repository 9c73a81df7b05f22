"""One server process, every wiring: a dispatcher that hands each request to the app its
`X-Wire-App` header names, and runs every wiring's lifespan alongside.

Shared by the matrix's app modules; it imports none of them, so a server process builds
only the wirings of the module it serves (Django settings are per process).
"""

import asyncio
from collections.abc import Callable, Collection, Mapping
from typing import Any

Wirings = Callable[[], Mapping[str, Any]]


def header_of(scope: Any, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def dispatcher(wirings: Wirings, no_lifespan: Collection[str]) -> Callable[..., Any]:
    """The ASGI app of one server process: `wirings()` by name; lifespan fanned out."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(scope, receive, send)
            return
        wiring = wirings().get(header_of(scope, b"x-wire-app") or "")
        if wiring is None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
                return
            await send({"type": "http.response.start", "status": 421, "headers": []})
            await send({"type": "http.response.body", "body": b"no such wiring"})
            return
        await wiring(scope, receive, send)

    async def lifespan(scope: Any, receive: Any, send: Any) -> None:
        """Startup for every wiring, then shutdown for every wiring."""
        children: list[tuple[asyncio.Queue[Any], asyncio.Queue[Any], asyncio.Task[Any]]] = []
        for name, wiring in wirings().items():
            if name in no_lifespan:
                continue
            inbox: asyncio.Queue[Any] = asyncio.Queue()
            outbox: asyncio.Queue[Any] = asyncio.Queue()
            task = asyncio.ensure_future(wiring(dict(scope, state={}), inbox.get, outbox.put))
            children.append((inbox, outbox, task))
        for phase in ("startup", "shutdown"):
            message = await receive()
            assert message["type"] == f"lifespan.{phase}"
            failures = []
            for inbox, outbox, _ in children:
                await inbox.put({"type": f"lifespan.{phase}"})
                answer = await asyncio.wait_for(outbox.get(), 20)
                if answer["type"].endswith(".failed"):
                    failures.append(answer.get("message", ""))
            if failures:
                await send({"type": f"lifespan.{phase}.failed", "message": "; ".join(failures)})
                return
            await send({"type": f"lifespan.{phase}.complete"})
        await asyncio.gather(*(task for _, _, task in children), return_exceptions=True)

    return app


def configure_django(urls: Any, **settings: Any) -> None:
    """Django's settings for a wire server process, routing on the `urls` module.

    Settings are per process, so each module that serves Django runs alone in its
    server process and calls this once, before `get_asgi_application()`.
    """
    import sys

    import django
    from django.conf import settings as django_settings

    sys.modules[urls.__name__] = urls
    if django_settings.configured:
        return
    django_settings.configure(
        DEBUG=False,
        SECRET_KEY="wire-test-only-" + "x" * 40,
        ROOT_URLCONF=urls.__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        **settings,
    )
    django.setup()
