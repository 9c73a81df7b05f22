"""A route's requirement in OpenAPI's shape, normalised, and its evaluation per request.

`require=` is spelled as OpenAPI spells `security`: a list of alternatives (OR), each a
mapping of schemes to the scopes they must grant (AND). Here it becomes a
`Requirement` whose error answers are encoded once, so that at request time only the
credentials are looked at.
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Union

from ._asgi import MAX_HEADER_VALUE, AmbiguousCredentials, HeaderTooLarge, RequestView
from .context import AuthContext, Principal, SecurityScopes, granted_scopes
from .errors import (
    AuthError,
    ConfigurationError,
    ErrorResponse,
    InsufficientScope,
    InvalidCredentials,
    NotAuthenticated,
)
from .schemes.base import MALFORMED, SecurityScheme, not_a_scheme

__all__ = ["Alternative", "RequireSpec", "Requirement", "normalize"]

logger = logging.getLogger("asgi_auth")

SchemeRef = Union[SecurityScheme, str]
RequireSpec = Union[
    SchemeRef, Mapping[SchemeRef, Sequence[str]], Sequence[Union[SchemeRef, Mapping[SchemeRef, Sequence[str]]]]
]
"""`bearer`, `{bearer: ["me"]}`, `[alt1, alt2]`, `[]` (public), `[{}, bearer]` (optional)."""

Decision = Union[AuthContext, ErrorResponse]
"""What a request gets: the context it goes on with, or the answer that refuses it."""

_NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})
_TOO_LARGE_RESPONSE = ErrorResponse(AuthError("Request header fields too large", status_code=431))

# How useful an error is to the client, when no alternative succeeds.
_MISSING, _MALFORMED, _REJECTED, _FORBIDDEN, _UNUSABLE = range(5)  # _UNUSABLE: the request itself (400, 431)

_CONTEXT_CACHE_SIZE = 4096

#: Verifiers run at most once per scheme per request, so this bounds the credentials
#: tried for one request.
MAX_SCHEMES_PER_REQUIREMENT = 16


@dataclass(frozen=True, slots=True)
class Alternative:
    """One OpenAPI security requirement object: every scheme, each with its scopes."""

    items: tuple[tuple[SecurityScheme, tuple[str, ...]], ...]

    @property
    def anonymous(self) -> bool:
        """`{}`: nothing required, or only schemes with `auto_error=False`."""
        return all(not scheme.auto_error for scheme, _ in self.items)

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(scope for _, scopes in self.items for scope in scopes))

    def openapi(self) -> dict[str, list[str]]:
        return {scheme.scheme_name: list(scopes) for scheme, scopes in self.items}


def normalize(spec: Any, schemes: Mapping[str, SecurityScheme], where: str) -> tuple[Alternative, ...] | None:
    """Turn a `require=` value into alternatives; `None` means public (`[]`)."""
    if isinstance(spec, (SecurityScheme, str, Mapping)):
        spec = [spec]
    if not isinstance(spec, (list, tuple)):
        raise ConfigurationError(f"{where}: require={spec!r} is not a scheme, a mapping or a list of them{_hint(spec)}")
    if not spec:
        return None
    alternatives = []
    for entry in spec:
        if isinstance(entry, (SecurityScheme, str)):
            entry = {entry: []}
        if not isinstance(entry, Mapping):
            raise ConfigurationError(
                f"{where}: {entry!r} is not a scheme or a {{scheme: scopes}} mapping{_hint(entry)}"
            )
        items = []
        for key, scopes in entry.items():
            scheme = _resolve(key, schemes, where)
            if isinstance(scopes, str) or not isinstance(scopes, Iterable):
                raise ConfigurationError(f"{where}: scopes for {scheme.scheme_name!r} must be a list, not {scopes!r}")
            scopes = tuple(dict.fromkeys(scopes))
            for scope in scopes:
                if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
                    raise ConfigurationError(
                        f"{where}: {scope!r} is not a scope: RFC 6749 §3.3 allows printable ASCII"
                        f" except space, double quote and backslash"
                    )
            _check_declared(scheme, scopes, where)
            items.append((scheme, scopes))
        alternatives.append(Alternative(tuple(items)))
    return tuple(alternatives)


#: RFC 6749 §3.3 `scope-token`: what may appear in a scope, and so in a challenge.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def _check_declared(scheme: SecurityScheme, scopes: tuple[str, ...], where: str) -> None:
    """A scope the scheme does not declare is a typo; scopes an extract-only scheme
    cannot check are the app's to check, which is said out loud."""
    declared = scheme.declared_scopes
    if declared is not None and not set(scopes) <= declared:
        unknown = ", ".join(sorted(set(scopes) - declared))
        raise ConfigurationError(
            f"{where}: scope(s) {unknown} are not declared by scheme {scheme.scheme_name!r} "
            f"(declared: {', '.join(sorted(declared))})"
        )
    if scopes and scheme.extract_only:
        warnings.warn(
            f"asgi_auth: {where} requires scope(s) {' '.join(scopes)} of scheme {scheme.scheme_name!r}, which is"
            f" verifier=aa.EXTRACT_ONLY: nothing grants scopes, so the middleware does not check them and the app"
            f" must (OpenAPI still documents them)",
            UserWarning,
            stacklevel=4,
        )


