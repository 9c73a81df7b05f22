"""Every request meets the requirement of every route a supported router could run it on.

The readings are checked against the routers' own code where it can be called
(Starlette's `get_route_path`, Litestar's split and `normalize_path`, Django's prefix
removal, and a Quart app's own request, whose path is what its router matches), so a
router that changes how it reads paths breaks here.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.utils.path import normalize_path as litestar_normalize
from quart import Quart, request
from starlette._utils import get_route_path

import asgi_auth as aa
from asgi_auth.matching import AllOf, Refusal, candidate_methods, is_method_token, readings
from tests.conftest import Recorder, call_asgi, http_scope

pytestmark = pytest.mark.anyio

TOKENS = {"good": aa.Principal("alice", ["me"]), "weak": aa.Principal("bob")}
bearer = aa.HTTPBearer(verifier=aa.inline(TOKENS.get))
key = aa.APIKeyHeader(name="X-Key", verifier=aa.inline({"k": aa.Principal("svc")}.get))
RULES = [
    aa.Rule("/admin/{rest:path}", require=bearer),
    aa.Rule("/admin", require=bearer),
    aa.Rule("/users/me/", require={bearer: ["me"]}),
    aa.Rule("/items", methods=["POST"], require=bearer),
    aa.Rule("/items", require=[]),
    aa.Rule("/keyed", require=key),
    aa.Rule("/public", require=[]),
]
OPEN = aa.AuthPolicy(RULES, default=[])  # the setting where a misreading shows
CLOSED = aa.AuthPolicy(RULES, default=bearer)


def every_path(path: str, root_path: str) -> set[str]:
    return {p for reading in readings(path, root_path) for p in reading.paths}


async def quart_path(path: str, root_path: str) -> str:
    """The path a Quart app's request has for this scope: what its router matches.

    A real app, not a helper of Quart's: how it strips `root_path` changed between the
    releases asgi_auth supports (a split in 0.20, a prefix removal in 0.22)."""
    app = Quart(__name__)
    seen: list[str] = []

    @app.before_request  # runs before the 404 of an unrouted path is raised
    async def record() -> None:
        seen.append(request.path)

    await call_asgi(app, http_scope(path, root_path=root_path))
    (quart,) = seen
    return quart


def django_strip(path: str, root_path: str) -> str:
    return path.removeprefix(root_path) if root_path else path  # django.core.handlers.asgi


@pytest.mark.parametrize(
    ("path", "root_path"),
    [
        ("/admin", ""),
        ("//admin", ""),
        ("/admin/", ""),
        ("/a//b/", ""),
        ("/prefix/admin", "/prefix"),
        ("/prefixadmin", "/prefix"),
        ("/x/prefix/admin", "/prefix"),
        ("/prefix//admin", "/prefix"),
        ("/prefix", "/prefix"),
        ("/admin/users", "/admin"),  # daphne: root_path from a client's header
    ],
)
async def test_readings_include_every_routers_own(path: str, root_path: str) -> None:
    paths = every_path(path, root_path)
    assert get_route_path({"path": path, "root_path": root_path}) in paths | {""}
    litestar = path.split(root_path, maxsplit=1)[-1] if root_path else path  # litestar/_asgi/asgi_router.py
    assert litestar_normalize(litestar) in paths
    quart = await quart_path(path, root_path)
    assert quart in paths
    assert litestar_normalize(django_strip(path, root_path)) in paths
    assert path in paths  # a raw app routing on scope["path"]


def test_the_common_request_is_one_reading_and_one_rule() -> None:
    assert readings("/users/me/", "") == [(("/users/me", "/users/me/"), True)]
    assert OPEN.for_request("/users/me/", "", "GET") is OPEN.match("/users/me/", "GET")
    assert OPEN.for_request("/public", "", "GET") is OPEN.match("/public", "GET")


@pytest.mark.parametrize(
    ("path", "root_path", "method", "rule"),
    [
        ("//admin", "", "GET", "/admin"),  # Werkzeug merges slashes, Litestar collapses them
        ("/admin//users", "", "GET", "/admin/{rest:path}"),
        ("/users/me", "", "GET", "/users/me/"),  # Litestar strips the template's trailing slash
        ("/users//me/", "", "GET", "/users/me/"),
        ("/public/../admin", "", "GET", "/admin"),
        ("/admin ", "", "GET", "/admin"),
        ("/prefixadmin", "/prefix", "GET", "/admin"),  # Quart and Django strip a bare prefix
        ("/x/prefix/admin", "/prefix", "GET", "/admin"),  # Litestar splits wherever it occurs
        ("/prefix//admin", "/prefix", "GET", "/admin"),
        ("/admin/users", "/admin", "GET", "/admin/{rest:path}"),  # a raw app on scope["path"]
        ("/items", "", "post", "/items"),  # Django, Quart, Werkzeug upper-case the method
        ("/items", "", "pOsT", "/items"),
    ],
)
def test_a_misread_request_still_meets_the_rule_its_router_runs(
    path: str, root_path: str, method: str, rule: str
) -> None:
    applicable = OPEN.for_request(path, root_path, method)
    parts = applicable.parts if isinstance(applicable, AllOf) else (applicable,)
    assert rule in [part.rule for part in parts]
    assert not applicable.public


def test_a_path_read_two_ways_needs_both_rules() -> None:
    # Under daphne a client can set root_path: the guard reads /keyed, a raw app /admin/keyed.
    applicable = OPEN.for_request("/admin/keyed", "/admin", "GET")
    assert isinstance(applicable, AllOf)
    assert [part.rule for part in applicable.parts] == ["/keyed", "/admin/{rest:path}"]


def test_uvicorns_prefix_brings_in_default_only_when_root_path_is_not_trusted() -> None:
    """uvicorn's --root-path puts root_path in scope["path"]: with that root_path declared,
    the path as sent names no route and a closed default must not lock the public
    routes; undeclared, it could be a client's choice (daphne), so every reading counts."""
    trusting = aa.AuthPolicy(RULES, default=bearer, root_path="/prefix")
    assert trusting.for_request("/prefix/public", "/prefix", "GET").public
    assert not trusting.for_request("/prefix/nowhere", "/prefix", "GET").public
    assert not CLOSED.for_request("/prefix/public", "/prefix", "GET").public
    assert not trusting.for_request("/other/public", "/other", "GET").public  # not the trusted value
    assert CLOSED.for_request("/public", "", "GET").public
    assert CLOSED.for_request("/items", "", "GET").public


