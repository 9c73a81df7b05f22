"""Reading the middleware's decision from inside the app, in any framework.

`get_auth` and `get_security_scopes` are FastAPI dependencies (`Depends(get_auth)`)
and plain functions: they accept any request object exposing the ASGI `scope`
(Starlette, FastAPI, Litestar, Quart, Django) or the scope itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from ._headers import insufficient_scope
from .context import AuthContext, SecurityScopes
from .errors import NOT_AUTHENTICATED, NOT_ENOUGH_PERMISSIONS

__all__ = ["check_granted", "get_auth", "get_security_scopes", "require_scopes"]


class HasScope(Protocol):
    @property
    def scope(self) -> Mapping[str, Any]: ...


if TYPE_CHECKING:
    Request = HasScope | Mapping[str, Any]
else:  # FastAPI injects parameters annotated with HTTPConnection (http and websocket).
    Request = HTTPConnection


def get_auth(request: Request) -> AuthContext:
    """The `AuthContext` the middleware stored for this request.

    Raises `RuntimeError` when the middleware did not run for this request: a route
    reached without it is a deployment mistake that must not pass as anonymous.
    """
    scope = request if isinstance(request, Mapping) else request.scope
    state = scope.get("state")
    context = state.get("auth") if isinstance(state, Mapping) else getattr(state, "auth", None)
    if not isinstance(context, AuthContext):
        raise RuntimeError("no auth context: is AuthMiddleware installed in front of this app?")
    return context


def get_security_scopes(request: Request) -> SecurityScopes:
    """The scopes the matched requirement asked for (FastAPI's `SecurityScopes`)."""
    return get_auth(request).security_scopes


def require_scopes(*scopes: str) -> Callable[[Request], AuthContext]:
    """A dependency that also demands `scopes`, for checks finer than a route's rule.

    It answers 401 when the request is anonymous and 403 with an RFC 6750
    `insufficient_scope` challenge when scopes are missing, as the middleware does.
    """
    needed = tuple(scopes)

    def dependency(request: Request) -> AuthContext:
        return check_granted(get_auth(request), needed)

    return dependency


def check_granted(context: AuthContext, scopes: Sequence[str]) -> AuthContext:
    """`context` when it was authenticated and granted every one of `scopes`; else the
    401 or 403 (with its RFC 6750 challenge) that the middleware would have answered."""
    if not context.authenticated:
        raise HTTPException(401, NOT_AUTHENTICATED, headers={"WWW-Authenticate": "Bearer"})
    if not context.scopes.issuperset(scopes):
        challenge = insufficient_scope(scopes)
        raise HTTPException(403, NOT_ENOUGH_PERMISSIONS, headers={"WWW-Authenticate": challenge})
    return context
