"""`asgi-auth`: who may call what, and the OpenAPI document to match.

    asgi-auth routes myapp:app --policy myapp:policy [--fail-on default,public]
    asgi-auth openapi spec.json --policy myapp:policy [-o patched.json]

`routes` lists every route the app's router knows (Starlette, FastAPI, Litestar) with
the requirement the middleware applies and whether a rule or the default gave it; with
`--fail-on` it exits 1 when a route is only covered by the default or is public, for
use in a project's own CI.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .openapi import patch_openapi, requirement_for
from .policy import AuthPolicy

__all__ = ["list_routes", "main"]

_HTTP = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def load(target: str) -> Any:
    """Import `module:attribute` (the attribute may be dotted)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"asgi-auth: {target!r} is not of the form module:attribute")
    sys.path.insert(0, str(Path.cwd()))
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def load_policy(target: str) -> AuthPolicy:
    policy = load(target)
    if not isinstance(policy, AuthPolicy):
        raise SystemExit(f"asgi-auth: {target} is not an AuthPolicy")
    return policy


def list_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path template) for every route of a Starlette, FastAPI or Litestar app."""
    for _ in range(32):  # unwrap middleware that hold the app as `.app`
        if hasattr(app, "routes"):
            break
        app = getattr(app, "app", None)
        if app is None:
            raise SystemExit("asgi-auth: cannot find the app's routes (Starlette, FastAPI, Litestar)")
    return sorted(set(_walk(app.routes, "")), key=lambda r: (r[1], _HTTP.index(r[0]) if r[0] in _HTTP else 99))


def _walk(routes: Sequence[Any], prefix: str) -> Iterator[tuple[str, str]]:
    for route in routes:
        path = prefix + str(getattr(route, "path", ""))
        children = getattr(route, "routes", None)
        if type(route).__name__ == "Mount":
            if children:
                yield from _walk(children, path)
            else:  # a mounted app with no routes of its own (e.g. StaticFiles)
                yield "ANY", path + "/{path:path}"
            continue
        methods = getattr(route, "methods", None)
        if methods:
            for method in methods:
                yield str(method).upper(), path
        elif type(route).__name__.lower().startswith("websocket"):
            yield "WEBSOCKET", path


def _describe(security: list[dict[str, list[str]]]) -> str:
    if not security:
        return "public"
    parts = []
    for alternative in security:
        if not alternative:
            parts.append("anonymous")
            continue
        parts.append(
            " + ".join(f"{name}[{' '.join(scopes)}]" if scopes else name for name, scopes in alternative.items())
        )
    return " | ".join(parts)


def routes_command(args: argparse.Namespace) -> int:
    app, policy = load(args.app), load_policy(args.policy)
    fail_on = {f for f in (args.fail_on or "").split(",") if f}
    failures = 0
    rows = []
    for method, path in list_routes(app):
        requirement = requirement_for(policy, path, "GET" if method in ("WEBSOCKET", "ANY") else method)
        source = "default" if requirement.rule is None else f"rule {requirement.rule}"
        flagged = ("default" in fail_on and requirement.rule is None) or ("public" in fail_on and requirement.public)
        failures += flagged
        rows.append((method, path, _describe(requirement.openapi()), source + ("  <-- flagged" if flagged else "")))
    widths = [max(len(r[i]) for r in rows) if rows else 0 for i in range(3)]
    for row in rows:
        print(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    if failures:
        print(f"\n{failures} route(s) flagged by --fail-on {args.fail_on}", file=sys.stderr)
        return 1
    return 0


def openapi_command(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    text = Path(args.spec).read_text(encoding="utf-8")
    if args.spec.endswith((".yaml", ".yml")):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise SystemExit("asgi-auth: reading YAML needs PyYAML (pip install pyyaml)") from None
        spec = yaml.safe_load(text)
    else:
        spec = json.loads(text)
    output = json.dumps(patch_openapi(spec, policy, responses=args.responses), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="asgi-auth", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    routes = commands.add_parser("routes", help="list routes with the requirement the middleware applies")
    routes.add_argument("app", help="module:app")
    routes.add_argument("--policy", required=True, help="module:policy")
    routes.add_argument("--fail-on", default="", help="comma-separated: default, public")
    routes.set_defaults(run=routes_command)
    openapi = commands.add_parser("openapi", help="patch an OpenAPI document (JSON or YAML) with the policy")
    openapi.add_argument("spec")
    openapi.add_argument("--policy", required=True, help="module:policy")
    openapi.add_argument("-o", "--output", help="write here instead of stdout")
    openapi.add_argument("--responses", action="store_true", help="document 401/403 answers too")
    openapi.set_defaults(run=openapi_command)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
