"""A rule's requirement in OpenAPI's shape: `require=` normalised, and what one rule keeps.

`require=` is spelled as OpenAPI spells `security`: a list of alternatives (OR), each a
mapping of schemes to the scopes they must grant (AND). `normalize` checks it at
start-up; `decision.compile_decision` compiles it; a `Requirement` pairs the compiled
decision, shared by equal requirements, with the rule it is for.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from ._asgi import RequestView
from ._cache import Cache
from ._types import Scope
from .claims import Claim
from .context import AuthContext, SecurityScopes
from .decision import CONTEXT_CACHE_SIZE, Decided, Decision, build_context
from .errors import ConfigurationError
from .schemes.base import SecurityScheme, not_a_scheme

__all__ = ["MAX_SCHEMES_PER_REQUIREMENT", "Alternative", "RequireSpec", "Requirement", "RuleState", "normalize"]

SchemeRef = Union[SecurityScheme, str]
Needs = Sequence[Union[str, Claim]]
"""What one scheme must grant: scopes, and `aa.Claim` tests of its principal's claims."""
RequireSpec = Union[SchemeRef, Mapping[SchemeRef, Needs], Sequence[Union[SchemeRef, Mapping[SchemeRef, Needs]]]]
"""`bearer`, `{bearer: ["me"]}`, `{bearer: ["me", aa.Claim("roles", contains="admin")]}`,
`[alt1, alt2]`, `[]` (public), `[{}, bearer]` (optional)."""

#: Verifiers run at most once per scheme per request, so this bounds the credentials
#: tried for one request.
MAX_SCHEMES_PER_REQUIREMENT = 16


@dataclass(frozen=True, slots=True)
class Alternative:
    """One OpenAPI security requirement object: every scheme, each with its scopes; and
    the claims each scheme's principal must carry, which OpenAPI has no field for."""

    items: tuple[tuple[SecurityScheme, tuple[str, ...]], ...]
    claims: tuple[tuple[SecurityScheme, tuple[Claim, ...]], ...] = ()

    def claims_of(self, scheme: SecurityScheme) -> tuple[Claim, ...]:
        """The claims `scheme`'s principal must satisfy in this alternative."""
        return next((claims for s, claims in self.claims if s is scheme), ())

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
        claims = []
        for key, needs in entry.items():
            scheme = _resolve(key, schemes, where)
            if isinstance(needs, str) or not isinstance(needs, Iterable):
                raise ConfigurationError(f"{where}: scopes for {scheme.scheme_name!r} must be a list, not {needs!r}")
            needs = tuple(dict.fromkeys(needs))
            scopes = tuple(n for n in needs if not isinstance(n, Claim))
            required = tuple(n for n in needs if isinstance(n, Claim))
            if required:
                if scheme.extract_only:
                    raise ConfigurationError(
                        f"{where}: scheme {scheme.scheme_name!r} is verifier=aa.EXTRACT_ONLY, so there are no"
                        f" claims to check {required[0]!r} against; give it a verifier"
                    )
                claims.append((scheme, required))
            for scope in scopes:
                if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
                    raise ConfigurationError(
                        f"{where}: {scope!r} is not a scope: RFC 6749 §3.3 allows printable ASCII"
                        f" except space, double quote and backslash (a claim is written aa.Claim(...))"
                    )
            _check_declared(scheme, scopes, where)
            items.append((scheme, scopes))
        alternatives.append(Alternative(tuple(items), tuple(claims)))
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
            stacklevel=5,  # the AuthPolicy(...) line: _check_declared, normalize, _requirement, __init__
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


