"""JWKS as a good HTTP citizen, against a loopback key server that counts what it is
asked: `ETag` / `Last-Modified` revalidation (304s), key sets loaded at lifespan
start-up under uvicorn, and the bound on how long stale keys are used."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa
from asgi_auth.verifiers import _fetch
from tests.loopback import serve
from tests.verifiers.keys import jwk, rsa_key


class KeyServer:
    """A provider's JWKS (and discovery) endpoint, with validators, counting requests."""

    def __init__(self, *, etag: bool = True, last_modified: bool = True) -> None:
        self.version = 1
        self.etag, self.last_modified = etag, last_modified
        self.max_age = 0
        self.down = False
        self.hits: list[str] = []  # path of every request
        self.conditional: list[dict[str, str]] = []  # the validators each request sent
        self.not_modified = 0
        self.base = ""

    def validators(self) -> list[tuple[bytes, bytes]]:
        headers = []
        if self.etag:
            headers.append((b"etag", f'"v{self.version}"'.encode()))
        if self.last_modified:
            headers.append((b"last-modified", f"Tue, 01 Dec 2026 0{self.version}:00:00 GMT".encode()))
        return headers

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.hits.append(scope["path"])
        sent = {k: headers[k] for k in ("if-none-match", "if-modified-since") if k in headers}
        self.conditional.append(sent)
        if self.down:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"down"})
            return
        if scope["path"].endswith("openid-configuration"):
            body = json.dumps({"issuer": self.base, "jwks_uri": self.base + "/jwks"}).encode()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        caching = [(b"cache-control", f"max-age={self.max_age}".encode()), *self.validators()]
        current = dict((k.decode(), v.decode()) for k, v in self.validators())
        if sent and all(current.get({"if-none-match": "etag"}.get(k, "last-modified")) == v for k, v in sent.items()):
            self.not_modified += 1
            await send({"type": "http.response.start", "status": 304, "headers": caching})
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps({"keys": [jwk(rsa_key(self.version), f"k{self.version}", "RS256")]}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), *caching],
            }
        )
        await send({"type": "http.response.body", "body": body})


def token(version: int = 1, sub: str = "u", **claims: Any) -> str:
    claims.update(sub=sub, exp=int(time.time()) + 600)
    return jwt.encode(claims, rsa_key(version), algorithm="RS256", headers={"kid": f"k{version}"})


@pytest.fixture
def keys() -> Iterator[tuple[KeyServer, str]]:
    server = KeyServer()
    with serve(server) as url:
        server.base = url
        yield server, url + "/jwks"


@pytest.mark.anyio
@pytest.mark.parametrize("validators", ["etag", "last_modified", "both"])
async def test_an_expired_set_is_revalidated_and_a_304_keeps_it(validators: str) -> None:
    server = KeyServer(etag=validators != "last_modified", last_modified=validators != "etag")
    with serve(server) as url:
        client = aa.JWKSClient(url + "/jwks", min_ttl=0, cooldown=0)
        verifier = aa.JWTVerifier(jwks=client, algorithms=["RS256"], cache=False)
        assert await verifier(token()) is not None
        assert server.conditional == [{}]  # nothing known yet: an unconditional GET
        assert await verifier(token()) is not None  # max-age=0: expired, so revalidated
        expected = {}
        if validators != "last_modified":
            expected["if-none-match"] = '"v1"'
        if validators != "etag":
            expected["if-modified-since"] = "Tue, 01 Dec 2026 01:00:00 GMT"
        assert server.conditional[1] == expected
        assert (server.not_modified, client.revalidations, client.fetches) == (1, 1, 2)
        server.version = 2  # rotated: the validators no longer match, so a 200 with the new set
        assert await verifier(token(2)) is not None
        assert server.not_modified == 1 and [k.kid for k in client.keys] == ["k2"]
        assert await verifier(token(1)) is None  # the old key went with the old set


@pytest.mark.anyio
async def test_a_304_renews_freshness(keys: tuple[KeyServer, str]) -> None:
    server, url = keys
    client = aa.JWKSClient(url, min_ttl=0, cooldown=0)
    verifier = aa.JWTVerifier(jwks=client, algorithms=["RS256"], cache=False)
    assert await verifier(token()) is not None  # max-age=0
    server.max_age = 300  # the 304 says: good for five minutes
    assert await verifier(token()) is not None
    assert server.not_modified == 1
    for _ in range(5):
        assert await verifier(token()) is not None
    assert len(server.hits) == 2  # fresh again: no more requests


def app_with(verifier: Any, **options: Any) -> aa.AuthMiddleware:
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.state.auth.principal.identity})

    bearer = aa.HTTPBearer(verifier=verifier)
    return aa.AuthMiddleware(Starlette(routes=[Route("/me", me)]), aa.AuthPolicy([], default=bearer), **options)


def test_prefetch_loads_the_keys_at_startup_under_uvicorn(keys: tuple[KeyServer, str]) -> None:
    server, url = keys
    server.max_age = 300
    verifier = aa.JWTVerifier(jwks_url=url, algorithms=["RS256"])
    with serve(app_with(verifier, prefetch=True), lifespan="on") as base:
        assert server.hits == ["/jwks"]  # started: the keys are in before any request
        response = httpx.get(base + "/me", headers={"Authorization": f"Bearer {token()}"})
    assert (response.status_code, response.json()) == (200, {"sub": "u"})
    assert server.hits == ["/jwks"]  # the first request did not pay for a fetch


def test_without_prefetch_nothing_is_fetched_at_startup(keys: tuple[KeyServer, str]) -> None:
    server, url = keys
    verifier = aa.JWTVerifier(jwks_url=url, algorithms=["RS256"])
    with serve(app_with(verifier), lifespan="on") as base:
        assert server.hits == []
        assert httpx.get(base + "/me", headers={"Authorization": f"Bearer {token()}"}).status_code == 200
    assert server.hits == ["/jwks"]


