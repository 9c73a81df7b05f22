"""How a request is decided: one compiled decision per distinct requirement.

`compile(alternatives)` turns a normalised requirement into one of three decisions —
`Public`, `OneScheme` (the common case) or `AnyOf` — and every rule whose requirement
is equal shares it. Each `decide(scope, rule)` reads as authlib's `validate_request`
does, in four steps:

1. **extract** the scheme's credentials: absent, unusable (a refusal), or there;
2. **verify** them: the verifier's principal, or a `Verdict` vouching for one (its
   window), a refusal, or an awaitable of these (verifiers/base.py);
3. **authorize**: the scopes the alternative needs, against those granted, and the
   claims it requires (`aa.Claim`) against the principal's;
4. **conclude**: the context the app reads, or the most useful refusal (`Outcome`).

What belongs to one rule — its template, the contexts and remembered decisions of
its requests — is the `RuleState` handed in, so sharing a decision shares no request's
context with another rule.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from enum import IntEnum
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Union, cast

from ._asgi import MAX_HEADER_VALUE, AmbiguousCredentials, HeaderTooLarge, RequestView, raw_header
from ._cache import Cache, Entry, digest
from .claims import Claim, failing
from .context import AuthContext, Principal, SecurityScopes, granted_scopes
from .errors import (
    AmbiguousRequest,
    AuthError,
    ErrorResponse,
    InsufficientScope,
    InvalidCredentials,
    MalformedCredentials,
    NotAuthenticated,
)
from .schemes.base import MALFORMED, SecurityScheme
from .verifiers.base import Answer, LifetimeVerifier, Verdict, VerdictVerifier
from .verifiers.jwt import state_cost

if TYPE_CHECKING:
    from ._types import Scope
    from .requirement import Alternative, RuleState
    from .throttle import FailureLimit

__all__ = ["Answers", "AnyOf", "Decided", "Decision", "OneScheme", "Outcome", "Public", "compile_decision"]

logger = logging.getLogger("asgi_auth")

Decided = Union[AuthContext, ErrorResponse]
"""What a request gets: the context it goes on with, or the answer that refuses it."""

Decision = Union["Public", "OneScheme", "AnyOf"]

_NO_CLAIMS: Mapping[str, Any] = MappingProxyType({})
_TOO_LARGE = ErrorResponse(AuthError("Request header fields too large", status_code=431))

#: Contexts kept per rule (emptied when full), and decisions remembered per rule (evicted).
CONTEXT_CACHE_SIZE = 4096
#: The estimated bytes of the decisions one rule remembers (see _cache.py).
DECISION_CACHE_BYTES = 16 * 1024 * 1024


class Outcome(IntEnum):
    """Why an alternative failed. When none succeeds, the highest is answered: it tells
    the client the most about what to fix."""

    MISSING = 0  # no credentials for a scheme: 401 with every challenge
    MALFORMED = 1  # credentials that do not parse: 401 with that scheme's challenges
    REJECTED = 2  # the verifier said no: 401 `invalid_token` for bearer schemes
    FORBIDDEN = 3  # authenticated without the scopes: 403 `insufficient_scope`
    UNUSABLE = 4  # the request itself: a credential sent twice (400), too large (431)


# Enum members read on every request are read once here: a class attribute lookup
# through the enum's metaclass costs more than a global.
_MISSING, _REJECTED, _FORBIDDEN = Outcome.MISSING, Outcome.REJECTED, Outcome.FORBIDDEN


class Answers:
    """Every refusal a decision can give, one table keyed by outcome, scheme and scopes.

    Built on first use and kept, except the answers that carry a Digest challenge,
    which holds a fresh nonce each time.
    """

    __slots__ = ("_claims", "_kept", "_static", "schemes")

    def __init__(self, schemes: tuple[SecurityScheme, ...]) -> None:
        self.schemes = schemes
        self._static = not any(scheme.challenges_vary for scheme in schemes)
        self._kept: dict[tuple[Outcome, SecurityScheme | None, tuple[str, ...]], ErrorResponse] = {}
        self._claims: dict[tuple[SecurityScheme, tuple[str, ...], Claim], ErrorResponse] = {}

    def claim_failed(self, scheme: SecurityScheme, scopes: tuple[str, ...], claim: Claim) -> ErrorResponse:
        """403 for a principal without a claim the alternative requires: the detail says
        which requirement (`claim realm_access.roles contains "admin"`), never the
        token's value; bearer schemes add RFC 6750's `insufficient_scope` challenge."""
        key = (scheme, scopes, claim)
        found = self._claims.get(key)
        if found is None:
            detail = f"{InsufficientScope.default_detail}: claim {claim.describe()}"
            error = InsufficientScope(detail, headers=challenge_list(scheme.insufficient_challenges(scopes)))
            found = self._claims[key] = ErrorResponse(error)
        return found

    def __call__(
        self, outcome: Outcome, scheme: SecurityScheme | None = None, scopes: tuple[str, ...] = ()
    ) -> ErrorResponse:
        key = (outcome, scheme, scopes)
        found = self._kept.get(key)
        if found is not None:
            return found
        if outcome is Outcome.FORBIDDEN and scheme is not None:
            error: AuthError = InsufficientScope(headers=challenge_list(scheme.insufficient_challenges(scopes)))
            static = True
        elif outcome is Outcome.MISSING or scheme is None:
            error = NotAuthenticated(headers=challenge_list(c for s in self.schemes for c in s.challenges()))
            static = self._static
        elif outcome is Outcome.REJECTED:
            error = InvalidCredentials(headers=challenge_list([scheme.invalid_challenge()]))
            static = not scheme.challenges_vary
        else:
            error = MalformedCredentials(headers=challenge_list(scheme.challenges()))
            static = not scheme.challenges_vary
        response = ErrorResponse(error)
        if static:
            self._kept[key] = response
        return response


def challenge_list(challenges: Iterable[str | None]) -> list[tuple[str, str]]:
    return [("WWW-Authenticate", c) for c in dict.fromkeys(challenges) if c]


# -- the steps every decision shares ------------------------------------------------------


def extract(scheme: SecurityScheme, request: RequestView, answers: Answers) -> Any:
    """Step 1: `scheme`'s credentials, `None` when absent, or the refusal for credentials
    that cannot be used (malformed, sent twice, or in an oversized header)."""
    try:
        credentials = scheme.extract(request)
    except HeaderTooLarge as exc:
        logger.warning("request refused: %s", exc)  # the name and the cap, never the value
        return _TOO_LARGE
    except AmbiguousCredentials as exc:
        return ambiguous(scheme, exc)
    if credentials is MALFORMED:
        return answers(Outcome.MALFORMED, scheme)
    return credentials


def ambiguous(scheme: SecurityScheme, exc: AmbiguousCredentials) -> ErrorResponse:
    """400 for a credential sent twice (RFC 6750 §3.1 `invalid_request` for bearer schemes)."""
    headers = challenge_list(scheme.invalid_request_challenges())
    return ErrorResponse(AmbiguousRequest(f"Ambiguous credentials: {exc}", headers=headers))


def is_principal(answer: Any) -> bool:
    """Whether a verifier's answer vouches for the caller: any true value does.

    `None` and `False` refuse, and so do the other false values (`0`, `""`, `[]`,
    `{}`): a lookup that found nothing must not pass for one that found someone. An
    answer that cannot even say whether it is true refuses too.
    """
    if type(answer) is Principal:  # always true: the common case skips the test
        return True
    try:
        return bool(answer)
    except Exception:
        return False


def verifier_failed(scheme: SecurityScheme, exc: Exception, answers: Answers) -> ErrorResponse:
    """Step 2 went wrong: a verifier's `AuthError` answers as it is; any other exception
    is a bug, which must neither let the request through nor leak into the answer."""
    if isinstance(exc, AuthError):
        if isinstance(exc, InvalidCredentials) and not exc.headers:
            exc = exc.with_headers(challenge_list([scheme.invalid_challenge()]))
        return ErrorResponse(exc)
    logger.error("verifier of scheme %r raised %s; request refused", scheme.scheme_name, type(exc).__name__)
    return answers(Outcome.REJECTED, scheme)


def build_context(
    verified: list[tuple[SecurityScheme, Any, Any]], security_scopes: SecurityScopes, rule: str | None
) -> AuthContext:
    """Step 4: the context for the schemes of the alternative that succeeded."""
    vouched = [(s, c, p) for s, c, p in verified if s.verifier is not None]
    scheme, credentials, principal = (vouched or verified)[0]
    if len(verified) == 1:
        scopes = granted_scopes(principal) if vouched else frozenset()
    else:
        scopes = frozenset().union(*(granted_scopes(p) for _, _, p in vouched))
    claims = getattr(principal, "claims", _NO_CLAIMS)
    if type(claims) is not MappingProxyType and not isinstance(claims, Mapping):  # the ABC check is slow
        claims = _NO_CLAIMS
    return AuthContext(
        bool(vouched),
        scheme.scheme_name,
        principal,
        credentials,
        scopes,
        security_scopes,
        rule,
        claims,
        MappingProxyType({s.scheme_name: p for s, _, p in verified}),
    )


# -- the three decisions ------------------------------------------------------------------


class Public:
    """`require=[]`: nothing to check."""

    public = True

    def __init__(self) -> None:
        self.schemes: tuple[SecurityScheme, ...] = ()
        self.anonymous_allowed = True
        self.anonymous_scopes = SecurityScopes()

    def decide(self, scope: Scope, rule: RuleState, request: RequestView | None = None) -> Decided:
        return rule.anonymous_context


class OneScheme:
    """One alternative of one scheme, the common case: the four steps and nothing else.

    When the credentials are one header's value and the verifier answers with a
    `Verdict` (a cached JWT), the decision for that value is remembered per rule for
    the window it vouches for (a rejection too, as briefly as the verifier says), so a
    repeated token skips all four steps. It is found by the header's digest, which the
    verifier is handed on a miss (`verify_keyed`): one hash per request for both.
    """

    public = False

    def __init__(self, alternative: Alternative, anonymous_allowed: bool, limit: FailureLimit | None = None) -> None:
        ((self.scheme, self.scopes),) = alternative.items
        #: The brute-force limit, checked before the verifier runs (throttle.py).
        self.limit = limit if limit is not None and limit.covers(self.scheme) else None
        self.schemes = (self.scheme,)
        self.anonymous_allowed = anonymous_allowed
        self.answers = Answers(self.schemes)
        self.needed = frozenset(self.scopes)
        self.claims = alternative.claims_of(self.scheme)
        self.security_scopes = self.anonymous_scopes = SecurityScopes(self.scopes)
        self.forbidden = self.answers(_FORBIDDEN, self.scheme, self.scopes)
        # Ready when they never change (not Digest's, whose challenges carry a fresh nonce).
        static = not self.scheme.challenges_vary
        self.missing = self.answers(_MISSING) if static else None
        self.rejected = self.answers(_REJECTED, self.scheme) if static else None
        #: What a request without credentials gets when that never changes, else `None`.
        self.refuse_absent = self.missing if not anonymous_allowed else None
        #: Credentials that are one header's value can have the decision for that value
        #: remembered, when the verifier vouches for its answer with a `Verdict`.
        self.source = self.scheme.source_header or b""
        #: Whether the header is hashed to look for a remembered decision: while the
        #: verifier's answers are lasting `Verdict`s (so `cache=False` costs no hash).
        self.remembers = bool(self.source) and vouches(self.scheme)

    def absent(self, rule: RuleState) -> Decided:
        if self.anonymous_allowed:
            return rule.anonymous_context
        return self.missing or self.answers(_MISSING)

    def decide(self, scope: Scope, rule: RuleState, request: RequestView | None = None) -> Decided | Awaitable[Decided]:
        """The decision for the request of `scope`. Its `RequestView` is made here, past
        the remembered decision (a request answered from it reads one header), unless a
        caller deciding it for several rules hands one in to share (`AllOf`)."""
        key = b""
        if self.source:
            try:
                raw = raw_header(scope, self.source)
            except AmbiguousCredentials as exc:
                return ambiguous(self.scheme, exc)
            if raw is None:  # no header, no credentials
                return self.refuse_absent or self.absent(rule)
            # `rule.live` is false while the rule's cache rests (_cache.py): then, as with
            # `cache=False`, nothing here runs at all.
            if self.remembers and rule.live and len(raw) <= MAX_HEADER_VALUE:
                decided = rule.decided
                if decided is not None and decided.bypassing:  # cold (_cache.py): counted, no digest
                    decided.skip(raw)
                    return self.extracted(request or RequestView(scope), rule, b"")
                key = digest(raw)
                if decided is not None and (entry := decided.get(key, time.time())) is not None:  # remembered
                    if entry.still_valid is None:
                        return entry.value
                    remembered = recheck(decided, key, entry, self.scheme, self.answers)  # a revocation list asks
                    if remembered is not None:
                        return remembered
                if not canonical(raw):  # padded spellings share the verifier's entry by the token's digest
                    key = b""
        return self.extracted(request or RequestView(scope), rule, key)

    def extracted(self, request: RequestView, rule: RuleState, key: bytes) -> Decided | Awaitable[Decided]:
        """Step 1, then the rest; `key` as `verified` takes it."""
        # 1. extract
        scheme = self.scheme
        credentials = extract(scheme, request, self.answers)
        if credentials is None:
            return self.absent(rule)
        if type(credentials) is ErrorResponse:
            return credentials
        if scheme.extract_only:
            return rule.kept_context(scheme, credentials, None, self.security_scopes, 0)
        if self.limit is not None:
            return self.limit.guard(request, credentials, lambda: self.verified(request, rule, credentials, key))
        return self.verified(request, rule, credentials, key)

    def verified(
        self, request: RequestView, rule: RuleState, credentials: Any, key: bytes
    ) -> Decided | Awaitable[Decided]:
        """Steps 2 to 4, for credentials that were extracted. The verifier finds its
        cached answer by `key`, the header's digest, when there is one; without one it
        is asked as any verifier is (`verify`), and a cold cache of its own is its to skip."""
        scheme = self.scheme
        # 2. verify
        try:
            answer = scheme.verify_keyed(credentials, key) if key else scheme.verify(credentials)
        except Exception as exc:
            return verifier_failed(scheme, exc, self.answers)
        if hasattr(answer, "__await__"):
            return self._verified_later(request, rule, credentials, cast("Awaitable[Answer]", answer), key)
        if type(answer) is Verdict:
            return self.vouched(request, rule, credentials, answer, key)
        # 3. authorize
        if not is_principal(answer):
            return self.rejected or self.answers(_REJECTED, scheme)
        self.remembers = False  # a bare principal: nothing to remember it by
        # 4. conclude. An answer that came back at once is held by the verifier's cache
        # or a table and will come again: its context is kept for the next request.
        if self.needed and not self.needed <= granted_scopes(answer):
            return self.forbidden
        if self.claims and failing(self.claims, answer) is not None:
            return self.claim_failed(answer)
        return rule.kept_context(scheme, credentials, answer, self.security_scopes, 0)

    async def _verified_later(
        self, request: RequestView, rule: RuleState, credentials: Any, pending: Awaitable[Answer], key: bytes
    ) -> Decided:
        try:
            answer = await pending
        except Exception as exc:
            return verifier_failed(self.scheme, exc, self.answers)
        if type(answer) is Verdict:
            return self.vouched(request, rule, credentials, answer, key)
        # 3. authorize
        if not is_principal(answer):
            return self.rejected or self.answers(_REJECTED, self.scheme)
        # 4. conclude. One just verified (a database hit, an introspection) is used once.
        if self.needed and not self.needed <= granted_scopes(answer):
            return self.forbidden
        if self.claims and failing(self.claims, answer) is not None:
            return self.claim_failed(answer)
        return build_context([(self.scheme, credentials, answer)], self.security_scopes, rule.rule)

    def vouched(self, request: RequestView, rule: RuleState, credentials: Any, verdict: Verdict, key: bytes) -> Decided:
        """Steps 3 and 4 for an answer the verifier vouches for (a `Verdict`): the
        decision, remembered for this header value while the verdict holds."""
        principal = verdict.principal
        decided: Decided
        if not verdict.lasting:  # this request only: built, not kept
            if is_principal(principal):
                if key:  # handed a key and still vouching for nothing (JWTVerifier(cache=False)): stop hashing
                    self.remembers = False
                if self.needed and not self.needed <= granted_scopes(principal):
                    return self.forbidden
                if self.claims and failing(self.claims, principal) is not None:
                    return self.claim_failed(principal)
                return build_context([(self.scheme, credentials, principal)], self.security_scopes, rule.rule)
            return self.rejected or self.answers(_REJECTED, self.scheme)
        if not self.source:  # nothing to remember it by: kept as any other
            if not is_principal(principal):
                return self.rejected or self.answers(_REJECTED, self.scheme)
            if self.needed and not self.needed <= granted_scopes(principal):
                return self.forbidden
            if self.claims and failing(self.claims, principal) is not None:
                return self.claim_failed(principal)
            return rule.kept_context(self.scheme, credentials, principal, self.security_scopes, 0)
        refused = not is_principal(principal)
        if refused:
            decided = self.rejected or self.answers(_REJECTED, self.scheme)
        elif self.needed and not self.needed <= granted_scopes(principal):
            decided = self.forbidden
        elif self.claims and failing(self.claims, principal) is not None:
            decided = self.claim_failed(principal)  # the token's claims: remembered with it
        else:
            decided = build_context([(self.scheme, credentials, principal)], self.security_scopes, rule.rule)
        # Not kept: a refusal carrying a fresh nonce, nor one a failure limit must count
        # each time; nor anything when no key was made (see `remember`).
        if (key or not self.remembers) and (not refused or (self.rejected is not None and self.limit is None)):
            self.remember(request, rule, verdict, decided, key, refused)
        return decided

    def claim_failed(self, principal: object) -> ErrorResponse:
        claim = failing(self.claims, principal)
        assert claim is not None  # noqa: S101 - asked only after a claim failed
        return self.answers.claim_failed(self.scheme, self.scopes, claim)

    def remember(
        self, request: RequestView, rule: RuleState, verdict: Verdict, decided: Decided, key: bytes, refused: bool
    ) -> None:
        """Keep `decided` for this header value for as long as the verifier vouches
        (`key`, when given, is the digest of a header `decide` found canonical)."""
        if not key and self.remembers:  # not canonical, too long, or the cache cold: not kept
            return
        raw = request.raw_header(self.source)  # read once already: not ambiguous
        if raw is None:
            return
        if not key:  # the first lasting verdict: from now on the header is hashed first
            if len(raw) > MAX_HEADER_VALUE or not canonical(raw):
                return
            self.remembers = True
            key = digest(raw)
        if rule.decided is None:
            rule.decided = Cache(CONTEXT_CACHE_SIZE, DECISION_CACHE_BYTES, on_rest=rule.rested)  # made on first use
        rule.decided.put(
            key,
            decided,
            verdict.valid_from,
            verdict.valid_until,
            time.time(),
            cost=0 if refused else state_cost(len(raw)),
            still_valid=verdict.still_valid,
            doubtful=refused,
        )


def vouches(scheme: SecurityScheme) -> bool:
    """Whether `scheme`'s verifier answers with `Verdict`s (until it shows otherwise)."""
    return isinstance(scheme.verifier, (VerdictVerifier, LifetimeVerifier))


