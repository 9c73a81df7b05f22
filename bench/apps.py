"""The contestants: the same protection written with each alternative."""

# No `from __future__ import annotations`: FastAPI and Litestar read these handlers' hints.

import base64
import hashlib
import hmac
import json
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import HMACAlgorithm

import asgi_auth as aa

SECRET = "bench-secret-" + "k" * 40
IAT = int(time.time())
CLAIMS = {"sub": "johndoe", "scope": "me items", "iat": IAT, "exp": IAT + 86_400}


class _PerAlgorithm(dict[str, Any]):
    """Keys and tokens made when first asked for: an RSA key takes a moment to make,
    and a child process under Valgrind that sends HS256 tokens should not pay for it."""

    def __init__(self, make: Callable[[str], Any]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, alg: str) -> Any:
        value = self[alg] = self.make(alg)
        return value


def _private_key(alg: str) -> Any:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


PRIVATE = _PerAlgorithm(_private_key)
KEYS = _PerAlgorithm(lambda alg: SECRET if alg == "HS256" else PRIVATE[alg].public_key())
TOKENS = _PerAlgorithm(lambda alg: jwt.encode(CLAIMS, SECRET if alg == "HS256" else PRIVATE[alg], algorithm=alg))
App = Callable[..., Any]
#: How many entries the hand-written caches keep (JWTVerifier's default cache_size).
LRU_SIZE = 10_000


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_HEADER = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
_rotating: dict[int, str] = {}


def rotating_token(i: int) -> str:
    """The `i`-th of many distinct HS256 tokens, all alike but for their subject.

    Signed here with `hmac` rather than `jwt.encode` (the same bytes, a tenth of the
    time), so that a child under Valgrind can make the thousands it sends; each is
    made when first sent, and kept.
    """
    token = _rotating.get(i)
    if token is None:
        claims = {"sub": f"user{i:06d}", "scope": "me items", "iat": IAT, "exp": IAT + 86_400}
        signing = _HEADER + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.digest(SECRET.encode(), signing, "sha256"))
        token = _rotating[i] = (signing + b"." + signature).decode()
    return token


class _PreparedHMAC(HMACAlgorithm):
    """PyJWT's HMAC, with the one secret it is given checked once rather than per decode
    (as JWTVerifier prepares its key once): PyJWT otherwise re-checks an HMAC secret
    against PEM, SSH, DER and JWK shapes on every call."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self.secret = super().prepare_key(secret)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self.secret if key is self.secret else super().prepare_key(key)


def prepared_decoder(options: Any = None) -> tuple[jwt.PyJWT, bytes]:
    """A `PyJWT` whose HS256 key is prepared once, and the key to pass it."""
    decoder = jwt.PyJWT(options=options)
    algorithm = _PreparedHMAC(SECRET.encode())
    jws = decoder._jws
    jws.unregister_algorithm("HS256")
    jws.register_algorithm("HS256", algorithm)
    return decoder, algorithm.secret


def authorization(scope: Any) -> bytes | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            return value  # type: ignore[no-any-return]
    return None


class TokenLRU:
    """The cache a careful hand-written dependency puts in front of its decode: bounded,
    least recently used out first, and an entry is dropped once its token's `exp` passes
    (a bare `functools.lru_cache` would keep accepting an expired token)."""

    def __init__(self, size: int = LRU_SIZE) -> None:
        self.size = size
        self.entries: OrderedDict[str | bytes, dict[str, Any]] = OrderedDict()

    def get(self, token: str | bytes) -> dict[str, Any] | None:
        claims = self.entries.get(token)
        if claims is None:
            return None
        if claims["exp"] <= time.time():
            del self.entries[token]
            return None
        self.entries.move_to_end(token)
        return claims

    def put(self, token: str | bytes, claims: dict[str, Any]) -> None:
        self.entries[token] = claims
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)


async def raw_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


class PyJWTDecode:
    """Not a middleware: PyJWT's HS256 decode of the request's token, to price
    verification itself. `prepared`: with the key prepared once, as JWTVerifier does;
    else `jwt.decode(token, secret)` as the tutorials write it, re-checking the key."""

    def __init__(self, app: App, prepared: bool = True) -> None:
        self.app = app
        self.decoder: jwt.PyJWT
        self.key: str | bytes
        self.decoder, self.key = prepared_decoder() if prepared else (jwt.PyJWT(), SECRET)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raw = authorization(scope)
        assert raw is not None
        self.decoder.decode(raw.decode("latin-1")[7:], self.key, algorithms=["HS256"])
        await self.app(scope, receive, send)


class MinimalMiddleware:
    """The near-limit reference: header read, decode (key prepared once, `exp` required),
    scope["state"] write; with `cache`, decoded claims kept in a `TokenLRU`, by the token
    itself or (`digest=True`) by the header's BLAKE2b digest, as asgi_auth keeps them:
    a cache keyed by the token keeps every token it has seen, and its memory grows with
    their length (issue 22), which asgi_auth's may not."""

    def __init__(self, app: App, cache: bool = True, digest: bool = False) -> None:
        self.app = app
        self.decoder, self.key = prepared_decoder({"require": ["exp"]})
        self.cache = TokenLRU() if cache else None
        self.digest = digest

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        raw = authorization(scope)
        token = raw.decode("latin-1")[7:] if raw else None
        key: str | bytes | None = hashlib.blake2b(raw).digest() if raw and self.digest else token
        claims = self.cache.get(key) if key and self.cache is not None else None
        if claims is None and token:
            claims = self.decoder.decode(token, self.key, algorithms=["HS256"])
            if self.cache is not None and key:
                self.cache.put(key, claims)
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
        self.jwt, self.secret = prepared_decoder({"require": ["exp"]})
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


