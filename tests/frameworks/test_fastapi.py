from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, WebSocket

import asgi_auth as aa
from tests.frameworks.common import check_framework, payload, policy

Auth = Annotated[aa.AuthContext, Depends(aa.get_auth)]


def echo(auth: Auth) -> dict[str, Any]:
    return payload(auth)


def make_app() -> FastAPI:
    app = FastAPI()
    app.get("/private")(echo)
    app.get("/public")(echo)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, auth: Auth) -> None:
        await websocket.accept()
        await websocket.send_text(auth.principal.subject)
        await websocket.close()

    router = APIRouter(prefix="/api")
    router.get("/items")(echo)
    router.get("/open")(echo)
    app.include_router(router)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


def test_fastapi() -> None:
    check_framework(make_app())
