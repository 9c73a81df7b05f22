"""`AuthPlugin(policy)`: the middleware for a Litestar app, and its schema patched.

Use it as `Litestar(..., plugins=[AuthPlugin(policy)])`. Litestar serves its OpenAPI
document from a cached dict on its OpenAPI plugin; at start-up that dict is replaced
by the patched one, so `/schema/openapi.json` and the UIs show what is enforced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..middleware import AuthMiddleware
from ..openapi import patch_openapi
from ..policy import AuthPolicy

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.config.app import AppConfig

__all__ = ["AuthPlugin"]


class AuthPlugin:
    """A Litestar init plugin (`InitPluginProtocol`)."""

    def __init__(self, policy: AuthPolicy, *, responses: bool = False) -> None:
        self.policy = policy
        self.responses = responses

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        from litestar.middleware import DefineMiddleware

        app_config.middleware.insert(0, DefineMiddleware(AuthMiddleware, policy=self.policy))  # type: ignore[arg-type]
        app_config.on_startup.append(self._patch_schema)
        return app_config

    def _patch_schema(self, app: Litestar) -> None:
        from litestar._openapi.plugin import OpenAPIPlugin

        plugin: Any = app.plugins.get(OpenAPIPlugin)
        if plugin is None:  # openapi_config=None: there is no document to patch
            return
        plugin._openapi_schema = patch_openapi(plugin.provide_openapi_schema(), self.policy, responses=self.responses)
