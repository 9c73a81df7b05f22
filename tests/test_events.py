"""Decision events: what `on_decision` receives, over a real server, and what it never holds."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import time
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI, Request, WebSocket
from starlette.responses import JSONResponse

import asgi_auth as aa
from asgi_auth.events import DecisionEvent, JSONAuditLog
from tests.loopback import serve

SECRET = "events-test-secret-" + "s" * 32
TOKEN_CLAIMS = {"sub": "alice", "scope": "me", "exp": int(time.time()) + 3600}
PASSWORD = "correct-horse-battery-staple"
API_KEY = "key-0123456789abcdef-SECRET"
DIGEST_PASSWORD = "Circle of Life"


def token(**claims: Any) -> str:
    return jwt.encode({**TOKEN_CLAIMS, **claims}, SECRET, algorithm="HS256")


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


#: Shaped as an RS256 token, so the verifier must fetch its key set to check it.
RS256_SHAPED = f"{b64({'alg': 'RS256', 'kid': 'k1', 'typ': 'JWT'})}.{b64(TOKEN_CLAIMS)}.c2ln"


@aa.inline
def check_basic(credentials: aa.HTTPBasicCredentials) -> aa.Principal | None:
    ok = credentials.username == "bob" and credentials.password == PASSWORD
    return aa.Principal("bob", ["me"]) if ok else None


@aa.inline
def check_key(key: str) -> aa.Principal | None:
    return aa.Principal("svc", ["me"]) if key == API_KEY else None


@aa.inline
def digest_password(username: str) -> str | None:
    return DIGEST_PASSWORD if username == "mufasa" else None


async def too_many(_: str) -> None:
    raise aa.AuthError("Too many failed attempts", status_code=429)


bearer = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"me": "", "admin": ""},
    verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]),
)
basic = aa.HTTPBasic(realm="r", verifier=check_basic)
header_key = aa.APIKeyHeader(name="X-API-Key", verifier=check_key)
query_key = aa.APIKeyQuery(name="api_key", verifier=check_key)
cookie_key = aa.APIKeyCookie(name="session", verifier=check_key)
digest = aa.HTTPDigest(realm="d", verifier=digest_password, secret=b"digest-test-secret")
limited = aa.APIKeyHeader(name="X-Limited", scheme_name="Limited", verifier=too_many)
down = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scheme_name="Down",
    verifier=aa.JWTVerifier(jwks_url="http://127.0.0.1:9/jwks.json", algorithms=["RS256"]),
)

RULES = [
    aa.Rule("/public", require=[]),
    aa.Rule("/optional", require=[{}, bearer]),
    aa.Rule("/me", require={bearer: ["me"]}),
    aa.Rule("/admin", require={bearer: ["admin"]}),
    aa.Rule("/basic", require=basic),
    aa.Rule("/keys", require=[header_key, query_key, cookie_key]),
    aa.Rule("/digest", require=digest),
    aa.Rule("/limited", require=limited),
    aa.Rule("/down", require=down),
    aa.Rule("/extract", require=aa.APIKeyHeader(name="X-Raw", scheme_name="Raw", verifier=aa.EXTRACT_ONLY)),
]


def make_app(**middleware: Any) -> FastAPI:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(RULES, default=bearer), **middleware)
    return app


@pytest.fixture(scope="module")
def audited() -> Any:
    """A FastAPI app under uvicorn whose events go to a JSON-lines stream."""
    stream = io.StringIO()
    with serve(make_app(on_decision=JSONAuditLog(stream))) as base:
        yield base, stream


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    out = [json.loads(line) for line in stream.getvalue().splitlines()]
    stream.seek(0)
    stream.truncate()
    return out


def one_event(audited: Any, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    base, stream = audited
    lines(stream)
    with httpx.Client(base_url=base) as client:
        client.request(method, path, **kwargs)
    (event,) = lines(stream)
    return event


@pytest.mark.parametrize(
    ("path", "kwargs", "outcome", "reason", "scheme", "subject"),
    [
        ("/public", {}, "allowed", "public", None, None),
        ("/optional", {}, "allowed", "anonymous", None, None),
        (
            "/me",
            {"headers": {"Authorization": f"Bearer {token()}"}},
            "allowed",
            "authenticated",
            "OAuth2PasswordBearer",
            "alice",
        ),
        ("/extract", {"headers": {"X-Raw": "anything"}}, "allowed", "unverified", "Raw", None),
        ("/me", {}, "401", "missing", "OAuth2PasswordBearer", None),
        ("/basic", {"headers": {"Authorization": "Basic !!!not-base64"}}, "401", "malformed", "HTTPBasic", None),
        (
            "/me",
            {"headers": {"Authorization": "Bearer not.a.jwt"}},
            "401",
            "invalid_credentials",
            "OAuth2PasswordBearer",
            None,
        ),
        (
            "/admin",
            {"headers": {"Authorization": f"Bearer {token()}"}},
            "403",
            "insufficient_scope",
            "OAuth2PasswordBearer",
            None,
        ),
        (
            "/me",
            {"headers": [("Authorization", "Bearer a"), ("Authorization", "Bearer b")]},
            "400",
            "ambiguous",
            "OAuth2PasswordBearer",
            None,
        ),
        (
            "/me",
            {"headers": {"Authorization": "Bearer " + "x" * 9000}},
            "431",
            "header_too_large",
            "OAuth2PasswordBearer",
            None,
        ),
        ("/" + "p" * 9000, {}, "414", "target_too_long", None, None),
        ("/limited", {"headers": {"X-Limited": "k"}}, "429", "too_many_attempts", "Limited", None),
        ("/down", {"headers": {"Authorization": f"Bearer {RS256_SHAPED}"}}, "503", "unavailable", "Down", None),
        ("/keys", {}, "401", "missing", None, None),
    ],
)
def test_each_outcome_is_one_json_line(
    audited: Any, path: str, kwargs: dict[str, Any], outcome: str, reason: str, scheme: str | None, subject: str | None
) -> None:
    event = one_event(audited, "GET", path, **kwargs)
    assert (event["outcome"], event["reason"], event["scheme"], event["subject"]) == (outcome, reason, scheme, subject)
    assert event["status"] == (None if outcome == "allowed" else int(outcome))
    assert event["method"] == "GET"
    assert event["connection"] == "http"
    assert event["client"] == "127.0.0.1"
    assert event["duration"] >= 0
    assert abs(event["timestamp"] - time.time()) < 600
    assert set(event) == set(DecisionEvent._fields)


def test_the_rule_is_the_template_not_the_path(audited: Any) -> None:
    app_rule = one_event(audited, "GET", "/me", headers={"Authorization": f"Bearer {token()}"})["rule"]
    assert app_rule == "/me"
    assert one_event(audited, "GET", "/unmatched/alice@example.com")["rule"] is None


def test_a_target_that_is_not_origin_form_is_a_bad_request() -> None:
    """uvicorn rewrites an absolute-form target to its path; servers that pass `*` or a
    relative target through (a raw scope here) get the guard's 400."""
    got: list[DecisionEvent] = []
    guard = aa.AuthMiddleware(make_app(), aa.AuthPolicy(RULES, default=bearer), on_decision=got.append)
    assert call(guard, asgi_scope("*"))[0]["status"] == 400
    assert [(e.outcome, e.reason, e.rule, e.client) for e in got] == [("400", "bad_request", None, "10.0.0.1")]


