from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import anyio
import jwt
import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

import asgi_auth as aa
from tests.conftest import Recorder, call_asgi, client_for, http_scope
from tests.verifiers.keys import HMAC_SECRET

pytestmark = pytest.mark.anyio

KEYS = {"k-read": ["read"], "k-admin": ["read", "admin"]}


@aa.inline
def lookup(key: str) -> aa.Principal | None:
    scopes = KEYS.get(key)
    return None if scopes is None else aa.Principal(key, scopes)


api_key = aa.APIKeyHeader(name="X-Key", verifier=lookup)
bearer = aa.HTTPBearer(verifier=lambda token: aa.Principal("tok", ["read"]) if token == "good" else None)


def policy(**kw: Any) -> aa.AuthPolicy:
    return aa.AuthPolicy(
        [
            aa.Rule("/public", require=[]),
            aa.Rule("/read", require={api_key: ["read"]}),
            aa.Rule("/admin/{rest:path}", require=[{api_key: ["admin"]}, {bearer: ["admin"]}]),
            aa.Rule("/either", require=[bearer, api_key]),
            aa.Rule("/both", require={bearer: [], api_key: []}),
            aa.Rule("/optional", require=[{}, api_key]),
        ],
        default=api_key,
        **kw,
    )


async def echo(request: Request) -> JSONResponse:
    auth = aa.get_auth(request)
    return JSONResponse(
        {
            "authenticated": auth.authenticated,
            "scheme": auth.scheme,
            "scopes": sorted(auth.scopes),
            "required": auth.security_scopes.scopes,
            "rule": auth.rule,
            "user": request.user.display_name,
            "is_authenticated": request.user.is_authenticated,
            "auth_scopes": request.auth.scopes,
        }
    )


def app(**kw: Any) -> Starlette:
    a = Starlette(routes=[Route("/{path:path}", echo)])
    a.add_middleware(aa.AuthMiddleware, policy=policy(**kw))
    return a


async def test_context_user_and_auth_are_stored() -> None:
    async with client_for(app()) as client:
        r = await client.get("/read", headers={"X-Key": "k-admin"})
    assert r.status_code == 200
    assert r.json() == {
        "authenticated": True,
        "scheme": "APIKeyHeader",
        "scopes": ["admin", "read"],
        "required": ["read"],
        "rule": "/read",
        "user": "k-admin",
        "is_authenticated": True,
        "auth_scopes": ["authenticated", "admin", "read"],
    }


async def test_public_route_is_anonymous() -> None:
    async with client_for(app()) as client:
        r = await client.get("/public")
    assert r.json()["authenticated"] is False
    assert r.json()["rule"] == "/public"
    assert r.json()["is_authenticated"] is False


