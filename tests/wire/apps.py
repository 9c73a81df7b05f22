"""The apps of the wire matrix: one policy, every framework wiring the docs offer.

A server in the matrix serves `tests.wire.apps:app`, a dispatcher that hands each
request, scope untouched, to the wiring named by its `X-Wire-App` header, so one
server process per configuration carries every framework. Every handler answers
with JSON saying which handler ran, what the guard decided (`scope["state"]["auth"]`)
and the credentials its framework reads through its own API, so the test can tell a
protected handler run without authentication, or an app reading another credential
than the one the guard verified.
"""

# No `from __future__ import annotations`: Litestar reads the handlers' type hints.
import contextlib
import http.cookies
import json
import re
import types
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import asgi_auth as aa
from tests.wire.dispatch import configure_django, dispatcher, header_of

TOKENS = {
    "tok-admin": aa.Principal("root", ["me", "items", "admin"]),
    "tok-me": aa.Principal("bob", ["me"]),
}
KEYS = {"key-good": aa.Principal("keyholder")}

bearer = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"me": "me", "items": "items", "admin": "admin"},
    verifier=aa.inline(TOKENS.get),
)
header_key = aa.APIKeyHeader(name="X-API-Key", verifier=aa.inline(KEYS.get))
query_key = aa.APIKeyQuery(name="api_key", verifier=aa.inline(KEYS.get))
cookie_key = aa.APIKeyCookie(name="session", verifier=aa.inline(KEYS.get))

policy = aa.AuthPolicy(
    [
        aa.Rule("/public", require=[]),
        aa.Rule("/status", require=[]),
        aa.Rule("/users/me/", require={bearer: ["me"]}),
        aa.Rule("/users/me/items/", methods=["GET"], require={bearer: ["me", "items"]}),
        aa.Rule("/items", methods=["POST"], require=bearer),
        aa.Rule("/admin", require=[{bearer: ["admin"]}, header_key]),
        aa.Rule("/admin/{rest:path}", require=[{bearer: ["admin"]}, header_key]),
        aa.Rule("/n/{n:int}", require=bearer),
        aa.Rule("/api/private", require=bearer),
        aa.Rule("/mnt", require=bearer),
        aa.Rule("/mnt/{rest:path}", require=bearer),
        aa.Rule("/query", require=query_key),
        aa.Rule("/cookie", require=cookie_key),
        aa.Rule("/ws", require=bearer),
    ],
    default=[],  # open: a request the guard reads differently from the router shows as a breach
)

# What each protected handler demands of the guard's decision: (scheme, scopes) alternatives.
BEARER, HEADER_KEY, QUERY_KEY, COOKIE_KEY = "OAuth2PasswordBearer", "APIKeyHeader", "APIKeyQuery", "APIKeyCookie"
PROTECTED: dict[str, list[tuple[str, frozenset[str]]]] = {
    "users_me": [(BEARER, frozenset({"me"}))],
    "users_me_items": [(BEARER, frozenset({"me", "items"}))],
    "items_create": [(BEARER, frozenset())],
    "admin": [(BEARER, frozenset({"admin"})), (HEADER_KEY, frozenset())],
    "admin_rest": [(BEARER, frozenset({"admin"})), (HEADER_KEY, frozenset())],
    "n_int": [(BEARER, frozenset())],
    "api_private": [(BEARER, frozenset())],
    "mnt": [(BEARER, frozenset())],
    "query": [(QUERY_KEY, frozenset())],
    "cookie": [(COOKIE_KEY, frozenset())],
    "ws": [(BEARER, frozenset())],
}
# Where each scheme's credential is, in the `read` dict a handler reports.
READS = {BEARER: "authorization", HEADER_KEY: "x-api-key", QUERY_KEY: "api_key", COOKIE_KEY: "session"}


def report(handler: str, scope: Any, read: dict[str, Any]) -> dict[str, Any]:
    """What a handler answers: the guard's decision next to what the framework read."""
    state = scope.get("state")
    context = state.get("auth") if isinstance(state, dict) else getattr(state, "auth", None)
    if not isinstance(context, aa.AuthContext):
        return {"handler": handler, "guarded": False, "authenticated": False, "read": read}
    credentials = context.credentials
    return {
        "handler": handler,
        "guarded": True,
        "authenticated": context.authenticated,
        "scheme": context.scheme,
        "scopes": sorted(context.scopes),
        "verified": credentials if isinstance(credentials, str) or credentials is None else repr(credentials),
        "read": read,
    }


# --- Starlette and FastAPI ----------------------------------------------------------------

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import HTTPConnection  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Mount, Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket as StarletteWebSocket  # noqa: E402


def starlette_read(conn: HTTPConnection) -> dict[str, Any]:
    return {
        "authorization": conn.headers.get("authorization"),
        "x-api-key": conn.headers.get("x-api-key"),
        "api_key": conn.query_params.get("api_key"),
        "session": conn.cookies.get("session"),
    }