def _hint(value: Any) -> str:
    """FastAPI's own scheme objects are the likely mistake: say which class to use."""
    return "; " + not_a_scheme(value) if type(value).__module__.startswith("fastapi.security") else ""


def _resolve(key: Any, schemes: Mapping[str, SecurityScheme], where: str) -> SecurityScheme:
    if isinstance(key, SecurityScheme):
        return key
    if isinstance(key, str):
        if key not in schemes:
            known = ", ".join(sorted(schemes)) or "none"
            raise ConfigurationError(f"{where}: unknown scheme name {key!r} (known: {known})")
        return schemes[key]
    raise ConfigurationError(f"{where}: {not_a_scheme(key)} or a scheme name")


def is_principal(answer: Any) -> bool:
    """Whether a verifier's answer vouches for the caller: any true value does.

    `None` and `False` refuse, and so do the other false values (`0`, `""`, `[]`,
    `{}`): a lookup that found nothing must not pass for one that found someone. An
    answer that cannot even say whether it is true refuses too.
    """
    try:
        return bool(answer)
    except Exception:
        return False


def _canonical(raw: bytes) -> bool:
    """Whether a header value is spelled the one way a credential is remembered under.

    Decisions are found by the header's bytes; if padded or re-cased copies of one valid
    credential (`Bearer<many spaces>token`, `bEaReR token`) were remembered too, one
    token could fill the table. Those are verified every time instead.
    """
    head, _, _ = raw.partition(b" ")
    return (
        raw == raw.strip()
        and b"  " not in raw
        and b"\t" not in raw
        and (head == raw or (head[:1].isupper() and (len(head) == 1 or head[1:].islower())))
    )


def _header_list(challenges: Iterable[str | None]) -> list[tuple[str, str]]:
    return [("WWW-Authenticate", c) for c in dict.fromkeys(challenges) if c]


