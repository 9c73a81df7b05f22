"""Real servers x frameworks under a CLOSED default: no public rule opens a handler only `default` guards.

`tests.wire.closed_apps` serves public rules that match a lot (`/`, `/public`,
`/static/{rest:path}`, `/users/{name}`) and handlers that no rule names (`/admin`,
`/books`, `/secret/...`, `/users/{name}/detail`, a router, a mount, a websocket), with
`default=bearer`. The attacks are the ones an outside review found against this
shape: a path the guard holds to a public rule while the router runs a handler
guarded only by `default`, by way of a `root_path` set by the server's flag or by
daphne's client-set `Daphne-Root-Path` header, spelled without a segment boundary or
inside the path, doubled slashes, dot segments, trailing slashes, method case.

Each server configuration of `CONFIGS` runs with the policy trusting the `root_path`
its flag sets (`AuthPolicy(root_path=...)`, as the docs say to declare it). What must
hold, on every wiring:

- no protected handler runs without authentication, and no 5xx;
- every public route answers 200 without credentials, every protected one 200 with a
  good token.

Then uvicorn with `--root-path` and a policy NOT told about it: the public routes get
the closed default (401, main's documented behaviour), and still no protected handler
runs unauthenticated.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.wire.closed_apps import PROTECTED, ROOT_PATH_ENV, TOKEN, WIRING_NAMES
from tests.wire.servers import CONFIGS, Answer, ServerConfig, running, send_raw, websocket_message

APP = "tests.wire.closed_apps:app"
AUTH = f"Authorization: Bearer {TOKEN}"
WS_HEADERS = (
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
)


@dataclass(frozen=True)
class Case:
    """One request: its request line (`{p}` is the prefix a client of this server sends)
    and headers; `expect` is the handler that must answer it with 200."""

    name: str
    line: str
    headers: tuple[str, ...] = ()
    expect: str | None = None

    @property
    def websocket(self) -> bool:
        return "Upgrade: websocket" in self.headers

    def request(self, wiring: str, prefix: str) -> bytes:
        lines = [self.line.format(p=prefix), "Host: 127.0.0.1", f"X-Wire-App: {wiring}", *self.headers]
        if not self.websocket:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def get(name: str, target: str, *headers: str, method: str = "GET", expect: str | None = None) -> Case:
    return Case(name, f"{method} {target} HTTP/1.1", headers, expect)


def ws(name: str, target: str, *headers: str, expect: str | None = None) -> Case:
    return Case(name, f"GET {target} HTTP/1.1", (*WS_HEADERS, *headers), expect)


def drp(value: str) -> str:
    """daphne's `Daphne-Root-Path` header: any client sets `scope["root_path"]` with it."""
    return f"Daphne-Root-Path: {value}"


