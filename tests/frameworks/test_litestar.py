# No `from __future__ import annotations`: Litestar reads the handlers' type hints.
from typing import Any

from litestar import Litestar, Request, Router, WebSocket, get, websocket
from litestar.middleware import DefineMiddleware

import asgi_auth as aa
from tests.frameworks.common import check_framework, payload, policy


@get(["/private", "/public"], sync_to_thread=False)
def echo(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return payload(aa.get_auth(request))


@get(["/items", "/open"], sync_to_thread=False)
def api_echo(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return payload(aa.get_auth(request))


@websocket("/ws")
async def ws(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text(aa.get_auth(socket).principal.subject)
    await socket.close()


def make_app() -> Litestar:
    return Litestar(
        route_handlers=[echo, ws, Router(path="/api", route_handlers=[api_echo])],
        middleware=[DefineMiddleware(aa.AuthMiddleware, policy=policy)],
        openapi_config=None,
    )


def test_litestar() -> None:
    check_framework(make_app())