@pytest.mark.parametrize(
    ("path", "headers", "status", "detail", "challenges"),
    [
        ("/read", {}, 401, "Not authenticated", ["APIKey"]),
        ("/read", {"X-Key": "nope"}, 401, "Could not validate credentials", ["APIKey"]),
        ("/admin/x", {"X-Key": "k-read"}, 403, "Not enough permissions", []),
        (
            "/admin/x",
            {"Authorization": "Bearer good"},
            403,
            "Not enough permissions",
            ['Bearer error="insufficient_scope", scope="admin"'],
        ),
        (
            "/admin/x",
            {"Authorization": "Bearer bad"},
            401,
            "Could not validate credentials",
            ['Bearer error="invalid_token"'],
        ),
        ("/admin/x", {}, 401, "Not authenticated", ["APIKey", "Bearer"]),
        # 403 from one alternative is more useful than "no credentials" from the other.
        ("/admin/x", {"X-Key": "k-read", "Authorization": "Bearer bad"}, 403, "Not enough permissions", []),
        ("/both", {"Authorization": "Bearer good"}, 401, "Not authenticated", ["Bearer", "APIKey"]),
        ("/optional", {"X-Key": "nope"}, 401, "Could not validate credentials", ["APIKey"]),
        ("/anything-else", {}, 401, "Not authenticated", ["APIKey"]),
    ],
)
async def test_refusals(path: str, headers: dict[str, str], status: int, detail: str, challenges: list[str]) -> None:
    async with client_for(app()) as client:
        r = await client.get(path, headers=headers)
    assert (r.status_code, r.json(), r.headers.get_list("www-authenticate")) == (status, {"detail": detail}, challenges)
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("path", "headers", "scheme"),
    [
        ("/admin/x", {"X-Key": "k-admin"}, "APIKeyHeader"),
        ("/either", {"Authorization": "Bearer good"}, "HTTPBearer"),
        ("/either", {"Authorization": "Bearer bad", "X-Key": "k-read"}, "APIKeyHeader"),
        ("/both", {"Authorization": "Bearer good", "X-Key": "k-read"}, "HTTPBearer"),
        ("/optional", {"X-Key": "k-read"}, "APIKeyHeader"),
        ("/optional", {}, None),
    ],
)
async def test_passes(path: str, headers: dict[str, str], scheme: str | None) -> None:
    async with client_for(app()) as client:
        r = await client.get(path, headers=headers)
    assert r.status_code == 200
    assert r.json()["scheme"] == scheme


async def test_and_requirement_keeps_every_principal() -> None:
    seen: list[aa.AuthContext] = []

    async def endpoint(request: Request) -> Response:
        seen.append(aa.get_auth(request))
        return PlainTextResponse("ok")

    a = Starlette(routes=[Route("/both", endpoint)])
    a.add_middleware(aa.AuthMiddleware, policy=policy())
    async with client_for(a) as client:
        await client.get("/both", headers={"Authorization": "Bearer good", "X-Key": "k-admin"})
    assert set(seen[0].principals) == {"HTTPBearer", "APIKeyHeader"}
    assert seen[0].scopes == {"read", "admin"}


async def test_on_error_hook_replaces_the_answer() -> None:
    errors: list[aa.AuthError] = []

    def on_error(scope: Any, error: aa.AuthError) -> Response:
        errors.append(error)
        return PlainTextResponse(
            f"nope {error.status_code}", status_code=error.status_code, headers=dict(error.headers)
        )

    async with client_for(app(on_error=on_error)) as client:
        r = await client.get("/read")
    assert (r.status_code, r.text, r.headers["www-authenticate"]) == (401, "nope 401", "APIKey")
    assert isinstance(errors[0], aa.NotAuthenticated)
    assert errors[0].challenges == ["APIKey"]


async def test_async_on_error_on_the_middleware_wins_over_the_policy() -> None:
    async def on_error(scope: Any, error: aa.AuthError) -> Response:
        return PlainTextResponse("middleware", status_code=418)

    inner = Recorder()
    mw = aa.AuthMiddleware(inner, policy(on_error=lambda s, e: PlainTextResponse("policy")), on_error=on_error)
    sent = await call_asgi(mw, http_scope("/read"))
    assert sent[0]["status"] == 418
    assert inner.scopes == []


async def test_lifespan_passes_untouched() -> None:
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, policy())
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await call_asgi(mw, scope, [])
    assert inner.scopes == [scope]
    assert "state" not in scope


async def test_streaming_responses_pass_through() -> None:
    async def stream(request: Request) -> StreamingResponse:
        async def body() -> Any:
            for i in range(3):
                yield f"chunk{i};".encode()

        return StreamingResponse(body())

    a = Starlette(routes=[Route("/read", stream)])
    a.add_middleware(aa.AuthMiddleware, policy=policy())
    sent = await call_asgi(a, http_scope("/read", headers=[(b"x-key", b"k-read")]))
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body" and m.get("body")]
    assert bodies == [b"chunk0;", b"chunk1;", b"chunk2;"]


