"""Real servers x frameworks, raw bytes over a socket: the guard decides on what the router runs.

Every server configuration (uvicorn with h11 and httptools, hypercorn, daphne, granian,
each with and without a `root_path` set by its own flag) is started once, carrying every
framework wiring of `tests.wire.apps`. Each case is sent as bytes, to each wiring. What
must hold, whatever the server or the framework makes of the bytes:

- no protected handler runs without the authentication its rule demands;
- the credential the framework reads is the one the guard verified;
- no 5xx;
- and requests that must work (an authenticated call, cookies split over two headers)
  do work.

A server's own refusal of a request (h11's 400 for a target it can't parse, say) is
that server's behaviour and passes: no handler ran. Failures list the exact bytes sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import starlette

from tests.wire.apps import BEARER, PROTECTED, READS, WIRINGS
from tests.wire.servers import CONFIGS, Answer, ServerConfig, running, send_h2, send_raw, websocket_message

WS_HEADERS = [
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
]
ADMIN = "Authorization: Bearer tok-admin"
ME = "Authorization: Bearer tok-me"


@dataclass(frozen=True)
class Case:
    """One request: its request line (`{p}` is the prefix a client of this server sends),
    headers, and optionally the handler that must run authenticated."""

    name: str
    line: str
    headers: tuple[str, ...] = ()
    body: str = ""
    expect: str | None = None  # a handler that must answer 200, authenticated

    def request(self, wiring: str, prefix: str) -> bytes:
        lines = [self.line.format(p=prefix), "Host: 127.0.0.1", f"X-Wire-App: {wiring}", *self.headers]
        if not any(h.startswith("Connection:") for h in self.headers):
            lines.append("Connection: close")
        if self.body:
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n" + self.body).encode("latin-1")


def case(name: str, target: str, *headers: str, method: str = "GET", expect: str | None = None) -> Case:
    return Case(name, f"{method} {target} HTTP/1.1", tuple(headers), expect=expect)


def ws(name: str, target: str, *headers: str, method: str = "GET", expect: str | None = None) -> Case:
    return Case(name, f"{method} {target} HTTP/1.1", (*WS_HEADERS, *headers), expect=expect)


CASES = [
    # what must work, and the plain refusal
    case("authenticated", "{p}/admin", ADMIN, expect="admin"),
    case("authenticated-scoped", "{p}/users/me/", ME, expect="users_me"),
    case("unauthenticated", "{p}/admin"),
    case("cookie-split-over-two-headers", "{p}/cookie", "Cookie: a=1", "Cookie: session=key-good", expect="cookie"),
    ws("websocket-authenticated", "{p}/ws", ADMIN, expect="ws"),
    ws("websocket-unauthenticated", "{p}/ws"),
    # method case: rules upper-case their methods, several frameworks upper-case the request's
    Case("method-lower-post", "post {p}/items HTTP/1.1", body="{}"),
    Case("method-mixed-post", "pOsT {p}/items HTTP/1.1", body="{}"),
    case("method-mixed-get-scoped", "{p}/users/me/items/", ME, method="gEt"),
    case("method-lower-get", "{p}/admin", method="get"),
    ws("websocket-method-lower", "{p}/ws", method="get"),
    # targets that are not origin-form
    case("absolute-form", "http://x{p}/admin"),
    case("absolute-form-path", "http://127.0.0.1{p}/admin/users"),
    case("absolute-form-https", "https://x{p}/n/1"),
    case("asterisk-form", "*", method="OPTIONS"),
    case("asterisk-form-get", "*"),
    case("slashless", "admin"),
    case("slashless-rest", "admin/users"),
    case("authority-form", "127.0.0.1:80", method="CONNECT"),
    # separators, encoded and doubled
    case("double-slash", "/{p}/admin"),
    case("double-slash-inside", "{p}/admin//x"),
    case("double-slash-router", "{p}/api//private"),
    case("double-slash-leading-router", "/{p}/api/private"),
    case("double-slash-int", "/{p}/n/12"),
    case("double-slash-users", "{p}/users//me/"),
    case("double-slash-mount", "/{p}/mnt/x"),
    case("triple-slash", "//{p}/admin"),
    case("encoded-slash-leading", "{p}/%2Fadmin"),
    case("encoded-slash-dotdot", "{p}/admin%2F.."),
    case("encoded-slash-inside", "{p}/api%2Fprivate"),
    case("encoded-letter", "{p}/%61dmin"),
    case("encoded-backslash", "{p}/%5Cadmin"),
    case("backslash", "{p}/\\admin"),
    # dot segments
    case("dotdot", "{p}/a/../admin"),
    case("dot", "{p}/./admin"),
    case("dot-inside", "{p}/api/./private"),
    case("encoded-dotdot", "{p}/a/%2e%2e/admin"),
    # trailing slashes and whitespace
    case("trailing-slash-int", "{p}/n/12/"),
    case("trailing-slash-router", "{p}/api/private/"),
    case("trailing-slash-admin", "{p}/admin/"),
    case("no-trailing-slash-rule", "{p}/users/me"),
    case("no-trailing-slash-rule-scoped", "{p}/users/me", ME),
    case("trailing-slash-items", "{p}/users/me/items", ME),
    case("encoded-space", "{p}/admin%20"),
    case("encoded-tab", "{p}/admin%09"),
    case("encoded-newline", "{p}/admin%0A"),
    Case("two-spaces-before-version", "GET {p}/admin  HTTP/1.1"),
    Case("tab-before-version", "GET {p}/admin\tHTTP/1.1"),
    # mounts
    case("mount", "{p}/mnt/x"),
    case("mount-bare", "{p}/mnt"),
    case("mount-double-slash", "{p}/mnt//x"),
    # root_path: by the server's flag (the configurations) and by a header daphne trusts
    case("prefix", "/prefix/admin"),
    case("prefix-no-boundary", "/prefixadmin"),
    case("prefix-not-leading", "/x/prefix/admin"),
    case("prefix-double-slash", "/prefix//admin"),
    case("prefix-twice", "/prefix/prefix/admin"),
    case("prefix-router-twice", "/api/api/private"),
    case("daphne-root-path-header", "{p}/admin/users", "Daphne-Root-Path: /admin"),
    case("daphne-root-path-header-prefix", "/prefix/admin", "Daphne-Root-Path: /prefix"),
    case("daphne-root-path-header-int", "{p}/n/1", "Daphne-Root-Path: /n"),
    case("forwarded-prefix", "{p}/admin", "X-Forwarded-Prefix: /public", "X-Script-Name: /public"),
    # ambiguous credentials: the app must read the one the guard verified, or the guard refuses
    case("authorization-twice", "{p}/admin", ADMIN, "Authorization: Bearer forged"),
    case("authorization-twice-reversed", "{p}/admin", "Authorization: Bearer forged", ADMIN),
    case("api-key-header-twice", "{p}/admin", "X-API-Key: key-good", "X-API-Key: forged"),
    case("api-key-header-twice-reversed", "{p}/admin", "X-API-Key: forged", "X-API-Key: key-good"),
    case("query-key-twice", "{p}/query?api_key=forged&api_key=key-good"),
    case("query-key-twice-reversed", "{p}/query?api_key=key-good&api_key=forged"),
    case("query-key-encoded-name", "{p}/query?api%5Fkey=forged&api_key=key-good"),
    case("cookie-twice-over-two-headers", "{p}/cookie", "Cookie: session=key-good", "Cookie: session=forged"),
    case("cookie-twice-over-two-headers-reversed", "{p}/cookie", "Cookie: session=forged", "Cookie: session=key-good"),
    case("cookie-twice-in-one-header", "{p}/cookie", "Cookie: session=key-good; session=forged"),
    case("cookie-twice-in-one-header-reversed", "{p}/cookie", "Cookie: session=forged; session=key-good"),
    ws("websocket-authorization-twice", "{p}/ws", ADMIN, "Authorization: Bearer forged"),
]


def client_prefix(config: ServerConfig) -> str:
    """The path prefix a client sends: uvicorn adds its `--root-path` to `path` itself
    (the proxy in front stripped it); the other servers expect it on the wire."""
    return "" if config.server.startswith("uvicorn") else config.root_path


def satisfied(body: dict[str, object], handler: str) -> bool:
    """Whether the guard's decision, as the handler reports it, meets what `handler` demands."""
    if not body.get("guarded") or not body.get("authenticated"):
        return False
    granted = set(body.get("scopes") or ())  # type: ignore[call-overload]
    return any(body.get("scheme") == scheme and scopes <= granted for scheme, scopes in PROTECTED[handler])


