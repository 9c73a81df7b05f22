from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

import asgi_auth as aa
from tests.frameworks.common import check_framework, payload, policy


async def endpoint(request: Request) -> JSONResponse:
    return JSONResponse(payload(aa.get_auth(request)))


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(aa.get_auth(websocket).principal.subject)
    await websocket.close()


def make_app() -> Starlette:
    app = Starlette(
        routes=[
            Route("/private", endpoint),
            Route("/public", endpoint),
            WebSocketRoute("/ws", ws),
            Mount("/api", routes=[Route("/items", endpoint), Route("/open", endpoint)]),
        ]
    )
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


def test_starlette() -> None:
    check_framework(make_app())
