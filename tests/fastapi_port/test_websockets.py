"""FastAPI's websocket security tutorial (tests/test_tutorial/test_websockets/test_tutorial002.py), ported.

FastAPI's tutorial reads a `session` cookie or a `token` query parameter in a
dependency and closes with 1008 when both are missing. The port says the same in a
rule — either scheme — and the endpoint reads what was sent from the context.
"""

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

import asgi_auth as aa

session = aa.APIKeyCookie(name="session", verifier=aa.EXTRACT_ONLY)
token = aa.APIKeyQuery(name="token", verifier=aa.EXTRACT_ONLY)


def make_app() -> FastAPI:
    app = FastAPI()

    @app.websocket("/items/{item_id}/ws")
    async def websocket_endpoint(
        websocket: WebSocket,
        item_id: str,
        auth: Annotated[aa.AuthContext, Depends(aa.get_auth)],
        q: int | None = None,
    ) -> None:
        await websocket.accept()
        while True:
            data = await websocket.receive_text()
            await websocket.send_text(f"Session cookie or query token value is: {auth.credentials}")
            if q is not None:
                await websocket.send_text(f"Query parameter q is: {q}")
            await websocket.send_text(f"Message text was: {data}, for item ID: {item_id}")

    policy = aa.AuthPolicy([aa.Rule("/items/{item_id}/ws", require=[session, token])], default=[])
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


def converse(client: TestClient, url: str, value: str, item: str, q: str | None = None) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect(url) as websocket:
        for message in ("Message one", "Message two"):
            websocket.send_text(message)
            assert websocket.receive_text() == f"Session cookie or query token value is: {value}"
            if q is not None:
                assert websocket.receive_text() == f"Query parameter q is: {q}"
            assert websocket.receive_text() == f"Message text was: {message}, for item ID: {item}"
        websocket.close()
        websocket.receive_text()  # the endpoint's loop ends with the disconnect


def test_websocket_with_cookie() -> None:
    converse(TestClient(make_app(), cookies={"session": "fakesession"}), "/items/foo/ws", "fakesession", "foo")


def test_websocket_with_header() -> None:
    converse(TestClient(make_app()), "/items/bar/ws?token=some-token", "some-token", "bar")


def test_websocket_with_header_and_query() -> None:
    converse(TestClient(make_app()), "/items/2/ws?q=3&token=some-token", "some-token", "2", q="3")


def test_websocket_no_credentials() -> None:
    """FastAPI closes with 1008; the middleware refuses the handshake with the HTTP 401 the
    server's `websocket.http.response` extension allows (Starlette's TestClient offers it),
    which is still a refused connection: nothing reaches the endpoint."""
    with pytest.raises(WebSocketDisconnect) as refused, TestClient(make_app()).websocket_connect("/items/foo/ws"):
        pytest.fail("the handshake was accepted")
    assert isinstance(refused.value, WebSocketDenialResponse)
    assert refused.value.status_code == 401
    assert refused.value.json() == {"detail": "Not authenticated"}
