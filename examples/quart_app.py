"""Quart: wrap `app.asgi_app`, Quart's documented place for ASGI middleware.

Run it:  uvicorn examples.quart_app:app
"""

from __future__ import annotations

from typing import Any

from quart import Quart, request, websocket

import asgi_auth as aa

# --8<-- [start:quart]
bearer = aa.HTTPBearer(verifier=aa.inline({"t-alice": aa.Principal("alice")}.get))
policy = aa.AuthPolicy([aa.Rule("/", require=[])], default=bearer)

app = Quart(__name__)
app.asgi_app = aa.AuthMiddleware(app.asgi_app, policy=policy)  # type: ignore[method-assign]


@app.get("/me")
async def me() -> dict[str, Any]:
    return {"user": aa.get_auth(request).principal.subject}


@app.websocket("/ws")
async def ws() -> None:
    await websocket.accept()
    await websocket.send(f"hello {aa.get_auth(websocket).principal.subject}")


# --8<-- [end:quart]


@app.get("/")
async def index() -> str:
    return "public"