# -- no secret, for any scheme ---------------------------------------------------------------


def digest_header(client: httpx.Client, path: str, password: str) -> httpx.Response:
    return client.get(path, auth=httpx.DigestAuth("mufasa", password))


def test_no_credential_appears_in_any_event_or_log(caplog: pytest.LogCaptureFixture) -> None:
    """Each scheme's secret, accepted and refused, in the events and in asgi_auth's log
    records (httpx and uvicorn's access log print the query string: theirs, not ours)."""
    seen: list[DecisionEvent] = []
    bearer_token = token()
    wrong_token = token(sub="mallory") + "tampered"
    secrets = [bearer_token, wrong_token, PASSWORD, "wrong-password-xyz", API_KEY, "wrong-key-xyz", DIGEST_PASSWORD]
    basic_value = base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    wrong_basic = base64.b64encode(b"bob:wrong-password-xyz").decode()
    secrets += [basic_value, wrong_basic]
    digest_responses: list[str] = []

    def record(request: httpx.Request) -> None:
        value = request.headers.get("authorization", "")
        if value.startswith("Digest "):
            digest_responses.append(value)

    caplog.set_level(logging.DEBUG)
    with (
        serve(make_app(on_decision=seen.append)) as base,
        httpx.Client(base_url=base, event_hooks={"request": [record]}) as c,
    ):
        assert c.get("/me", headers={"Authorization": f"Bearer {bearer_token}"}).status_code == 200
        assert c.get("/me", headers={"Authorization": f"Bearer {wrong_token}"}).status_code == 401
        assert c.get("/basic", auth=("bob", PASSWORD)).status_code == 200
        assert c.get("/basic", auth=("bob", "wrong-password-xyz")).status_code == 401
        for key, status in ((API_KEY, 200), ("wrong-key-xyz", 401)):
            assert c.get("/keys", headers={"X-API-Key": key}).status_code == status
            assert c.get("/keys", params={"api_key": key}).status_code == status
            assert c.get("/keys", headers={"Cookie": f"session={key}"}).status_code == status
        assert digest_header(c, "/digest", DIGEST_PASSWORD).status_code == 200
        assert digest_header(c, "/digest", "wrong-password-xyz").status_code == 401
    # The Digest `response=` values (and the whole header) the client sent:
    secrets += [v.split('response="')[1].split('"')[0] for v in digest_responses if 'response="' in v]
    assert len(digest_responses) >= 2
    assert len(seen) == 14  # each Digest exchange is a 401 challenge, then the answer
    assert {e.outcome for e in seen} == {"allowed", "401"}
    dumped = "\n".join(
        [
            *(json.dumps(e.as_dict()) + repr(e) for e in seen),
            *(r.getMessage() for r in caplog.records if r.name.startswith("asgi_auth")),
        ]
    )
    for secret in secrets:
        assert secret not in dumped
    assert {e.subject for e in seen if e.allowed} == {"alice", "bob", "svc", "mufasa"}


