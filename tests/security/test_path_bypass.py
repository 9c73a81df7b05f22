"""No bypass: whenever the router runs a protected handler, the middleware demanded it.

The classic failure of path-based authorization (CVE-2022-22978, CVE-2023-34035,
CVE-2025-29927) is a request the guard reads one way and the router another. Here
every protected handler records whether it ran for an unauthenticated request; a
corpus of tricky paths, plus hypothesis-generated ones, is sent to Starlette, FastAPI
and Litestar apps whose policy leaves everything else *open*, the setting where a
mismatch would show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Request as LitestarRequest
from starlette.requests import Request
from starlette.responses import PlainTextResponse

import asgi_auth as aa
from tests.conftest import call_asgi, http_scope

bearer = aa.HTTPBearer(verifier=aa.inline({"good": aa.Principal("u")}.get))
POLICY = aa.AuthPolicy(
    [
        aa.Rule("/users/me", require=bearer),
        aa.Rule("/admin/{rest:path}", require=bearer),
        aa.Rule("/items/{item_id}/secret", require=bearer),
        aa.Rule("/api/private", require=bearer),
        aa.Rule("/api/files/{name}", require=bearer),
        aa.Rule("/n/{n:int}", require=bearer),
    ],
    default=[],  # open: only the rules above protect anything
)
PROTECTED = {"users_me", "admin", "item_secret", "api_private", "api_file", "n_int"}


class Ledger:
    """Handlers write down every run: (handler, authenticated)."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, bool]] = []

    def record(self, name: str, scope: Any) -> None:
        context = scope.get("state", {}).get("auth")
        self.runs.append((name, bool(context is not None and context.authenticated)))

    def breaches(self) -> list[str]:
        return [name for name, authenticated in self.runs if name in PROTECTED and not authenticated]


def starlette_app(ledger: Ledger, fastapi: bool = False) -> Any:

    def handler(name: str) -> Callable[..., Any]:
        async def endpoint(request: Request) -> PlainTextResponse:
            ledger.record(name, request.scope)
            return PlainTextResponse(name)

        return endpoint

    routes = [
        ("/users/me", "users_me"),
        ("/admin/{rest:path}", "admin"),
        ("/items/{item_id}/secret", "item_secret"),
        ("/items/{item_id}", "item"),
        ("/n/{n:int}", "n_int"),
        ("/public", "public"),
    ]
    if fastapi:
        from fastapi import APIRouter, FastAPI

        app: Any = FastAPI(openapi_url=None)
        for path, name in routes:
            app.add_api_route(path, handler(name), methods=["GET"])
        api = APIRouter(prefix="/api")
        api.add_api_route("/private", handler("api_private"), methods=["GET"])
        api.add_api_route("/files/{name}", handler("api_file"), methods=["GET"])
        app.include_router(api)
    else:
        from starlette.applications import Starlette
        from starlette.routing import Mount, Route

        app = Starlette(
            routes=[
                *(Route(path, handler(name)) for path, name in routes),
                Mount(
                    "/api",
                    routes=[Route("/private", handler("api_private")), Route("/files/{name}", handler("api_file"))],
                ),
            ]
        )
    app.add_middleware(aa.AuthMiddleware, policy=POLICY)
    return app


def litestar_app(ledger: Ledger) -> Any:
    from litestar import Litestar, Router, get
    from litestar.middleware import DefineMiddleware

    def handler(path: str, name: str) -> Any:
        @get(path, name=name, sync_to_thread=False)
        def endpoint(request: LitestarRequest) -> str:  # type: ignore[type-arg]
            ledger.record(name, request.scope)
            return name

        return endpoint

    api = Router(
        path="/api", route_handlers=[handler("/private", "api_private"), handler("/files/{name:str}", "api_file")]
    )
    return Litestar(
        route_handlers=[
            handler("/users/me", "users_me"),
            handler("/admin/{rest:path}", "admin"),
            handler("/items/{item_id:str}/secret", "item_secret"),
            handler("/items/{item_id:str}", "item"),
            handler("/n/{n:int}", "n_int"),
            handler("/public", "public"),
            api,
        ],
        middleware=[DefineMiddleware(aa.AuthMiddleware, policy=POLICY)],
        openapi_config=None,
        logging_config=None,
    )


