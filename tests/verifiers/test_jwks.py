"""JWKS fetching against a real HTTP server on loopback, with injected faults."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import jwt
import pytest

import asgi_auth as aa
from tests.loopback import serve
from tests.verifiers.keys import ec_key, jwk, rsa_key

pytestmark = pytest.mark.anyio


class KeyServer:
    """An identity provider's JWKS endpoint whose behaviour the test controls."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = [jwk(rsa_key(), "k1", "RS256")]
        self.mode = "ok"
        self.max_age = 300
        self.hits = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.hits += 1
        status, body = 200, json.dumps({"keys": self.keys}).encode()
        if self.mode == "500":
            status, body = 500, b"oops"
        elif self.mode == "malformed":
            body = b"{not json"
        elif self.mode == "empty":
            body = b'{"keys": []}'
        elif self.mode == "slow":
            await anyio.sleep(4)  # well past the clients' 1.5 s deadline, however loaded the machine
        headers = [(b"content-type", b"application/json"), (b"cache-control", f"max-age={self.max_age}".encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@pytest.fixture
def provider() -> Iterator[tuple[KeyServer, str]]:
    server = KeyServer()
    with serve(server) as url:
        yield server, url + "/jwks"


def token(kid: str = "k1", key: Any = None, alg: str = "RS256") -> str:
    claims = {"sub": "u", "exp": int(time.time()) + 600, "scope": "me"}
    return jwt.encode(claims, key or rsa_key(), algorithm=alg, headers={"kid": kid})


def verifier(url: str, **options: Any) -> aa.JWTVerifier:
    return aa.JWTVerifier(
        jwks=aa.JWKSClient(url, **options), algorithms=["RS256", "ES256"], cache=options.pop("cache", True)
    )


async def test_fetches_once_and_verifies(provider: tuple[KeyServer, str]) -> None:
    server, url = provider
    v = verifier(url)
    for _ in range(5):
        assert await v(token()) is not None
    assert server.hits == 1


async def test_verify_inline_waits_only_for_keys(provider: tuple[KeyServer, str]) -> None:
    server, url = provider
    v = verifier(url)
    first, second = token(), token(alg="ES256", kid="k1", key=ec_key())
    pending = v.verify_inline(first)
    assert hasattr(pending, "__await__") and server.hits == 0  # keys must be fetched
    principal = await pending
    assert principal is not None and v.verify_inline(first) is principal  # then at once
    other = v.verify_inline(second)  # a new token's key is looked up, and may need a fetch
    assert hasattr(other, "__await__") and await other is None  # k1 is an RSA key
    assert server.hits == 1


async def test_cold_storm_of_1000_concurrent_requests_makes_one_fetch(provider: tuple[KeyServer, str]) -> None:
    server, url = provider
    v = aa.JWTVerifier(jwks=aa.JWKSClient(url), algorithms=["RS256"], cache=False)
    results: list[Any] = []
    t = token()

    async def one() -> None:
        results.append(await v(t))

    async with anyio.create_task_group() as tg:
        for _ in range(1000):
            tg.start_soon(one)
    assert server.hits == 1
    assert len(results) == 1000 and all(r is not None for r in results)


async def test_unknown_kid_storm_makes_exactly_one_fetch(provider: tuple[KeyServer, str]) -> None:
    server, url = provider
    v = aa.JWTVerifier(jwks=aa.JWKSClient(url, cooldown=0.5), algorithms=["RS256"], cache=False)
    assert await v(token()) is not None
    assert await v(token(kid="too-soon")) is None
    assert server.hits == 1  # within the cool-down of the first fetch: no refresh
    await anyio.sleep(0.6)
    forged = [token(kid=f"forged-{i}") for i in range(1000)]
    results: list[Any] = []

    async def one(t: str) -> None:
        results.append(await v(t))

    async with anyio.create_task_group() as tg:
        for t in forged:
            tg.start_soon(one, t)
    assert server.hits == 2  # one refresh for the whole storm, then the cool-down holds
    assert results == [None] * 1000
    assert await v(token()) is not None  # the known key still works


async def test_rotation_is_picked_up_on_unknown_kid(provider: tuple[KeyServer, str]) -> None:
    server, url = provider
    v = aa.JWTVerifier(jwks=aa.JWKSClient(url, cooldown=0), algorithms=["RS256", "ES256"])
    assert await v(token()) is not None
    server.keys = [jwk(ec_key(), "k2", "ES256")]
    assert await v(token(kid="k2", key=ec_key(), alg="ES256")) is not None
    assert server.hits == 2


@pytest.mark.parametrize("mode", ["500", "malformed", "empty", "slow"])
async def test_outage_before_any_key_is_503_never_a_pass(provider: tuple[KeyServer, str], mode: str) -> None:
    server, url = provider
    server.mode = mode
    v = aa.JWTVerifier(jwks=aa.JWKSClient(url, timeout=1.5), algorithms=["RS256"])
    bearer = aa.HTTPBearer(verifier=v)
    from tests.conftest import Recorder, client_for

    inner = Recorder()
    async with client_for(aa.AuthMiddleware(inner, aa.AuthPolicy([], default=bearer))) as client:
        r = await client.get("/", headers={"Authorization": f"Bearer {token()}"})
    assert (r.status_code, r.json()) == (503, {"detail": "Signing keys are unavailable"})
    assert inner.scopes == []


@pytest.mark.parametrize("mode", ["500", "malformed", "slow"])
async def test_outage_after_load_keeps_old_keys(provider: tuple[KeyServer, str], mode: str) -> None:
    server, url = provider
    server.max_age = 0
    v = aa.JWTVerifier(jwks=aa.JWKSClient(url, min_ttl=0, cooldown=0, timeout=1.5), algorithms=["RS256"], cache=False)
    assert await v(token()) is not None
    server.mode = mode
    assert await v(token()) is not None  # refresh failed, old key kept
    assert await v(token(kid="unknown")) is None  # and unknown kids are 401, not 503
    assert server.hits >= 2


async def test_cache_control_max_age_is_honoured_with_floor_and_ceiling(provider: tuple[KeyServer, str]) -> None:
    server, url = provider
    server.max_age = 1
    client = aa.JWKSClient(url, min_ttl=0.5, max_ttl=100)
    await client.get_key("k1")
    await client.get_key("k1")
    assert server.hits == 1
    await anyio.sleep(1.1)
    await client.get_key("k1")
    assert server.hits == 2
    server.max_age = 10**9
    floor = aa.JWKSClient(url, min_ttl=0, max_ttl=0.2)
    await floor.get_key("k1")
    await anyio.sleep(0.3)
    await floor.get_key("k1")
    assert server.hits == 4  # the ceiling cut a huge max-age down
