"""`install(app, policy)`: the middleware, an `app.openapi()` that tells the truth, and
RFC 6749 answers for token forms.

The document is patched when FastAPI builds it — on first request for it, and again
whenever FastAPI rebuilds it because routes were added — and cached exactly as FastAPI
caches its own (`app.openapi_schema`), so routes added after `install` are documented
too. An `OAuth2FormError` raised by an endpoint is answered as RFC 6749 §5.2 says
(400, `{"error": ..., "error_description": ...}`) rather than FastAPI's `{"detail": ...}`.
`check_scopes` lets FastAPI's own scope chains decide on top of the middleware.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.security import SecurityScopes
from starlette.requests import HTTPConnection

from ..context import AuthContext
from ..dependencies import check_granted, get_auth
from ..forms import OAuth2FormError
from ..middleware import AuthMiddleware
from ..openapi import keep_patched
from ..policy import AuthPolicy, Rule

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["check_scopes", "docs_rules", "install"]


def install(app: FastAPI, policy: AuthPolicy, *, responses: bool = False) -> None:
    """Add `AuthMiddleware`, keep the app's OpenAPI document patched with `policy`, and
    answer token-form errors per RFC 6749."""
    app.add_middleware(AuthMiddleware, policy=policy)
    app.add_exception_handler(OAuth2FormError, answer_form_error)
    keep_patched(app, policy, responses=responses, always=True)


async def answer_form_error(request: Any, exc: Exception) -> Any:
    """An exception handler: the error is itself the ASGI app that answers it."""
    return exc


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
