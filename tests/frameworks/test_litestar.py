# No `from __future__ import annotations`: Litestar reads the handlers' type hints.
from typing import Any

from litestar import Litestar, Request, Router, WebSocket, get, websocket
from litestar.middleware import DefineMiddleware

import asgi_auth as aa
from tests.frameworks.common import check_framework, payload, policy


@get("/private", sync_to_thread=False)
def private(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return payload(aa.get_auth(request))


@get("/public", sync_to_thread=False)
def public(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return payload(aa.get_auth(request))


@get("/items", sync_to_thread=False)
def items(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return payload(aa.get_auth(request))


@get("/open", sync_to_thread=False)
def open_(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return payload(aa.get_auth(request))


@websocket("/ws")
async def ws(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text(aa.get_auth(socket).principal.subject)
    await socket.close()


def make_app() -> Litestar:
    return Litestar(
        route_handlers=[private, public, ws, Router(path="/api", route_handlers=[items, open_])],
        middleware=[DefineMiddleware(aa.AuthMiddleware, policy=policy)],
        openapi_config=None,
    )


def test_litestar() -> None:
    check_framework(make_app())
