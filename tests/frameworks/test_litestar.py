"""Litestar through `AuthPlugin` over a real server: the guard sees the path as sent.

Litestar's router strips `root_path` wherever it occurs, drops trailing slashes,
collapses doubled ones and gives a mount only its own part of the path, all before
its middleware stack runs. These tests drive mounts, routers, trailing-slash rules and
`root_path` through uvicorn with the lifespan on (the plugin wraps the app's outermost
handler at start-up) and off (its backstop checks the path rebuilt from `raw_path`).
"""

# No `from __future__ import annotations`: Litestar reads the handlers' type hints.
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from litestar import Litestar, Request, Router, WebSocket, asgi, get, websocket

import asgi_auth as aa
from asgi_auth.integrations.litestar import AuthPlugin
from tests.conftest import call_asgi, http_scope
from tests.frameworks.common import check_framework, payload, policy
from tests.loopback import serve
from tests.wire.servers import send_raw


@get(["/private", "/public"], sync_to_thread=False)
def echo(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return payload(aa.get_auth(request))


@get(["/items", "/open"], sync_to_thread=False)
def api_echo(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return payload(aa.get_auth(request))


@websocket("/ws")
async def ws(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    await socket.send_text(aa.get_auth(socket).principal.subject)
    await socket.close()


def make_app() -> Litestar:
    return Litestar(
        route_handlers=[echo, ws, Router(path="/api", route_handlers=[api_echo])],
        plugins=[AuthPlugin(policy)],
        openapi_config=None,
    )


def test_litestar() -> None:
    check_framework(make_app())


# --- what Litestar rewrites before its middleware stack --------------------------------

scoped = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"me": "me"},
    verifier=aa.inline({"tok-me": aa.Principal("bob", ["me"]), "tok-none": aa.Principal("eve")}.get),
)
strict = aa.AuthPolicy(
    [
        aa.Rule("/status", require=[]),
        aa.Rule("/users/me/", require={scoped: ["me"]}),
        aa.Rule("/mnt/{rest:path}", require=scoped),
        aa.Rule("/api/{rest:path}", require=scoped),
    ],
    default=[],  # open: a path the guard reads differently from the router shows
)


@get("/status", sync_to_thread=False)
def status(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"handler": "status", "authenticated": aa.get_auth(request).authenticated}


@get("/users/me/", sync_to_thread=False)
def users_me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"handler": "users_me", "authenticated": aa.get_auth(request).authenticated}


@get("/status", sync_to_thread=False, name="api_status")
def api_status(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"handler": "api_status", "authenticated": aa.get_auth(request).authenticated}


@asgi("/mnt", is_mount=True, copy_scope=True)
async def mounted(scope: Any, receive: Any, send: Any) -> None:
    authenticated = str(aa.get_auth(scope).authenticated).lower().encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"handler": "mnt", "authenticated": ' + authenticated + b"}"})


def strict_app(**options: Any) -> Litestar:
    handlers = [status, users_me, mounted, Router(path="/api", route_handlers=[api_status])]
    return Litestar(route_handlers=handlers, plugins=[AuthPlugin(strict)], **options)


def raw_get(base: str, target: str, *headers: str) -> tuple[int | None, Any]:
    port = urlsplit(base).port
    assert port is not None
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", *headers, "Connection: close"]
    answer = send_raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    return answer.status, answer.json()


@pytest.mark.parametrize("lifespan", ["on", "off"])
def test_plugin_guards_mounts_routers_and_trailing_slash_rules(lifespan: str) -> None:
    with serve(strict_app(openapi_config=None), lifespan=lifespan) as base:
        # inside an is_mount handler, Litestar's path is the mount's own ("/x")
        assert raw_get(base, "/mnt/x")[0] == 401
        assert raw_get(base, "/mnt/x", "Authorization: Bearer tok-none") == (
            200,
            {"handler": "mnt", "authenticated": True},
        )
        # a router's routes
        assert raw_get(base, "/api/status")[0] == 401
        # Litestar drops the trailing slash: the rule written with it must still match
        assert raw_get(base, "/users/me/", "Authorization: Bearer tok-none")[0] == 403
        ok = raw_get(base, "/users/me/", "Authorization: Bearer tok-me")
        assert ok == (200, {"handler": "users_me", "authenticated": True})
        # the public rule stays public
        assert raw_get(base, "/status") == (200, {"handler": "status", "authenticated": False})


@pytest.mark.parametrize("lifespan", ["on", "off"])
def test_plugin_sees_root_path_once(lifespan: str) -> None:
    """Under root_path=/api, `/api/status` is the router's /api/status, not the public /status."""
    with serve(strict_app(openapi_config=None), lifespan=lifespan, root_path="/api") as base:
        # uvicorn prefixes root_path: scope["path"] is /api/api/status, the route /api/status
        assert raw_get(base, "/api/status")[0] == 401
        ok = raw_get(base, "/api/status", "Authorization: Bearer tok-none")
        assert ok == (200, {"handler": "api_status", "authenticated": True})


def test_plugin_without_openapi_starts() -> None:
    """`openapi_config=None` leaves no document to patch; start-up must not fail over it."""
    with serve(strict_app(openapi_config=None), lifespan="on") as base:
        assert httpx.get(f"{base}/status").status_code == 200


def test_plugin_patches_the_served_schema() -> None:
    with serve(strict_app(), lifespan="on") as base:
        document = httpx.get(f"{base}/schema/openapi.json").json()
    assert document["paths"]["/api/status"]["get"]["security"] == [{"OAuth2PasswordBearer": []}]
    assert "security" not in document["paths"]["/status"]["get"]


def test_backstop_refuses_without_raw_path() -> None:
    """No lifespan ran and the server gave no `raw_path`: 503, never a decision on Litestar's path."""
    scope = http_scope("/users/me/")
    del scope["raw_path"]
    sent = anyio.run(call_asgi, strict_app(openapi_config=None), scope)
    assert sent[0]["status"] == 503
    assert b"raw_path" in sent[1]["body"]


def test_plugin_refuses_a_non_policy() -> None:
    with pytest.raises(aa.ConfigurationError):
        AuthPlugin(object())  # type: ignore[arg-type]


def test_define_middleware_inside_litestar_decides_on_the_rewritten_path() -> None:
    """Why the docs advise against `DefineMiddleware(aa.AuthMiddleware, ...)`: it runs after
    Litestar's router, so inside a mount it sees only the mount's own path ("/x")."""
    from litestar.middleware import DefineMiddleware

    app = Litestar(
        route_handlers=[mounted],
        middleware=[DefineMiddleware(aa.AuthMiddleware, policy=strict)],  # type: ignore[arg-type]
        openapi_config=None,
    )
    with serve(app) as base:
        assert raw_get(base, "/mnt/x") == (200, {"handler": "mnt", "authenticated": False})
