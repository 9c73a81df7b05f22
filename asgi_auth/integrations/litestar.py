"""`AuthPlugin(policy)`: the guard for a Litestar app, and its schema patched.

Use it as `Litestar(..., plugins=[AuthPlugin(policy)])`. The guard must decide on the
request as the client sent it, so it cannot sit in Litestar's middleware stack: that
stack runs after Litestar's router, which strips `root_path` wherever it occurs,
drops trailing slashes, collapses doubled ones and hands a mount only its own part of
the path. So the plugin puts the guard in front of the router:

- at start-up (the ASGI lifespan) it wraps the app's outermost handler,
  `app.asgi_handler`, in `AuthMiddleware`, which then sees `scope["path"]` exactly as
  a guard wrapped around the whole app would;
- for servers that run no lifespan (daphne, or `--lifespan off`), a middleware at the
  head of Litestar's stack checks each request the outer guard did not, on the path
  rebuilt from `scope["raw_path"]` (the target as sent), and refuses with 503 when
  the server gives no `raw_path`, rather than decide on a rewritten path.

Litestar serves its OpenAPI document from a cached dict on its OpenAPI plugin; at
start-up that dict is replaced by the patched one, so `/schema/openapi.json` and the
UIs show what is enforced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .._types import ASGIApp, Receive, Scope, Send
from ..errors import ConfigurationError, OnError
from ..middleware import AuthMiddleware
from ..openapi import patch_openapi
from ..policy import AuthPolicy

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.config.app import AppConfig

__all__ = ["AuthPlugin"]

# Set in the scope of a request the outer guard let through; servers never set scope keys
# from the client's bytes, so no request can claim it.
GUARDED = "asgi_auth.guarded"


class _Passed:
    """What the outer guard calls once it has let a request through: mark it, go on."""

    __slots__ = ("app",)

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[GUARDED] = True
        await self.app(scope, receive, send)


class _Backstop:
    """Litestar middleware: check the requests the outer guard did not see (no lifespan)."""

    __slots__ = ("app", "on_error", "policy")

    def __init__(self, app: ASGIApp, policy: AuthPolicy, on_error: OnError | None) -> None:
        self.app = app
        self.policy = policy
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get(GUARDED) or (scope["type"] != "http" and scope["type"] != "websocket"):
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path")
        if not isinstance(raw_path, bytes):
            await _unavailable(scope, receive, send)
            return
        # The scope as the server made it, as far as it can be rebuilt: Litestar's router
        # replaced `path`; `raw_path` and `root_path` are left as they came.
        sent = dict(scope)
        sent["path"] = unquote(raw_path.decode("latin-1"))
        inner = self.app

        async def proceed(checked: Scope, receive: Receive, send: Send) -> None:
            scope["auth"], scope["user"], scope[GUARDED] = checked["auth"], checked["user"], True
            await inner(scope, receive, send)

        await AuthMiddleware(proceed, self.policy, on_error=self.on_error)(sent, receive, send)


async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    """503: neither the outer guard nor the path as sent is available for this request."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1011})
        return
    body = b'{"detail":"Authentication unavailable: the server gave no raw_path and ran no lifespan"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AuthPlugin:
    """A Litestar init plugin (`InitPluginProtocol`) that guards the whole app."""

    def __init__(self, policy: AuthPolicy, *, responses: bool = False, on_error: OnError | None = None) -> None:
        if not isinstance(policy, AuthPolicy):
            raise ConfigurationError(f"AuthPlugin needs policy=AuthPolicy(...), not {policy!r}")
        self.policy = policy
        self.responses = responses
        self.on_error = on_error if on_error is not None else policy.on_error

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        from litestar.middleware import DefineMiddleware

        backstop = DefineMiddleware(_Backstop, policy=self.policy, on_error=self.on_error)  # type: ignore[arg-type]
        app_config.middleware.insert(0, backstop)
        app_config.on_startup.insert(0, self._install)
        app_config.on_startup.append(self._patch_schema)
        return app_config

    def _install(self, app: Litestar) -> None:
        """Put the guard around the app's outermost handler, in front of the router."""
        handler: Any = app.asgi_handler
        if isinstance(handler, AuthMiddleware) and isinstance(handler.app, _Passed):
            return  # installed by an earlier lifespan of the same app
        guard: Any = AuthMiddleware(_Passed(handler), self.policy, on_error=self.on_error)
        app.asgi_handler = guard

    def _patch_schema(self, app: Litestar) -> None:
        if app.openapi_config is None:  # openapi_config=None: there is no document to patch
            return
        from litestar._openapi.plugin import OpenAPIPlugin

        plugin: Any = app.plugins.get(OpenAPIPlugin)
        plugin._openapi_schema = patch_openapi(plugin.provide_openapi_schema(), self.policy, responses=self.responses)
