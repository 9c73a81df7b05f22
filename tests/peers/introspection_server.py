"""A real RFC 7662 introspection endpoint: authlib's `IntrospectionEndpoint` in a Flask
authorization server, served by uvicorn (its WSGI interface) on 127.0.0.1 in a thread.

authlib authenticates the resource server's client itself — `client_secret_basic`,
`client_secret_post`, or an RFC 7523 `private_key_jwt` assertion it verifies against
the client's public key — and each client is allowed the one method it registered, so
a test passing proves the server checked that method. Tokens live in a dict the test
fills; every POST to the endpoint is counted.

Next to the endpoint, routes that misbehave (`/broken` a 500, `/garbage` not JSON,
`/huge` a body past any cap, `/slow` an answer held back until released) stand for an
authorization server having a bad day.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, Response
from joserfc.jwk import KeySet
from uvicorn.middleware.wsgi import WSGIMiddleware

from tests.loopback import serve

ISSUER = "https://as.example"


@dataclass
class Client:
    client_id: str
    method: str
    secret: str = ""
    public_jwks: dict[str, Any] | None = None

    def check_client_secret(self, secret: str) -> bool:
        return bool(self.secret) and secret == self.secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.method


@dataclass
class Token:
    """What the server knows of one access token."""

    client_id: str = "app"
    sub: str = "alice"
    scope: str = "items"
    aud: str | list[str] = "https://api.example"
    lifetime: float = 3600
    issued_at: float = field(default_factory=time.time)
    clock_offset: float = 0.0  # this server's clock, behind (negative) or ahead
    extra: dict[str, Any] = field(default_factory=dict)
    revoked: bool = False

    @property
    def expires_at(self) -> float:
        return self.issued_at + self.lifetime

    def is_expired(self) -> bool:
        return self.expires_at <= time.time() + self.clock_offset

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class AuthorizationServerPeer:
    base: str
    introspection_url: str
    tokens: dict[str, Token]
    clients: dict[str, Client]
    posts: list[str]
    """Client ids (as authenticated) of every POST to the introspection endpoint."""
    ports: list[int]
    """The client's port of each POST to it: one connection reused shows as one port."""
    hints: list[str | None]
    """The `token_type_hint` of each token asked about."""
    release: threading.Event
    """Set to let `/slow` (and a held `/introspect`) answer."""
    hold: threading.Event
    """While set, the introspection endpoint waits for `release` before answering."""
    arrived: threading.Event
    """Set when a held POST reached the endpoint."""


@contextmanager
def authorization_server(clients: list[Client]) -> Iterator[AuthorizationServerPeer]:
    app = Flask("introspection-peer")
    tokens: dict[str, Token] = {}
    registered = {c.client_id: c for c in clients}
    posts: list[str] = []
    ports: list[int] = []
    hints: list[str | None] = []
    release, hold, arrived = threading.Event(), threading.Event(), threading.Event()
    peer: AuthorizationServerPeer

    class PrivateKeyJWT(JWTBearerClientAssertion):  # type: ignore[misc]
        CLIENT_AUTH_METHOD = "private_key_jwt"

        def get_audiences(self) -> list[str]:
            return [peer.introspection_url]

        def validate_jti(self, claims: Any, jti: str) -> bool:
            key = f"{claims['sub']}:{jti}"
            if key in seen_jti:
                return False
            seen_jti.add(key)
            return True

        def resolve_client_public_key(self, client: Client) -> Any:
            return KeySet.import_key_set(client.public_jwks or {"keys": []})

    seen_jti: set[str] = set()

    class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
        CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

        def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
            hints.append(token_type_hint)
            return tokens.get(token_string)

        def check_permission(self, token: Token, client: Client, request: Any) -> bool:
            return True

        def introspect_token(self, token: Token) -> dict[str, Any]:
            return {
                "active": True,
                "client_id": token.client_id,
                "token_type": "Bearer",
                "scope": token.scope,
                "sub": token.sub,
                "aud": token.aud,
                "iss": ISSUER,
                "exp": int(token.expires_at),
                "iat": int(token.issued_at),
                **token.extra,
            }

        def create_endpoint_response(self, request: Any) -> Any:
            answer = super().create_endpoint_response(request)
            posts.append(request.client.client_id)
            if hold.is_set():
                arrived.set()
                release.wait(10)
            return answer

    server = AuthorizationServer(app, query_client=registered.get, save_token=lambda token, request: None)
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT())
    server.register_endpoint(Introspection)

    @app.post("/introspect")
    def introspect() -> Any:
        return server.create_endpoint_response("introspection")

    @app.post("/broken")
    def broken() -> Any:
        return Response('{"active": true}', status=500, mimetype="application/json")

    @app.post("/garbage")
    def garbage() -> Any:
        return Response("<html>maintenance</html>", status=200, mimetype="application/json")

    @app.post("/huge")
    def huge() -> Any:
        return Response('{"active": true, "pad": "' + "x" * 200_000 + '"}', mimetype="application/json")

    @app.post("/slow")
    def slow() -> Any:
        release.wait(10)
        return Response('{"active": true}', mimetype="application/json")

    # uvicorn keeps connections alive, as a production server does (werkzeug's
    # development server closes each one); the port each POST came from is noted.
    wsgi = WSGIMiddleware(app)

    async def noting_ports(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/introspect":
            ports.append(scope["client"][1])
        await wsgi(scope, receive, send)

    with serve(noting_ports) as base:
        peer = AuthorizationServerPeer(
            base, base + "/introspect", tokens, registered, posts, ports, hints, release, hold, arrived
        )
        try:
            yield peer
        finally:
            release.set()
