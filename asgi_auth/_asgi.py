"""Reading a request's credentials straight from the ASGI scope.

Everything is decoded the way Starlette decodes it (latin-1 headers, first header of a
name wins, last query value wins, Starlette's cookie parser), so the middleware and the
app it guards can never read two different values from one request.
"""

from __future__ import annotations

import logging

from starlette.datastructures import QueryParams
from starlette.requests import cookie_parser

from ._types import Scope

__all__ = ["HeaderTooLarge", "RequestView", "route_path"]

MAX_HEADER_VALUE = 8192  # a credential header longer than this is refused with 431
MAX_COOKIE_HEADER = 8192  # longer cookie headers / query strings are not searched for
MAX_QUERY_STRING = 8192  # credentials at all (the request then has none: 401)


logger = logging.getLogger("asgi_auth")


class HeaderTooLarge(Exception):
    """A credential-carrying header over `MAX_HEADER_VALUE` bytes (answered with 431)."""

    def __init__(self, name: bytes) -> None:
        super().__init__(f"header {name.decode('latin-1')!r} exceeds {MAX_HEADER_VALUE} bytes")
        self.name = name


def route_path(scope: Scope) -> str:
    """The path the app's router matches: `scope["path"]` less `root_path` (as Starlette)."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


class RequestView:
    """Access to the parts of a request that carry credentials.

    Headers are scanned when asked for (a scan of a dozen pairs costs less than
    keeping a table of them); the query string and cookies are parsed once, on
    first use.
    """

    __slots__ = ("_cookies", "_query", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._query: QueryParams | None = None
        self._cookies: dict[str, str] | None = None

    def raw_header(self, name: bytes) -> bytes | None:
        """The first value of header `name` (lower-case bytes), undecoded and unchecked."""
        for key, raw in self.scope["headers"]:
            if key == name:
                value: bytes = raw
                return value
        return None

    def header(self, name: bytes) -> str | None:
        """The first value of header `name` (lower-case bytes), as Starlette returns it."""
        raw = self.raw_header(name)
        if raw is None:
            return None
        if len(raw) > MAX_HEADER_VALUE:
            raise HeaderTooLarge(name)
        return raw.decode("latin-1")

    def query(self, name: str) -> str | None:
        if self._query is None:
            raw: bytes = self.scope.get("query_string", b"")
            if len(raw) <= MAX_QUERY_STRING:
                self._query = QueryParams(raw)
            else:  # not searched for credentials: fail closed
                logger.warning(
                    "query string of %d bytes not searched for credentials (cap %d)", len(raw), MAX_QUERY_STRING
                )
                self._query = QueryParams()
        return self._query.get(name)

    def cookie(self, name: str) -> str | None:
        if self._cookies is None:
            try:
                raw = self.header(b"cookie")
                too_large = raw is not None and len(raw) > MAX_COOKIE_HEADER
            except HeaderTooLarge:  # big cookie jars are legitimate: just not searched
                raw, too_large = None, True
            if too_large:
                logger.warning("cookie header over %d bytes not searched for credentials", MAX_COOKIE_HEADER)
            self._cookies = cookie_parser(raw) if raw and not too_large else {}
        return self._cookies.get(name)
