"""Reading a request's credentials straight from the ASGI scope.

Everything is decoded the way Starlette decodes it (latin-1 headers, Starlette's query
and cookie parsers), and a credential sent twice is refused rather than picked, so the
middleware and the app it guards can never read two different values from one request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from starlette.datastructures import QueryParams

from ._types import Scope

__all__ = ["AmbiguousCredentials", "HeaderTooLarge", "RequestView", "raw_header", "route_path", "strip_root_path"]

MAX_HEADER_VALUE = 8192  # a credential header longer than this is refused with 431
MAX_COOKIE_HEADER = 8192  # longer cookie headers / query strings are not searched for
MAX_QUERY_STRING = 8192  # credentials at all (the request then has none: 401)
_COOKIE_ESCAPES = ("%", '"', "\\")


logger = logging.getLogger("asgi_auth")


class HeaderTooLarge(Exception):
    """A credential-carrying header over `MAX_HEADER_VALUE` bytes (answered with 431)."""

    def __init__(self, name: bytes) -> None:
        super().__init__(f"header {name.decode('latin-1')!r} exceeds {MAX_HEADER_VALUE} bytes")
        self.name = name


def route_path(scope: Scope) -> str:
    """The path the app's router matches: `scope["path"]` less `root_path` (as Starlette)."""
    return strip_root_path(scope["path"], scope.get("root_path", ""))


def strip_root_path(path: str, root_path: str) -> str:
    """`path` less `root_path` at a segment boundary: Starlette's `get_route_path`."""
    if not root_path or not path.startswith(root_path):
        return path
    if path == root_path:
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


def raw_header(scope: Scope, name: bytes) -> bytes | None:
    """The value of header `name` (lower-case bytes) in `scope`, undecoded and unchecked;
    `AmbiguousCredentials` if it came twice (see `RequestView`)."""
    found: bytes | None = None
    for key, raw in scope["headers"]:
        if key == name:
            if found is not None:
                raise AmbiguousCredentials(f"header {name.decode('latin-1')!r}")
            found = raw
    return found


class RequestView:
    """Access to the parts of a request that carry credentials.

    A credential that arrives twice (its header, its query key, or its cookie name once
    every `Cookie` header is joined) raises `AmbiguousCredentials`: frameworks disagree
    on which copy they hand the app (Starlette the first header, Django both joined
    with a comma, Litestar and Quart the first query value, Starlette the last), so
    the only reading that cannot differ from the app's is to refuse.

    Headers are scanned when asked for (a scan of a dozen pairs costs less than
    keeping a table of them); the query string and cookies are parsed once, on
    first use.
    """

    __slots__ = ("_cookies", "_query", "scope", "used")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._query: dict[str, list[str]] | None = None
        self._cookies: dict[str, list[str]] | None = None
        #: One-time values (DPoP proofs' jtis) this request has already spent, per store:
        #: a request held to several rules (`AllOf`) or schemes spends each once.
        self.used: set[tuple[int, str]] | None = None

    def raw_header(self, name: bytes) -> bytes | None:
        """The value of header `name` (lower-case bytes), undecoded and unchecked."""
        return raw_header(self.scope, name)

    def header(self, name: bytes) -> str | None:
        """The value of header `name` (lower-case bytes), decoded as Starlette decodes it."""
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
                self._query = _multi(QueryParams(raw).multi_items())
            else:  # not searched for credentials: fail closed
                logger.warning(
                    "query string of %d bytes not searched for credentials (cap %d)", len(raw), MAX_QUERY_STRING
                )
                self._query = {}
        return _single(self._query, name, "query parameter")

    def cookie(self, name: str) -> str | None:
        if self._cookies is None:
            # Every Cookie header, joined as Starlette >= 0.49 and HTTP/2 (RFC 9113
            # §8.2.3) require: a browser's split cookie headers are ordinary.
            values = [raw for key, raw in self.scope["headers"] if key == b"cookie"]
            joined = b"; ".join(values)
            if len(joined) > MAX_COOKIE_HEADER:  # big cookie jars are legitimate: just not searched
                logger.warning("cookie header over %d bytes not searched for credentials", MAX_COOKIE_HEADER)
                joined = b""
            self._cookies = _multi(_cookie_pairs(joined.decode("latin-1")))
        value = _single(self._cookies, name, "cookie")
        if value is not None and any(c in value for c in _COOKIE_ESCAPES):
            # Litestar percent-decodes cookie values, Starlette unquotes backslash escapes
            # in quoted ones, others do neither: the app could read another credential.
            raise AmbiguousCredentials(f"cookie {name!r}", "holds an escape (%, quote or backslash)")
        return value


class AmbiguousCredentials(Exception):
    """A credential frameworks would read differently (answered with 400): sent more than
    once, or spelled in a way some decode and some don't. `what` names it, never its values."""

    def __init__(self, what: str, why: str = "sent more than once") -> None:
        super().__init__(f"{what} {why}")
        self.what = what


def _multi(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for key, value in pairs:
        table.setdefault(key, []).append(value)
    return table


def _single(table: dict[str, list[str]], name: str, what: str) -> str | None:
    values = table.get(name)
    if values is None:
        return None
    if len(values) > 1:
        raise AmbiguousCredentials(f"{what} {name!r}")
    return values[0]


def _cookie_pairs(cookie_string: str) -> Iterator[tuple[str, str]]:
    """Starlette's `cookie_parser`, keeping every pair rather than the last of a name, and
    each value as sent: one with an escape is refused, so none is left to unquote."""
    for chunk in cookie_string.split(";"):
        key, separator, value = chunk.partition("=")
        if not separator:  # a bare value is a cookie with an empty name, as browsers do
            key, value = "", chunk
        key, value = key.strip(), value.strip()
        if key or value:
            yield key, value
