"""What every security scheme is: where credentials come from, how to ask for them,
how to describe itself in OpenAPI, and how its verifier is called.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any, ClassVar, TypeVar, Union, cast

import anyio.to_thread

from .._asgi import RequestView
from ..errors import ConfigurationError, check_header_value, quote

__all__ = ["EXTRACT_ONLY", "MALFORMED", "SecurityScheme", "Verifier", "VerifierOption", "inline"]

Verifier = Callable[[Any], Union[Any, Awaitable[Any]]]
"""Takes the extracted credentials; returns a principal, or `None` to reject them."""

F = TypeVar("F", bound=Callable[..., Any])


class _Malformed(Enum):
    MALFORMED = "malformed"


MALFORMED = _Malformed.MALFORMED
"""`extract()` result for credentials that are present but unparsable (FastAPI: 401)."""


class _ExtractOnly(Enum):
    EXTRACT_ONLY = "EXTRACT_ONLY"

    def __repr__(self) -> str:
        return "aa.EXTRACT_ONLY"


EXTRACT_ONLY = _ExtractOnly.EXTRACT_ONLY
"""`verifier=EXTRACT_ONLY`: pass any credential through to the app, which verifies it.

That is what FastAPI's classes do, and in a guard it is a hole unless chosen, so it is
never the default: a scheme with no verifier at all cannot be used in a policy.
"""

VerifierOption = Union[Verifier, _ExtractOnly, None]
"""What `verifier=` takes: a verifier, `EXTRACT_ONLY`, or nothing (refused by a policy)."""


def inline(verifier: F) -> F:
    """Mark a *sync* verifier as fast enough to run on the event loop.

    By default a sync verifier runs in a worker thread (as FastAPI runs sync
    dependencies) so that a database call cannot stall every other request. A verifier
    that only looks in a dict or checks a hash in a few microseconds is better called
    directly: decorate it with `@inline` to skip the thread hop (~50 µs). Built-ins
    such as `TOKENS.get` work too.
    """
    try:
        verifier.__asgi_auth_inline__ = True  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # a built-in or slotted callable: wrap it
        return cast(F, _Inline(verifier))
    return verifier


class _Inline:
    __slots__ = ("function",)
    __asgi_auth_inline__ = True

    def __init__(self, function: Callable[[Any], Any]) -> None:
        self.function = function

    def __call__(self, argument: Any) -> Any:
        return self.function(argument)


def _is_verifier(value: Any) -> bool:
    """A callable, or an object answering through `verify_inline` (see `_caller`)."""
    return callable(value) or callable(getattr(value, "verify_inline", None))


def _caller(verifier: Verifier) -> Callable[[Any], Any]:
    """How to call `verifier` so that it runs as it asks to: a callable returning the
    principal, or an awaitable of it.

    A verifier object with a `verify_inline(credentials)` method (JWTVerifier) is asked
    through it: it answers on the event loop when it can (a cached token, a static
    key) and returns an awaitable only when it must wait. Otherwise async verifiers
    are called as they are (the coroutine is awaited by the caller), `@inline` ones
    run on the loop, and other sync ones go to a worker thread.
    """
    verify_inline = getattr(verifier, "verify_inline", None)
    if callable(verify_inline):
        return cast(Callable[[Any], Any], verify_inline)
    if inspect.iscoroutinefunction(verifier) or inspect.iscoroutinefunction(type(verifier).__call__):
        return verifier
    if getattr(verifier, "__asgi_auth_inline__", False):
        return verifier

    async def call(argument: Any) -> Any:
        result = await anyio.to_thread.run_sync(verifier, argument)
        if hasattr(result, "__await__"):  # a sync callable that returned an awaitable
            result = await result
        return result

    return call


class SecurityScheme:
    """Base of the ten schemes. Subclasses set `type_`, `challenge()` and `extract()`."""

    #: Speaks RFC 6750 (`error="invalid_token"`, `error="insufficient_scope"`).
    bearer: ClassVar[bool] = False
    scheme_name: str
    auto_error: bool
    description: str | None

    def __init__(
        self,
        *,
        scheme_name: str | None,
        description: str | None,
        auto_error: bool,
        verifier: VerifierOption,
    ) -> None:
        self.scheme_name = scheme_name or type(self).__name__
        self.description = description
        self.auto_error = auto_error
        if verifier is not None and not isinstance(verifier, _ExtractOnly) and not _is_verifier(verifier):
            raise ConfigurationError(
                f"{type(self).__name__}: verifier={verifier!r} is not callable; pass a function (sync or async) "
                f"or an object such as aa.JWTVerifier(...) that takes the credentials and returns a principal"
            )
        #: `verifier=EXTRACT_ONLY` was chosen: credentials reach the app unverified.
        self.extract_only = verifier is EXTRACT_ONLY
        if isinstance(verifier, _ExtractOnly):
            verifier = None
        self.verifier: Verifier | None = verifier
        self._call = _caller(verifier) if verifier is not None else None
        if self._call is not None and type(self).verify is SecurityScheme.verify:
            self.verify = self._call  # type: ignore[method-assign,assignment]  # nothing to adapt
        lifetime = getattr(verifier, "lifetime", None)
        self._lifetime: Callable[[Any], tuple[float, float] | None] | None = lifetime if callable(lifetime) else None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scheme_name={self.scheme_name!r})"

    # -- extraction -------------------------------------------------------------------

    #: The header the credentials are read from, when they come from that header's
    #: value alone (equal values, equal credentials). A requirement may then remember
    #: its decision for a value, for as long as the verifier says the answer holds.
    source_header: bytes | None = None

    def extract(self, request: RequestView) -> Any:
        """The credentials in `request`; `None` when absent, `MALFORMED` when unusable."""
        raise NotImplementedError

    # -- verification -----------------------------------------------------------------

    def verify(self, credentials: Any) -> Any:
        """The verifier's answer for `credentials`: a principal (`None` rejects), or an
        awaitable of one.

        Answers that need no waiting (an `@inline` verifier, a cache hit) come back as
        they are, so that the common request builds no coroutine. A scheme that hands
        its verifier something else than the extracted credentials overrides this.
        """
        return self._call(credentials) if self._call is not None else None

    async def call_verifier(self, argument: Any) -> Any:
        """The verifier's answer for `argument`, awaited (Digest's password lookup)."""
        if self._call is None:
            return None
        result = self._call(argument)
        if hasattr(result, "__await__"):
            result = await result
        return result

    @property
    def has_lifetime(self) -> bool:
        """Whether the verifier can say how long its answers hold (`lifetime()`)."""
        return self._lifetime is not None

    def lifetime(self, credentials: Any) -> tuple[float, float] | None:
        """When the verifier's answer for `credentials` holds, as `(not_before, expires)`
        wall-clock times, if its verifier says (`JWTVerifier.lifetime`); `None` when the
        verifier must be asked again for every request."""
        return self._lifetime(credentials) if self._lifetime is not None else None

    # -- challenges -------------------------------------------------------------------

    def challenge(self) -> str:
        """`WWW-Authenticate` value asking for credentials."""
        raise NotImplementedError

    def invalid_challenge(self) -> str:
        """`WWW-Authenticate` value for credentials that were rejected."""
        return 'Bearer error="invalid_token"' if self.bearer else self.challenge()

    #: False when challenges change per response (Digest's fresh nonces).
    static_challenge: ClassVar[bool] = True

    def challenges(self) -> list[str]:
        """Every `WWW-Authenticate` value asking for credentials (Digest: one per algorithm)."""
        return [self.challenge()]

    def insufficient_challenge(self, scopes: tuple[str, ...]) -> str | None:
        """`WWW-Authenticate` value for a 403 (RFC 6750 §3.1), bearer schemes only."""
        if not self.bearer:
            return None
        return f'Bearer error="insufficient_scope", scope={quote(" ".join(scopes))}'

    # -- description ------------------------------------------------------------------

    @property
    def declared_scopes(self) -> frozenset[str] | None:
        """Scopes a rule may require of this scheme; `None` when any string is fine."""
        return None

    def openapi(self) -> dict[str, Any]:
        """This scheme's `components.securitySchemes` entry, as FastAPI emits it."""
        raise NotImplementedError

    def _with_description(self, model: dict[str, Any]) -> dict[str, Any]:
        if self.description is not None:
            model["description"] = self.description
        return model


def not_a_scheme(value: Any) -> str:
    """Why `value` cannot stand for a scheme, with the way out when it is FastAPI's class."""
    kind = type(value)
    if kind.__module__.startswith("fastapi.security"):
        return (
            f"{value!r} is FastAPI's fastapi.security.{kind.__name__}, which only extracts; "
            f"use aa.{kind.__name__}(..., verifier=...) with the same arguments"
        )
    return f"{value!r} is not a security scheme"


def clean(model: Mapping[str, Any]) -> dict[str, Any]:
    """Drop `None` values recursively, as FastAPI's `exclude_none` does."""
    return {k: clean(v) if isinstance(v, Mapping) else v for k, v in model.items() if v is not None}


def header_name(name: str) -> bytes:
    """Lower-case latin-1 bytes for looking a header up in an ASGI scope."""
    return check_header_value(name, "header name").lower().encode("latin-1")


def split_authorization(value: str | None) -> tuple[str, str]:
    """FastAPI's `get_authorization_scheme_param`: ("Bearer", "token")."""
    if not value:
        return "", ""
    scheme, _, param = value.partition(" ")
    return scheme, param.strip()