def starlette_endpoint(name: str) -> Callable[[HTTPConnection], Awaitable[JSONResponse]]:
    async def endpoint(request: HTTPConnection) -> JSONResponse:
        return JSONResponse(report(name, request.scope, starlette_read(request)))

    endpoint.__name__ = name
    return endpoint


async def starlette_ws(websocket: StarletteWebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(json.dumps(report("ws", websocket.scope, starlette_read(websocket))))
    await websocket.close()


async def mounted(scope: Any, receive: Any, send: Any) -> None:
    """A raw ASGI app mounted at /mnt (Starlette `Mount`, Litestar `@asgi(is_mount=True)`)."""
    body = json.dumps(report("mnt", scope, {"authorization": header_of(scope, b"authorization")})).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


ROUTES = [  # (path template in Starlette's syntax, methods, handler)
    ("/public", ["GET"], "public"),
    ("/status", ["GET"], "status"),
    ("/users/me/", ["GET"], "users_me"),
    ("/users/me/items/", ["GET"], "users_me_items"),
    ("/items", ["GET"], "items_list"),
    ("/items", ["POST"], "items_create"),
    ("/admin", ["GET", "POST"], "admin"),
    ("/admin/{rest:path}", ["GET", "POST"], "admin_rest"),
    ("/n/{n:int}", ["GET"], "n_int"),
    ("/query", ["GET"], "query"),
    ("/cookie", ["GET"], "cookie"),
]


def make_starlette() -> Any:
    routes: list[Any] = [Route(path, starlette_endpoint(name), methods=methods) for path, methods, name in ROUTES]
    routes += [
        Mount("/api", routes=[Route("/private", starlette_endpoint("api_private"))]),
        Mount("/mnt", app=mounted),
        WebSocketRoute("/ws", starlette_ws),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


def make_fastapi() -> Any:
    from fastapi import APIRouter, FastAPI

    from asgi_auth.integrations.fastapi import install

    app = FastAPI()
    for path, methods, name in ROUTES:
        app.add_api_route(path, starlette_endpoint(name), methods=methods)
    api = APIRouter(prefix="/api")
    api.add_api_route("/private", starlette_endpoint("api_private"), methods=["GET"])
    app.include_router(api)
    app.mount("/mnt", mounted)
    app.add_api_websocket_route("/ws", starlette_ws)
    install(app, policy)
    return app


# --- Litestar --------------------------------------------------------------------------

from litestar import Litestar, Request, Router, asgi, get, post, websocket  # noqa: E402
from litestar import WebSocket as LitestarWebSocket  # noqa: E402
from litestar.response import Response as LitestarResponse  # noqa: E402

from asgi_auth.integrations.litestar import AuthPlugin  # noqa: E402


def litestar_read(conn: Any) -> dict[str, Any]:
    return {
        "authorization": conn.headers.get("authorization"),
        "x-api-key": conn.headers.get("x-api-key"),
        "api_key": conn.query_params.get("api_key"),
        "session": conn.cookies.get("session"),
    }


def litestar_handlers() -> list[Any]:
    def make(path: str, name: str, method: str = "GET") -> Any:
        async def endpoint(request: Request[Any, Any, Any]) -> LitestarResponse[Any]:
            return LitestarResponse(report(name, request.scope, litestar_read(request)))

        endpoint.__name__ = name
        decorator = get if method == "GET" else post
        return decorator(path, name=f"{name}_{method}", operation_id=f"{name}_{method}")(endpoint)

    handlers = [make(path, name, method) for path, methods, name in ROUTES for method in methods]

    @websocket("/ws")
    async def ws(socket: LitestarWebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        await socket.send_text(json.dumps(report("ws", socket.scope, litestar_read(socket))))
        await socket.close()

    @asgi("/mnt", is_mount=True, copy_scope=True)
    async def mnt(scope: Any, receive: Any, send: Any) -> None:
        await mounted(scope, receive, send)

    router = Router(path="/api", route_handlers=[make("/private", "api_private")])
    return [*handlers, ws, mnt, router]


def make_litestar_plugin() -> Any:
    return Litestar(route_handlers=litestar_handlers(), plugins=[AuthPlugin(policy)])


def make_litestar_outer() -> Any:
    return aa.AuthMiddleware(Litestar(route_handlers=litestar_handlers()), policy=policy)


# --- Quart -----------------------------------------------------------------------------


def make_quart() -> Any:
    from quart import Quart, request
    from quart import websocket as quart_websocket

    app = Quart("wire_quart")

    def quart_read(conn: Any) -> dict[str, Any]:
        return {
            "authorization": conn.headers.get("authorization"),
            "x-api-key": conn.headers.get("x-api-key"),
            "api_key": conn.args.get("api_key"),
            "session": conn.cookies.get("session"),
        }

    def make(name: str) -> Callable[..., Awaitable[Any]]:
        async def endpoint(**_: Any) -> Any:
            return report(name, request.scope, quart_read(request))

        endpoint.__name__ = name
        return endpoint

    for path, methods, name in [*ROUTES, ("/api/private", ["GET"], "api_private")]:
        rule = path.replace("{rest:path}", "<path:rest>").replace("{n:int}", "<int:n>")
        app.add_url_rule(rule, endpoint=name, view_func=make(name), methods=methods)

    @app.websocket("/ws")
    async def ws() -> None:
        await quart_websocket.accept()
        await quart_websocket.send(json.dumps(report("ws", quart_websocket.scope, quart_read(quart_websocket))))

    app.asgi_app = aa.AuthMiddleware(app.asgi_app, policy=policy)  # type: ignore[method-assign]
    return app


# --- Django ----------------------------------------------------------------------------


def make_django() -> Any:
    from django.http import HttpRequest, HttpResponseNotAllowed, JsonResponse
    from django.urls import path as django_path

    def make(name: str, methods: list[str]) -> Callable[..., Awaitable[Any]]:
        async def view(request: HttpRequest, **_: Any) -> Any:
            if request.method not in methods:
                return HttpResponseNotAllowed(methods)
            read = {
                "authorization": request.headers.get("Authorization"),
                "x-api-key": request.headers.get("X-API-Key"),
                "api_key": request.GET.get("api_key"),
                "session": request.COOKIES.get("session"),
            }
            return JsonResponse(report(name, request.scope, read))  # type: ignore[attr-defined]

        return view

    by_path: dict[str, tuple[list[str], dict[str, str]]] = {}
    for path, methods, name in [*ROUTES, ("/api/private", ["GET"], "api_private")]:
        entry = by_path.setdefault(path, ([], {}))
        entry[0].extend(methods)
        for method in methods:
            entry[1][method] = name

    def dispatch(names: dict[str, str], methods: list[str]) -> Callable[..., Awaitable[Any]]:
        views = {method: make(name, methods) for method, name in names.items()}

        async def view(request: HttpRequest, **kwargs: Any) -> Any:
            chosen = views.get(request.method or "")
            if chosen is None:
                return HttpResponseNotAllowed(methods)
            return await chosen(request, **kwargs)

        return view

    urls = types.ModuleType("tests_wire_django_urls")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        django_path(
            path.lstrip("/").replace("{rest:path}", "<path:rest>").replace("{n:int}", "<int:n>"),
            dispatch(names, methods),
        )
        for path, (methods, names) in by_path.items()
    ]
    configure_django(urls)
    from django.core.asgi import get_asgi_application

    from asgi_auth.integrations.django import guard

    return guard(get_asgi_application(), policy)


# --- A raw ASGI app routing on scope["path"] --------------------------------------------

RAW_ROUTES = [
    (re.compile(re.escape(path).replace(r"\{rest:path\}", ".*").replace(r"\{n:int\}", "[0-9]+") + "$"), methods, name)
    for path, methods, name in [*ROUTES, ("/api/private", ["GET"], "api_private"), ("/ws", ["GET"], "ws")]
]


async def raw(scope: Any, receive: Any, send: Any) -> None:
    """Routes on `scope["path"]` and reads credentials the naive way: a dict of headers,
    `parse_qs`, `SimpleCookie` over the joined `Cookie` headers."""
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    with contextlib.suppress(http.cookies.CookieError):
        jar.load("; ".join(v.decode("latin-1") for k, v in scope["headers"] if k == b"cookie"))
    read = {
        "authorization": headers.get("authorization"),
        "x-api-key": headers.get("x-api-key"),
        "api_key": query["api_key"][0] if "api_key" in query else None,
        "session": jar["session"].value if "session" in jar else None,
    }
    method = scope.get("method", "GET")
    for pattern, methods, name in RAW_ROUTES:
        if pattern.match(scope["path"]) and method in methods:
            body = json.dumps(report(name, scope, read))
            break
    else:
        body = ""
    if scope["type"] == "websocket":
        await receive()
        if not body or name != "ws":
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": body})
        await send({"type": "websocket.close", "code": 1000})
        return
    status = 200 if body else 404
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body.encode()})


WIRINGS: dict[str, Any] = {
    "starlette": make_starlette(),
    "fastapi": make_fastapi(),
    "litestar-plugin": make_litestar_plugin(),
    "litestar-outer": make_litestar_outer(),
    "quart": make_quart(),
    "django": make_django(),
    "raw": aa.AuthMiddleware(raw, policy=policy),
}
NO_LIFESPAN = {"django", "raw"}  # Django refuses lifespan scopes; the raw app has none


app = dispatcher(lambda: WIRINGS, NO_LIFESPAN)