PUBLIC_CASES = [  # must answer 200 without credentials where the root_path is declared or empty
    get("index", "{p}/", expect="index"),
    get("public", "{p}/public", expect="public"),
    get("static", "{p}/static/a/b", expect="static"),
    get("user", "{p}/users/bob", expect="user"),
]
AUTHENTICATED_CASES = [  # must answer 200 with a good token, everywhere
    get("admin", "{p}/admin", AUTH, expect="admin"),
    get("admin-rest", "{p}/admin/x", AUTH, expect="admin_rest"),
    get("books", "{p}/books", AUTH, expect="books"),
    get("secret", "{p}/secret/a/b", AUTH, expect="secret"),
    get("user-detail", "{p}/users/bob/detail", AUTH, expect="user_detail"),
    get("router", "{p}/api/private", AUTH, expect="api_private"),
    get("mount", "{p}/mnt/x", AUTH, expect="mnt"),
    ws("websocket", "{p}/ws", AUTH, expect="ws"),
]
ATTACK_CASES = [  # no credentials: must never reach a protected handler
    # the plain refusals
    get("admin-bare", "{p}/admin"),
    get("books-bare", "{p}/books"),
    get("secret-bare", "{p}/secret/x"),
    get("user-detail-bare", "{p}/users/bob/detail"),
    get("router-bare", "{p}/api/private"),
    get("mount-bare", "{p}/mnt"),
    ws("websocket-bare", "{p}/ws"),
    # the review's findings: a public rule matched, a default-only handler run
    get("static-root-path-inside", "{p}/static/prefix/admin"),  # Litestar outside: hypercorn/granian root_path
    get("static-root-path-inside-unprefixed", "/static/prefix/admin"),
    get("static-x-admin-header", "{p}/static/x/admin", drp("/x")),
    get("users-admin-header-slash", "{p}/users/admin", drp("/users/")),  # Quart on daphne
    get("users-admin-header", "{p}/users/admin", drp("/users")),
    get("admin-users-x-header", "{p}/admin/users/x", drp("/admin")),  # raw app on daphne
    get("books-books-header", "{p}/books/books", drp("/books")),  # Litestar AuthPlugin on daphne
    get("books-header-equal", "{p}/books", drp("/books")),
    get("books-slash-header", "{p}/books/", drp("/books")),
    get("secret-static-header", "{p}/secret/static/x", drp("/secret")),
    get("secret-users-header", "{p}/secret/users/x", drp("/secret")),
    get("admin-header-slash-only", "{p}/admin", drp("/")),
    get("admin-header-empty", "{p}/admin", drp("")),
    get("admin-header-encoded", "{p}/users/admin", drp("/%75sers")),
    get("static-header-declared", "/static/prefix/admin", drp("/prefix")),
    get("prefix-admin-header-declared", "/prefix/admin", drp("/prefix")),
    get("users-prefix-header", "/users/prefix", drp("/users")),
    get("static-mount-header", "{p}/static/mnt/x", drp("/static")),
    get("static-router-header", "{p}/static/api/private", drp("/static")),
    get("users-router-header", "{p}/users/api/private", drp("/users")),
    get("user-detail-header", "{p}/x/users/bob/detail", drp("/x")),
    get("no-boundary-header", "{p}/xadmin", drp("/x")),  # Quart and Django strip a bare prefix
    get("no-boundary-header-books", "{p}/staticbooks", drp("/static")),
    ws("websocket-users-header", "{p}/users/ws", drp("/users")),
    ws("websocket-static-header", "{p}/static/ws", drp("/static")),
    # root_path without a segment boundary, or inside the path
    get("prefix-no-boundary", "/prefixadmin"),
    get("prefix-no-boundary-books", "/prefixbooks"),
    get("prefix-inside", "/x/prefix/admin"),
    get("prefix-inside-users", "/users/prefix/admin"),
    get("prefix-inside-static-books", "/static/prefix/books"),
    get("prefix-twice", "/prefix/prefix/admin"),
    get("prefix-double-slash", "/prefix//admin"),
    get("prefix-trailing-users", "/users/prefix"),
    # doubled slashes, dot segments, trailing slashes
    get("double-slash", "/{p}/admin"),
    get("double-slash-static", "{p}/static//admin"),
    get("double-slash-users", "{p}/users//admin"),
    get("double-slash-user-detail", "{p}/users/bob//detail"),
    get("double-slash-router", "{p}/api//private"),
    get("double-slash-mount", "{p}/mnt//x"),
    get("triple-slash-books", "//{p}/books"),
    get("dotdot-static", "{p}/static/../admin"),
    get("dotdot-users", "{p}/users/../books"),
    get("encoded-dotdot-static", "{p}/static/%2e%2e/admin"),
    get("encoded-slash-static", "{p}/static%2F..%2Fadmin"),
    get("trailing-slash-admin", "{p}/admin/"),
    get("trailing-slash-books", "{p}/books/"),
    get("trailing-slash-user-detail", "{p}/users/bob/detail/"),
    get("encoded-space-books", "{p}/books%20"),
    get("encoded-tab-static", "{p}/static/%09/../../admin"),
    get("fragment", "{p}/static/x#/../../admin"),
    get("semicolon", "{p}/admin;x=1"),
    get("upper-case", "{p}/ADMIN"),
    # method case, HEAD, and targets that are not origin-form
    get("method-lower", "{p}/admin", method="get"),
    get("method-lower-post", "{p}/books", method="post"),
    get("head", "{p}/admin", method="HEAD"),
    get("absolute-form", "http://x{p}/admin"),
    get("absolute-form-static", "http://x{p}/static/../admin"),
    get("slashless", "books"),
]
ORDINARY_CASES = PUBLIC_CASES + AUTHENTICATED_CASES
CASES = ORDINARY_CASES + ATTACK_CASES
assert len({c.name for c in CASES}) == len(CASES)

