"""`authenticated_as`: a policy's verification replaced for a test, as FastAPI's
`dependency_overrides` replaces a dependency.

While the block runs, each non-public requirement of the policy decides every request
as the given principal, without looking at credentials: the first alternative whose
schemes the principal may use and whose scopes it holds lets it through, with the
context the app would read for a verified request (`credentials` is `None`: none were
sent); when the principal lacks the scopes, the rule's 403 is answered. Public rules
stay public, and leaving the block restores the policy as it was.

It changes the policy object in place, so it applies to every app and middleware
that uses the policy in this process (a server in a thread included), and to nothing
in another process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .._asgi import RequestView
from .._types import Scope
from ..context import Principal, SecurityScopes, granted_scopes
from ..decision import Decided, Decision, build_context, challenge_list
from ..errors import ErrorResponse, InsufficientScope, NotAuthenticated
from ..policy import AuthPolicy
from ..requirement import Requirement
from ..schemes.base import SecurityScheme

__all__ = ["ENABLE_VARIABLE", "TestingNotEnabled", "authenticated_as"]

logger = logging.getLogger("asgi_auth")

#: The environment variable that must be `1` for verification to be overridden.
ENABLE_VARIABLE = "ASGI_AUTH_TESTING"


class TestingNotEnabled(RuntimeError):
    """`authenticated_as` outside a test: the environment did not enable it."""

    __test__ = False  # not a test class, whatever pytest's collector thinks of the name


class _AsPrincipal:
    """A decision that lets every request through as one principal, scopes permitting."""

    def __init__(self, original: Decision, principal: Any, scheme: str | None) -> None:
        self.original = original
        self.principal = principal
        self.scheme = scheme
        self.granted = granted_scopes(principal)
        # What the middleware and the policy read of a decision, as the original has them.
        self.public = False
        self.schemes = original.schemes
        self.anonymous_allowed = original.anonymous_allowed
        self.anonymous_scopes = original.anonymous_scopes

    def decide(self, scope: Scope, rule: Requirement, request: RequestView | None = None) -> Decided:
        forbidden: ErrorResponse | None = None
        for alternative in rule.alternatives:
            schemes = [scheme for scheme, _ in alternative.items]
            if not schemes or (self.scheme is not None and any(s.scheme_name != self.scheme for s in schemes)):
                continue
            scopes = alternative.scopes
            if not set(scopes) <= self.granted:
                if forbidden is None:
                    forbidden = _forbidden(schemes[0], scopes)
                continue
            verified = [(scheme, None, self.principal) for scheme in schemes]
            return build_context(verified, SecurityScopes(scopes), rule.rule)
        if forbidden is not None:
            return forbidden
        if self.anonymous_allowed:
            return rule.anonymous_context
        challenges = (c for scheme in self.schemes for c in scheme.challenges())
        return ErrorResponse(NotAuthenticated(headers=challenge_list(challenges)))


def _forbidden(scheme: SecurityScheme, scopes: tuple[str, ...]) -> ErrorResponse:
    return ErrorResponse(InsufficientScope(headers=challenge_list(scheme.insufficient_challenges(scopes))))


def _requirements(policy: AuthPolicy) -> list[Requirement]:
    found = {id(policy.default): policy.default}
    for _, _, requirement in policy.router:
        found.setdefault(id(requirement), requirement)
    return [r for r in found.values() if not r.public]


@contextmanager
def authenticated_as(
    policy: AuthPolicy,
    subject: str | Any,
    *,
    scopes: Iterable[str] = (),
    claims: Mapping[str, Any] | None = None,
    scheme: SecurityScheme | str | None = None,
) -> Iterator[Any]:
    """Every request `policy` decides passes as `subject` while the block runs.

    `subject` is a user id (made into a `Principal` with `scopes` and `claims`) or the
    principal object your verifier would return, used as it is. `scheme` limits the
    principal to the alternatives of that scheme (others answer 401, as with no
    credentials). Yields the principal.

    Refused (`TestingNotEnabled`) unless `ASGI_AUTH_TESTING=1` is set, and logged at
    WARNING each time, so that it cannot pass unnoticed outside a test.
    """
    if os.environ.get(ENABLE_VARIABLE) != "1":
        raise TestingNotEnabled(
            f"asgi_auth.testing.authenticated_as lets requests through unverified, so it runs only when"
            f" {ENABLE_VARIABLE}=1 is set: use the pytest plugin's `auth_as` fixture"
            f' (pytest_plugins = ["asgi_auth.testing.pytest_plugin"]) or set it in your test environment'
        )
    if isinstance(subject, str):
        scope_list = sorted(set(scopes))
        principal: Any = Principal(
            subject, scope_list, claims={"sub": subject, "scope": " ".join(scope_list), **(claims or {})}
        )
    else:
        if scopes or claims:
            raise TypeError("authenticated_as: give scopes= and claims= with a subject, not with a principal object")
        principal = subject
    scheme_name = scheme.scheme_name if isinstance(scheme, SecurityScheme) else scheme
    if scheme_name is not None and scheme_name not in policy.schemes:
        raise ValueError(
            f"authenticated_as: the policy has no scheme {scheme_name!r} (it has {sorted(policy.schemes)})"
        )
    logger.warning(
        "asgi_auth.testing: verification is OFF for %r: every request passes as %r until the block ends",
        policy,
        principal,
    )
    replaced = [(requirement, requirement.decision) for requirement in _requirements(policy)]
    for requirement, decision in replaced:
        requirement.decision = _AsPrincipal(decision, principal, scheme_name)  # type: ignore[assignment]
    try:
        yield principal
    finally:
        for requirement, decision in replaced:
            requirement.decision = decision
        logger.warning("asgi_auth.testing: verification is back ON for %r", policy)
