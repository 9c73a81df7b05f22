"""What the app reads after the middleware has decided: `AuthContext` and friends.

`Principal` is a Starlette `BaseUser`, so `request.user` works unchanged; any other
object a verifier returns is wrapped so that it does too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser

__all__ = ["AuthContext", "Principal", "SecurityScopes"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_AUTHENTICATED = frozenset({"authenticated"})


class SecurityScopes:
    """The scopes the matched requirement asks for, shaped like FastAPI's class.

    `scopes` is a list and `scope_str` the space-joined string, ready for a
    `WWW-Authenticate: Bearer scope="…"` header.
    """

    __slots__ = ("scope_str", "scopes")

    def __init__(self, scopes: Iterable[str] | None = None) -> None:
        self.scopes: list[str] = list(scopes or [])
        self.scope_str: str = " ".join(self.scopes)

    def __repr__(self) -> str:
        return f"SecurityScopes(scopes={self.scopes!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecurityScopes) and other.scopes == self.scopes

    def __hash__(self) -> int:
        return hash(tuple(self.scopes))


class Principal(BaseUser):
    """Who a verifier says the caller is, and which scopes that grants.

    Returning one of these (or any object with a `scopes` attribute) from a verifier
    is how scopes are granted.
    """

    __slots__ = ("claims", "name", "scopes", "subject")

    def __init__(
        self,
        subject: str,
        scopes: Iterable[str] = (),
        *,
        name: str | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> None:
        self.subject = subject
        self.scopes: frozenset[str] = frozenset(scopes)
        self.name = name
        # A read-only view is kept as it is (JWTVerifier hands over the dict it owns).
        if type(claims) is not MappingProxyType:
            claims = MappingProxyType(dict(claims)) if claims else _EMPTY
        self.claims: Mapping[str, Any] = claims

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name or self.subject

    @property
    def identity(self) -> str:
        return self.subject

    def __repr__(self) -> str:
        # Claims stay out: they may carry personal data; the subject identifies well enough.
        return f"Principal(subject={self.subject!r}, scopes={sorted(self.scopes)!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Principal)
            and other.subject == self.subject
            and other.scopes == self.scopes
            and dict(other.claims) == dict(self.claims)
        )

    def __hash__(self) -> int:
        return hash((self.subject, self.scopes))


class AuthenticatedUser(BaseUser):
    """Starlette's view of a principal that is not a `BaseUser` itself."""

    __slots__ = ("principal",)

    def __init__(self, principal: Any) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        for attr in ("display_name", "username", "name", "subject", "sub"):
            value = getattr(self.principal, attr, None)
            if isinstance(value, str):
                return value
        return ""

    @property
    def identity(self) -> str:
        for attr in ("identity", "id", "subject", "sub", "username"):
            value = getattr(self.principal, attr, None)
            if value is not None:
                return str(value)
        return ""


def granted_scopes(principal: Any) -> frozenset[str]:
    """The scopes a principal grants: its `scopes` attribute, else none."""
    scopes = getattr(principal, "scopes", None)
    if type(scopes) is frozenset:
        return scopes
    if scopes is None:
        return frozenset()
    if isinstance(scopes, str):  # a JWT-style "a b c" string is a common slip
        return frozenset(scopes.split())
    return frozenset(scopes)


class _ContextFields:
    """The storage of an `AuthContext`: its slots, shared with `_Draft`."""

    __slots__ = (
        "auth_credentials",
        "authenticated",
        "claims",
        "credentials",
        "principal",
        "principals",
        "rule",
        "scheme",
        "scopes",
        "security_scopes",
        "user",
    )
    authenticated: bool
    scheme: str | None
    principal: Any
    credentials: Any
    scopes: frozenset[str]
    security_scopes: SecurityScopes
    rule: str | None
    claims: Mapping[str, Any]
    principals: Mapping[str, Any]
    user: BaseUser
    auth_credentials: AuthCredentials


class _Draft(_ContextFields):
    """An `AuthContext` while it is filled in: the same slots, still writable."""

    __slots__ = ()


class AuthContext(_ContextFields):
    """The middleware's decision for one request, stored in `scope["state"]["auth"]`.

    `authenticated` is true when a verifier vouched for the credentials; a scheme
    built with `verifier=EXTRACT_ONLY` only extracts, leaving `credentials` for the app to check.
    `principals` maps each scheme of the satisfied alternative to its principal, for
    requirements that AND several schemes. `user` and `auth_credentials` are the same
    decision in Starlette's shapes (`request.user`, `request.auth`).

    Read-only: the middleware reuses one context for repeated requests of the same
    principal and credentials, so no request can alter what another one sees.
    """

    __slots__ = ()

    def __new__(
        cls,
        authenticated: bool = False,
        scheme: str | None = None,
        principal: Any = None,
        credentials: Any = None,
        scopes: frozenset[str] = frozenset(),
        security_scopes: SecurityScopes | None = None,
        rule: str | None = None,
        claims: Mapping[str, Any] = _EMPTY,
        principals: Mapping[str, Any] = _EMPTY,
    ) -> AuthContext:
        # Filled in as a writable `_Draft`, then turned into an AuthContext, whose
        # `__setattr__` refuses: plain slot stores cost a fraction of eleven
        # `object.__setattr__` calls, and nobody sees the context before it is whole.
        self = object.__new__(_Draft)
        self.authenticated = authenticated
        self.scheme = scheme
        self.principal = principal
        self.credentials = credentials
        self.scopes = scopes
        self.security_scopes = security_scopes if security_scopes is not None else SecurityScopes()
        self.rule = rule
        self.claims = claims
        # A read-only view is kept as it is (the middleware hands over one it owns).
        if type(principals) is not MappingProxyType:
            principals = MappingProxyType(dict(principals)) if principals else _EMPTY
        self.principals = principals
        if not authenticated:
            self.user = UnauthenticatedUser()
        elif isinstance(principal, BaseUser):
            self.user = principal
        else:
            self.user = AuthenticatedUser(principal)
        # Starlette's backends grant `authenticated` to every authenticated request, and
        # `@requires("authenticated")` is its idiom; `scopes` stays what was granted.
        self.auth_credentials = AuthCredentials(
            ["authenticated", *sorted(scopes - _AUTHENTICATED)] if authenticated else sorted(scopes)
        )
        self.__class__ = cls  # type: ignore[assignment]
        return self  # type: ignore[return-value]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"AuthContext is read-only (tried to set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"AuthContext is read-only (tried to delete {name!r})")

    def __repr__(self) -> str:
        # Never the credentials: a repr ends up in logs and tracebacks.
        return (
            f"AuthContext(authenticated={self.authenticated}, scheme={self.scheme!r}, "
            f"principal={self.principal!r}, scopes={sorted(self.scopes)!r}, "
            f"security_scopes={self.security_scopes.scopes!r}, rule={self.rule!r})"
        )
