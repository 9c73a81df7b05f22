"""`AuthPolicy` and `Rule`: the one declaration that the middleware enforces and the
OpenAPI patcher documents.

Everything is checked and compiled when the policy is built, so a mistake stops the
application at start-up with a message that names the rule, never a request later.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Union

from .decision import Decision, compile_decision
from .errors import ConfigurationError, OnError
from .events import OnDecisions
from .matching import MAX_PATH_LENGTH, AllOf, Refusal, candidate_methods, is_method_token, readings
from .requirement import MAX_SCHEMES_PER_REQUIREMENT, Alternative, Requirement, RequireSpec, normalize
from .rfc9728 import ProtectedResource, ResourceMetadata
from .routing import Router, Template, parse_template
from .schemes.base import SecurityScheme, not_a_scheme
from .schemes.http import HTTPBearer
from .schemes.oauth2 import OAuth2
from .schemes.openid_connect import OpenIdConnect
from .throttle import FailureLimit

#: The schemes that read a token from `Authorization`, and so can take `dpop=`.
_AUTHORIZATION_BEARERS = (HTTPBearer, OAuth2, OpenIdConnect)

__all__ = ["AuthPolicy", "Rule"]

logger = logging.getLogger("asgi_auth")

_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_NO_DEFAULT: Any = object()
_MEMO_SIZE = 10_000
_MEMO_PATH_LENGTH = 256  # path and root_path together
_COMBINED_SIZE = 1024

_NOT_ORIGIN_FORM = Refusal("Request target must be origin-form (a path starting with '/')")
_NOT_A_METHOD = Refusal("Request method is not an HTTP method token")
_TOO_LONG = Refusal("Request target too long", status_code=414)

Applicable = Union[Requirement, AllOf, Refusal]
"""What one request must satisfy: one rule's requirement, several, or a refusal."""


class Rule:
    """`Rule(path, methods=None, require=...)`: who may call the routes `path` matches.

    `path` is a Starlette path template (`{name}`, `{name:int}`, `{rest:path}`);
    `methods` limits the rule to those HTTP methods (`HEAD` follows `GET`).
    """

    __slots__ = ("methods", "path", "require", "template")

    def __init__(self, path: str, *, methods: Iterable[str] | None = None, require: RequireSpec) -> None:
        self.path = path
        self.template: Template = parse_template(path)
        if isinstance(methods, str):
            raise ConfigurationError(f"rule {path!r}: methods must be a list, e.g. methods=[{methods!r}]")
        self.methods: frozenset[str] | None = None if methods is None else frozenset(m.upper() for m in methods)
        if self.methods is not None:
            if not self.methods:
                raise ConfigurationError(f"rule {path!r}: methods=[] matches nothing; leave it out to match any")
            unknown = self.methods - _HTTP_METHODS
            if unknown:
                raise ConfigurationError(f"rule {path!r}: unknown HTTP method(s) {', '.join(sorted(unknown))}")
        self.require = require

    def __repr__(self) -> str:
        methods = f", methods={sorted(self.methods)!r}" if self.methods else ""
        return f"Rule({self.path!r}{methods})"