def recheck(
    decided: Cache[Decided], key: bytes, entry: Entry[Decided], scheme: SecurityScheme, answers: Answers
) -> Decided | None:
    """A remembered decision whose verdict asks to be re-checked (a revocation list):
    its value while the check holds, else `None`.

    The check is asked before the value is reused: a 503 when it cannot answer, and when
    it no longer holds the entry is dropped and `None` answered, so the request is
    decided afresh (and the verifier refuses it). An entry that asks no check is reused
    where it is found (the decisions' `decide`).
    """
    still_valid = entry.still_valid
    try:
        if still_valid is None or still_valid():
            return entry.value
    except Exception as exc:  # a revocation list that cannot answer: 503, never a pass
        return verifier_failed(scheme, exc, answers)
    decided.discard(key)
    return None


class AnyOf:
    """Several alternatives (OR) of one or more schemes each (AND).

    The first alternative whose schemes all verify, with their scopes, wins; each
    scheme's credentials are extracted and verified at most once per request. When
    none wins, the highest `Outcome` among the failures is answered, and a requirement
    that allows anonymous access lets the request through only if nothing sent failed.

    When every scheme reads one header (several issuers' bearer schemes, scope
    alternatives of one scheme) and every verifier consulted vouched with a `Verdict`
    (rejections included), the decision is remembered for that header value for the
    window all those verdicts share, as `OneScheme` remembers its own.
    """

    public = False

    def __init__(
        self, alternatives: tuple[Alternative, ...], anonymous_allowed: bool, limit: FailureLimit | None = None
    ) -> None:
        self.alternatives = alternatives
        self.limit = limit
        self.schemes: tuple[SecurityScheme, ...] = tuple(
            dict.fromkeys(scheme for alt in alternatives for scheme, _ in alt.items)
        )
        self.anonymous_allowed = anonymous_allowed
        self.answers = Answers(self.schemes)
        self.security_scopes = [SecurityScopes(alt.scopes) for alt in alternatives]
        # As FastAPI's dependency of an optional scheme sees its scopes whether or not
        # credentials came, an anonymous pass carries those of the first alternative
        # that names a scheme.
        named = [index for index, alt in enumerate(alternatives) if alt.items]
        self.anonymous_scopes = self.security_scopes[named[0]] if named else SecurityScopes()
        sources = {scheme.source_header for scheme in self.schemes}
        one = sources.pop() if len(sources) == 1 else None
        #: The one header every scheme reads, when there is one, else empty.
        self.source = one if one and not any(s.challenges_vary for s in self.schemes) else b""
        self.remembers = bool(self.source) and any(vouches(s) for s in self.schemes)

    def decide(self, scope: Scope, rule: RuleState, request: RequestView | None = None) -> Decided | Awaitable[Decided]:
        """As `OneScheme.decide`."""
        key, raw = b"", None
        if self.remembers and rule.live:  # as in OneScheme.decide
            try:
                raw = raw_header(scope, self.source)
            except AmbiguousCredentials:
                raw = None  # each scheme's extraction answers it, below
            if raw is not None and len(raw) <= MAX_HEADER_VALUE:
                decided = rule.decided
                if decided is not None and decided.bypassing:  # cold (_cache.py): counted, no digest
                    decided.skip(raw)
                    return self._decide(request or RequestView(scope), rule, b"")
                key = digest(raw)
                if decided is not None and (entry := decided.get(key, time.time())) is not None:  # as OneScheme.decide
                    if entry.still_valid is None:
                        return entry.value
                    remembered = recheck(decided, key, entry, self.schemes[0], self.answers)
                    if remembered is not None:
                        return remembered
        return self._decide(
            request or RequestView(scope), rule, key if key and raw is not None and canonical(raw) else b""
        )

    async def _decide(self, request: RequestView, rule: RuleState, key: bytes) -> Decided:
        #: Kept while every verifier asked vouches: (valid_from, valid_until, checks).
        window: list[Any] | None = [float("-inf"), float("inf"), []] if key else None
        outcomes: dict[SecurityScheme, tuple[Any, Any] | ErrorResponse | None] = {}
        best: tuple[Outcome, ErrorResponse | None] = (Outcome.MISSING, None)
        decided: Decided | None = None
        for index, alt in enumerate(self.alternatives):
            verified: list[tuple[SecurityScheme, Any, Any]] = []
            failure: tuple[Outcome, ErrorResponse | None] | None = None
            for scheme, scopes in alt.items:
                if scheme not in outcomes:
                    outcomes[scheme], window = await self._verify(scheme, request, key, window)  # steps 1 and 2
                outcome = outcomes[scheme]
                if outcome is None:  # absent: fails the alternative unless optional
                    if scheme.auto_error:
                        failure = (Outcome.MISSING, None)
                        break
                    continue
                if isinstance(outcome, ErrorResponse):
                    failure = (_rank(outcome), outcome)
                    break
                credentials, principal = outcome
                # 3. authorize
                if scopes and scheme.verifier is not None and not set(scopes) <= granted_scopes(principal):
                    failure = (Outcome.FORBIDDEN, self.answers(Outcome.FORBIDDEN, scheme, scopes))
                    break
                claim = failing(alt.claims_of(scheme), principal) if alt.claims else None
                if claim is not None:
                    failure = (Outcome.FORBIDDEN, self.answers.claim_failed(scheme, scopes, claim))
                    break
                verified.append((scheme, credentials, principal))
            # 4. conclude
            if failure is None:
                if len(verified) == 1:
                    decided = rule.kept_context(*verified[0], self.security_scopes[index], index)
                    break
                if verified:
                    decided = build_context(verified, self.security_scopes[index], rule.rule)
                    break
                continue  # an anonymous alternative: answered below, if nothing failed
            if failure[0] > best[0]:
                best = failure
        if decided is None:
            if best[0] is Outcome.MISSING and self.anonymous_allowed:
                decided = rule.anonymous_context
            else:
                decided = best[1] if best[1] is not None else self.answers(Outcome.MISSING)
        if window is not None and window[1] > window[0]:
            self.remember(request, rule, key, decided, window)
        return decided

    async def _verify(
        self, scheme: SecurityScheme, request: RequestView, key: bytes, window: list[Any] | None
    ) -> tuple[tuple[Any, Any] | ErrorResponse | None, list[Any] | None]:
        """Steps 1 and 2 for one scheme, and the window narrowed to its verdict's
        (`None` once an answer that vouches for nothing came)."""
        credentials = extract(scheme, request, self.answers)
        if credentials is None or type(credentials) is ErrorResponse:
            return credentials, window
        if scheme.extract_only:
            return (credentials, None), window
        if self.limit is not None and self.limit.covers(scheme):
            # Each attempt must reach the limit: nothing of this request is remembered.
            async def attempt() -> tuple[Any, Any] | ErrorResponse:
                return (await self._verified(scheme, credentials, key, None))[0]

            return await self.limit.guard(request, credentials, attempt), None
        return await self._verified(scheme, credentials, key, window)

    async def _verified(
        self, scheme: SecurityScheme, credentials: Any, key: bytes, window: list[Any] | None
    ) -> tuple[tuple[Any, Any] | ErrorResponse, list[Any] | None]:
        try:
            principal = scheme.verify_keyed(credentials, key) if key else scheme.verify(credentials)
            if hasattr(principal, "__await__"):
                principal = await cast("Awaitable[Answer]", principal)
        except Exception as exc:  # an outage (503) or a bug: never remembered
            return verifier_failed(scheme, exc, self.answers), None
        if type(principal) is Verdict:
            if window is not None:
                if principal.lasting:
                    window[0] = max(window[0], principal.valid_from)
                    window[1] = min(window[1], principal.valid_until)
                    if principal.still_valid is not None:
                        window[2].append(principal.still_valid)
                else:
                    window = None
            principal = principal.principal
        else:
            window = None
        if not is_principal(principal):
            return self.answers(Outcome.REJECTED, scheme), window
        return (credentials, principal), window

    def remember(self, request: RequestView, rule: RuleState, key: bytes, decided: Decided, window: list[Any]) -> None:
        raw = request.raw_header(self.source)  # `decide` gave a key: canonical
        if raw is None:
            return
        checks: list[Callable[[], bool]] = window[2]
        refused = type(decided) is ErrorResponse
        if rule.decided is None:
            rule.decided = Cache(CONTEXT_CACHE_SIZE, DECISION_CACHE_BYTES, on_rest=rule.rested)
        rule.decided.put(
            key,
            decided,
            window[0],
            window[1],
            time.time(),
            cost=0 if refused else state_cost(len(raw)),
            still_valid=checks[0] if len(checks) == 1 else (partial(_all_hold, tuple(checks)) if checks else None),
            doubtful=refused,
        )


def _all_hold(checks: tuple[Callable[[], bool], ...]) -> bool:
    return all(check() for check in checks)


def _rank(refusal: ErrorResponse) -> Outcome:
    status = refusal.status
    if status == 403:
        return Outcome.FORBIDDEN
    if status in (400, 431):
        return Outcome.UNUSABLE
    return Outcome.REJECTED


def compile_decision(alternatives: tuple[Alternative, ...] | None, limit: FailureLimit | None = None) -> Decision:
    """The decision for a normalised requirement (`None` is public), under `limit`."""
    if alternatives is None:
        return Public()
    anonymous_allowed = any(alt.anonymous for alt in alternatives)
    if len(alternatives) == 1 and len(alternatives[0].items) == 1:
        return OneScheme(alternatives[0], anonymous_allowed, limit)
    return AnyOf(alternatives, anonymous_allowed, limit)


def canonical(raw: bytes) -> bool:
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
