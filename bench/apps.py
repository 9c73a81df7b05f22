"""The contestants: the same protection written with each alternative."""

# No `from __future__ import annotations`: FastAPI and Litestar read these handlers' hints.

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import asgi_auth as aa
from asgi_auth.verifiers.jwt import _decoder

SECRET = "bench-secret-" + "k" * 40
RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())
CLAIMS = {"sub": "johndoe", "scope": "me items", "iat": int(time.time()), "exp": int(time.time()) + 86_400}
TOKENS = {
    "HS256": jwt.encode(CLAIMS, SECRET, algorithm="HS256"),
    "RS256": jwt.encode(CLAIMS, RSA, algorithm="RS256"),
    "ES256": jwt.encode(CLAIMS, EC, algorithm="ES256"),
}
KEYS: dict[str, Any] = {"HS256": SECRET, "RS256": RSA.public_key(), "ES256": EC.public_key()}
App = Callable[..., Any]


async def raw_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


class PyJWTDecode:
    """Not a middleware: PyJWT's HS256 decode alone, to price verification itself."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        jwt.decode(TOKENS["HS256"], SECRET, algorithms=["HS256"])
        await self.app(scope, receive, send)


class MinimalMiddleware:
    """The near-limit reference: header read, cached decode, scope["state"] write."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.cache: dict[str, dict[str, Any]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                token = value.decode("latin-1")[7:]
                break
        claims = self.cache.get(token) if token else None
        if claims is None and token:
            claims = self.cache[token] = jwt.decode(token, SECRET, algorithms=["HS256"])
        scope.setdefault("state", {})["auth"] = claims
        await self.app(scope, receive, send)


class InlinedChecks:
    """asgi_auth's checks for this one route and scheme, written as a single function.

    Not an alternative anyone would ship: it prices the work asgi_auth does for this
    request (route lookup; the decision remembered for this Authorization value while
    the token's cached window holds; on a miss FastAPI's bearer parsing, a
    SHA-256-keyed verified-token cache with exp/nbf and an LRU touch, PyJWT with
    options set and the secret checked once, the route's scopes, an immutable
    AuthContext; Starlette's scope["auth"] and scope["user"]) with no code structure
    around it, so that the minimal middleware, this and asgi_auth show what the checks
    cost and what the structure costs.
    """

    def __init__(self, app: App, cache: bool = True) -> None:
        self.app = app
        self.routes = {("/users/me/", "GET"): ("/users/me/", frozenset({"me"}), aa.SecurityScopes(["me"]))}
        self.cache = cache
        self.secret = SECRET.encode()
        self.jwt = _decoder({"require": ["exp"]}, ["HS256"], frozenset({self.secret}))
        self.tokens: OrderedDict[bytes, tuple[aa.Principal, float, float]] = OrderedDict()
        self.decided: dict[bytes, tuple[aa.AuthContext, float, float]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule, needed, security_scopes = self.routes[(scope["path"], scope["method"])]
        raw = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                raw = value
                break
        if raw is None:
            raise RuntimeError("401")
        hit = self.decided.get(raw) if self.cache else None
        if hit is not None and hit[1] <= time.time() < hit[2]:
            context = hit[0]
        else:
            word, _, token = raw.decode("latin-1").partition(" ")
            token = token.strip()
            if word.lower() != "bearer":
                raise RuntimeError("401")
            digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest() if self.cache else b""
            cached = self.tokens.get(digest) if self.cache else None
            if cached is not None and cached[1] <= time.time() < cached[2]:
                self.tokens.move_to_end(digest)
                principal, not_before, expires = cached
            else:
                claims = self.jwt.decode(token, self.secret, algorithms=["HS256"], leeway=0)
                principal = aa.Principal(claims["sub"], claims["scope"].split(), claims=MappingProxyType(claims))
                not_before, expires = float("-inf"), min(time.time() + 300, claims["exp"])
                if self.cache:
                    self.tokens[digest] = (principal, not_before, expires)
            if not needed <= principal.scopes:
                raise RuntimeError("403")
            context = aa.AuthContext(
                True,
                "OAuth2PasswordBearer",
                principal,
                token,
                principal.scopes,
                security_scopes,
                rule,
                principal.claims,
                MappingProxyType({"OAuth2PasswordBearer": principal}),
            )
            if self.cache:
                self.decided[raw] = (context, not_before, expires)
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["auth"] = context
        scope["auth"] = context.auth_credentials
        scope["user"] = context.user
        await self.app(scope, receive, send)


def bearer(alg: str = "HS256", cache: bool = True) -> aa.OAuth2PasswordBearer:
    return aa.OAuth2PasswordBearer(
        tokenUrl="token",
        scopes={"me": "", "items": "", "admin": ""},
        verifier=aa.JWTVerifier(key=KEYS[alg], algorithms=[alg], cache=cache),
    )


def asgi_auth_app(inner: App, scheme: aa.SecurityScheme, rules: int = 10, on_decision: Any = None) -> aa.AuthMiddleware:
    """`rules` rules; the benchmark requests hit `/svc{rules // 2}/items/{id}` (scopes me)."""
    table = [aa.Rule(f"/svc{i}/items/{{id}}", require={scheme: ["me"]}) for i in range(rules - 3)]
    table += [
        aa.Rule("/public", require=[]),
        aa.Rule("/admin", require={scheme: ["admin"]}),
        aa.Rule("/users/me/", require={scheme: ["me"]}),
    ]
    return aa.AuthMiddleware(inner, aa.AuthPolicy(table, default=scheme), on_decision=on_decision)


def decision_hook(kind: str) -> Any:
    """The `on_decision` hooks the bench counts: what events and OpenTelemetry cost."""
    if kind == "no-op hook":
        return lambda event: None
    if kind == "JSONAuditLog":
        return aa.JSONAuditLog(open(os.devnull, "w"))
    from opentelemetry import metrics

    import asgi_auth.otel

    if kind == "OpenTelemetry, API only":  # the `otel` extra, no SDK configured
        return asgi_auth.otel.OpenTelemetryHook(meter_provider=metrics.NoOpMeterProvider())
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    return asgi_auth.otel.OpenTelemetryHook(meter_provider=MeterProvider(metric_readers=[InMemoryMetricReader()]))


DECISION_HOOKS = ("no-op hook", "JSONAuditLog", "OpenTelemetry, API only", "OpenTelemetry, SDK metrics")


@aa.inline
def lookup_key(key: str) -> aa.Principal | None:
    return API_KEYS.get(key)


API_KEYS = {"key-123": aa.Principal("svc", ["me"])}


def api_key_app(inner: App) -> aa.AuthMiddleware:
    scheme = aa.APIKeyHeader(name="X-API-Key", verifier=lookup_key)
    return aa.AuthMiddleware(inner, aa.AuthPolicy([aa.Rule("/users/me/", require={scheme: ["me"]})], default=scheme))


def fastapi_plain() -> App:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/users/me/")
    async def me() -> dict[str, str]:
        return {"username": "johndoe"}

    return app


def fastapi_security() -> App:
    """FastAPI's tutorial: Security(get_current_user, scopes=["me"]) decoding with PyJWT."""
    from typing import Annotated

    from fastapi import Depends, FastAPI, HTTPException, Security
    from fastapi.security import OAuth2PasswordBearer, SecurityScopes

    oauth2 = OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "", "items": ""})
    app = FastAPI()

    async def current_user(security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2)]) -> str:
        try:
            payload = jwt.decode(token, SECRET, algorithms=["HS256"])
        except jwt.PyJWTError:
            raise HTTPException(401, "Could not validate credentials") from None
        granted = payload.get("scope", "").split()
        if any(s not in granted for s in security_scopes.scopes):
            raise HTTPException(403, "Not enough permissions")
        return str(payload["sub"])

    @app.get("/users/me/")
    async def me(user: Annotated[str, Security(current_user, scopes=["me"])]) -> dict[str, str]:
        return {"username": user}

    return app


