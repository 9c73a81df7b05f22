"""The apps of the closed-default wire matrix: public rules, and handlers only `default` guards.

`tests.wire.apps` serves an open policy (`default=[]`), where a request the guard
reads differently from the router shows as a protected rule missed. The other class
of bypass needs a closed default: a request the guard holds to a *public* rule while
the router runs a handler that has no rule at all, guarded only by `default`
(`GET /static/api/admin` matching `/static/{rest:path}` while Litestar runs `/admin`).
So this policy has public catch-all-ish rules (`/`, `/public`, `/static/{rest:path}`,
`/users/{name}`), `default=bearer`, and handlers (`/admin`, `/books`, `/secret/...`,
`/users/{name}/detail`, a router, a mount, a websocket) that no rule names.

The policy trusts the `root_path` in `WIRE_ROOT_PATH` (the server's own flag, which
the test passes to the server process), or none. The wirings are built on the first
request or lifespan, not at import, so the test process can read the names below
without configuring Django or building apps.

A server serves `tests.wire.closed_apps:app`, a dispatcher choosing the wiring by the
`X-Wire-App` header, as in `tests.wire.apps`. Every handler answers JSON naming
itself and what the guard decided.
"""

# No `from __future__ import annotations`: Litestar reads the handlers' type hints.
import functools
import json
import os
import re
import types
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket as StarletteWebSocket

import asgi_auth as aa
from tests.wire.dispatch import configure_django, dispatcher

TOKEN = "tok-good"
ROOT_PATH_ENV = "WIRE_ROOT_PATH"

ROUTES = [  # (path template in Starlette's syntax, handler); every handler answers GET and POST
    ("/", "index"),
    ("/public", "public"),
    ("/static/{rest:path}", "static"),
    ("/users/{name}", "user"),
    ("/admin", "admin"),
    ("/admin/{rest:path}", "admin_rest"),
    ("/books", "books"),
    ("/secret/{rest:path}", "secret"),
    ("/users/{name}/detail", "user_detail"),
]
# The router and the mount, as flat routes for the routers that have neither.
EXTRA_ROUTES = [("/api/private", "api_private"), ("/mnt", "mnt"), ("/mnt/{rest:path}", "mnt")]
PUBLIC = frozenset({"index", "public", "static", "user"})
# No rule names these: only `default` guards them. `api_private` is under a router
# (`/api`), `mnt` a raw ASGI app mounted at `/mnt`, `ws` a websocket route.
PROTECTED = frozenset({"admin", "admin_rest", "books", "secret", "user_detail", "api_private", "mnt", "ws"})
WIRING_NAMES = ("starlette", "fastapi", "litestar-plugin", "litestar-outer", "quart", "django", "raw")
NO_LIFESPAN = {"django", "raw"}  # Django refuses lifespan scopes; the raw app has none


def make_policy(root_path: str) -> aa.AuthPolicy:
    bearer = aa.HTTPBearer(verifier=aa.inline({TOKEN: aa.Principal("alice")}.get))
    return aa.AuthPolicy(
        [
            aa.Rule("/", require=[]),
            aa.Rule("/public", require=[]),
            aa.Rule("/static/{rest:path}", require=[]),
            aa.Rule("/users/{name}", require=[]),
        ],
        default=bearer,  # closed: a request held to a public rule while a protected handler runs shows
        root_path=root_path,
    )


def report(handler: str, scope: Any) -> dict[str, Any]:
    """What a handler answers: which ran, and whether the guard authenticated the request."""
    state = scope.get("state")
    context = state.get("auth") if isinstance(state, dict) else getattr(state, "auth", None)
    if not isinstance(context, aa.AuthContext):
        return {"handler": handler, "guarded": False, "authenticated": False}
    return {"handler": handler, "guarded": True, "authenticated": context.authenticated, "scheme": context.scheme}


