"""Websockets are checked at the handshake, before the app accepts them.

Run it:  uvicorn examples.websockets_app:app
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

import asgi_auth as aa

# --8<-- [start:ws]
tickets = aa.APIKeyQuery(name="ticket", verifier=aa.inline({"tk-1": aa.Principal("alice")}.get))
policy = aa.AuthPolicy([], default=tickets)  # browsers cannot set headers on websockets


async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(f"welcome {websocket.user.display_name}")
    async for message in websocket.iter_text():
        await websocket.send_text(f"{websocket.user.display_name}: {message}")


app = Starlette(routes=[WebSocketRoute("/chat", chat)])
app.add_middleware(aa.AuthMiddleware, policy=policy)
# --8<-- [end:ws]