async def test_root_path_is_stripped_like_starlette() -> None:
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, policy(root_path="/api"))  # uvicorn --root-path /api, declared
    sent = await call_asgi(mw, http_scope("/api/public", root_path="/api"))
    assert sent[0]["status"] == 200
    assert inner.scopes[0]["state"]["auth"].rule == "/public"
    sent = await call_asgi(mw, http_scope("/api/read", root_path="/api"))
    assert sent[0]["status"] == 401
    # Undeclared, root_path may be a client's choice (daphne): the path as sent counts too.
    undeclared = aa.AuthMiddleware(Recorder(), policy())
    assert (await call_asgi(undeclared, http_scope("/api/public", root_path="/api")))[0]["status"] == 401


async def test_existing_state_is_kept() -> None:
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, policy())
    await call_asgi(mw, http_scope("/public", state={"db": "conn"}))
    assert inner.scopes[0]["state"]["db"] == "conn"
    assert isinstance(inner.scopes[0]["state"]["auth"], aa.AuthContext)


def ws_scope(path: str, headers: list[tuple[bytes, bytes]], extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    scope = http_scope(path, headers=headers)
    scope.update(type="websocket", scheme="ws", subprotocols=[])
    del scope["method"]
    if extensions is not None:
        scope["extensions"] = extensions
    return scope


async def test_websocket_denied_with_http_response_when_supported() -> None:
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, policy())
    sent = await call_asgi(mw, ws_scope("/read", [], {"websocket.http.response": {}}), [{"type": "websocket.connect"}])
    assert sent[0]["type"] == "websocket.http.response.start"
    assert sent[0]["status"] == 401
    assert (b"www-authenticate", b"APIKey") in sent[0]["headers"]
    assert sent[1] == {"type": "websocket.http.response.body", "body": b'{"detail":"Not authenticated"}'}
    assert inner.scopes == []


async def test_websocket_closed_1008_without_the_extension() -> None:
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, policy())
    sent = await call_asgi(mw, ws_scope("/read", [(b"x-key", b"bad")]), [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "Could not validate credentials"}]
    assert inner.scopes == []


async def test_websocket_accepted_with_credentials() -> None:
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, policy())
    sent = await call_asgi(mw, ws_scope("/read", [(b"x-key", b"k-read")]), [{"type": "websocket.connect"}])
    assert sent[0] == {"type": "websocket.accept"}
    assert inner.scopes[0]["state"]["auth"].principal.subject == "k-read"


async def test_starlette_requires_decorator_works() -> None:
    @requires("admin")
    async def admin_only(request: Request) -> Response:
        return PlainTextResponse("admin")

    a = Starlette(routes=[Route("/optional", admin_only)])
    a.add_middleware(aa.AuthMiddleware, policy=policy())
    async with client_for(a) as client:
        assert (await client.get("/optional", headers={"X-Key": "k-admin"})).status_code == 200
        assert (await client.get("/optional", headers={"X-Key": "k-read"})).status_code == 403
        assert (await client.get("/optional")).status_code == 403


async def test_sync_verifier_runs_in_a_worker_thread_and_inline_one_on_the_loop() -> None:
    threads: dict[str, str] = {}

    def slow(key: str) -> aa.Principal:
        threads["sync"] = threading.current_thread().name
        return aa.Principal("x")

    @aa.inline
    def fast(key: str) -> aa.Principal:
        threads["inline"] = threading.current_thread().name
        return aa.Principal("y")

    async def coro(key: str) -> aa.Principal:
        threads["async"] = threading.current_thread().name
        return aa.Principal("z")

    schemes = [aa.APIKeyHeader(name=n, verifier=v, scheme_name=n) for n, v in (("a", slow), ("b", fast), ("c", coro))]
    p = aa.AuthPolicy([], default={s: [] for s in schemes})
    async with client_for(aa.AuthMiddleware(Recorder(), p)) as client:
        r = await client.get("/", headers={"a": "1", "b": "1", "c": "1"})
    assert r.status_code == 200
    main = threading.current_thread().name
    assert threads["inline"] == main
    assert threads["async"] == main
    assert threads["sync"] != main


