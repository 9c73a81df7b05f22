"""`WebSocketSubprotocolBearer`: a browser's own `WebSocket` sending its token as a
subprotocol, over a real uvicorn on loopback, and a raw `websockets` client.

Chromium is Debian's, driven by Playwright with `executable_path` (tests/browser.py).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import asgi_auth as aa
from tests.browser import chromium
from tests.loopback import serve
from tests.wire.servers import ServerConfig, running

SECRET = "a-websocket-test-secret-of-32-bytes!"
ws_bearer = aa.WebSocketSubprotocolBearer(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]))


def token(sub: str = "alice", secret: str = SECRET) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, secret, algorithm="HS256")


async def feed(websocket: WebSocket) -> None:
    """Accepts as most apps do (no subprotocol), says what it saw, echoes one message."""
    await websocket.accept()
    await websocket.send_text(
        json.dumps(
            {
                "user": websocket.state.auth.principal.identity,
                "subprotocols": websocket.scope["subprotocols"],
                "header": websocket.headers.get("sec-websocket-protocol"),
            }
        )
    )
    await websocket.send_text("echo:" + await websocket.receive_text())
    await websocket.close()


async def chat(websocket: WebSocket) -> None:
    """Selects the first subprotocol it is offered, as a graphql-ws server does."""
    await websocket.accept(subprotocol=websocket.scope["subprotocols"][0])
    await websocket.send_text(json.dumps(websocket.scope["subprotocols"]))
    await websocket.close()


async def page(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


policy = aa.AuthPolicy(
    rules=[aa.Rule("/", require=[])],
    default=ws_bearer,
)
app = aa.AuthMiddleware(
    Starlette(routes=[WebSocketRoute("/feed", feed), WebSocketRoute("/chat", chat), Route("/http", page)]),
    policy=policy,
)

OPEN = """
([url, protocols]) => new Promise((resolve) => {
  const seen = [];
  const ws = new WebSocket(url, protocols);
  const timer = setTimeout(() => resolve(seen.concat(["timeout"])), 10000);
  ws.onopen = () => { seen.push("open:" + ws.protocol); ws.send("ping"); };
  ws.onmessage = (event) => seen.push("message:" + event.data);
  ws.onerror = () => seen.push("error");
  ws.onclose = (event) => { clearTimeout(timer); seen.push("close:" + event.code); resolve(seen); };
})
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve(app) as url:
        yield url.replace("http://", "ws://")


def in_browser(browser: Browser, url: str, protocols: list[str]) -> list[str]:
    tab = browser.new_page()
    try:
        return list(tab.evaluate(OPEN, [url, protocols]))
    finally:
        tab.close()