async def mounted(scope: Any, receive: Any, send: Any) -> None:
    """A raw ASGI app mounted at /mnt (Starlette `Mount`, Litestar `@asgi(is_mount=True)`)."""
    body = json.dumps(report("mnt", scope)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


# --- Starlette and FastAPI ----------------------------------------------------------------


def starlette_endpoint(name: str) -> Callable[..., Awaitable[Any]]:
    from starlette.requests import HTTPConnection
    from starlette.responses import JSONResponse

    async def endpoint(request: HTTPConnection) -> JSONResponse:
        return JSONResponse(report(name, request.scope))

    endpoint.__name__ = name
    return endpoint


async def starlette_ws(websocket: StarletteWebSocket) -> None:  # FastAPI injects by this type
    await websocket.accept()
    await websocket.send_text(json.dumps(report("ws", websocket.scope)))
    await websocket.close()


def make_starlette(policy: aa.AuthPolicy) -> Any:
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route, WebSocketRoute

    routes: list[Any] = [Route(path, starlette_endpoint(name), methods=["GET", "POST"]) for path, name in ROUTES]
    routes += [
        Mount("/api", routes=[Route("/private", starlette_endpoint("api_private"))]),
        Mount("/mnt", app=mounted),
        WebSocketRoute("/ws", starlette_ws),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


def make_fastapi(policy: aa.AuthPolicy) -> Any:
    from fastapi import APIRouter, FastAPI

    from asgi_auth.integrations.fastapi import install

    app = FastAPI()
    for path, name in ROUTES:
        app.add_api_route(path, starlette_endpoint(name), methods=["GET", "POST"])
    api = APIRouter(prefix="/api")
    api.add_api_route("/private", starlette_endpoint("api_private"), methods=["GET"])
    app.include_router(api)
    app.mount("/mnt", mounted)
    app.add_api_websocket_route("/ws", starlette_ws)
    install(app, policy)
    return app


# --- Litestar --------------------------------------------------------------------------


def litestar_handlers() -> list[Any]:
    from litestar import Request, Router, asgi, get, post, websocket
    from litestar import WebSocket as LitestarWebSocket
    from litestar.response import Response as LitestarResponse

    def make(path: str, name: str, method: str) -> Any:
        async def endpoint(request: Request[Any, Any, Any]) -> LitestarResponse[Any]:
            return LitestarResponse(report(name, request.scope))

        endpoint.__name__ = name
        decorator = get if method == "GET" else post
        litestar_path = path.replace("{name}", "{name:str}")  # Litestar's parameters are typed
        return decorator(litestar_path, name=f"{name}_{method}", operation_id=f"{name}_{method}")(endpoint)

    handlers = [make(path, name, method) for path, name in ROUTES for method in ("GET", "POST")]

    @websocket("/ws")
    async def ws(socket: LitestarWebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        await socket.send_text(json.dumps(report("ws", socket.scope)))
        await socket.close()

    @asgi("/mnt", is_mount=True, copy_scope=True)
    async def mnt(scope: Any, receive: Any, send: Any) -> None:
        await mounted(scope, receive, send)

    router = Router(path="/api", route_handlers=[make("/private", "api_private", "GET")])
    return [*handlers, ws, mnt, router]


def make_litestar_plugin(policy: aa.AuthPolicy) -> Any:
    from litestar import Litestar

    from asgi_auth.integrations.litestar import AuthPlugin

    return Litestar(route_handlers=litestar_handlers(), plugins=[AuthPlugin(policy)])


def make_litestar_outer(policy: aa.AuthPolicy) -> Any:
    from litestar import Litestar

    return aa.AuthMiddleware(Litestar(route_handlers=litestar_handlers()), policy=policy)


# --- Quart -----------------------------------------------------------------------------


def werkzeug_rule(path: str) -> str:
    return path.replace("{rest:path}", "<path:rest>").replace("{name}", "<name>")


def make_quart(policy: aa.AuthPolicy) -> Any:
    from quart import Quart, request
    from quart import websocket as quart_websocket

    app = Quart("wire_closed_quart", static_folder=None)  # its own /static route would shadow ours

    def make(name: str) -> Callable[..., Awaitable[Any]]:
        async def endpoint(**_: Any) -> Any:
            return report(name, request.scope)

        endpoint.__name__ = name
        return endpoint

    for path, name in [*ROUTES, *EXTRA_ROUTES]:
        app.add_url_rule(werkzeug_rule(path), endpoint=f"{name}:{path}", view_func=make(name), methods=["GET", "POST"])

    @app.websocket("/ws")
    async def ws() -> None:
        await quart_websocket.accept()
        await quart_websocket.send(json.dumps(report("ws", quart_websocket.scope)))

    app.asgi_app = aa.AuthMiddleware(app.asgi_app, policy=policy)  # type: ignore[method-assign]
    return app


# --- Django ----------------------------------------------------------------------------


def make_django(policy: aa.AuthPolicy) -> Any:
    from django.http import HttpRequest, JsonResponse
    from django.urls import path as django_path

    def make(name: str) -> Callable[..., Awaitable[Any]]:
        async def view(request: HttpRequest, **_: Any) -> Any:
            return JsonResponse(report(name, request.scope))  # type: ignore[attr-defined]

        return view

    urls = types.ModuleType("tests_wire_closed_django_urls")
    urls.urlpatterns = [  # type: ignore[attr-defined]
        django_path(werkzeug_rule(path).lstrip("/"), make(name)) for path, name in [*ROUTES, *EXTRA_ROUTES]
    ]
    configure_django(urls, APPEND_SLASH=False)
    from django.core.asgi import get_asgi_application

    from asgi_auth.integrations.django import guard

    return guard(get_asgi_application(), policy)


# --- A raw ASGI app routing on scope["path"] --------------------------------------------

RAW_ROUTES = [
    (re.compile(re.escape(path).replace(r"\{rest:path\}", ".*").replace(r"\{name\}", "[^/]+") + "$"), name)
    for path, name in [*ROUTES, *EXTRA_ROUTES]
]


async def raw(scope: Any, receive: Any, send: Any) -> None:
    """Routes on `scope["path"]` exactly as the server gave it, `root_path` and all."""
    name = next((name for pattern, name in RAW_ROUTES if pattern.match(scope["path"])), None)
    if scope["path"] == "/ws":
        name = "ws"
    if scope["type"] == "websocket":
        await receive()
        if name != "ws":
            await send({"type": "websocket.close", "code": 1000})
            return
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(report("ws", scope))})
        await send({"type": "websocket.close", "code": 1000})
        return
    body = json.dumps(report(name, scope)).encode() if name and name != "ws" else b""
    status = 200 if body else 404
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@functools.cache
def wirings() -> dict[str, Any]:
    """Every wiring, guarded by one policy trusting the `root_path` the server was started with.

    The raw app routes on the whole `scope["path"]`, `root_path` and all, so its policy
    declares none (docs/security.md): declaring one says the app strips it itself.
    """
    policy = make_policy(os.environ.get(ROOT_PATH_ENV, ""))
    raw_policy = make_policy("")
    built = {
        "starlette": make_starlette(policy),
        "fastapi": make_fastapi(policy),
        "litestar-plugin": make_litestar_plugin(policy),
        "litestar-outer": make_litestar_outer(policy),
        "quart": make_quart(policy),
        "django": make_django(policy),
        "raw": aa.AuthMiddleware(raw, policy=raw_policy),
    }
    assert tuple(built) == WIRING_NAMES
    return built


app = dispatcher(wirings, NO_LIFESPAN)
