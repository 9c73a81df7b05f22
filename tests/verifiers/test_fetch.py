"""Key sets and discovery documents from loopback servers that answer garbage, drip
bytes or stall: a failed fetch keeps what is known, honours the cool-down, and ends,
for the request fetching and every request waiting on it, by the total deadline."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import jwt
import pytest

import asgi_auth as aa
from asgi_auth.verifiers._fetch import redact
from tests.conftest import Recorder, client_for
from tests.loopback import serve
from tests.verifiers.keys import jwk, rsa_key

pytestmark = pytest.mark.anyio
GARBAGE = [b"null", b"[]", b'{"keys": [1]}', b'{"keys": null}', b'{"keys": [{"kty": "RSA"}]}', b"{not json", b"<html>"]


class Misbehaving:
    """A key server (or discovery endpoint) whose next answers the test chooses."""

    def __init__(self) -> None:
        self.base = ""
        self.mode = "ok"
        self.garbage = b""
        self.hits = 0
        self.authorization = ""
        self.stop = threading.Event()  # ends a drip or a stall when the test is done
        self.dripping = threading.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.hits += 1
        self.authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        if self.mode == "stall":
            for _ in range(600):  # never answers, for at most a minute
                if self.stop.is_set():
                    break
                await anyio.sleep(0.1)
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"max-age=0")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if self.mode == "drip":  # a valid start, then a space every 0.5 s for up to a minute
            self.dripping.set()
            await send({"type": "http.response.body", "body": b'{"keys": [', "more_body": True})
            for _ in range(120):
                if self.stop.is_set():
                    break
                await send({"type": "http.response.body", "body": b" ", "more_body": True})
                await anyio.sleep(0.5)
            self.dripping.clear()
        body = self.garbage if self.mode == "garbage" else self.document(scope["path"])
        await send({"type": "http.response.body", "body": body})

    def document(self, path: str) -> bytes:
        if path.endswith("openid-configuration"):
            return json.dumps({"issuer": self.base, "jwks_uri": self.base + "/keys"}).encode()
        return json.dumps({"keys": [jwk(rsa_key(), "k1", "RS256")]}).encode()


@pytest.fixture
def server() -> Iterator[Misbehaving]:
    s = Misbehaving()
    with serve(s) as url:
        s.base = url
        try:
            yield s
        finally:
            s.stop.set()


def token(kid: str = "k1", **extra: Any) -> str:
    claims = {"sub": "u", "aud": "api", "exp": int(time.time()) + 600, **extra}
    return jwt.encode(claims, rsa_key(), algorithm="RS256", headers={"kid": kid})


def jwks_verifier(server: Misbehaving, **options: Any) -> aa.JWTVerifier:
    client = aa.JWKSClient(server.base + "/keys", min_ttl=0, **options)
    return aa.JWTVerifier(jwks=client, algorithms=["RS256"], audience="api", cache=False)


async def statuses(verifier: Any, tokens: list[str]) -> list[int]:
    """Send each token, all at once, through the middleware; their statuses."""
    bearer = aa.HTTPBearer(verifier=verifier)
    inner = Recorder()
    found: list[int] = []
    async with client_for(aa.AuthMiddleware(inner, aa.AuthPolicy([], default=bearer))) as client:

        async def one(t: str) -> None:
            found.append((await client.get("/", headers={"Authorization": f"Bearer {t}"})).status_code)

        async with anyio.create_task_group() as tg:
            for t in tokens:
                tg.start_soon(one, t)
    return sorted(found)


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda b: b.decode())
async def test_a_garbage_key_set_is_a_failed_fetch_known_keys_kept_cooldown_honoured(
    server: Misbehaving, garbage: bytes
) -> None:
    v = jwks_verifier(server, cooldown=60)
    assert await v(token()) is not None and server.hits == 1
    server.mode, server.garbage = "garbage", garbage
    # max-age=0: every request finds the set expired; one refresh fails, then the
    # cool-down holds, and the known key keeps verifying.
    assert await statuses(v, [token()] * 20 + [token("unknown")] * 20) == [200] * 20 + [401] * 20
    assert server.hits == 2


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda b: b.decode())
async def test_a_garbage_key_set_before_any_key_is_503_and_not_hammered(server: Misbehaving, garbage: bytes) -> None:
    server.mode, server.garbage = "garbage", garbage
    v = jwks_verifier(server, cooldown=60)
    for _ in range(5):
        assert await statuses(v, [token()]) == [503]
    assert server.hits == 1


@pytest.mark.parametrize("mode", ["drip", "stall"])
async def test_a_dripping_or_stalled_key_server_holds_no_request_past_the_deadline(
    server: Misbehaving, mode: str
) -> None:
    """Cold: every waiting request gets 503 at the deadline, while the server still drips."""
    server.mode = mode
    v = jwks_verifier(server, timeout=1.0)
    assert await statuses(v, [token()] * 10) == [503] * 10
    assert server.hits == 1  # one fetch for all ten
    if mode == "drip":
        assert server.dripping.is_set()  # answered before the server was done


@pytest.mark.parametrize("mode", ["drip", "stall"])
async def test_after_a_load_a_dripping_server_leaves_known_keys_working(server: Misbehaving, mode: str) -> None:
    v = jwks_verifier(server, timeout=3.0, cooldown=60)  # the first load must succeed, however loaded the machine
    assert await v(token()) is not None
    server.mode = mode
    assert await statuses(v, [token()] * 5 + [token("rotated")] * 5) == [200] * 5 + [401] * 5
    assert server.hits == 2
    if mode == "drip":
        assert server.dripping.is_set()


@pytest.mark.parametrize("mode", ["drip", "stall", "garbage"])
async def test_discovery_alike(server: Misbehaving, mode: str) -> None:
    server.mode, server.garbage = mode, b'{"issuer": 1}'
    v = aa.DiscoveryVerifier(server.base + "/.well-known/openid-configuration", audience="api", timeout=1.0)
    assert await statuses(v, [token(iss=server.base)] * 5) == [503] * 5
    assert await statuses(v, [token(iss=server.base)]) == [503]  # within the cool-down: no fetch
    assert server.hits == 1
    server.mode = "ok"
    fresh = aa.DiscoveryVerifier(server.base + "/.well-known/openid-configuration", audience="api", timeout=3.0)
    assert await statuses(fresh, [token(iss=server.base)]) == [200]


async def test_a_url_with_userinfo_is_never_printed(server: Misbehaving, caplog: pytest.LogCaptureFixture) -> None:
    secret_url = server.base.replace("http://", "http://svc:hunter2@") + "/keys"
    caplog.set_level(logging.DEBUG)  # httpx too: it logs each request's URL at INFO
    server.mode, server.garbage = "garbage", b"null"
    client = aa.JWKSClient(secret_url)
    verifier = aa.JWTVerifier(jwks=client, algorithms=["RS256"])
    discovery = aa.DiscoveryVerifier(secret_url + "/.well-known/openid-configuration", audience="api")
    assert await statuses(verifier, [token()]) == [503]
    assert await statuses(discovery, [token()]) == [503]
    with pytest.raises(aa.ConfigurationError) as refused:
        aa.DiscoveryVerifier(secret_url)  # no audience
    printed = " ".join([caplog.text, repr(client), repr(verifier), repr(discovery), str(refused.value)])
    assert "JWKS refresh" in caplog.text and "discovery" in caplog.text
    assert "hunter2" not in printed and "svc" not in printed and "***@127.0.0.1" in printed
    assert redact("https://a:b@[::1]:8/x?y") == "https://***@[::1]:8/x?y"
    assert server.authorization == "Basic " + base64.b64encode(b"svc:hunter2").decode()  # still sent, as a header


def test_httpx_is_imported_by_the_first_fetching_verifier_not_by_asgi_auth() -> None:
    """An app whose keys are all given never loads httpx (nor the command line httpx
    brings, rich among it): fewer objects for every full collection to walk."""
    code = """
import asyncio, sys, time
import jwt
import asgi_auth as aa
secret = "s" * 32
bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(secret, algorithms=["HS256"], verify_audience=False))
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})
guard = aa.AuthMiddleware(app, aa.AuthPolicy([], default=bearer))
sent = []
async def receive(): return {"type": "http.request"}
async def send(m): sent.append(m)
token = jwt.encode({"sub": "a", "exp": time.time() + 60}, secret, algorithm="HS256")
scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"authorization", b"Bearer " + token.encode())]}
asyncio.run(guard(scope, receive, send))
assert sent[0]["status"] == 200, sent
assert "httpx" not in sys.modules and "rich" not in sys.modules, "imported without a fetch"
aa.JWTVerifier(jwks_url="http://127.0.0.1:9/keys", algorithms=["RS256"])
assert "httpx" in sys.modules, "a fetching verifier built without its client library"
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