@pytest.mark.parametrize(
    ("path", "root_path"),
    [
        ("/static/api/admin", "/api"),  # granian, hypercorn: Litestar splits at the first "/api"
        ("/users/admin", "/users/"),  # Quart: a bare prefix leaves "admin", read as "/admin"
        ("/admin/users/x", "/admin"),  # daphne's Daphne-Root-Path: a raw app routes the path as sent
    ],
)
def test_every_routers_reading_brings_in_default(path: str, root_path: str) -> None:
    """Found by outside review: with a closed default and public rules, a reading that
    lands on no rule must still cost the default, whichever router reads it."""
    rules = [aa.Rule("/static/{rest:path}", require=[]), aa.Rule("/users/{name}", require=[])]
    rules.append(aa.Rule("/users/{name}/x", require=[]))
    policy = aa.AuthPolicy(rules, default=bearer)
    assert not policy.for_request(path, root_path, "GET").public


def test_a_target_over_the_cap_is_refused_with_414() -> None:
    refusal = OPEN.for_request("/" + "a" * 9000, "", "GET")
    assert isinstance(refusal, Refusal) and refusal.response.status == 414


def test_an_undeclared_root_path_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    policy = aa.AuthPolicy(RULES, default=[])
    with caplog.at_level("WARNING", logger="asgi_auth"):
        for i in range(3):
            policy.for_request(f"/prefix/p{i}", "/prefix", "GET")
    assert caplog.text.count("AuthPolicy(..., root_path='/prefix')") == 1


@pytest.mark.parametrize("path", ["http://x/admin", "*", "admin", "", "https://x:1/"])
def test_a_target_that_is_not_origin_form_is_refused(path: str) -> None:
    refusal = OPEN.for_request(path, "", "GET")
    assert isinstance(refusal, Refusal)
    assert refusal.response.status == 400


@pytest.mark.parametrize("method", ["GET ", "G\x00T", "GE(T", "", "X" * 33])
def test_a_method_that_is_not_a_token_is_refused(method: str) -> None:
    assert not is_method_token(method)
    assert isinstance(OPEN.for_request("/public", "", method), Refusal)


def test_methods_are_matched_upper_cased_and_as_sent() -> None:
    assert candidate_methods("GET") == ["GET"]
    assert candidate_methods("get") == ["GET", "get"]
    assert is_method_token("PURGE") and is_method_token("M-SEARCH")