def fastapi_asgi_auth() -> App:
    app = fastapi_plain()
    return asgi_auth_app(app, bearer())


def starlette_plain() -> App:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def me(request: Any) -> JSONResponse:
        return JSONResponse({"username": "johndoe"})

    return Starlette(routes=[Route("/users/me/", me)])


def starlette_authentication() -> App:
    from starlette.applications import Starlette
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        AuthenticationError,
        SimpleUser,
        requires,
    )
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    class JWTBackend(AuthenticationBackend):
        async def authenticate(self, conn: Any) -> tuple[AuthCredentials, SimpleUser] | None:
            header = conn.headers.get("authorization")
            if not header:
                return None
            try:
                payload = jwt.decode(header[7:], SECRET, algorithms=["HS256"])
            except jwt.PyJWTError:
                raise AuthenticationError("Could not validate credentials") from None
            return AuthCredentials(payload["scope"].split()), SimpleUser(payload["sub"])

    @requires("me")
    async def me(request: Any) -> JSONResponse:
        return JSONResponse({"username": request.user.display_name})

    return Starlette(
        routes=[Route("/users/me/", me)], middleware=[Middleware(AuthenticationMiddleware, backend=JWTBackend())]
    )


def starlette_asgi_auth() -> App:
    return asgi_auth_app(starlette_plain(), bearer())


def litestar_plain() -> App:
    from litestar import Litestar, get

    @get("/users/me/", sync_to_thread=False)
    def me() -> dict[str, str]:
        return {"username": "johndoe"}

    return Litestar([me], openapi_config=None, logging_config=None)


def litestar_jwt() -> App:
    from litestar import Litestar, Request, get
    from litestar.security.jwt import JWTAuth, Token

    async def retrieve_user(token: Token, connection: Any) -> str:
        return token.sub

    # Unsubscripted: Litestar 2.10 takes one type parameter, later releases two.
    auth: JWTAuth[Any, Any] = JWTAuth(retrieve_user_handler=retrieve_user, token_secret=SECRET, exclude=["/schema"])

    @get("/users/me/", sync_to_thread=False)
    def me(request: Request[str, Token, Any]) -> dict[str, str]:
        return {"username": request.user}

    return Litestar([me], on_app_init=[auth.on_app_init], openapi_config=None, logging_config=None)


def litestar_asgi_auth() -> App:
    return asgi_auth_app(litestar_plain(), bearer())