# Where a peer cannot serve a request at all, whatever the guard does: Quart reads
# `scope["scheme"]`, which daphne's websocket scope lacks, so daphne answers 500 to any
# handshake that reaches Quart (the same in tests/wire/test_matrix.py).
PEER_LIMITS = {("daphne", "quart", "websocket"): 500}
NO_WEBSOCKETS = {"django"}  # Django serves no websockets without Channels


def client_prefix(config: ServerConfig) -> str:
    """uvicorn adds its `--root-path` to `path` itself; the others expect it on the wire."""
    return "" if config.server.startswith("uvicorn") else config.root_path


def decoded(answer: Answer) -> Any:
    return websocket_message(answer) if answer.status == 101 else answer.json()


def violations(config: ServerConfig, wiring: str, case: Case, answer: Answer) -> list[str]:
    """What is unsafe in one answer: a 5xx, or a protected handler run unauthenticated."""
    kind = "websocket" if case.websocket else "http"
    if answer.status == PEER_LIMITS.get((config.server, wiring, kind)) and not answer.body:
        return []  # the peer's own answer: no handler ran
    found = []
    if answer.status is not None and answer.status >= 500:
        found.append(f"answered {answer.status}: {answer.body[:200]!r}")
    body = decoded(answer)
    ran = isinstance(body, dict) and body.get("handler") in PROTECTED
    if ran and not (body.get("guarded") and body.get("authenticated") and body.get("scheme") == "HTTPBearer"):
        found.append(f"protected handler {body['handler']!r} ran without authentication: {body}")
    return found


def served(answer: Answer, handler: str, authenticated: bool) -> bool:
    body = decoded(answer)
    return (
        answer.status in (101, 200)
        and isinstance(body, dict)
        and body.get("handler") == handler
        and body.get("authenticated") is authenticated
    )


def applicable(config: ServerConfig, wiring: str) -> list[Case]:
    if wiring in NO_WEBSOCKETS:
        return [c for c in CASES if not c.websocket]
    return CASES


def expected(config: ServerConfig, wiring: str, case: Case) -> bool:
    """Whether `case.expect` must answer: not the raw app under a root_path (it routes on
    the full `scope["path"]`, so nothing of it is reachable), nor where the peer can't."""
    if case.expect is None or (wiring == "raw" and config.root_path):
        return False
    return not (case.websocket and (config.server, wiring, "websocket") in PEER_LIMITS)


def send_all(config: ServerConfig, port: int, wiring: str) -> list[tuple[Case, bytes, Answer]]:
    prefix = client_prefix(config)
    sent = []
    for case in applicable(config, wiring):
        request = case.request(wiring, prefix)
        sent.append((case, request, send_raw(port, request)))
    return sent


def describe(config: ServerConfig, wiring: str, case: Case, request: bytes, problem: str) -> str:
    return f"{config.id} {wiring} {case.name}: {problem}\n    sent {request!r}"


@pytest.fixture(scope="module", params=CONFIGS, ids=[config.id for config in CONFIGS])
def declared(request: pytest.FixtureRequest) -> Iterator[tuple[ServerConfig, int]]:
    """A server whose policy trusts the root_path its flag sets (or none, without one)."""
    config: ServerConfig = request.param
    with running(config, APP, {ROOT_PATH_ENV: config.root_path}) as port:
        yield config, port