async def test_verifier_raising_invalid_credentials_and_other_errors(caplog: pytest.LogCaptureFixture) -> None:
    def raises(key: str) -> None:
        if key == "custom":
            raise aa.InvalidCredentials("Key revoked")
        if key == "down":
            raise aa.ServiceUnavailable()
        raise KeyError(f"secret-{key}")

    scheme = aa.APIKeyHeader(name="k", verifier=aa.inline(raises))
    mw = aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=scheme))
    async with client_for(mw) as client:
        custom = await client.get("/", headers={"k": "custom"})
        down = await client.get("/", headers={"k": "down"})
        with caplog.at_level(logging.DEBUG, logger="asgi_auth"):
            bug = await client.get("/", headers={"k": "hunter2"})
    assert (custom.status_code, custom.json(), custom.headers["www-authenticate"]) == (
        401,
        {"detail": "Key revoked"},
        "APIKey",
    )
    assert (down.status_code, down.json()) == (503, {"detail": "Authentication service unavailable"})
    assert (bug.status_code, bug.json()) == (401, {"detail": "Could not validate credentials"})
    assert "KeyError" in caplog.text
    assert "hunter2" not in caplog.text


def _as(mode: str, function: Any) -> Any:
    """`function` as a verifier of each kind the middleware runs."""
    if mode == "inline":
        return aa.inline(function)
    if mode == "async":

        async def verifier(argument: Any) -> Any:
            return function(argument)

        return verifier
    if mode == "inline-awaitable":

        async def later(argument: Any) -> Any:
            return function(argument)

        def start(argument: Any) -> Any:  # a sync callable that returns an awaitable
            return later(argument)

        return aa.inline(start)
    return function  # sync: a worker thread


@pytest.mark.parametrize("mode", ["inline", "async", "thread", "inline-awaitable"])
@pytest.mark.parametrize("require", ["single", "alternatives"])
async def test_every_kind_of_verifier_decides_alike(mode: str, require: str) -> None:
    """Answered at once (inline) or awaited (async, thread, an inline one returning an
    awaitable), on the one-scheme path and on the general one: the same answers."""

    def check(key: str) -> aa.Principal | None:
        if key == "revoked":
            raise aa.InvalidCredentials("Key revoked")
        if key == "bug":
            raise KeyError(key)
        return aa.Principal(key, ["read"]) if key.startswith("k-") else None

    scheme = aa.APIKeyHeader(name="k", verifier=_as(mode, check))
    other = aa.APIKeyHeader(name="other", scheme_name="other", auto_error=False, verifier=aa.EXTRACT_ONLY)
    spec: Any = {scheme: ["read"]} if require == "single" else [{scheme: ["read"]}, {other: [], scheme: ["read"]}]
    mw = aa.AuthMiddleware(Recorder(), aa.AuthPolicy([aa.Rule("/admin", require={scheme: ["admin"]})], default=spec))
    async with client_for(mw) as client:
        answers = [
            (r.status_code, r.json()["detail"] if r.status_code != 200 else None)
            for r in [
                await client.get("/", headers={"k": "k-1"}),
                await client.get("/", headers={"k": "nope"}),
                await client.get("/", headers={"k": "revoked"}),
                await client.get("/", headers={"k": "bug"}),
                await client.get("/"),
                await client.get("/admin", headers={"k": "k-1"}),
            ]
        ]
    assert answers == [
        (200, None),
        (401, "Could not validate credentials"),
        (401, "Key revoked"),
        (401, "Could not validate credentials"),
        (401, "Not authenticated"),
        (403, "Not enough permissions"),
    ]


