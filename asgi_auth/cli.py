"""`asgi-auth`: who may call what, and the OpenAPI document to match.

    asgi-auth routes myapp:app --policy myapp:policy [--fail-on default,public,dead]
    asgi-auth openapi spec.json --policy myapp:policy [-o patched.yaml]

`routes` lists every route the app's router knows (Starlette, FastAPI, Litestar) with
the requirement the middleware applies to every request the route accepts, and which
rules (or the default) gave it; a route whose requests get several requirements shows
the weakest and an example path for each. Rules that no route's requests ever meet
are reported as dead. With `--fail-on` it exits 1 when some route's requests fall to
the default, are public, or a rule is dead, for use in a project's own CI. Usage
errors (a missing file, module or attribute) exit 2 with a one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import coverage
from ._routes import ANY, HTTP_METHODS, WEBSOCKET, Route, list_routes, router_of
from .claims import Claim
from .coverage import Coverage
from .openapi import document_parameters, patch_openapi
from .policy import AuthPolicy
from .requirement import Requirement

__all__ = ["list_routes", "main"]

_YAML = (".yaml", ".yml")


class UsageError(Exception):
    """What the user asked for cannot be done: said in one line, exit status 2."""


def load(target: str) -> Any:
    """Import `module:attribute` (the attribute may be dotted)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"{target!r} is not of the form module:attribute")
    sys.path.insert(0, str(Path.cwd()))
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise UsageError(f"no module named {module_name!r} (in {target!r}; run from the project's root)") from None
        raise UsageError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # the user's module failed: say how, not where in our code
        raise UsageError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc} "
            f"(python -c 'import {module_name}' shows the traceback)"
        ) from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    return obj


def load_policy(target: str) -> AuthPolicy:
    policy = load(target)
    if not isinstance(policy, AuthPolicy):
        raise UsageError(f"{target} is not an AuthPolicy but {type(policy).__name__}")
    return policy


def _describe(security: list[dict[str, list[str]]], claims: Sequence[Mapping[str, Any]] = ()) -> str:
    """`bearer[me items]{realm_access.roles contains "admin"} | api_key`: scopes in
    brackets, the claims a scheme's principal must carry in braces."""
    if not security:
        return "public"
    parts = []
    for alternative in security:
        if not alternative:
            parts.append("anonymous")
            continue
        tests: Mapping[str, Any] = next((c["claims"] for c in claims if c["security"] == alternative), {})
        parts.append(" + ".join(_one(name, scopes, tests.get(name, ())) for name, scopes in alternative.items()))
    return " | ".join(parts)


def _one(name: str, scopes: list[str], tests: Sequence[Mapping[str, Any]]) -> str:
    out = f"{name}[{' '.join(scopes)}]" if scopes else name
    if tests:
        out += "{" + "; ".join(Claim.from_openapi(test).describe() for test in tests) + "}"
    return out


def _sources(found: Coverage) -> str:
    names = ["default" if r.rule is None else f"rule {r.rule}" for r in found.found]
    if found.uniform:
        return names[0]
    return " | ".join(f"{name} (e.g. {example})" for name, example in zip(names, found.found.values(), strict=True))


def route_coverage(policy: AuthPolicy, app: Any, route: Route) -> list[tuple[str, Coverage]]:
    """What the middleware applies to every request `route` accepts, by method: a route
    that takes any method (a mount, a class endpoint) gets one row per distinct answer."""
    accepts = _parameters(app).get((coverage.shape(route.path), route.method), {})
    parts = coverage.route_parts(_known_converters(route.path), accepts)
    if route.method != ANY:
        method = "GET" if route.method == WEBSOCKET else route.method
        found = coverage.cover(policy, parts, method, label=route.path)
        return [(route.method, found)]
    groups: dict[tuple[Any, ...], tuple[list[str], Coverage]] = {}
    for method in HTTP_METHODS:
        found = coverage.cover(policy, parts, method, label=route.path)
        key = (found.complete, *found.found)
        groups.setdefault(key, ([], found))[0].append(method)
    if len(groups) == 1:
        return [(ANY, next(iter(groups.values()))[1])]
    return [(",".join(methods), found) for methods, found in groups.values()]


_parameters_cache: dict[int, dict[tuple[str, str], dict[str, coverage.Accepts]]] = {}


def _parameters(app: Any) -> dict[tuple[str, str], dict[str, coverage.Accepts]]:
    """FastAPI's document says what each path parameter validates as (`item_id: int`)."""
    key = id(app)
    if key not in _parameters_cache:
        found: dict[tuple[str, str], dict[str, coverage.Accepts]] = {}
        openapi = getattr(router_of(app), "openapi", None)
        if callable(openapi) and hasattr(router_of(app), "openapi_schema"):
            with contextlib.suppress(Exception):  # no document: the route's converters still apply
                found = document_parameters(openapi())
        _parameters_cache[key] = found
    return _parameters_cache[key]