# Where a peer cannot serve a case at all, whatever the guard does: asserted as that peer's
# behaviour. Quart reads `scope["scheme"]`, which daphne's websocket scope lacks, so every
# handshake that reaches Quart on daphne is answered 500 by daphne.
PEER_LIMITS = {("daphne", "quart", "websocket"): 500}


# Where a framework reads a credential differently by itself, asserted as it reads it.
# Cookies split over two `Cookie` headers (as browsers over HTTP/2 send them): Litestar
# parses only the first header, and Django joins headers with "," (not a cookie
# separator), so neither app sees the `session` cookie the guard verified; Starlette
# before 0.49 (FastAPI on it too) reads only the first header, as the oldest-versions
# session runs it. The app then reads no credential at all: it cannot act as another
# identity.
SPLIT_COOKIE_READERS = ("litestar-plugin", "litestar-outer", "django")
if tuple(int(part) for part in starlette.__version__.split(".")[:2]) < (0, 49):
    SPLIT_COOKIE_READERS += ("starlette", "fastapi")
KNOWN_READS: dict[tuple[str, str], object] = {
    (wiring, "cookie-split-over-two-headers"): None for wiring in SPLIT_COOKIE_READERS
}
UNSET = object()


def peer_limit(config: ServerConfig, wiring: str, case: Case) -> int | None:
    kind = "websocket" if "Upgrade: websocket" in case.headers else "http"
    return PEER_LIMITS.get((config.server, wiring, kind))