async def test_a_verifier_with_verify_inline_is_asked_through_it() -> None:
    """`verify_inline()` answers on the loop, or hands back an awaitable when it must
    wait; the middleware never calls such a verifier any other way."""

    class Verifier:
        def __init__(self) -> None:
            self.known = {"hot": aa.Principal("hot")}
            self.waited: list[str] = []

        def verify_inline(self, key: str) -> Any:
            if key in self.known:
                return self.known[key]
            return self.slow(key)

        async def slow(self, key: str) -> aa.Principal | None:
            self.waited.append(key)
            return aa.Principal(key) if key == "cold" else None

        async def __call__(self, key: str) -> aa.Principal | None:
            raise AssertionError("not called: verify_inline is")

    verifier = Verifier()
    scheme = aa.APIKeyHeader(name="k", verifier=verifier)
    async with client_for(aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=scheme))) as client:
        statuses = [(await client.get("/", headers={"k": k})).status_code for k in ("hot", "hot", "cold", "bad")]
    assert statuses == [200, 200, 200, 401]
    assert verifier.waited == ["cold", "bad"]


class Expiring:
    """A verifier that says how long its answers hold: `window` (relative to now)."""

    def __init__(self, window: tuple[float, float] | None = (-1.0, 60.0)) -> None:
        self.window = window
        self.asked: list[str] = []
        self.revoked: set[str] = set()

    def verify_inline(self, key: str) -> aa.Principal | None:
        self.asked.append(key)
        if key in self.revoked or not key.startswith("k-"):
            return None
        return aa.Principal(key, ["read"] if key != "k-weak" else [])

    def lifetime(self, key: str) -> tuple[float, float] | None:
        if self.window is None:
            return None
        now = time.time()
        return now + self.window[0], now + self.window[1]


async def test_decisions_are_remembered_while_the_verifier_says_they_hold() -> None:
    verifier = Expiring()
    scheme = aa.APIKeyHeader(name="k", verifier=verifier)
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, aa.AuthPolicy([], default={scheme: ["read"]}))
    async with client_for(mw) as client:
        statuses = [
            (await client.get("/", headers={"k": k})).status_code
            for k in ("k-1", "k-1", "k-2", "k-weak", "k-weak", "bad", "bad", "k-1")
        ]
        verifier.revoked.add("k-1")
        revoked = (await client.get("/", headers={"k": "k-1"})).status_code
    assert statuses == [200, 200, 200, 403, 403, 401, 401, 200]
    # k-1 and k-weak were asked once each; a refusal is never remembered.
    assert verifier.asked == ["k-1", "k-2", "k-weak", "bad", "bad"]
    # Within the window the remembered answer stands, as a cached JWT does until exp.
    assert revoked == 200
    contexts = [s["state"]["auth"] for s in inner.scopes]
    assert contexts[0] is contexts[1] and contexts[0].principal.subject == "k-1"
    assert contexts[2].principal.subject == "k-2"


@pytest.mark.parametrize("window", [(-10.0, -1.0), (5.0, 60.0), None], ids=["expired", "not-yet", "no-lifetime"])
async def test_decisions_outside_their_window_are_not_used(window: tuple[float, float] | None) -> None:
    verifier = Expiring(window)
    scheme = aa.APIKeyHeader(name="k", verifier=verifier)
    mw = aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default={scheme: ["read"]}))
    async with client_for(mw) as client:
        statuses = [(await client.get("/", headers={"k": "k-1"})).status_code for _ in range(3)]
        verifier.revoked.add("k-1")
        revoked = (await client.get("/", headers={"k": "k-1"})).status_code
    assert statuses == [200, 200, 200]
    assert verifier.asked == ["k-1"] * 4  # asked every time
    assert revoked == 401