# -- when hooks run, and what their failures do -----------------------------------------------


def asgi_scope(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "root_path": "",
        "query_string": b"",
        "headers": headers or [],
        "client": ("10.0.0.1", 1234),
    }


def call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_a_sync_hook_runs_before_the_app_and_an_async_hook_after_the_response() -> None:
    order: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        order.append("app")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
        order.append("app done")

    def now(event: DecisionEvent) -> None:
        order.append(f"sync {event.outcome}")

    async def later(event: DecisionEvent) -> None:
        await asyncio.sleep(0)
        order.append(f"async {event.outcome}")

    policy = aa.AuthPolicy(RULES, default=bearer, on_decision=[later, now])
    guard = aa.AuthMiddleware(inner, policy)
    call(guard, asgi_scope("/public"))
    assert order == ["sync allowed", "app", "app done", "async allowed"]
    order.clear()
    sent = call(guard, asgi_scope("/me"))
    assert order == ["sync 401", "async 401"]
    assert sent[0]["status"] == 401 and sent[-1]["type"] == "http.response.body"


def test_an_async_hook_is_awaited_even_when_the_app_raises() -> None:
    got: list[DecisionEvent] = []

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("app bug")

    async def hook(event: DecisionEvent) -> None:
        got.append(event)

    guard = aa.AuthMiddleware(broken, aa.AuthPolicy(RULES, default=bearer), on_decision=hook)
    with pytest.raises(RuntimeError, match="app bug"):
        call(guard, asgi_scope("/public"))
    assert [e.reason for e in got] == ["public"]


def test_a_failing_hook_is_logged_and_the_response_is_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    def sync_boom(event: DecisionEvent) -> None:
        raise ValueError("sync hook bug")

    async def async_boom(event: DecisionEvent) -> None:
        raise ValueError("async hook bug")

    with serve(make_app(on_decision=[sync_boom, async_boom])) as base, httpx.Client(base_url=base) as c:
        assert c.get("/public").status_code == 200
        assert c.get("/me").status_code == 401
        assert c.get("/me", headers={"Authorization": f"Bearer {token()}"}).json() == {"ok": True}
    failures = [r for r in caplog.records if "on_decision hook" in r.getMessage()]
    assert len(failures) == 6
    assert {str(r.exc_info[1]) for r in failures if r.exc_info} == {"sync hook bug", "async hook bug"}


