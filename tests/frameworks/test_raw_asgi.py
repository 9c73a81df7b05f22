from __future__ import annotations

import json
from typing import Any

import asgi_auth as aa
from tests.frameworks.common import check_framework, payload, policy


async def app(scope: Any, receive: Any, send: Any) -> None:
    """A framework-less ASGI app: it hands the scope itself to get_auth."""
    context = aa.get_auth(scope)
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": context.principal.subject})
        await send({"type": "websocket.close", "code": 1000})
        return
    body = json.dumps(payload(context)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def test_raw_asgi() -> None:
    check_framework(aa.AuthMiddleware(app, policy=policy), mounted=False)