async def test_remembered_decisions_are_per_rule_and_per_header_value() -> None:
    verifier = Expiring()
    scheme = aa.APIKeyHeader(name="k", verifier=verifier)
    policy = aa.AuthPolicy([aa.Rule("/read", require={scheme: ["read"]}), aa.Rule("/any", require=scheme)], default=[])
    async with client_for(aa.AuthMiddleware(Recorder(), policy)) as client:
        statuses = [
            (await client.get(path, headers={"k": k})).status_code
            for path, k in [("/read", "k-weak"), ("/any", "k-weak"), ("/read", "k-weak"), ("/any", "k-weak")]
        ]
        # A credential header sent twice is refused before any verifier sees either copy.
        both = (await client.get("/any", headers=[("k", "bad"), ("k", "k-weak")])).status_code
    assert statuses == [403, 200, 403, 200]
    assert verifier.asked == ["k-weak", "k-weak"]
    assert both == 400


async def test_a_remembered_jwt_decision_ends_with_the_token() -> None:
    """A token's decision is remembered until its exp, and not a moment longer."""
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"])
    scheme = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": ""}, verifier=verifier)
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, aa.AuthPolicy([], default={scheme: ["me"]}))
    exp = int(time.time()) + 2  # at least a second ahead
    token = jwt.encode({"sub": "u", "scope": "me", "exp": exp}, HMAC_SECRET)
    headers = {"authorization": f"Bearer {token}"}
    async with client_for(mw) as client:
        before = [(await client.get("/", headers=headers)).status_code for _ in range(3)]
        await anyio.sleep(exp - time.time() + 0.05)  # past exp
        after = await client.get("/", headers=headers)
    assert before == [200, 200, 200]
    assert inner.scopes[1]["state"]["auth"] is inner.scopes[2]["state"]["auth"]  # remembered
    assert after.status_code == 401 and after.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_digest_and_query_credentials_are_never_remembered() -> None:
    verifier = Expiring()
    query = aa.APIKeyQuery(name="k", verifier=verifier)
    policy = aa.AuthPolicy([], default=query)
    async with client_for(aa.AuthMiddleware(Recorder(), policy)) as client:
        for _ in range(2):
            assert (await client.get("/?k=k-1")).status_code == 200
    assert verifier.asked == ["k-1", "k-1"]
    assert aa.HTTPDigest(verifier=lambda u: "pw", secret=b"s" * 32).source_header is None


async def test_principal_scopes_from_any_object_with_scopes() -> None:
    class User:
        def __init__(self) -> None:
            self.scopes = "read admin"  # a JWT-style string
            self.username = "u"

    scheme = aa.APIKeyHeader(name="k", verifier=aa.inline(lambda k: User()))
    p = aa.AuthPolicy([], default={scheme: []})
    inner = Recorder()
    await call_asgi(aa.AuthMiddleware(inner, p), http_scope("/", headers=[(b"k", b"v")]))
    context = inner.scopes[0]["state"]["auth"]
    assert context.scopes == {"read", "admin"}
    assert inner.scopes[0]["user"].display_name == "u"
    assert inner.scopes[0]["auth"].scopes == ["authenticated", "admin", "read"]


async def test_extract_only_scheme_passes_credentials_to_the_app() -> None:
    scheme = aa.HTTPBasic(verifier=aa.EXTRACT_ONLY)
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, aa.AuthPolicy([], default=scheme))
    await call_asgi(mw, http_scope("/", headers=[(b"authorization", b"Basic dTpw")]))
    context = inner.scopes[0]["state"]["auth"]
    assert context.authenticated is False
    assert context.credentials == aa.HTTPBasicCredentials(username="u", password="p")
    assert "p'" not in repr(context.credentials)