def test_prefetch_reads_discovery_then_its_key_set(keys: tuple[KeyServer, str]) -> None:
    server, _ = keys
    server.max_age = 300
    verifier = aa.DiscoveryVerifier(server.base + "/.well-known/openid-configuration", verify_audience=False)
    with serve(app_with(verifier, prefetch=True), lifespan="on") as base:
        assert server.hits == ["/.well-known/openid-configuration", "/jwks"]
        response = httpx.get(base + "/me", headers={"Authorization": f"Bearer {token(iss=server.base)}"})
        assert response.status_code == 200
    assert len(server.hits) == 2


def test_a_failed_prefetch_is_logged_and_the_app_starts(
    keys: tuple[KeyServer, str], caplog: pytest.LogCaptureFixture
) -> None:
    server, url = keys
    server.down = True
    verifier = aa.JWTVerifier(jwks=aa.JWKSClient(url, cooldown=0), algorithms=["RS256"])
    with serve(app_with(verifier, prefetch=True), lifespan="on") as base:
        assert server.hits == ["/jwks"]
        assert "prefetch at start-up could not load JWTVerifier(jwks_url=JWKSClient(" in caplog.text
        down = httpx.get(base + "/me", headers={"Authorization": f"Bearer {token()}"})
        server.down = False
        up = httpx.get(base + "/me", headers={"Authorization": f"Bearer {token()}"})
    assert (down.status_code, down.json()) == (503, {"detail": "Signing keys are unavailable"})
    assert up.status_code == 200


# uvicorn ends its failed start with SystemExit in the server's thread, as it should.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_required_prefetch_that_fails_fails_startup(keys: tuple[KeyServer, str]) -> None:
    server, url = keys
    server.down = True
    verifier = aa.JWTVerifier(jwks_url=url, algorithms=["RS256"])
    with (
        pytest.raises(RuntimeError, match="uvicorn did not start"),
        serve(app_with(verifier, prefetch="required"), lifespan="on"),
    ):
        pass  # pragma: no cover - never reached
    assert server.hits == ["/jwks"]


def test_prefetch_is_checked() -> None:
    with pytest.raises(aa.ConfigurationError, match="prefetch="):
        app_with(aa.JWTVerifier(key="k" * 32, algorithms=["HS256"]), prefetch="yes")
    with pytest.raises(aa.ConfigurationError, match="max_stale"):
        aa.JWKSClient("https://example.com/jwks", max_stale=-1)


class Clock:
    """The fetcher's monotonic clock, moved by the test: no sleeping, no timing."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


def on_a_clock(
    keys: tuple[KeyServer, str], monkeypatch: pytest.MonkeyPatch, **options: Any
) -> tuple[KeyServer, Clock, aa.JWTVerifier]:
    """A verifier of the server's keys, each set fresh for 60 s, the fetcher on a `Clock`."""
    server, url = keys
    server.max_age = 60
    clock = Clock()
    monkeypatch.setattr(_fetch, "time", clock)
    client = aa.JWKSClient(url, min_ttl=0, **options)
    return server, clock, aa.JWTVerifier(jwks=client, algorithms=["RS256"], cache=False)


def test_stale_keys_are_used_up_to_max_stale_then_503(
    keys: tuple[KeyServer, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server, clock, verifier = on_a_clock(keys, monkeypatch, cooldown=5, max_stale=100)
    with serve(app_with(verifier)) as base:

        def status(sub: str) -> int:
            return httpx.get(base + "/me", headers={"Authorization": f"Bearer {token(sub=sub)}"}).status_code

        assert status("a") == 200  # t=0: fetched, fresh for 60 s
        server.down = True
        clock.now += 61
        assert status("b") == 200  # expired, the provider down: the stale keys serve
        assert "keeping the one known for 99 s more (max_stale)" in caplog.text
        clock.now += 98  # t=159: 99 s past freshness, within the bound
        assert status("c") == 200
        clock.now += 2  # t=161: past 60 + 100
        response = httpx.get(base + "/me", headers={"Authorization": f"Bearer {token(sub='d')}"})
        assert (response.status_code, response.json()) == (503, {"detail": "Signing keys are unavailable"})
        assert status("e") == 503  # within the cool-down: no fetch, still refused
        clock.now += 6
        server.down = False
        assert status("f") == 200  # back: a 304 (or a 200) renews the set
    assert server.not_modified == 1  # the provider came back with the same set


@pytest.mark.anyio
async def test_max_stale_zero_refuses_as_soon_as_a_renewal_fails(
    keys: tuple[KeyServer, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, clock, verifier = on_a_clock(keys, monkeypatch, cooldown=0, max_stale=0)
    assert await verifier(token()) is not None
    server.down = True
    clock.now += 30
    assert await verifier(token()) is not None  # still fresh: no request made
    clock.now += 31
    with pytest.raises(aa.ServiceUnavailable):
        await verifier(token())


def test_without_a_bound_stated_the_default_is_a_day() -> None:
    assert aa.JWKSClient("https://example.com/jwks").max_stale == 86_400


def test_a_304_to_an_unconditional_request_is_a_failed_fetch(caplog: pytest.LogCaptureFixture) -> None:
    async def always_304(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 304, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    caplog.set_level(logging.WARNING)
    with serve(always_304) as url:
        client = aa.JWKSClient(url + "/jwks")
        with pytest.raises(aa.ServiceUnavailable):
            anyio.run(client.prefetch)
    assert "JWKS refresh from" in caplog.text and "_FetchFailed" in caplog.text
