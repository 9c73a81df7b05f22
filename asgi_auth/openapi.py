"""`patch_openapi`: the policy documents itself, so docs and enforcement cannot drift.

Each operation's `security` is what the middleware applies to *every* request the
operation accepts (`coverage.cover`): when its requests get different requirements —
a typed or mixed rule covering only some of a `{param}`'s values, a one-segment rule
under a `{name:path}` route — the weakest is documented and a warning names the
operation, the rules and an example path of each. The `components.securitySchemes`
entries are the schemes' own, as FastAPI emits them. `webhooks` (OpenAPI 3.1) are
documented as the paths `/<name>`. Claims a requirement asks of a principal
(`aa.Claim`), which `security` has no field for, are written beside it in the
operation's `x-asgi-auth-claims` extension (`CLAIMS_EXTENSION`).

A FastAPI app's cached document (`app.openapi()`) is rebuilt by FastAPI when routes are
added; so when `patch_openapi` is handed that very document it keeps the app's
`openapi()` patching each rebuild, and the idiom
`app.openapi_schema = patch_openapi(app.openapi(), policy)` cannot go stale.
"""

from __future__ import annotations

import copy
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from . import coverage
from ._routes import ANY, WEBSOCKET, list_routes
from .coverage import Coverage
from .policy import AuthPolicy

__all__ = ["CLAIMS_EXTENSION", "keep_patched", "patch_openapi"]

#: Where an operation's claim requirements are written: OpenAPI's `security` holds
#: scopes only. A list of `{"security": <one entry of security>, "claims": {scheme:
#: [{"claim": [path...], "<test>": value}]}}`.
CLAIMS_EXTENSION = "x-asgi-auth-claims"

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def patch_openapi(
    spec: dict[str, Any],
    policy: AuthPolicy,
    *,
    responses: bool = False,
    prefix: str | None = None,
    app: Any = None,
) -> dict[str, Any]:
    """A copy of `spec` whose security says exactly what `policy` enforces.

    Operations that already declare a different `security` are overwritten (the
    policy is what runs) and listed in a `UserWarning`; so are operations whose
    requests the rules treat differently, documented with the weakest requirement.
    With `responses=True`, the 401/403 answers and their challenges are documented
    too. Idempotent.

    Document paths are matched as the app's router sees them. An app served under a
    `root_path` (FastAPI's `servers`) sees them unchanged; when the router itself
    sees a prefix the document leaves to `servers` (a static document for an app
    mounted at `/api`), pass `prefix="/api"`, or `prefix="servers"` to take the path
    of the first server URL.

    `app` (Starlette, FastAPI, Litestar) lets the router's own templates say what the
    document cannot: FastAPI writes `{file_path:path}` as `{file_path}`, and only the
    route knows the parameter spans segments. Given FastAPI's cached `app.openapi()`,
    the app is found without it.
    """
    owner = _fastapi_owner(spec, sys._getframe(1)) if app is None else None
    out = _patch(spec, policy, responses=responses, prefix=prefix, app=app if app is not None else owner)
    if owner is not None:
        keep_patched(owner, policy, responses=responses, prefix=prefix, remember=out)
    return out


def document_parameters(spec: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, coverage.Accepts]]:
    """For each (path shape, METHOD) of a document, the values its path parameters accept:
    what `asgi-auth routes` narrows a FastAPI route's parameters with."""
    out: dict[tuple[str, str], dict[str, coverage.Accepts]] = {}
    paths = spec.get("paths")
    for path, item in paths.items() if isinstance(paths, Mapping) else ():
        if isinstance(item, Mapping):
            for method in _METHODS:
                operation = item.get(method)
                if isinstance(operation, Mapping):
                    out[(coverage.shape(str(path)), method.upper())] = _parameter_tests(spec, item, operation)
    return out


def _cover(
    policy: AuthPolicy,
    spec: Mapping[str, Any],
    item: Mapping[str, Any],
    operation: Mapping[str, Any],
    path: str,
    method: str,
    app_paths: Mapping[tuple[str, str], str] | None,
) -> Coverage:
    """What the middleware applies to every request one document operation accepts."""
    accepts = _parameter_tests(spec, item, operation)
    route = (app_paths or {}).get((coverage.shape(path), method.upper()))
    parts = coverage.route_parts(route, accepts) if route else coverage.doc_parts(path, accepts)
    return coverage.cover(policy, parts, method)


def _patch(
    spec: dict[str, Any], policy: AuthPolicy, *, responses: bool, prefix: str | None, app: Any
) -> dict[str, Any]:
    if prefix == "servers":
        servers = spec.get("servers") or [{}]
        prefix = unquote(urlsplit(str(servers[0].get("url", ""))).path)
    prefix = (prefix or "").rstrip("/")
    app_paths = _app_paths(app) if app is not None else None
    out = copy.deepcopy(spec)
    used: dict[str, Any] = {}
    differences: list[str] = []
    partial: list[str] = []
    has_global = "security" in out
    sections = [("paths", out.get("paths"), prefix), ("webhooks", out.get("webhooks"), "")]
    for section, items, section_prefix in sections:
        if not isinstance(items, dict):
            continue
        for key, item in items.items():
            if not isinstance(item, dict):
                continue
            path = key if section == "paths" else "/" + str(key).lstrip("/")
            for method in _METHODS:
                operation = item.get(method)
                if not isinstance(operation, dict):
                    continue
                found = _cover(policy, out, item, operation, section_prefix + path, method, app_paths)
                found.path = key if section == "paths" else f"webhook {key}"
                if not found.uniform:
                    partial.append(found.warning())
                security = found.openapi()
                if "security" in operation and operation["security"] != security:
                    differences.append(f"{method.upper()} {key}: {operation['security']!r} -> {security!r}")
                if security or has_global:
                    operation["security"] = security
                else:
                    operation.pop("security", None)
                claims = found.claims_openapi()
                if claims:
                    operation[CLAIMS_EXTENSION] = claims
                else:
                    operation.pop(CLAIMS_EXTENSION, None)
                for scheme in found.schemes:
                    used[scheme.scheme_name] = scheme.openapi()
                if responses and found.may_refuse:
                    _document_errors(operation, found)
    if used:
        components = out.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(used)
    if differences:
        warnings.warn(
            "patch_openapi replaced security that disagreed with the policy:\n  " + "\n  ".join(differences),
            UserWarning,
            stacklevel=3,
        )
    if partial:
        warnings.warn(
            "patch_openapi: these operations accept requests that the rules treat differently, "
            "so the weakest requirement is documented (write a rule that covers every value, "
            "or narrow the route):\n  " + "\n  ".join(partial),
            UserWarning,
            stacklevel=3,
        )
    return out