class Requirement:
    """A compiled requirement: alternatives, the rule it came from, its ready answers."""

    def __init__(self, alternatives: tuple[Alternative, ...] | None, rule: str | None) -> None:
        self.alternatives: tuple[Alternative, ...] = alternatives or ()
        self.public = alternatives is None
        self.rule = rule
        self.anonymous_allowed = self.public or any(alt.anonymous for alt in self.alternatives)
        # As FastAPI's dependency of an optional scheme sees its scopes whether or not
        # credentials came, an anonymous pass carries those of the first alternative
        # that names a scheme.
        named = [alt for alt in self.alternatives if alt.items]
        self.anonymous_context = AuthContext(
            rule=rule, security_scopes=SecurityScopes(named[0].scopes if named else ())
        )
        #: The context every request gets, for a public requirement; else `None`.
        self.public_context = self.anonymous_context if self.public else None
        self.schemes: tuple[SecurityScheme, ...] = tuple(
            dict.fromkeys(scheme for alt in self.alternatives for scheme, _ in alt.items)
        )
        if len(self.schemes) > MAX_SCHEMES_PER_REQUIREMENT:
            raise ConfigurationError(
                f"{'rule ' + repr(rule) if rule else 'default'}: {len(self.schemes)} schemes in one requirement;"
                f" at most {MAX_SCHEMES_PER_REQUIREMENT} are tried per request"
            )
        self._security_scopes = [SecurityScopes(alt.scopes) for alt in self.alternatives]
        # Holding the principal keeps its id() from being reused while cached.
        self._contexts: dict[tuple[int, int], AuthContext] = {}
        self._single: tuple[SecurityScheme, tuple[str, ...], frozenset[str]] | None = None
        # For one scheme whose credentials are one header's value: that header, and
        # the decisions for its values, kept while the verifier says its answer holds
        # (a cached JWT: until exp, at most its cache_ttl).
        self._source = b""
        self._decided: dict[bytes, tuple[Decision, float, float]] | None = None
        self._may_remember = False
        if len(self.alternatives) == 1 and len(self.alternatives[0].items) == 1:
            scheme, scopes = self.alternatives[0].items[0]
            self._single = (scheme, scopes, frozenset(scopes))
            self.decide = self._decide_single  # type: ignore[method-assign]
            if scheme.source_header is not None:
                self._source = scheme.source_header
                self._may_remember = scheme.has_lifetime
        # Answers are encoded once, except for schemes whose challenges change per
        # response (Digest's fresh nonces), which are built when needed.
        static = [s for s in self.schemes if s.static_challenge]
        self._missing = (
            ErrorResponse(NotAuthenticated(headers=self._challenges())) if len(static) == len(self.schemes) else None
        )
        self._invalid = {
            s: ErrorResponse(InvalidCredentials(headers=_header_list([s.invalid_challenge()]))) for s in static
        }
        self._malformed = {s: ErrorResponse(NotAuthenticated(headers=_header_list(s.challenges()))) for s in static}
        self._forbidden = {
            (scheme, scopes): ErrorResponse(
                InsufficientScope(headers=_header_list([scheme.insufficient_challenge(scopes)]))
            )
            for alt in self.alternatives
            for scheme, scopes in alt.items
        }
        if self._single is not None:
            self._single_forbidden = self._forbidden[self._single[:2]]
            self._single_absent = self.anonymous_context if self.anonymous_allowed else self._answer(_MISSING, None, ())

    def __repr__(self) -> str:
        return f"Requirement({self.openapi()!r}, rule={self.rule!r})"

    def openapi(self) -> list[dict[str, list[str]]]:
        """This requirement as an OpenAPI `security` list (optional ones begin with `{}`)."""
        if self.public:
            return []
        out: list[dict[str, list[str]]] = []
        if self.anonymous_allowed:
            out.append({})
        for alt in self.alternatives:
            entry = alt.openapi()
            if entry and entry not in out:
                out.append(entry)
            required = {s.scheme_name: list(sc) for s, sc in alt.items if s.auto_error}
            if required and required != entry and required not in out:
                out.append(required)
        return out

    # -- answers ----------------------------------------------------------------------

    def _challenges(self) -> list[tuple[str, str]]:
        return _header_list(c for s in self.schemes for c in s.challenges())

    def _answer(self, rank: int, scheme: SecurityScheme | None, scopes: tuple[str, ...]) -> ErrorResponse:
        if rank == _FORBIDDEN and scheme is not None:
            return self._forbidden[(scheme, scopes)]
        if rank == _MISSING or scheme is None:
            return self._missing or ErrorResponse(NotAuthenticated(headers=self._challenges()))
        table = self._invalid if rank == _REJECTED else self._malformed
        found = table.get(scheme)
        if found is not None:
            return found
        if rank == _REJECTED:
            return ErrorResponse(InvalidCredentials(headers=_header_list([scheme.invalid_challenge()])))
        return ErrorResponse(NotAuthenticated(headers=_header_list(scheme.challenges())))

    # -- evaluation -------------------------------------------------------------------

    def decide(self, request: RequestView) -> Decision | Awaitable[Decision]:
        """The decision for a request, or an awaitable of it when a verifier must be awaited.

        Answers that need no waiting (a public route, missing credentials, an
        `@inline` verifier, a token the verifier has cached) come back directly, so
        the common request builds no coroutine. Set per instance in `__init__`.
        """
        return self.authenticate(request)

    async def authenticate(self, request: RequestView) -> Decision:
        """The context for a request that satisfies an alternative, else the answer.

        The first alternative whose credentials all verify wins. When none does, the
        most useful refusal is returned: missing scopes (403) over rejected credentials
        over malformed ones over none at all; a requirement that allows anonymous
        access lets a request through only when it sent nothing that failed.
        """
        if self.public:
            return self.anonymous_context
        verified: dict[SecurityScheme, tuple[Any, Any] | ErrorResponse | None] = {}
        best_rank, best = -1, None
        for index, alt in enumerate(self.alternatives):
            principals: list[tuple[SecurityScheme, Any, Any]] = []
            failure: tuple[int, Any] | None = None
            for scheme, scopes in alt.items:
                if scheme in verified:
                    outcome = verified[scheme]
                else:
                    outcome = await self._verify(scheme, request)
                    verified[scheme] = outcome
                if outcome is None:  # absent
                    if scheme.auto_error:
                        failure = (_MISSING, None)
                        break
                    continue
                if isinstance(outcome, ErrorResponse):
                    status = outcome.status
                    failure = (
                        _FORBIDDEN if status == 403 else _UNUSABLE if status in (400, 431) else _REJECTED,
                        outcome,
                    )
                    break
                credentials, principal = outcome
                if scopes and scheme.verifier is not None and not set(scopes) <= granted_scopes(principal):
                    failure = (_FORBIDDEN, self._answer(_FORBIDDEN, scheme, scopes))
                    break
                principals.append((scheme, credentials, principal))
            if failure is None:
                if principals:
                    return self._context(principals, index)
                continue  # an anonymous alternative; remembered by anonymous_allowed
            rank, response = failure
            if rank > best_rank:
                best_rank, best = rank, response
        if best_rank <= _MISSING and self.anonymous_allowed:
            return self.anonymous_context
        if isinstance(best, ErrorResponse):
            return best
        return self._answer(_MISSING, None, ())

    def _decide_single(self, request: RequestView) -> Decision | Awaitable[Decision]:
        """One alternative of one scheme, the common case: the same decisions as
        `authenticate`, without the bookkeeping that several alternatives need."""
        if self._source:
            try:
                raw = request.raw_header(self._source)
            except AmbiguousCredentials as exc:
                return self._ambiguous(self._single[0], exc)  # type: ignore[index]
            if raw is None:  # no header, no credentials
                return self._single_absent
            decided = self._decided
            if decided is not None and len(raw) <= MAX_HEADER_VALUE:
                hit = decided.get(raw)
                if hit is not None:
                    if hit[1] <= time.time() < hit[2]:
                        return hit[0]
                    del decided[raw]
        scheme = self._single[0]  # type: ignore[index]
        credentials = self._extract(scheme, request)
        if credentials is None:
            return self.anonymous_context if self.anonymous_allowed else self._answer(_MISSING, None, ())
        if type(credentials) is ErrorResponse:
            return credentials
        if scheme.verifier is None:
            return self._context_one(scheme, credentials, None, 0)
        try:
            principal = scheme.verify(credentials)
        except Exception as exc:
            return self._verifier_failed(scheme, exc)
        if hasattr(principal, "__await__"):
            return self._decide_single_later(request, credentials, principal)
        return self._conclude_single(request, credentials, principal, reuse=True)

    async def _decide_single_later(self, request: RequestView, credentials: Any, pending: Awaitable[Any]) -> Decision:
        try:
            principal = await pending
        except Exception as exc:
            return self._verifier_failed(self._single[0], exc)  # type: ignore[index]
        return self._conclude_single(request, credentials, principal, reuse=False)

    def _conclude_single(self, request: RequestView, credentials: Any, principal: Any, reuse: bool) -> Decision:
        scheme, _, needed = self._single  # type: ignore[misc]
        if type(principal) is not Principal and not is_principal(principal):  # a Principal is true
            return self._answer(_REJECTED, scheme, ())
        decision: Decision
        if needed and not needed <= granted_scopes(principal):
            decision = self._single_forbidden
        elif reuse and not self._may_remember:
            # A principal that came back at once is held by a cache or a table and will
            # come again: its context is kept for reuse. One just verified is used once.
            decision = self._context_one(scheme, credentials, principal, 0)
        else:
            decision = self._build([(scheme, credentials, principal)], 0)
        if self._may_remember:
            self._remember(request, credentials, decision)
        return decision

    def _remember(self, request: RequestView, credentials: Any, decision: Decision) -> None:
        window = self._single[0].lifetime(credentials)  # type: ignore[index]
        if window is None:  # the verifier does not vouch (JWTVerifier(cache=False))
            return
        raw = request.raw_header(self._source)  # read once already: not ambiguous
        if raw is None or not _canonical(raw):
            return
        if self._decided is None or len(self._decided) >= _CONTEXT_CACHE_SIZE:
            self._decided = {}  # made on first use, emptied when full
        self._decided[raw] = (decision, *window)

    def _extract(self, scheme: SecurityScheme, request: RequestView) -> Any:
        """`scheme`'s credentials in `request`: `None` when absent, or the answer for
        credentials that cannot be used (malformed, or in an oversized header)."""
        try:
            credentials = scheme.extract(request)
        except HeaderTooLarge as exc:
            logger.warning("request refused: %s", exc)  # the name and the cap, never the value
            return _TOO_LARGE_RESPONSE
        except AmbiguousCredentials as exc:
            return self._ambiguous(scheme, exc)
        if credentials is MALFORMED:
            return self._answer(_MALFORMED, scheme, ())
        return credentials

    async def _verify(self, scheme: SecurityScheme, request: RequestView) -> tuple[Any, Any] | ErrorResponse | None:
        credentials = self._extract(scheme, request)
        if credentials is None or type(credentials) is ErrorResponse:
            return credentials
        if scheme.verifier is None:
            return credentials, None
        try:
            principal = scheme.verify(credentials)
            if hasattr(principal, "__await__"):
                principal = await principal
        except Exception as exc:
            return self._verifier_failed(scheme, exc)
        if type(principal) is not Principal and not is_principal(principal):  # a Principal is true
            return self._answer(_REJECTED, scheme, ())
        return credentials, principal

    def _ambiguous(self, scheme: SecurityScheme, exc: AmbiguousCredentials) -> ErrorResponse:
        """400 for a credential sent twice (RFC 6750 §3.1 `invalid_request` for bearer schemes)."""
        headers = [("WWW-Authenticate", 'Bearer error="invalid_request"')] if scheme.bearer else []
        return ErrorResponse(AuthError(f"Ambiguous credentials: {exc}", status_code=400, headers=headers))

    def _verifier_failed(self, scheme: SecurityScheme, exc: Exception) -> ErrorResponse:
        """A verifier that raised: its `AuthError` answers; any other exception is a bug,
        which must neither let the request through nor leak into the answer."""
        if isinstance(exc, AuthError):
            if isinstance(exc, InvalidCredentials) and not exc.headers:
                exc = exc.with_headers(_header_list([scheme.invalid_challenge()]))
            return ErrorResponse(exc)
        logger.error("verifier of scheme %r raised %s; request refused", scheme.scheme_name, type(exc).__name__)
        return self._answer(_REJECTED, scheme, ())

    def _context(self, principals: list[tuple[SecurityScheme, Any, Any]], index: int) -> AuthContext:
        if len(principals) == 1:  # the common case: one scheme
            return self._context_one(*principals[0], index)
        return self._build(principals, index)

    def _context_one(self, scheme: SecurityScheme, credentials: Any, principal: Any, index: int) -> AuthContext:
        # A verifier that caches (JWTVerifier does) returns the same principal for the
        # same credentials: the (immutable) context built for them last time is reused.
        key = (index, id(principal))
        cached = self._contexts.get(key)
        if cached is not None and cached.principal is principal and cached.credentials == credentials:
            return cached
        context = self._build([(scheme, credentials, principal)], index)
        if len(self._contexts) >= _CONTEXT_CACHE_SIZE:
            self._contexts.clear()
        self._contexts[key] = context
        return context

    def _build(self, principals: list[tuple[SecurityScheme, Any, Any]], index: int) -> AuthContext:
        if len(principals) == 1:
            scheme, credentials, principal = principals[0]
            authenticated = scheme.verifier is not None
            scopes = granted_scopes(principal) if authenticated else frozenset()
            by_scheme = {scheme.scheme_name: principal}
        else:
            verified = [(s, c, p) for s, c, p in principals if s.verifier is not None]
            scheme, credentials, principal = (verified or principals)[0]
            authenticated = bool(verified)
            scopes = frozenset().union(*(granted_scopes(p) for _, _, p in verified))
            by_scheme = {s.scheme_name: p for s, _, p in principals}
        claims = getattr(principal, "claims", _NO_CLAIMS)
        if type(claims) is not MappingProxyType and not isinstance(claims, Mapping):  # the ABC check is slow
            claims = _NO_CLAIMS
        return AuthContext(
            authenticated,
            scheme.scheme_name,
            principal,
            credentials,
            scopes,
            self._security_scopes[index],
            self.rule,
            claims,
            MappingProxyType(by_scheme),
        )
