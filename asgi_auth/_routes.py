"""The routes an app's router serves: (method, template) for Starlette, FastAPI, Litestar.

Read from the router itself, so nothing it runs is left out: mounts and their apps,
`Host` routes (the guard sees their paths like any other), endpoints that take every
method (Starlette's class endpoints have `methods=None`), websocket routes of every
flavour.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

__all__ = ["ANY", "HTTP_METHODS", "WEBSOCKET", "Route", "list_routes"]

ANY = "ANY"
WEBSOCKET = "WEBSOCKET"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_ORDER = {m: i for i, m in enumerate((*HTTP_METHODS, WEBSOCKET, ANY))}
_MAX_WRAPPERS = 32


class Route(NamedTuple):
    """`method` is an HTTP method, `WEBSOCKET`, or `ANY` (a mounted app, a class endpoint)."""

    method: str
    path: str


def router_of(app: Any) -> Any:
    """The object holding `routes`, through middleware that keep the app as `.app`."""
    for _ in range(_MAX_WRAPPERS):
        if hasattr(app, "routes"):
            return app
        app = getattr(app, "app", None)
        if app is None:
            break
    raise LookupError("cannot find the app's routes (Starlette, FastAPI, Litestar)")


def list_routes(app: Any) -> list[Route]:
    """Every route of a Starlette, FastAPI or Litestar app, sorted by path then method."""
    found = set(_walk(router_of(app).routes, ""))
    return sorted(found, key=lambda r: (r.path, _ORDER.get(r.method, 99), r.method))


def _walk(routes: Sequence[Any], prefix: str) -> Iterator[Route]:
    for route in routes:
        kind = type(route).__name__
        if kind == "Host":  # the host is not part of the path the guard matches
            yield from _walk(getattr(route, "routes", None) or [], prefix)
            continue
        path = prefix + str(getattr(route, "path", ""))
        if kind == "Mount":
            children = getattr(route, "routes", None)
            if children:
                yield from _walk(children, path)
            else:  # a mounted app with no routes of its own (e.g. StaticFiles)
                yield Route(ANY, path + "/{path:path}")
            continue
        if "websocket" in kind.lower():
            yield Route(WEBSOCKET, path)
            continue
        methods = getattr(route, "methods", None)
        if methods:
            for method in methods:
                yield Route(str(method).upper(), path)
            continue
        yield Route(ANY, path)  # a class endpoint, a raw ASGI route: every method
        handler = getattr(route, "route_handler", None)
        if getattr(handler, "is_mount", False):  # Litestar's @asgi(is_mount=True)
            yield Route(ANY, path.rstrip("/") + "/{path:path}")