async def status_of(policy: aa.AuthPolicy, path: str, method: str = "GET", root_path: str = "", **kw: Any) -> int:
    sent = await call_asgi(
        aa.AuthMiddleware(Recorder(), policy), http_scope(path, method=method, root_path=root_path, **kw)
    )
    return int(sent[0]["status"])


async def test_every_reading_must_be_met_over_the_middleware() -> None:
    good = [(b"authorization", b"Bearer good")]
    assert await status_of(OPEN, "/users/me") == 401
    assert await status_of(OPEN, "/users/me", headers=[(b"authorization", b"Bearer weak")]) == 403
    assert await status_of(OPEN, "/users/me", headers=good) == 200
    assert await status_of(OPEN, "/items", method="post") == 401
    assert await status_of(OPEN, "/items", method="get") == 200
    # Both readings' requirements: the bearer token alone is not enough for /admin/keyed.
    assert await status_of(OPEN, "/admin/keyed", root_path="/admin", headers=good) == 401
    both = [*good, (b"x-key", b"k")]
    assert await status_of(OPEN, "/admin/keyed", root_path="/admin", headers=both) == 200
    assert await status_of(OPEN, "http://x/admin") == 400


async def test_the_context_names_the_primary_rule_when_several_apply() -> None:
    inner = Recorder()
    headers = [(b"authorization", b"Bearer good"), (b"x-key", b"k")]
    await call_asgi(aa.AuthMiddleware(inner, OPEN), http_scope("/admin/keyed", root_path="/admin", headers=headers))
    context = inner.scopes[0]["state"]["auth"]
    assert context.authenticated and context.rule == "/keyed"


def test_the_memo_is_bounded_in_entries_and_key_size() -> None:
    policy = aa.AuthPolicy(RULES, default=[])
    for i in range(12_000):
        policy.for_request(f"/p/{i}", "", "GET")
    policy.for_request("/" + "x" * 300, "", "GET")
    policy.for_request("/public", "", "X" * 30)
    assert len(policy._memo) <= 10_000
    assert all(len(p) + len(r) <= 256 and len(m) <= 16 for p, r, m in policy._memo)


@pytest.mark.parametrize("path", ["/x/prefix", "/x/y/prefix", "/prefix", "/elsewhere"])
async def test_a_path_outside_quarts_root_path_is_held_to_the_route_quart_runs(path: str) -> None:
    """Quart gives a request whose path lies outside its `root_path` the path `/ `,
    which a route `/<name>` matches: the guard holds it to that route's rule."""
    app = Quart(__name__)

    @app.route("/<name>")
    async def named(name: str) -> str:
        return f"ran for {name!r}"

    assert (await call_asgi(app, http_scope(path, root_path="/prefix")))[0]["status"] == 200  # Quart runs it
    for trusted in ("", "/prefix"):  # the root path the client chose, and the declared one
        policy = aa.AuthPolicy([aa.Rule("/{name}", require=bearer)], default=[], root_path=trusted)
        guard = aa.AuthMiddleware(app, policy)
        assert (await call_asgi(guard, http_scope(path, root_path="/prefix")))[0]["status"] == 401
        authorized = http_scope(path, root_path="/prefix", headers=[(b"authorization", b"Bearer good")])
        assert (await call_asgi(guard, authorized))[0]["status"] == 200


@pytest.mark.parametrize(("path", "status"), [("/api", 401), ("/public", 401), ("/", 401), ("/api/public", 200)])
async def test_a_path_outside_even_the_trusted_root_path_is_held_to_default(path: str, status: int) -> None:
    """hypercorn and granian pass on whatever path a client sends, the declared prefix
    beside it; Quart runs an undeclared `/<name>` on those outside the prefix, so they
    get `default`, while a path under the prefix keeps its public rule."""
    app = Quart(__name__)

    @app.route("/public")
    async def public() -> str:
        return "public"

    @app.route("/<name>")  # no rule: default covers it
    async def named(name: str) -> str:
        return f"ran for {name!r}"

    assert (await call_asgi(app, http_scope(path, root_path="/api")))[0]["status"] == 200  # Quart runs a route
    rules = [aa.Rule("/", require=[]), aa.Rule("/public", require=[])]
    guard = aa.AuthMiddleware(app, aa.AuthPolicy(rules, default=bearer, root_path="/api"))
    assert (await call_asgi(guard, http_scope(path, root_path="/api")))[0]["status"] == status