def test_middleware_needs_a_policy() -> None:
    with pytest.raises(aa.ConfigurationError, match="policy"):
        aa.AuthMiddleware(Recorder(), policy={})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scheme", "headers", "query", "challenge"),
    [
        (
            aa.HTTPBearer(verifier=aa.inline({"good": aa.Principal("alice")}.get)),
            [(b"authorization", b"Bearer good"), (b"authorization", b"Bearer forged")],
            b"",
            ['Bearer error="invalid_request"'],
        ),
        (
            aa.OAuth2PasswordBearer(tokenUrl="t", verifier=aa.inline({"good": aa.Principal("alice")}.get)),
            [(b"authorization", b"Bearer forged"), (b"authorization", b"Bearer good")],
            b"",
            ['Bearer error="invalid_request"'],
        ),
        (
            aa.APIKeyCookie(name="session", verifier=aa.inline({"good": aa.Principal("alice")}.get)),
            [(b"cookie", b"session=good"), (b"cookie", b"session=forged")],
            b"",
            [],
        ),
        (
            aa.APIKeyQuery(name="api_key", verifier=aa.inline({"good": aa.Principal("alice")}.get)),
            [],
            b"api_key=forged&api_key=good",
            [],
        ),
    ],
    ids=["bearer", "oauth2", "cookie", "query"],
)
async def test_a_credential_sent_twice_is_refused_with_400(
    scheme: aa.SecurityScheme, headers: list[tuple[bytes, bytes]], query: bytes, challenge: list[str]
) -> None:
    """Frameworks pick different copies (first, last, joined): whichever the app reads,
    it could differ from the one verified, so neither is used (RFC 6750 §3.1)."""
    for require in (scheme, [{}, scheme]):  # optional or not: a sent credential is never ignored
        inner = Recorder()
        mw = aa.AuthMiddleware(inner, aa.AuthPolicy([], default=require))
        sent = await call_asgi(mw, http_scope("/", headers=headers, query_string=query))
        assert sent[0]["status"] == 400 and not inner.scopes
        assert [v.decode() for k, v in sent[0]["headers"] if k == b"www-authenticate"] == challenge
        body = json.loads(sent[1]["body"])
        assert body["detail"].startswith("Ambiguous credentials:") and "sent more than once" in body["detail"]
        assert "good" not in body["detail"] and "forged" not in body["detail"]


async def test_split_cookie_headers_keep_working() -> None:
    scheme = aa.APIKeyCookie(name="session", verifier=aa.inline({"good": aa.Principal("alice")}.get))
    inner = Recorder()
    mw = aa.AuthMiddleware(inner, aa.AuthPolicy([], default=scheme))
    headers = [(b"cookie", b"theme=dark"), (b"cookie", b"session=good; lang=en")]
    sent = await call_asgi(mw, http_scope("/", headers=headers))
    assert sent[0]["status"] == 200
    assert inner.scopes[0]["state"]["auth"].principal.subject == "alice"


async def test_refusals_before_matching_reach_on_error() -> None:
    seen: list[aa.AuthError] = []

    def on_error(scope: Any, error: aa.AuthError) -> Any:
        seen.append(error)
        return PlainTextResponse("no", status_code=error.status_code)

    mw = aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=[]), on_error=on_error)
    sent = await call_asgi(mw, http_scope("http://x/admin"))
    assert sent[0]["status"] == 400
    assert seen[0].status_code == 400 and "origin-form" in seen[0].detail


@pytest.mark.anyio
async def test_a_policy_that_answers_for_request_its_own_way_is_asked_every_time() -> None:
    """The middleware reads the policy's memo before calling `for_request`; a subclass
    that overrides `for_request` (the attacker's review: its override was skipped once
    the memo held the answer) is asked for every request instead."""
    asked: list[str] = []

    class Counting(aa.AuthPolicy):
        def for_request(self, path: str, root_path: str, method: str) -> Any:
            asked.append(path)
            return super().for_request(path, root_path, method)

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app = aa.AuthMiddleware(
        inner, Counting([aa.Rule("/open", require=[])], default=aa.APIKeyHeader(name="x-key", verifier=aa.EXTRACT_ONLY))
    )
    for _ in range(3):
        assert (await call_asgi(app, http_scope("/open")))[0]["status"] == 204
    assert asked == ["/open"] * 3
