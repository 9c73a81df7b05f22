"""What every security scheme is: where credentials come from, how to ask for them,
how to describe itself in OpenAPI, and what it hands its verifier.

What a verifier is and how it is called is declared in verifiers/base.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from enum import Enum
from typing import Any, ClassVar, Union, cast

from .._asgi import RequestView
from .._headers import BEARER_INVALID_REQUEST, BEARER_INVALID_TOKEN, insufficient_scope
from ..errors import ConfigurationError, check_header_value
from ..verifiers.base import (
    Answer,
    Answerer,
    InlineVerifier,
    KeyedVerifier,
    Verifier,
    answerer,
    inline,
    is_pending,
    is_verifier,
)
from .dpop import DPoPCredential, DPoPOption, dpop_option, verify_bearer, verify_bound

__all__ = ["EXTRACT_ONLY", "MALFORMED", "SecurityScheme", "Verifier", "VerifierOption", "inline"]


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

VerifierOption = Union[Verifier, InlineVerifier, _ExtractOnly, None]
"""What `verifier=` takes: a verifier, `EXTRACT_ONLY`, or nothing (refused by a policy)."""


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
        dpop: DPoPOption = None,
    ) -> None:
        self.scheme_name = scheme_name or type(self).__name__
        self.description = description
        self.auto_error = auto_error
        if verifier is not None and not isinstance(verifier, _ExtractOnly) and not is_verifier(verifier):
            raise ConfigurationError(
                f"{type(self).__name__}: verifier={verifier!r} is not callable; pass a function (sync or async) "
                f"or an object such as aa.JWTVerifier(...) that takes the credentials and returns a principal"
            )
        #: `verifier=EXTRACT_ONLY` was chosen: credentials reach the app unverified.
        self.extract_only = verifier is EXTRACT_ONLY
        if isinstance(verifier, _ExtractOnly):
            verifier = None
        self.verifier: Verifier | InlineVerifier | None = verifier
        self._call: Answerer | None = answerer(verifier) if verifier is not None else None
        #: DPoP (RFC 9449), required or allowed, for bearer schemes given `dpop=`; else `None`.
        self.dpop = dpop_option(dpop, type(self).__name__)
        if self.dpop is not None:
            if not self.bearer:
                raise ConfigurationError(f"{type(self).__name__}: dpop= is for bearer-token schemes")
            if self._call is None:
                raise ConfigurationError(
                    f"{type(self).__name__}: dpop= needs a verifier for the token (its cnf.jkt is checked)"
                )
            # A DPoP request's credentials are more than one header (the proof changes
            # every time): nothing may be found, remembered or cached by the
            # `Authorization` value alone, whatever the decision layer does with a
            # source header. So there is none (as for Digest), and a DPoP answer is
            # never a `Verdict` either (schemes/dpop.py). Bearer requests on an
            # "allowed" scheme pay for it: no remembered decision, the verifier's cache.
            self.source_header = None
        elif self._call is not None and type(self).verify is SecurityScheme.verify:
            self.verify = self._call  # type: ignore[method-assign,assignment]  # nothing to adapt: skip a call
        #: The verifier's keyed entry (`KeyedVerifier`), when what it is handed is
        #: `verifier_argument(credentials)` (a subclass that adapts `verify` otherwise
        #: is asked through `verify`).
        self._keyed: Callable[[Any, bytes], Answer | Awaitable[Answer]] | None = None
        if (
            self.dpop is None  # a DPoP answer is never a remembered one (schemes/dpop.py)
            and isinstance(verifier, KeyedVerifier)
            and _owner(type(self), "verify") is _owner(type(self), "verifier_argument")
        ):
            self._keyed = verifier.verdict_keyed
        #: Appended to a decision's digest of the source header to key the verifier's
        #: cache: the same header read by another scheme is other credentials.
        self.cache_tag = secrets.token_bytes(16)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scheme_name={self.scheme_name!r})"

    # -- extraction -------------------------------------------------------------------

    #: The one header whose value alone is the credentials, if there is one: equal
    #: values are equal credentials (`Authorization`, an API-key header). `None` when
    #: they come from elsewhere or depend on more of the request (a query, Digest).
    source_header: bytes | None = None

    def extract(self, request: RequestView) -> Any:
        """The credentials in `request`; `None` when absent, `MALFORMED` when unusable."""
        raise NotImplementedError

    # -- verification -----------------------------------------------------------------

    def verify(self, credentials: Any) -> Answer | Awaitable[Answer]:
        """The verifier's answer for `credentials` (verifiers/base.py's `Answer`), or an
        awaitable of it.

        Answers that need no waiting (an `@inline` verifier, a cache hit) come back as
        they are, so that the common request builds no coroutine. A scheme that hands
        its verifier something else than the extracted credentials overrides this.
        """
        if self.dpop is not None and self._call is not None:
            if type(credentials) is DPoPCredential:
                return verify_bound(self.dpop, credentials, self._call)
            return verify_bearer(self.dpop, credentials, self._call)
        return self._call(credentials) if self._call is not None else None

    def verifier_argument(self, credentials: Any) -> Any:
        """What the verifier is handed for `credentials` (the bearer token alone, ...)."""
        return credentials

    def verify_keyed(self, credentials: Any, key: bytes) -> Answer | Awaitable[Answer]:
        """`verify`, for credentials read from `source_header` whose value `key` is the
        digest of: a verifier that caches finds its entry by `key + cache_tag` instead
        of hashing the credentials again. `key` is never empty: without one, the caller
        asks `verify`."""
        if self._keyed is None:
            return self.verify(credentials)
        return self._keyed(self.verifier_argument(credentials), key + self.cache_tag)

    async def call_verifier(self, argument: Any) -> Answer:
        """The verifier's answer for `argument`, awaited (Digest's password lookup)."""
        if self._call is None:
            return None
        result = self._call(argument)
        if is_pending(result):
            result = await cast(Awaitable[Answer], result)
        return result

    # -- challenges -------------------------------------------------------------------

    def challenge(self) -> str:
        """`WWW-Authenticate` value asking for credentials."""
        raise NotImplementedError

    def invalid_challenge(self) -> str:
        """`WWW-Authenticate` value for credentials that were rejected."""
        if self.dpop is not None and self.dpop.required:
            return self.dpop.challenge("invalid_token")
        return BEARER_INVALID_TOKEN if self.bearer else self.challenge()

    def invalid_request_challenges(self) -> list[str]:
        """`WWW-Authenticate` values for a request whose credentials can't be told
        apart (sent twice: RFC 6750 §3.1 `invalid_request`), bearer schemes only."""
        if self.dpop is not None:
            dpop = self.dpop.challenge("invalid_request")
            return [dpop] if self.dpop.required else [BEARER_INVALID_REQUEST, dpop]
        return [BEARER_INVALID_REQUEST] if self.bearer else []

    #: Whether `challenges()` differ from one response to the next (Digest's fresh
    #: nonces); when they don't, an answer carrying them can be built once.
    challenges_vary: bool = False

    def challenges(self) -> list[str]:
        """Every `WWW-Authenticate` value asking for credentials (Digest: one per algorithm)."""
        if self.dpop is not None:
            return [self.dpop.challenge()] if self.dpop.required else [self.challenge(), self.dpop.challenge()]
        return [self.challenge()]

    def insufficient_challenges(self, scopes: tuple[str, ...]) -> list[str]:
        """`WWW-Authenticate` values for a 403 (RFC 6750 §3.1), bearer schemes only: one
        per auth scheme accepted (Bearer, DPoP), each a field of its own, so that each can
        carry its own parameters (RFC 9728's `resource_metadata`)."""
        if not self.bearer:
            return []
        if self.dpop is not None:
            dpop = self.dpop.challenge("insufficient_scope", scope=" ".join(scopes))
            return [dpop] if self.dpop.required else [insufficient_scope(scopes), dpop]
        return [insufficient_scope(scopes)]

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
        if self.dpop is not None:
            dpop = self.dpop
            if self.description is None:
                model["description"] = (
                    f"DPoP-bound access tokens (RFC 9449) {'required' if dpop.required else 'accepted'}: "
                    f"`Authorization: DPoP <token>` with a `DPoP` proof header signed with one of "
                    f"{', '.join(dpop.algorithms)}"
                    + ("" if dpop.required else "; Bearer tokens not bound to a key too")
                )
            # OpenAPI has no DPoP field; these are RFC 9728's names for the same facts.
            model["x-dpop"] = {
                "dpop_bound_access_tokens_required": dpop.required,
                "dpop_signing_alg_values_supported": list(dpop.algorithms),
            }
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


def _owner(cls: type, name: str) -> type:
    return next(klass for klass in cls.__mro__ if name in vars(klass))
