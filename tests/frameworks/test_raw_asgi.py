from __future__ import annotations

import json
from typing import Any

import asgi_auth as aa
from tests.frameworks.common import check_http, check_websocket, payload, policy
from tests.loopback import serve


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
    with serve(aa.AuthMiddleware(app, policy=policy), ws="websockets-sansio") as base:
        check_http(base)
        check_websocket(base)


def test_raw_asgi_under_root_path() -> None:
    with serve(aa.AuthMiddleware(app, policy=policy), root_path="/prefix") as base:
        check_http(base)