class Requirement:
    """One rule's requirement: its normalised alternatives, the compiled decision that
    equal requirements share, and this rule's own state.

    The state is what must not be shared between rules, since every context names its
    rule: the contexts kept for principals that come again (a verifier's cache returns
    the same object for the same credentials), and the decisions remembered by header
    value. Both are made on first use, so a rule that sees no traffic costs a few
    references. Contexts are read-only (`AuthContext.__setattr__` refuses), which is
    what makes handing one to several requests safe.
    """

    __slots__ = (
        "__weakref__",
        "_anonymous",
        "alternatives",
        "contexts",
        "decided",
        "decision",
        "live",
        "public_context",
        "rule",
    )

    def __init__(self, alternatives: tuple[Alternative, ...] | None, rule: str | None, decision: Decision) -> None:
        self.alternatives: tuple[Alternative, ...] = alternatives or ()
        self.rule = rule
        self.decision = decision
        self._anonymous: AuthContext | None = None
        #: The context every request gets, for a public requirement; else `None`.
        self.public_context = self.anonymous_context if decision.public else None
        # Holding the principal keeps its id() from being reused while kept.
        self.contexts: dict[tuple[int, int], AuthContext] | None = None
        self.decided: Cache[Decided] | None = None
        #: False while `decided` rests (_cache.py): the decision then leaves it alone.
        self.live = True

    def rested(self, resting: bool) -> None:
        """`decided`'s `on_rest`: while it rests, the rule decides as with `cache=False`."""
        self.live = not resting

    @property
    def anonymous_context(self) -> AuthContext:
        """The context of a request let through without credentials (made when first needed)."""
        if self._anonymous is None:
            self._anonymous = AuthContext(rule=self.rule, security_scopes=self.decision.anonymous_scopes)
        return self._anonymous

    @property
    def public(self) -> bool:
        return self.decision.public

    @property
    def schemes(self) -> tuple[SecurityScheme, ...]:
        return self.decision.schemes

    @property
    def anonymous_allowed(self) -> bool:
        return self.decision.anonymous_allowed

    def decide(self, scope: Scope, request: RequestView | None = None) -> Decided | Awaitable[Decided]:
        """The decision for the request of `scope`, or an awaitable of it when a verifier
        must be awaited; `request`, its view when a caller shares one (`AllOf`).

        Answers that need no waiting (a public route, missing credentials, an
        `@inline` verifier, a token the verifier has cached) come back directly, so
        the common request builds no coroutine.
        """
        return self.decision.decide(scope, self, request)

    def kept_context(
        self, scheme: SecurityScheme, credentials: Any, principal: Any, security_scopes: SecurityScopes, index: int
    ) -> AuthContext:
        """The context for one verified scheme, the same object as last time when the
        verifier answered with the same principal for the same credentials."""
        contexts = self.contexts
        if contexts is None:
            contexts = self.contexts = {}
        key = (index, id(principal))
        kept = contexts.get(key)
        if (
            kept is not None
            and kept.principal is principal
            and kept.credentials == credentials
            and kept.scheme == scheme.scheme_name
        ):
            return kept
        context = build_context([(scheme, credentials, principal)], security_scopes, self.rule)
        if len(contexts) >= CONTEXT_CACHE_SIZE:
            contexts.clear()
        contexts[key] = context
        return context

    def __repr__(self) -> str:
        return f"Requirement({self.openapi()!r}, rule={self.rule!r})"

    def claims_openapi(self) -> list[dict[str, Any]]:
        """The claims OpenAPI has no field for, as `x-asgi-auth-claims` writes them: for
        each entry of `openapi()` that requires claims, that entry and the claims."""
        out: list[dict[str, Any]] = []
        for alt in self.alternatives:
            if not alt.claims:
                continue
            claims = {s.scheme_name: [c.openapi() for c in cs] for s, cs in alt.claims}
            entry = alt.openapi()
            required = {s.scheme_name: list(sc) for s, sc in alt.items if s.auto_error}
            for security in (entry, required) if required != entry else (entry,):
                kept = {name: tests for name, tests in claims.items() if name in security}
                found = {"security": security, "claims": kept}
                if kept and found not in out:
                    out.append(found)
        return out

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


RuleState = Requirement
"""What a decision is handed about the rule it decides for."""