def violations(
    case: Case, answer: Answer, limit: int | None = None, expect: bool = True, known_read: object = UNSET
) -> list[str]:
    """What is wrong with one answer: empty when the request was handled safely.

    `limit` is a status the peer answers by itself for this kind of request (see
    PEER_LIMITS); `expect=False` skips the case's positive expectation, for an app that
    cannot route the case at all (the raw app matches `scope["path"]` with its root_path).
    """
    found = []
    if limit is not None and answer.status == limit and not answer.body:
        return found  # the peer's own answer: no handler ran
    if answer.status is not None and answer.status >= 500:
        found.append(f"answered {answer.status}: {answer.body[:200]!r}")
    body = websocket_message(answer) if answer.status == 101 else answer.json()
    handler = body.get("handler") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(handler, str):
        if handler in PROTECTED and not satisfied(body, handler):
            found.append(f"protected handler {handler!r} ran without what its rule demands: {body}")
        scheme = body.get("scheme")
        if body.get("authenticated") and isinstance(scheme, str):
            read = body["read"].get(READS[scheme], body["verified"])  # type: ignore[attr-defined]
            if scheme == BEARER and isinstance(read, str):  # the token alone, as FastAPI's class returns it
                read = read.removeprefix("Bearer ")
            if known_read is not UNSET:
                if read != known_read:
                    found.append(f"{handler!r}: the framework was known to read {known_read!r}, it reads {read!r}")
            elif read != body["verified"]:
                found.append(f"{handler!r}: the guard verified {body['verified']!r}, the framework reads {read!r}")
    if case.expect is not None and expect:
        ok = answer.status in (101, 200) and handler == case.expect and isinstance(body, dict)
        if not ok or not body.get("authenticated"):  # type: ignore[union-attr]
            found.append(
                f"expected {case.expect!r} to answer authenticated, got {answer.status}: {answer.body[:200]!r}"
            )
    return found


@pytest.fixture(scope="module", params=CONFIGS, ids=[config.id for config in CONFIGS])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[ServerConfig, int]]:
    config: ServerConfig = request.param
    with running(config) as port:
        yield config, port


@pytest.mark.parametrize("wiring", list(WIRINGS))
def test_matrix(server: tuple[ServerConfig, int], wiring: str) -> None:
    config, port = server
    if wiring == "django":  # Django serves no websockets without Channels
        cases: list[Case] = [c for c in CASES if not c.name.startswith("websocket")]
    else:
        cases = CASES
    failures = []
    for one in cases:
        request = one.request(wiring, client_prefix(config))
        answer = send_raw(port, request)
        routable = not (wiring == "raw" and config.root_path)  # the raw app routes on the full path
        known = KNOWN_READS.get((wiring, one.name), UNSET)
        for problem in violations(one, answer, peer_limit(config, wiring, one), routable, known):
            failures.append(f"{config.id} {wiring} {one.name}: {problem}\n    sent {request!r}")
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures)