def _parameter_tests(
    spec: Mapping[str, Any], item: Mapping[str, Any], operation: Mapping[str, Any]
) -> dict[str, coverage.Accepts]:
    """The values each path parameter accepts, from its schema (operation over item)."""

    def resolve(ref: str) -> Any:
        node: Any = spec
        if not ref.startswith("#/"):
            return None
        for key in ref[2:].split("/"):
            if not isinstance(node, Mapping):
                return None
            node = node.get(key.replace("~1", "/").replace("~0", "~"))
        return node

    tests: dict[str, coverage.Accepts] = {}
    for parameters in (item.get("parameters"), operation.get("parameters")):
        for parameter in parameters if isinstance(parameters, list) else []:
            if isinstance(parameter, Mapping) and "$ref" in parameter:
                parameter = resolve(str(parameter["$ref"]))
            if isinstance(parameter, Mapping) and parameter.get("in") == "path" and "name" in parameter:
                tests[str(parameter["name"])] = coverage.schema_accepts(parameter.get("schema"), resolve)
    return tests


def _app_paths(app: Any) -> dict[tuple[str, str], str]:
    """The router's own template for each (document shape, method) of `app`."""
    paths: dict[tuple[str, str], str] = {}
    try:
        routes = list_routes(app)
    except LookupError:
        return paths
    for method, path in routes:
        every = [m.upper() for m in _METHODS]
        for name in every if method == ANY else ["GET" if method == WEBSOCKET else method]:
            paths.setdefault((coverage.shape(path), name), path)
    return paths


def _document_errors(operation: dict[str, Any], found: Coverage) -> None:
    challenge = {
        "WWW-Authenticate": {"description": "The accepted authentication schemes", "schema": {"type": "string"}}
    }
    answers = operation.setdefault("responses", {})
    answers.setdefault("401", {"description": "Not authenticated, or credentials rejected", "headers": challenge})
    if found.scoped:
        answers.setdefault("403", {"description": "Not enough permissions", "headers": challenge})


# -- FastAPI's cached document ---------------------------------------------------------


def _fastapi_owner(spec: Any, frame: Any) -> Any:
    """The FastAPI app whose cached `openapi_schema` is `spec`, if the caller holds it.

    Only the caller's own names are looked at (the `app` in `patch_openapi(app.openapi(),
    policy)`), so this costs a dictionary scan, not a heap walk.
    """
    if "fastapi" not in sys.modules or not isinstance(spec, dict):
        return None
    from fastapi import FastAPI

    for names in (frame.f_locals, frame.f_globals):
        for value in list(names.values()):
            if isinstance(value, FastAPI) and value.__dict__.get("openapi_schema") is spec:
                return value
    return None


class _Patched:
    """`app.openapi` that keeps FastAPI's document patched across FastAPI's rebuilds.

    FastAPI caches its document in `app.openapi_schema` and rebuilds it when routes
    change. With `always`, every document FastAPI builds is patched (`install`);
    otherwise only while the cached document is one this patched, that is, after
    `app.openapi_schema = patch_openapi(app.openapi(), policy)`.
    """

    def __init__(self, app: Any, generate: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.generate = generate
        self.always: dict[str, Any] | None = None
        self.outputs: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (patched, options)

    def remember(self, patched: dict[str, Any], options: dict[str, Any]) -> None:
        self.outputs = [*self.outputs[-3:], (patched, options)]

    def options_for(self, document: Any) -> dict[str, Any] | None:
        return next((options for patched, options in self.outputs if patched is document), None)

    def __call__(self) -> dict[str, Any]:
        current = self.app.openapi_schema
        options = self.options_for(current) if current is not None else None
        document = self.generate()
        if self.options_for(document) is not None:
            return document
        options = self.always if self.always is not None else options
        if options is None:
            return document
        patched = _patch(document, app=self.app, **options)
        self.app.openapi_schema = patched
        self.remember(patched, options)
        return patched


def keep_patched(
    app: Any,
    policy: AuthPolicy,
    *,
    responses: bool = False,
    prefix: str | None = None,
    always: bool = False,
    remember: dict[str, Any] | None = None,
) -> None:
    """Make a FastAPI app's `openapi()` patch what FastAPI builds (see `_Patched`)."""
    hook = app.__dict__.get("openapi")
    if not isinstance(hook, _Patched):
        hook = _Patched(app, app.openapi)
        app.openapi = hook
    options = {"policy": policy, "responses": responses, "prefix": prefix}
    if always:
        hook.always = options
    if remember is not None:
        hook.remember(remember, options)