def test_a_sync_hook_that_returns_a_coroutine_is_refused_loudly(caplog: pytest.LogCaptureFixture) -> None:
    async def hook(event: DecisionEvent) -> None:
        raise AssertionError("never awaited")

    guard = aa.AuthMiddleware(make_app(), aa.AuthPolicy(RULES, default=bearer), on_decision=lambda e: hook(e))
    call(guard, asgi_scope("/me"))
    assert any("returned an awaitable" in r.getMessage() for r in caplog.records)


def test_the_middlewares_hook_replaces_the_policys() -> None:
    policy_seen: list[DecisionEvent] = []
    middleware_seen: list[DecisionEvent] = []
    policy = aa.AuthPolicy(RULES, default=bearer, on_decision=policy_seen.append)
    reporting = aa.AuthMiddleware(make_app(), policy)
    assert isinstance(reporting, aa.AuthMiddleware)
    call(reporting, asgi_scope("/me"))
    call(aa.AuthMiddleware(make_app(), policy, on_decision=middleware_seen.append), asgi_scope("/me"))
    assert len(policy_seen) == 1 and len(middleware_seen) == 1


def test_an_empty_list_of_hooks_is_no_hook() -> None:
    assert (
        type(aa.AuthMiddleware(make_app(), aa.AuthPolicy(RULES, default=bearer), on_decision=[])) is aa.AuthMiddleware
    )


def test_a_hook_that_is_not_callable_is_a_start_up_error() -> None:
    with pytest.raises(aa.ConfigurationError, match="not callable"):
        aa.AuthMiddleware(make_app(), aa.AuthPolicy(RULES, default=bearer), on_decision=["audit.log"])  # type: ignore[list-item]


def test_events_are_immutable() -> None:
    got: list[DecisionEvent] = []
    call(aa.AuthMiddleware(make_app(), aa.AuthPolicy(RULES, default=bearer), on_decision=got.append), asgi_scope("/me"))
    with pytest.raises(AttributeError):
        got[0].subject = "root"  # type: ignore[misc]


def test_without_a_hook_no_event_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot path without `on_decision` never reaches the event code."""

    def fail(*args: Any) -> None:
        raise AssertionError("an event was built without a hook")

    monkeypatch.setattr("asgi_auth.middleware.allowed_event", fail)
    monkeypatch.setattr("asgi_auth.middleware.refused_event", fail)
    guard = aa.AuthMiddleware(make_app(), aa.AuthPolicy(RULES, default=bearer))
    assert type(guard) is aa.AuthMiddleware  # the reporting one is chosen only with a hook
    assert call(guard, asgi_scope("/me"))[0]["status"] == 401
    good = [(b"authorization", f"Bearer {token()}".encode())]
    assert call(guard, asgi_scope("/me", good))[0]["status"] == 200


def test_json_audit_log_to_a_logger(caplog: pytest.LogCaptureFixture) -> None:
    audit = logging.getLogger("test.audit")
    caplog.set_level(logging.INFO, logger="test.audit")
    guard = aa.AuthMiddleware(make_app(), aa.AuthPolicy(RULES, default=bearer), on_decision=JSONAuditLog(audit))
    call(guard, asgi_scope("/admin", [(b"authorization", f"Bearer {token()}".encode())]))
    (record,) = [r for r in caplog.records if r.name == "test.audit"]
    assert record.levelno == logging.INFO
    assert json.loads(record.getMessage())["reason"] == "insufficient_scope"


def test_websocket_handshakes_are_events_too() -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    app = FastAPI()

    @app.websocket("/me")
    async def ws(socket: WebSocket) -> None:
        await socket.accept()
        await socket.send_text("hi")
        await socket.close()

    got: list[DecisionEvent] = []
    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(RULES, default=bearer), on_decision=got.append)
    with serve(app) as base:
        url = base.replace("http", "ws") + "/me"
        with pytest.raises(InvalidStatus):
            connect(url, open_timeout=10).close()
        with connect(url, additional_headers={"Authorization": f"Bearer {token()}"}, open_timeout=10) as ws_client:
            assert ws_client.recv(timeout=10) == "hi"
    assert [(e.connection, e.outcome, e.subject) for e in got] == [
        ("websocket", "401", None),
        ("websocket", "allowed", "alice"),
    ]


def test_litestars_plugin_reports_each_request_once() -> None:
    """The plugin's guard and its backstop share the policy: one event per request."""
    from litestar import Litestar, get
    from litestar.testing import TestClient

    from asgi_auth.integrations.litestar import AuthPlugin

    @get("/me", sync_to_thread=False)
    def me() -> dict[str, str]:
        return {"ok": "yes"}

    got: list[DecisionEvent] = []
    policy = aa.AuthPolicy([aa.Rule("/me", require={bearer: ["me"]})], default=bearer, on_decision=got.append)
    with TestClient(Litestar(route_handlers=[me], plugins=[AuthPlugin(policy)])) as client:
        assert client.get("/me").status_code == 401
        assert client.get("/me", headers={"Authorization": f"Bearer {token()}"}).status_code == 200
    assert [(e.outcome, e.rule, e.subject) for e in got] == [("401", "/me", None), ("allowed", "/me", "alice")]