# Who answers a request the servers read differently, and with what: the guard (its JSON
# `detail`), or not (a server's own refusal, or the raw app's 404 when no route matches).
# Deterministic for these bytes; columns follow CONFIGS. httptools and granian reduce an
# absolute-form target to its path, which the guard then matches; h11, hypercorn and
# daphne pass it on, and the guard refuses it (400, not origin-form). uvicorn with
# --root-path prefixes every target with it (`*` becomes `/prefix*`, routed nowhere).
# Only httptools refuses a lower-case method, and only it accepts two spaces.
WHO_ANSWERS = {
    "absolute-form": (
        "400 guard",
        "404 other",
        "401 guard",
        "401 guard",
        *("400 guard",) * 4,
        "401 guard",
        "401 guard",
    ),
    "absolute-form-https": (
        "400 guard",
        "404 other",
        "401 guard",
        "401 guard",
        *("400 guard",) * 4,
        *("401 guard",) * 2,
    ),
    "asterisk-form": ("400 guard", "404 other", "400 guard", "404 other", *("400 guard",) * 6),
    "asterisk-form-get": ("400 guard", "404 other", "400 guard", "404 other", *("400 guard",) * 6),
    "slashless": ("400 guard", "401 guard", "400 other", "400 other", *("400 guard",) * 6),
    "authority-form": ("400 guard", "404 other", "400 other", "400 other", *("400 guard",) * 6),
    "two-spaces-before-version": ("400 other", "400 other", "401 guard", "401 guard", *("400 other",) * 6),
    "tab-before-version": ("400 other",) * 10,
    "method-lower-post": ("401 guard", "401 guard", "400 other", "400 other", *("401 guard",) * 6),
}


@pytest.mark.parametrize("name", list(WHO_ANSWERS))
def test_who_answers(server: tuple[ServerConfig, int], name: str) -> None:
    config, port = server
    one = next(c for c in CASES if c.name == name)
    answer = send_raw(port, one.request("raw", client_prefix(config)))
    who = "guard" if answer.body.startswith(b'{"detail"') else "other"
    assert f"{answer.status} {who}" == WHO_ANSWERS[name][CONFIGS.index(config)]


# HTTP/2 with prior knowledge (h2c): hypercorn and granian speak it on a plain socket;
# uvicorn has no HTTP/2, and daphne's needs TLS, so they answer an h2c preface with nothing.
H2C = {"hypercorn", "granian"}
H2_CASES = [  # (case name, path, extra fields, expected handler or None)
    ("h2-cookie-split", "/cookie", [("cookie", "a=1"), ("cookie", "session=key-good")], "cookie"),
    ("h2-cookie-twice", "/cookie", [("cookie", "session=key-good"), ("cookie", "session=forged")], None),
    ("h2-cookie-twice-reversed", "/cookie", [("cookie", "session=forged"), ("cookie", "session=key-good")], None),
    ("h2-authorization-twice", "/admin", [("authorization", "Bearer tok-admin"), ("authorization", "Bearer x")], None),
    ("h2-double-slash", "//admin", [], None),
    ("h2-unauthenticated", "/admin", [], None),
]
# granian hands the cookie pieces over as separate headers (hypercorn joins them): the
# apps above then read no session cookie, as over HTTP/1.1 with split headers.
H2_KNOWN_READS: dict[tuple[str, str, str], object] = {
    ("granian", wiring, "h2-cookie-split"): None for wiring in SPLIT_COOKIE_READERS
}


@pytest.mark.parametrize("wiring", list(WIRINGS))
def test_http2(server: tuple[ServerConfig, int], wiring: str) -> None:
    config, port = server
    prefix = client_prefix(config)
    failures = []
    for name, path, fields, expect in H2_CASES:
        headers = [(":method", "GET"), (":path", prefix + path), (":scheme", "http"), (":authority", "127.0.0.1")]
        headers += [("x-wire-app", wiring), *fields]
        answer = send_h2(port, headers)
        if config.server not in H2C:
            assert answer.status is None, f"{config.id} answered h2c: {answer}"
            continue
        one = Case(name, f"h2 {path}", expect=expect)
        known = H2_KNOWN_READS.get((config.server, wiring, name), UNSET)
        routable = not (wiring == "raw" and config.root_path)
        for problem in violations(one, answer, None, routable, known):
            failures.append(f"{config.id} {wiring} {name}: {problem}\n    sent {headers!r}")
    assert not failures, "\n".join(failures)
