"""`install(app, policy)`: the middleware plus an `app.openapi()` that tells the truth.

The patched document is computed once, on first request for it, and cached on the
app exactly as FastAPI caches its own (`app.openapi_schema`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.security import SecurityScopes
from starlette.requests import HTTPConnection

from ..context import AuthContext
from ..dependencies import check_granted, get_auth
from ..middleware import AuthMiddleware
from ..openapi import patch_openapi
from ..policy import AuthPolicy, Rule

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["check_scopes", "docs_rules", "install"]


def install(app: FastAPI, policy: AuthPolicy, *, responses: bool = False) -> None:
    """Add `AuthMiddleware` and patch the app's OpenAPI document with `policy`."""
    app.add_middleware(AuthMiddleware, policy=policy)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if getattr(app, "_asgi_auth_schema", None) is None:
            app.openapi_schema = None  # let FastAPI build the document afresh
            app._asgi_auth_schema = patch_openapi(generate(), policy, responses=responses)  # type: ignore[attr-defined]
        app.openapi_schema = app._asgi_auth_schema  # type: ignore[attr-defined]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def docs_rules(app: FastAPI) -> list[Rule]:
    """Public rules for the app's own docs pages, to splice into a closed policy.

    The policy stays the single source of truth: nothing is opened unless these
    rules are written into it.
    """
    urls = [app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url]
    return [Rule(url, methods=["GET"], require=[]) for url in urls if url]


def check_scopes(security_scopes: SecurityScopes, request: HTTPConnection) -> AuthContext:
    """FastAPI's scope chains on top of the middleware: `Depends(check_scopes)`.

    Inside a dependency used as `Security(dep, scopes=[...])`, FastAPI hands this
    dependency the scopes accumulated along its chain, as it hands them to any
    dependency that asks for `SecurityScopes`. They are checked against those the
    middleware granted: 401 when the request is anonymous, 403 with an RFC 6750
    `insufficient_scope` challenge when one is missing. The middleware authenticates;
    the chain decides, link by link, as it did with `fastapi.security`.
    """
    return check_granted(get_auth(request), security_scopes.scopes)
