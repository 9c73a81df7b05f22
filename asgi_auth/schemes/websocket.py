"""Bearer tokens from a browser's `WebSocket`: carried in `Sec-WebSocket-Protocol`.

A browser's WebSocket API sets no header but one: the subprotocols it offers. The
common practice is to offer a marker and the token after it,
`new WebSocket(url, ["bearer", token])`, which goes on the wire as
`Sec-WebSocket-Protocol: bearer, <token>`. RFC 6455 §4.1 requires each subprotocol to
be an RFC 7230 token; a JWT is one (base64url and dots), and browsers refuse to send
anything else, so a token of other characters must be encoded by the client first.

The server must then select one of the offered subprotocols, or the browser fails the
handshake; it must never be the token. So when such a connection is let through, the
marker and the token are removed from `scope["subprotocols"]` and from the
`Sec-WebSocket-Protocol` header the app sees, and a `websocket.accept` that selects no
subprotocol (or the token) is sent selecting the marker (`hand_over`). Only websocket
handshakes are read: an HTTP request's `Sec-WebSocket-Protocol` is never a credential.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .._asgi import MAX_HEADER_VALUE, AmbiguousCredentials, HeaderTooLarge, RequestView
from .._types import Message, Scope, Send
from ..errors import ConfigurationError
from .base import MALFORMED, SecurityScheme, VerifierOption

__all__ = ["WebSocketSubprotocolBearer", "hand_over", "subprotocol_markers"]

SEC_WEBSOCKET_PROTOCOL = b"sec-websocket-protocol"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2 `token`


def offered(scope: Scope) -> list[str]:
    """The subprotocols the client offered, in order.

    ASGI's `scope["subprotocols"]` is what servers hand over (uvicorn's wsproto keeps
    the header itself out of `scope["headers"]`); where a server leaves it out, every
    `Sec-WebSocket-Protocol` header, one list split over several (RFC 6455 §11.3.4).
    """
    listed = scope.get("subprotocols")
    if listed is None:
        values = [raw for key, raw in scope.get("headers", ()) if key == SEC_WEBSOCKET_PROTOCOL]
        if sum(map(len, values)) > MAX_HEADER_VALUE:
            raise HeaderTooLarge(SEC_WEBSOCKET_PROTOCOL)
        items = b",".join(values).decode("latin-1").split(",")
    else:
        items = [str(item) for item in listed]
        if sum(map(len, items)) > MAX_HEADER_VALUE:
            raise HeaderTooLarge(SEC_WEBSOCKET_PROTOCOL)
    return [item.strip() for item in items if item.strip()]


class WebSocketSubprotocolBearer(SecurityScheme):
    """A bearer token offered as the subprotocol after `protocol` (default `"bearer"`).

    The verifier receives the token (a `str`), as `HTTPBearer`'s does, and
    `AuthContext.credentials` is that `str`. Opt-in, and read from websocket
    handshakes only. The marker offered twice is refused with 400 (which token would
    be meant?); the marker with no token after it, or a "token" that is not an RFC 7230
    token, is a malformed credential (401).

    It has no OpenAPI form of its own (OpenAPI does not describe websockets); it is
    described as an API key in the `Sec-WebSocket-Protocol` header.
    """

    bearer = True

    def __init__(
        self,
        *,
        protocol: str = "bearer",
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier)
        if not isinstance(protocol, str) or not _TOKEN.fullmatch(protocol):
            raise ConfigurationError(
                f"WebSocketSubprotocolBearer: protocol={protocol!r} must be an RFC 7230 token "
                "(letters, digits and !#$%&'*+-.^_`|~), as RFC 6455 requires of a subprotocol"
            )
        self.protocol = protocol

    def extract(self, request: RequestView) -> Any:
        if request.scope["type"] != "websocket":
            return None
        protocols = offered(request.scope)
        found = [index for index, name in enumerate(protocols) if name == self.protocol]
        if not found:
            return None
        if len(found) > 1:
            raise AmbiguousCredentials(f"subprotocol {self.protocol!r}")
        index = found[0]
        if index + 1 >= len(protocols) or not _TOKEN.fullmatch(protocols[index + 1]):
            return MALFORMED
        return protocols[index + 1]

    def challenge(self) -> str:
        return "Bearer"

    def openapi(self) -> dict[str, Any]:
        return self._with_description({"type": "apiKey", "in": "header", "name": "Sec-WebSocket-Protocol"})


def subprotocol_markers(schemes: Iterable[SecurityScheme]) -> frozenset[str]:
    """The markers of the `WebSocketSubprotocolBearer` schemes among `schemes`."""
    return frozenset(s.protocol for s in schemes if isinstance(s, WebSocketSubprotocolBearer))


def hand_over(scope: Scope, send: Send, markers: frozenset[str]) -> Send:
    """Ready a websocket `scope` that offered a marker for the app; the `send` to give it.

    Each marker and the token after it leave `scope["subprotocols"]` and the
    `Sec-WebSocket-Protocol` header; the returned `send` makes an accept that selects
    no subprotocol, or a removed one, select the first marker offered. A scope that
    offered no marker is left as it is, with `send` itself.
    """
    try:
        protocols = offered(scope)
    except HeaderTooLarge:  # refused with 431 if a scheme read it; else not ours to edit
        return send
    kept: list[str] = []
    removed: set[str] = set()
    chosen: str | None = None
    skip = False
    for index, name in enumerate(protocols):
        if skip:
            skip = False
            removed.add(name)
            continue
        if name in markers:
            chosen = chosen or name
            removed.add(name)
            skip = index + 1 < len(protocols)
            continue
        kept.append(name)
    if chosen is None:
        return send
    scope["subprotocols"] = kept
    headers = list(scope.get("headers", ()))
    if any(key == SEC_WEBSOCKET_PROTOCOL for key, _ in headers):  # the same list, less ours
        headers = [(key, value) for key, value in headers if key != SEC_WEBSOCKET_PROTOCOL]
        if kept:
            headers.append((SEC_WEBSOCKET_PROTOCOL, ", ".join(kept).encode("latin-1")))
        scope["headers"] = headers
    return _selecting(send, chosen, frozenset(removed))


def _selecting(send: Send, marker: str, removed: frozenset[str]) -> Callable[[Message], Awaitable[None]]:
    async def send_selecting(message: Message) -> None:
        if message["type"] == "websocket.accept":
            selected = message.get("subprotocol")
            if selected is None or (selected in removed and selected != marker):
                message = {**message, "subprotocol": marker}
        await send(message)

    return send_selecting