def test_failure_limit_refusals_are_too_many_attempts() -> None:
    """The policy's own brute-force limit (429) is reported as such, over uvicorn."""
    got: list[DecisionEvent] = []
    policy = aa.AuthPolicy(
        [], default=basic, failure_limit=aa.FailureLimit(attempts=2, window=60), on_decision=got.append
    )
    app = FastAPI()

    @app.get("/")
    def root() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(aa.AuthMiddleware, policy=policy)
    with serve(app) as base, httpx.Client(base_url=base) as client:
        statuses = [client.get("/", auth=("bob", f"wrong-{i}")).status_code for i in range(3)]
    assert statuses == [401, 401, 429]
    assert [(e.outcome, e.reason) for e in got] == [
        ("401", "invalid_credentials"),
        ("401", "invalid_credentials"),
        ("429", "too_many_attempts"),
    ]


def test_a_reporting_middleware_answers_exactly_as_the_plain_one() -> None:
    """A hook only listens: with one, every kind of request is answered byte for byte as
    without (RFC 9728 metadata and its challenges included)."""
    resource = aa.ProtectedResource("https://api.example.com", authorization_servers=["https://idp.example.com"])
    api = aa.OAuth2PasswordBearer(
        tokenUrl="token",
        scopes={"me": "", "admin": ""},
        scheme_name="Api",
        verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"], audience="https://api.example.com"),
    )
    rules = [
        aa.Rule("/public", require=[]),
        aa.Rule("/optional", require=[{}, api]),
        aa.Rule("/me", require={api: ["me"]}),
        aa.Rule("/admin", require={api: ["admin"]}),
        aa.Rule("/basic", require=basic),
        aa.Rule("/keys", require=[header_key, query_key, cookie_key]),
    ]
    good = f"Bearer {token(aud='https://api.example.com')}".encode()
    cases = [
        ("/public", []),
        ("/optional", []),
        ("/me", []),
        ("/me", [(b"authorization", good)]),
        ("/me", [(b"authorization", b"Bearer bad")]),
        ("/admin", [(b"authorization", good)]),
        ("/me", [(b"authorization", good), (b"authorization", good)]),
        ("/basic", [(b"authorization", b"Basic !!!")]),
        ("/keys", [(b"x-api-key", API_KEY.encode())]),
        ("/.well-known/oauth-protected-resource", []),
        ("*", []),
    ]

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        body = json.dumps({"user": str(scope["user"].display_name), "rule": scope["state"]["auth"].rule})
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body.encode()})

    def answers(**hooks: Any) -> list[list[dict[str, Any]]]:
        policy = aa.AuthPolicy(rules, default=api, resource=resource)
        guard = aa.AuthMiddleware(inner, policy, **hooks)
        return [call(guard, asgi_scope(path, headers)) for path, headers in cases]

    got: list[DecisionEvent] = []
    plain, reporting = answers(), answers(on_decision=got.append)
    assert reporting == plain
    assert [m[0]["status"] for m in plain] == [200, 200, 401, 200, 401, 403, 400, 401, 200, 200, 400]
    assert len(got) == len(cases) - 1  # the metadata document is served, not decided