def test_browser_connects_with_its_token_and_sees_the_marker(
    browser: Browser, base: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = token()
    caplog.set_level(logging.DEBUG)
    seen = in_browser(browser, base + "/feed", ["bearer", secret])
    assert seen[0] == "open:bearer"  # the marker was selected, so Chromium accepted
    assert json.loads(seen[1].removeprefix("message:")) == {"user": "alice", "subprotocols": [], "header": None}
    assert seen[2:] == ["message:echo:ping", "close:1000"]
    assert secret not in caplog.text


def test_browser_with_a_wrong_token_is_refused(browser: Browser, base: str) -> None:
    seen = in_browser(browser, base + "/feed", ["bearer", token(secret="another-secret-of-thirty-two-bytes!!")])
    assert seen == ["error", "close:1006"]  # the handshake failed: never open


def test_browser_without_a_token_is_refused(browser: Browser, base: str) -> None:
    assert in_browser(browser, base + "/feed", []) == ["error", "close:1006"]


def test_browser_keeps_the_apps_own_subprotocol(browser: Browser, base: str) -> None:
    seen = in_browser(browser, base + "/chat", ["graphql-transport-ws", "bearer", token()])
    assert seen[0] == "open:graphql-transport-ws"
    assert seen[1] == 'message:["graphql-transport-ws"]'  # neither the marker nor the token


TWICE = "Ambiguous credentials: subprotocol 'bearer' sent more than once"


@pytest.mark.parametrize("ws", ["websockets", "websockets-sansio", "wsproto"])
def test_raw_client(ws: str) -> None:
    with serve(app, ws=ws) as url:
        base = url.replace("http://", "ws://")
        secret = token()
        with connect(base + "/feed", subprotocols=["bearer", secret]) as client:  # type: ignore[list-item]
            assert client.subprotocol == "bearer"
            assert json.loads(client.recv()) == {"user": "alice", "subprotocols": [], "header": None}
            client.send("hi")
            assert client.recv() == "echo:hi"
        for protocols, status, detail in [
            (["bearer", token(secret="another-secret-of-thirty-two-bytes!!")], 401, "Could not validate credentials"),
            ([], 401, "Not authenticated"),
            (["bearer"], 401, "Not authenticated"),  # the marker and no token: malformed
            (["bearer", secret, "bearer", secret], 400, TWICE),
        ]:
            with pytest.raises(InvalidStatus) as refused:
                connect(base + "/feed", subprotocols=protocols or None)  # type: ignore[arg-type]
            response = refused.value.response
            assert response.status_code == status, protocols
            assert json.loads(response.body or b"") == {"detail": detail}
            assert secret.encode() not in (response.body or b"")
            assert "Bearer" in response.headers.get("WWW-Authenticate", "")


def test_split_over_two_headers_is_one_list() -> None:
    """RFC 6455 lets the offer come as several headers; they are one list."""
    with serve(app) as url:
        secret = token()
        headers = [("Sec-WebSocket-Protocol", secret)]  # after the client's own `bearer`
        with connect(
            url.replace("http://", "ws://") + "/feed",
            subprotocols=["bearer"],  # type: ignore[list-item]
            additional_headers=headers,
        ) as client:
            assert client.subprotocol == "bearer"
            assert json.loads(client.recv())["user"] == "alice"


def test_http_requests_never_read_it() -> None:
    with serve(app) as url:
        response = httpx.get(url + "/http", headers={"Sec-WebSocket-Protocol": f"bearer, {token()}"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_configuration() -> None:
    with pytest.raises(aa.ConfigurationError, match="RFC 7230 token"):
        aa.WebSocketSubprotocolBearer(protocol="bearer token", verifier=lambda t: None)
    scheme = aa.WebSocketSubprotocolBearer(protocol="base64url.bearer.example", verifier=lambda t: None)
    assert scheme.openapi() == {"type": "apiKey", "in": "header", "name": "Sec-WebSocket-Protocol"}


def test_public_route_never_sees_the_token() -> None:
    """A public rule still hands the app the offer without marker and token."""
    seen: dict[str, Any] = {}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.update(subprotocols=scope["subprotocols"], headers=dict(scope["headers"]))
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})

    open_policy = aa.AuthPolicy(rules=[], default=[], schemes=[ws_bearer])
    with serve(aa.AuthMiddleware(inner, policy=open_policy)) as url:
        secret = token()
        with connect(url.replace("http://", "ws://") + "/", subprotocols=["x", "bearer", secret]) as client:  # type: ignore[list-item]
            assert client.subprotocol == "bearer"
    assert seen["subprotocols"] == ["x"]
    assert seen["headers"][b"sec-websocket-protocol"] == b"x"


#: How each server answers a refused handshake: the policy's own status where it offers
#: `websocket.http.response`, else the status it gives the 1008 close before accept.
REFUSED_STATUS = {"hypercorn": 401, "daphne": 403, "granian": 401}


@pytest.mark.parametrize("server", sorted(REFUSED_STATUS))
def test_other_servers(server: str) -> None:
    """Every server hands the offer over as `scope["subprotocols"]` and selects what the
    accept names: the marker reaches the client, the token reaches no app."""
    with running(ServerConfig(server), app="tests.schemes.test_websocket_subprotocol:app") as port:
        base = f"ws://127.0.0.1:{port}"
        with connect(base + "/feed", subprotocols=["bearer", token()]) as client:  # type: ignore[list-item]
            assert client.subprotocol == "bearer"
            assert json.loads(client.recv()) == {"user": "alice", "subprotocols": [], "header": None}
        with connect(base + "/chat", subprotocols=["graphql-transport-ws", "bearer", token()]) as client:  # type: ignore[list-item]
            assert client.subprotocol == "graphql-transport-ws"
            assert json.loads(client.recv()) == ["graphql-transport-ws"]
        with pytest.raises(InvalidStatus) as refused:
            connect(base + "/feed", subprotocols=["bearer", token(secret="another-secret-of-thirty-two-bytes!!")])  # type: ignore[list-item]
        assert refused.value.response.status_code == REFUSED_STATUS[server]


def test_an_oversized_offer_is_431_and_not_echoed() -> None:
    """uvicorn's wsproto (h11) takes a header this long; its websockets implementations
    cut header lines at 8 KiB themselves."""
    with serve(app, ws="wsproto") as url:
        huge = "a" * 9000
        with pytest.raises(InvalidStatus) as refused:
            connect(url.replace("http://", "ws://") + "/feed", subprotocols=["bearer", huge])  # type: ignore[list-item]
    response = refused.value.response
    assert (response.status_code, json.loads(response.body or b"")) == (
        431,
        {"detail": "Request header fields too large"},
    )
    assert huge.encode() not in (response.body or b"")