@pytest.mark.parametrize("wiring", WIRING_NAMES)
def test_closed_default(declared: tuple[ServerConfig, int], wiring: str) -> None:
    config, port = declared
    failures = []
    for case, request, answer in send_all(config, port, wiring):
        for problem in violations(config, wiring, case, answer):
            failures.append(describe(config, wiring, case, request, problem))
        if expected(config, wiring, case) and not served(answer, case.expect or "", case in AUTHENTICATED_CASES):
            problem = f"expected {case.expect!r} to answer 200, got {answer.status}: {answer.body[:200]!r}"
            failures.append(describe(config, wiring, case, request, problem))
    assert not failures, f"{len(failures)} failed:\n" + "\n".join(failures)


UNDECLARED = [ServerConfig("uvicorn-h11", "/prefix"), ServerConfig("uvicorn-httptools", "/prefix")]


@pytest.fixture(scope="module", params=UNDECLARED, ids=[config.id for config in UNDECLARED])
def undeclared(request: pytest.FixtureRequest) -> Iterator[tuple[ServerConfig, int]]:
    """uvicorn with `--root-path`, the policy not told: the root_path counts as the client's."""
    config: ServerConfig = request.param
    with running(config, APP, {ROOT_PATH_ENV: ""}) as port:
        yield config, port


@pytest.mark.parametrize("wiring", WIRING_NAMES)
def test_undeclared_root_path_stays_closed(undeclared: tuple[ServerConfig, int], wiring: str) -> None:
    """Every path uvicorn hands over starts with the undeclared root_path, which names no
    rule: the closed default applies to the public routes too (401), protected handlers
    still need the token, and none runs without it."""
    config, port = undeclared
    failures = []
    for case, request, answer in send_all(config, port, wiring):
        for problem in violations(config, wiring, case, answer):
            failures.append(describe(config, wiring, case, request, problem))
        refused = answer.status == 401 and answer.json() == {"detail": "Not authenticated"}
        if case in PUBLIC_CASES and not refused:
            problem = f"expected the closed default's 401, got {answer.status}: {answer.body[:200]!r}"
            failures.append(describe(config, wiring, case, request, problem))
        must_serve = case in AUTHENTICATED_CASES and expected(config, wiring, case)
        if must_serve and not served(answer, case.expect or "", True):
            problem = f"expected {case.expect!r} to answer 200, got {answer.status}: {answer.body[:200]!r}"
            failures.append(describe(config, wiring, case, request, problem))
    assert not failures, f"{len(failures)} failed:\n" + "\n".join(failures)


# A root_path that is also the start of the app's own routes. hypercorn, daphne and
# granian hand `path` over as the client sent it, with or without the prefix (a proxy
# that strips it, a client that reaches the server directly), so an app that routes on
# the whole `scope["path"]` runs its `/admin/...` handler for `/admin/public`, while the
# frameworks strip root_path and run `/public`. Declaring root_path says the app strips
# it (found by a real-server run: a raw app under a declared one ran a default-only
# handler); the raw wiring declares none, so every reading counts for it and this holds.
COLLIDING = [ServerConfig(server, "/admin") for server in ("hypercorn", "daphne", "granian")]
COLLIDING_CASES = [
    get("root-public", "/admin/public"),
    get("root-user", "/admin/users/x"),
    get("root-static", "/admin/static/x"),
    get("root-index", "/admin/"),
]


@pytest.fixture(scope="module", params=COLLIDING, ids=[config.id for config in COLLIDING])
def colliding(request: pytest.FixtureRequest) -> Iterator[tuple[ServerConfig, int]]:
    config: ServerConfig = request.param
    with running(config, APP, {ROOT_PATH_ENV: config.root_path}) as port:
        yield config, port


@pytest.mark.parametrize("wiring", WIRING_NAMES)
def test_declared_root_path_shared_with_routes(colliding: tuple[ServerConfig, int], wiring: str) -> None:
    config, port = colliding
    failures = []
    for case in COLLIDING_CASES:
        request = case.request(wiring, "")
        for problem in violations(config, wiring, case, send_raw(port, request)):
            failures.append(describe(config, wiring, case, request, problem))
    assert not failures, f"{len(failures)} failed:\n" + "\n".join(failures)