def rule_path(shape: str, i: int) -> str:
    """Rule `i`'s template: `/svc{i}/items/{id}`, or, `mixed`, `/files/{name}.v{i}`
    (templates that differ inside a segment, after a parameter)."""
    return f"/files/{{name}}.v{i}" if shape == "mixed" else f"/svc{i}/items/{{id}}"


def asgi_auth_app(
    inner: App, scheme: aa.SecurityScheme, rules: int = 10, shape: str = "segments", on_decision: Any = None
) -> aa.AuthMiddleware:
    """`rules` rules, all but three of them `rule_path(shape, i)` (scopes me)."""
    table = [aa.Rule(rule_path(shape, i), require={scheme: ["me"]}) for i in range(rules - 3)]
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


def fastapi_security(cache: bool = False) -> App:
    """FastAPI's tutorial: Security(get_current_user, scopes=["me"]) decoding with PyJWT;
    with `cache`, the decoded claims kept per token in a `TokenLRU` in front of the decode."""
    from typing import Annotated

    from fastapi import Depends, FastAPI, HTTPException, Security
    from fastapi.security import OAuth2PasswordBearer, SecurityScopes

    oauth2 = OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "", "items": ""})
    app = FastAPI()

    lru = TokenLRU() if cache else None

    async def current_user(security_scopes: SecurityScopes, token: Annotated[str, Depends(oauth2)]) -> str:
        payload = lru.get(token) if lru is not None else None
        if payload is None:
            try:
                payload = jwt.decode(token, SECRET, algorithms=["HS256"])
            except jwt.PyJWTError:
                raise HTTPException(401, "Could not validate credentials") from None
            if lru is not None:
                lru.put(token, payload)
        granted = payload.get("scope", "").split()
        if any(s not in granted for s in security_scopes.scopes):
            raise HTTPException(403, "Not enough permissions")
        return str(payload["sub"])

    @app.get("/users/me/")
    async def me(user: Annotated[str, Security(current_user, scopes=["me"])]) -> dict[str, str]:
        return {"username": user}

    return app


def fastapi_asgi_auth(cache: bool = True) -> App:
    return asgi_auth_app(fastapi_plain(), bearer(cache=cache))


def starlette_plain() -> App:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def me(request: Any) -> JSONResponse:
        return JSONResponse({"username": "johndoe"})

    return Starlette(routes=[Route("/users/me/", me)])


def starlette_authentication(cache: bool = False) -> App:
    """Starlette's AuthenticationMiddleware with a PyJWT backend and `@requires("me")`;
    with `cache`, the decoded claims kept per token in a `TokenLRU`."""
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

    lru = TokenLRU() if cache else None

    class JWTBackend(AuthenticationBackend):
        async def authenticate(self, conn: Any) -> tuple[AuthCredentials, SimpleUser] | None:
            header = conn.headers.get("authorization")
            if not header:
                return None
            token = header[7:]
            payload = lru.get(token) if lru is not None else None
            if payload is None:
                try:
                    payload = jwt.decode(token, SECRET, algorithms=["HS256"])
                except jwt.PyJWTError:
                    raise AuthenticationError("Could not validate credentials") from None
                if lru is not None:
                    lru.put(token, payload)
            return AuthCredentials(payload["scope"].split()), SimpleUser(payload["sub"])

    @requires("me")
    async def me(request: Any) -> JSONResponse:
        return JSONResponse({"username": request.user.display_name})

    return Starlette(
        routes=[Route("/users/me/", me)], middleware=[Middleware(AuthenticationMiddleware, backend=JWTBackend())]
    )


def starlette_asgi_auth(cache: bool = True) -> App:
    return asgi_auth_app(starlette_plain(), bearer(cache=cache))


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


def litestar_asgi_auth(cache: bool = True) -> App:
    return asgi_auth_app(litestar_plain(), bearer(cache=cache))