SEEDS = ["/users/me", "/admin/x", "/admin/", "/items/1/secret", "/api/private", "/api/files/a", "/n/12"]
MUTATIONS: list[Callable[[str], str]] = [
    lambda p: p,
    lambda p: p + "/",
    lambda p: p.replace("/", "//"),
    lambda p: "/" + p,
    lambda p: p.upper(),
    lambda p: p.title(),
    lambda p: p.replace("/", "/./"),
    lambda p: p.replace("/", "/x/../", 1),
    lambda p: p + ";jsessionid=1",
    lambda p: p.replace("/", ";/", 2),
    lambda p: p + "%00",
    lambda p: p + "\x00",
    lambda p: p + "\t",
    lambda p: p + "\n",
    lambda p: p + " ",
    lambda p: p.replace("e", "%65"),
    lambda p: p.replace("/", "%2F"),
    lambda p: p.replace("/", "%2f", 2),
    lambda p: p.replace("/", "%252F"),
    lambda p: p.replace("me", "m%C3%A9"),
    lambda p: p.replace("e", "\u0435"),  # Cyrillic e
    lambda p: p.replace("/", "\\"),
    lambda p: p + "/" + "a" * 5000,
    lambda p: p + "?x=1",
    lambda p: p + "#frag",
    lambda p: p.replace("12", "012").replace("1", "+1"),
    lambda p: p.replace("12", "1e1"),
    lambda p: p + "/..",
    lambda p: p + "/.",
]


def corpus() -> list[str]:
    out = []
    for seed in SEEDS:
        for mutate in MUTATIONS:
            out.append(mutate(seed))
            out.append(mutate(mutate(seed)))
    return sorted(set(out))


def asgi_path(raw: str) -> tuple[str, bytes]:
    """What a server hands the app: `path` percent-decoded, `raw_path` as sent."""
    raw_bytes = quote(raw, safe="/%;:@&=+$,!~*'()[]").encode("ascii")
    path, _, _ = raw_bytes.partition(b"?")
    return unquote(path.decode("ascii")), raw_bytes


async def probe(app: Any, raw: str, headers: list[tuple[bytes, bytes]], root_path: str = "") -> int:
    """Send `raw` as a server would; under a `root_path`, the path carries it (uvicorn >= 0.26)."""
    path, raw_path = asgi_path(raw)
    scope = http_scope(root_path + path, headers=headers, raw_path=root_path.encode() + raw_path, root_path=root_path)
    sent = await call_asgi(app, scope)
    return int(sent[0]["status"])


APPS = {
    "starlette": starlette_app,
    "fastapi": lambda ledger: starlette_app(ledger, fastapi=True),
    "litestar": litestar_app,
}
ANONYMOUS: list[list[tuple[bytes, bytes]]] = [
    [],
    [(b"authorization", b"Bearer bad")],
    [(b"authorization", b"Basic Z29vZA==")],
]


@pytest.mark.parametrize("framework", sorted(APPS))
def test_corpus_never_reaches_a_protected_handler_unauthenticated(framework: str) -> None:
    ledger = Ledger()
    app = APPS[framework](ledger)
    paths = corpus()

    async def main() -> None:
        for raw in paths:
            for headers in ANONYMOUS:
                for root_path in ("", "/prefix"):
                    status = await probe(app, raw, headers, root_path)
                    assert status < 500, (raw, status)

    anyio.run(main)
    assert len(paths) > 300
    assert ledger.breaches() == [], ledger.breaches()
    # The corpus does reach the handlers: with credentials, the seeds run them.
    authed = Ledger()
    app = APPS[framework](authed)

    async def with_token(root_path: str) -> None:
        for seed in SEEDS:  # ("/admin/" is a 404 in Litestar, whose {rest:path} needs a rest)
            assert await probe(app, seed, [(b"authorization", b"Bearer good")], root_path) in (200, 404)

    for root_path in ("", "/prefix"):
        authed.runs.clear()
        anyio.run(with_token, root_path)
        assert {name for name, _ in authed.runs} == PROTECTED


segment = st.one_of(
    st.sampled_from(
        ["users", "me", "admin", "items", "1", "secret", "api", "private", "files", "n", "12", "", ".", ".."]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
)


@pytest.mark.parametrize("framework", sorted(APPS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(segment, min_size=1, max_size=5), trailing=st.booleans())
def test_generated_paths_never_reach_a_protected_handler_unauthenticated(
    framework: str, parts: list[str], trailing: bool
) -> None:
    ledger = Ledger()
    app = APPS[framework](ledger)
    raw = "/" + "/".join(parts) + ("/" if trailing else "")
    status = anyio.run(probe, app, raw, [])
    assert status < 500
    assert ledger.breaches() == [], (raw, ledger.runs)
