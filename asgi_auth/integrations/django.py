"""`guard(application, policy)`: `AuthMiddleware` around Django's ASGI handler, with
Django's `FORCE_SCRIPT_NAME` taken into account.

Django routes on `PATH_INFO`, which it makes by removing its script name from
`scope["path"]`; when `settings.FORCE_SCRIPT_NAME` is set, that script name is the
setting, and the server's `root_path` is ignored. A guard that matched `scope["path"]`
less `root_path` would then decide on a path Django never routes: with
`FORCE_SCRIPT_NAME = "/prefix"` and rules written as Django's URLs are (`/admin`),
`/prefix/admin` would match no rule and get `default`. So the guard is shown the scope
as Django reads it: `root_path` is the forced script name.
"""

from __future__ import annotations

import logging

from .._types import ASGIApp, Receive, Scope, Send
from ..errors import ConfigurationError, OnError
from ..middleware import AuthMiddleware
from ..policy import AuthPolicy

__all__ = ["guard"]

logger = logging.getLogger("asgi_auth")


class _ScriptName:
    """Give the guard Django's script name as `root_path` (Django ignores `root_path` then)."""

    __slots__ = ("app", "script_name")

    def __init__(self, app: ASGIApp, script_name: str) -> None:
        self.app = app
        self.script_name = script_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" or scope["type"] == "websocket":
            scope["root_path"] = self.script_name
        await self.app(scope, receive, send)


def guard(application: ASGIApp, policy: AuthPolicy, *, on_error: OnError | None = None) -> ASGIApp:
    """Wrap Django's ASGI `application` (from `get_asgi_application()`) in the guard.

    Call it after Django's settings are loaded, as `get_asgi_application()` needs them.
    """
    from django.conf import settings  # type: ignore[import-untyped]

    script_name = settings.FORCE_SCRIPT_NAME
    guarded = AuthMiddleware(application, policy, on_error=on_error)
    if not script_name:
        return guarded
    if not isinstance(script_name, str) or not script_name.startswith("/"):
        raise ConfigurationError(f"FORCE_SCRIPT_NAME must be a path starting with '/', not {script_name!r}")
    logger.info("FORCE_SCRIPT_NAME=%r: rules match the path Django routes, without it", script_name)
    return _ScriptName(guarded, script_name.rstrip("/"))
