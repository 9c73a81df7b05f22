"""`patch_openapi`: the policy documents itself, so docs and enforcement cannot drift.

Each operation's `security` is computed by the same router the middleware uses,
matching the document's path templates (`/items/{item_id}`) against the rules; the
`components.securitySchemes` entries are the schemes' own, as FastAPI emits them.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any
from urllib.parse import urlsplit

from .policy import AuthPolicy
from .requirement import Requirement
from .routing import LITERAL, TAIL, Segment

__all__ = ["patch_openapi", "requirement_for"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _accept(segment: Segment, part: str) -> bool:
    """Does a rule segment cover a document segment (which may be a `{param}`)?"""
    if part.startswith("{") and part.endswith("}"):
        return segment.kind not in (LITERAL, TAIL)
    return segment.matches(part)


def requirement_for(policy: AuthPolicy, path: str, method: str) -> Requirement:
    """The requirement the middleware applies to a document's path template and method."""
    found = policy.router.match_segments(_accept, path, method.upper())
    return policy.default if found is None else found


def patch_openapi(
    spec: dict[str, Any], policy: AuthPolicy, *, responses: bool = False, prefix: str | None = None
) -> dict[str, Any]:
    """A copy of `spec` whose security says exactly what `policy` enforces.

    Operations that already declare a different `security` are overwritten (the
    policy is what runs) and listed in a `UserWarning`. With `responses=True`, the
    401/403 answers and their challenges are documented too. Idempotent.

    Document paths are matched as the app's router sees them. An app served under a
    `root_path` (FastAPI's `servers`) sees them unchanged; when the router itself
    sees a prefix the document leaves to `servers` (a static document for an app
    mounted at `/api`), pass `prefix="/api"`, or `prefix="servers"` to take the path
    of the first server URL.
    """
    if prefix == "servers":
        servers = spec.get("servers") or [{}]
        prefix = urlsplit(str(servers[0].get("url", ""))).path
    prefix = (prefix or "").rstrip("/")
    out = copy.deepcopy(spec)
    used: dict[str, Any] = {}
    differences: list[str] = []
    has_global = "security" in out
    for path, item in (out.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            requirement = requirement_for(policy, prefix + path, method)
            security = requirement.openapi()
            if "security" in operation and operation["security"] != security:
                differences.append(f"{method.upper()} {path}: {operation['security']!r} -> {security!r}")
            if security or has_global:
                operation["security"] = security
            else:
                operation.pop("security", None)
            for scheme in requirement.schemes:
                used[scheme.scheme_name] = scheme.openapi()
            if responses and not requirement.public:
                _document_errors(operation, requirement)
    if used:
        components = out.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(used)
    if differences:
        warnings.warn(
            "patch_openapi replaced security that disagreed with the policy:\n  " + "\n  ".join(differences),
            UserWarning,
            stacklevel=2,
        )
    return out


def _document_errors(operation: dict[str, Any], requirement: Requirement) -> None:
    challenge = {
        "WWW-Authenticate": {"description": "The accepted authentication schemes", "schema": {"type": "string"}}
    }
    answers = operation.setdefault("responses", {})
    answers.setdefault("401", {"description": "Not authenticated, or credentials rejected", "headers": challenge})
    if any(scopes for alt in requirement.alternatives for _, scopes in alt.items):
        answers.setdefault("403", {"description": "Not enough permissions", "headers": challenge})
