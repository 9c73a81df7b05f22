from __future__ import annotations

from typing import Any

from quart import Blueprint, Quart, request, websocket

import asgi_auth as aa
from tests.frameworks.common import check_framework, payload, policy


async def echo() -> dict[str, Any]:
    return payload(aa.get_auth(request))


def make_app() -> Quart:
    app = Quart(__name__)
    app.add_url_rule("/private", "private", echo)
    app.add_url_rule("/public", "public", echo)

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        await websocket.send(aa.get_auth(websocket).principal.subject)

    api = Blueprint("api", __name__, url_prefix="/api")
    api.add_url_rule("/items", "items", echo)
    api.add_url_rule("/open", "open", echo)
    app.register_blueprint(api)
    app.asgi_app = aa.AuthMiddleware(app.asgi_app, policy=policy)  # type: ignore[method-assign]
    return app


def test_quart() -> None:
    check_framework(make_app())