def _known_converters(path: str) -> str:
    """Litestar's converters that the guard's templates do not name (`decimal`, `date`)
    are read as plain segments, which accept at least as much."""
    known = ("str", "int", "float", "uuid", "path")
    return re.sub(r"{([a-zA-Z_]\w*):(\w+)}", lambda m: m.group(0) if m.group(2) in known else f"{{{m.group(1)}}}", path)


def dead_rules(policy: AuthPolicy, met: set[Requirement], routes: Sequence[Route]) -> list[str]:
    """Rules whose requirement no route's request ever gets, with a hint when a route
    differs only by a trailing slash (`Rule("/items/")` for a `/items` route)."""
    paths = {r.path for r in routes}
    out = []
    for template, methods, requirement in coverage.rules(policy):
        if requirement in met:
            continue
        source = template.source
        what = f"rule {source!r}" + (f" (methods {', '.join(sorted(methods))})" if methods else "")
        twin = source.rstrip("/") if source.endswith("/") else source + "/"
        hint = f"; the app has {twin!r}" if twin in paths and twin != source else ""
        out.append(f"{what} matches no route{hint}")
    return out


def routes_command(args: argparse.Namespace) -> int:
    app, policy = load(args.app), load_policy(args.policy)
    fail_on = {f for f in (args.fail_on or "").split(",") if f}
    unknown = fail_on - {"default", "public", "dead"}
    if unknown:
        raise UsageError(f"--fail-on takes default, public, dead; not {', '.join(sorted(unknown))}")
    try:
        routes = list_routes(app)
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    failures = 0
    rows: list[tuple[str, str, str, str, bool, bool]] = []
    met: set[Requirement] = set()
    for route in routes:
        for method, found in route_coverage(policy, app, route):
            met.update(found.found)
            flagged = ("default" in fail_on and found.on_default) or ("public" in fail_on and found.public)
            failures += flagged
            described = _describe(found.openapi(), found.claims_openapi())
            rows.append((method, route.path, described, _sources(found), flagged, found.uniform))
    widths = [max((len(str(row[i])) for row in rows), default=0) for i in (0, 1, 2)]
    for method, path, requirement, source, flagged, uniform in rows:
        mark = ("  <-- partly covered" if not uniform else "") + ("  <-- flagged" if flagged else "")
        print(f"{method:<{widths[0]}}  {path:<{widths[1]}}  {requirement:<{widths[2]}}  {source}{mark}")
    dead = dead_rules(policy, met, routes)
    for line in dead:
        print(f"asgi-auth: dead {line}", file=sys.stderr)
    if "dead" in fail_on:
        failures += len(dead)
    if failures:
        print(f"\n{failures} finding(s) flagged by --fail-on {args.fail_on}", file=sys.stderr)
        return 1
    return 0


def _yaml() -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise UsageError("reading or writing YAML needs PyYAML (pip install pyyaml)") from None
    return yaml


def openapi_command(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    source = Path(args.spec)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {args.spec}: {exc.strerror or exc}") from None
    yaml_in = source.suffix.lower() in _YAML
    try:
        spec = _yaml().safe_load(text) if yaml_in else json.loads(text)
    except Exception as exc:
        raise UsageError(f"{args.spec} is not valid {'YAML' if yaml_in else 'JSON'}: {exc}") from None
    if not isinstance(spec, dict):
        raise UsageError(f"{args.spec} is not an OpenAPI document (an object at the top)")
    app = load(args.app) if args.app else None
    patched = patch_openapi(spec, policy, responses=args.responses, prefix=args.prefix, app=app)
    yaml_out = Path(args.output).suffix.lower() in _YAML if args.output else yaml_in
    if yaml_out:
        output = _yaml().safe_dump(patched, sort_keys=False, allow_unicode=True)
    else:
        output = json.dumps(patched, indent=2, ensure_ascii=False) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(output, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(output)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asgi-auth", description=(__doc__ or "").split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    routes = commands.add_parser("routes", help="list routes with the requirement the middleware applies")
    routes.add_argument("app", help="module:app")
    routes.add_argument("--policy", required=True, help="module:policy")
    routes.add_argument("--fail-on", default="", help="comma-separated: default, public, dead")
    routes.set_defaults(run=routes_command)
    openapi = commands.add_parser("openapi", help="patch an OpenAPI document (JSON or YAML) with the policy")
    openapi.add_argument("spec")
    openapi.add_argument("--policy", required=True, help="module:policy")
    openapi.add_argument("-o", "--output", help="write here instead of stdout (.yaml/.yml: as YAML)")
    openapi.add_argument("--responses", action="store_true", help="document 401/403 answers too")
    openapi.add_argument("--prefix", help="the path prefix the router sees ('servers': the first server's)")
    openapi.add_argument("--app", help="module:app, whose routes tell which parameters span segments")
    openapi.set_defaults(run=openapi_command)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as exc:
        print(f"asgi-auth: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