class AuthPolicy:
    """Rules, the requirement for requests no rule matches, and optional error and decision hooks.

    `default` must be given: write `default=[]` to leave unmatched routes open or
    `default=scheme` to close them. Schemes named only by string in rules are
    declared with `schemes=[...]`. `root_path` is the prefix the server is configured
    to report (`--root-path`) or the app sets itself, and strips before routing: the
    guard trusts that value, and no other, in `scope["root_path"]`. A raw app routing on
    the whole `scope["path"]` declares none. `resource=aa.ProtectedResource(...)` makes
    the app an RFC 9728 resource server (rfc9728.py): the middleware publishes its
    metadata, with the scopes these rules require, and names it in Bearer challenges.
    `failure_limit=aa.FailureLimit(...)` answers 429 to an identity or address after too
    many failed attempts (see `throttle`).
    """

    def __init__(
        self,
        rules: Sequence[Rule] = (),
        *,
        default: RequireSpec = _NO_DEFAULT,
        schemes: Iterable[SecurityScheme] = (),
        on_error: OnError | None = None,
        on_decision: OnDecisions | None = None,
        root_path: str = "",
        resource: ProtectedResource | None = None,
        failure_limit: FailureLimit | None = None,
    ) -> None:
        if default is _NO_DEFAULT:
            raise ConfigurationError(
                "AuthPolicy needs default=: the requirement for requests that no rule matches. "
                "Write default=[] to leave them open, or default=<scheme> (or any requirement) to close them."
            )
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.on_error = on_error
        if failure_limit is not None and not isinstance(failure_limit, FailureLimit):
            raise ConfigurationError(f"failure_limit must be an aa.FailureLimit(...), not {failure_limit!r}")
        #: Brute-force limits on failed authentication (throttle.py), or `None`.
        self.failure_limit = failure_limit
        #: `on_decision(event)`, called with a `DecisionEvent` for each decision (see `events`).
        self.on_decision = on_decision
        if root_path and (not root_path.startswith("/") or root_path.endswith("/")):
            raise ConfigurationError(f"root_path={root_path!r}: a path such as '/api', without a trailing slash")
        #: The `root_path` the server is configured with (uvicorn's `--root-path`), or the
        #: app sets itself: the one value of `scope["root_path"]` the guard trusts.
        self.root_path = root_path
        self._warned: set[str] = set()
        for rule in self.rules:
            if not isinstance(rule, Rule):
                raise ConfigurationError(f"AuthPolicy rules must be Rule objects, not {rule!r}")
        self.schemes: dict[str, SecurityScheme] = {}
        for scheme in schemes:
            self._register(scheme, "schemes=")
        for rule in self.rules:
            self._collect(rule.require, f"rule {rule.path!r}")
        self._collect(default, "default")
        self._refuse_dpop_downgrade()

        # Equal requirements share one compiled decision: many rules cost what their
        # distinct requirements cost.
        self._decisions: dict[tuple[Alternative, ...] | None, Decision] = {}
        self._normalized: dict[int, tuple[Any, tuple[Alternative, ...] | None]] = {}
        self.default = self._requirement(default, None)
        # (path, root_path, method) → what applies; AuthMiddleware reads it directly, so it
        # is only ever cleared, never replaced.
        self._memo: dict[tuple[str, str, str], Applicable] = {}
        self._combined: dict[tuple[int, ...], AllOf] = {}
        self.router: Router[Requirement] = Router()
        for rule in self.rules:
            self.router.add(rule.template, rule.methods, self._requirement(rule.require, rule.path))
        del self._normalized  # only for building
        if resource is not None and not isinstance(resource, ProtectedResource):
            raise ConfigurationError(f"AuthPolicy: resource= takes aa.ProtectedResource(...), not {resource!r}")
        #: The RFC 9728 metadata the middleware serves, when a `resource=` is declared.
        self.resource_metadata = None if resource is None else ResourceMetadata(resource, self)

    def alternatives(self) -> Iterator[Alternative]:
        """Every distinct alternative the rules and the default require."""
        for alternatives in self._decisions:
            yield from alternatives or ()

    def _requirement(self, spec: RequireSpec, rule: str | None) -> Requirement:
        where = f"rule {rule!r}" if rule else "default"
        # One spec object written once and used by many rules is checked once; the
        # spec is held with its result, so its id() cannot be reused meanwhile.
        seen = self._normalized.get(id(spec))
        if seen is not None and seen[0] is spec:
            alternatives = seen[1]
        else:
            alternatives = normalize(spec, self.schemes, where)
            self._normalized[id(spec)] = (spec, alternatives)
        decision = self._decisions.get(alternatives)
        if decision is None:
            decision = self._decisions[alternatives] = compile_decision(alternatives, self.failure_limit)
            if len(decision.schemes) > MAX_SCHEMES_PER_REQUIREMENT:
                raise ConfigurationError(
                    f"{where}: {len(decision.schemes)} schemes in one requirement;"
                    f" at most {MAX_SCHEMES_PER_REQUIREMENT} are tried per request"
                )
        return Requirement(alternatives, rule, decision)

    def _register(self, scheme: SecurityScheme, where: str) -> None:
        if not isinstance(scheme, SecurityScheme):
            raise ConfigurationError(f"{where}: {not_a_scheme(scheme)}")
        if scheme.verifier is None and not scheme.extract_only:
            raise ConfigurationError(
                f"{where}: scheme {scheme.scheme_name!r} has no verifier, so any credential would pass. "
                f"Pass verifier=<a callable returning a principal> (or aa.JWTVerifier(...)), or "
                f"verifier=aa.EXTRACT_ONLY to hand credentials to the app unverified, as fastapi.security does."
            )
        existing = self.schemes.get(scheme.scheme_name)
        if existing is not None and existing is not scheme:
            raise ConfigurationError(
                f"{where}: two different schemes are named {scheme.scheme_name!r}; give one a scheme_name="
            )
        self.schemes[scheme.scheme_name] = scheme

    def _refuse_dpop_downgrade(self) -> None:
        """RFC 9449 §7.2: a resource server that takes DPoP refuses a DPoP-bound token sent
        as Bearer, or a stolen bound token is worth as much as a bearer one. Only a scheme
        given `dpop=` tells them apart, so beside one a plain bearer scheme is refused."""
        if all(scheme.dpop is None for scheme in self.schemes.values()):
            return
        plain = sorted(
            name
            for name, scheme in self.schemes.items()
            if isinstance(scheme, (HTTPBearer, OAuth2, OpenIdConnect))
            and scheme.dpop is None
            and not scheme.extract_only
        )
        if plain:
            raise ConfigurationError(
                f"AuthPolicy: {', '.join(map(repr, plain))} would accept a DPoP-bound token sent as Bearer beside "
                'the DPoP schemes (RFC 9449 §7.2); give it dpop="allowed", which still takes unbound Bearer tokens'
            )

    def _collect(self, spec: Any, where: str) -> None:
        """Register every scheme object a requirement mentions, so names can refer to them."""
        if isinstance(spec, SecurityScheme):
            self._register(spec, where)
        elif isinstance(spec, dict):
            for key in spec:
                if isinstance(key, SecurityScheme):
                    self._register(key, where)
        elif isinstance(spec, (list, tuple)):
            for entry in spec:
                self._collect(entry, where)

    def match(self, path: str, method: str) -> Requirement:
        """The requirement for one route path and method: the most specific rule, or default."""
        return self.router.match(path, method) or self.default

    def for_request(self, path: str, root_path: str, method: str) -> Applicable:
        """What a request for `path` under `root_path` must satisfy: the requirement of
        every rule any supported router could run it on (see `matching`).

        Answers are memoised: an app serves the same few paths again and again. Since
        paths and methods come from clients, the memo is bounded in entries (emptied
        when full) and in size (long paths and methods are not kept).
        """
        key = (path, root_path, method)
        found = self._memo.get(key)
        if found is None:
            found = self._applicable(path, root_path, method)
            if len(path) + len(root_path) <= _MEMO_PATH_LENGTH and len(method) <= 16:
                if len(self._memo) >= _MEMO_SIZE:
                    self._memo.clear()
                self._memo[key] = found
        return found

    def _applicable(self, path: str, root_path: str, method: str) -> Applicable:
        if not path.startswith("/"):
            return _NOT_ORIGIN_FORM
        if len(path) > MAX_PATH_LENGTH:
            return _TOO_LONG
        if not is_method_token(method):
            return _NOT_A_METHOD
        if root_path and root_path != self.root_path:
            self._untrusted(root_path)
        found: dict[int, Requirement] = {}
        for reading in readings(path, root_path, self.root_path):
            for verb in candidate_methods(method):
                matched = [r for r in (self.router.match(p, verb) for p in reading.paths) if r is not None]
                if not matched and reading.primary:
                    matched = [self.default]
                for requirement in matched:
                    found.setdefault(id(requirement), requirement)
        parts = [r for r in found.values() if not r.public] or list(found.values())[:1]
        if len(parts) == 1:
            return parts[0]
        key = tuple(id(part) for part in parts)
        combined = self._combined.get(key)
        if combined is None:
            if len(self._combined) >= _COMBINED_SIZE:
                self._combined.clear()
            combined = self._combined[key] = AllOf(parts)
        return combined

    def _untrusted(self, root_path: str) -> None:
        """Say once per value (a few at most) that a root_path came that was not declared."""
        if root_path in self._warned or len(self._warned) >= 8:
            return
        self._warned.add(root_path)
        logger.warning(
            "requests carry root_path=%r, which the policy does not trust; each is also held to the rules"
            " (or default) for its path as sent. If the server sets it (uvicorn --root-path), declare it:"
            " AuthPolicy(..., root_path=%r)",
            root_path[:64],
            root_path[:64],
        )

    def __repr__(self) -> str:
        return f"AuthPolicy({len(self.rules)} rules, schemes={sorted(self.schemes)!r})"
