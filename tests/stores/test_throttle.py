"""Brute-force limits (issue 20): 429 after N failed attempts per identity and per
address, decided before the verifier runs; successes never count."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

import asgi_auth as aa
from asgi_auth.redis_store import RedisBackend, RedisFailureCounter
from tests.conftest import Recorder
from tests.stores.servers import RedisServer

pytestmark = pytest.mark.anyio

PASSWORDS = {"alice": "wonderland", "bob": "builder"}


class Counting:
    """A Basic verifier that counts its calls (each would be a password hash)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    async def __call__(self, credentials: aa.HTTPBasicCredentials) -> aa.Principal | None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if PASSWORDS.get(credentials.username) == credentials.password:
            return aa.Principal(credentials.username)
        return None


def app_with(limit: aa.FailureLimit, verifier: Any, **extra: Any) -> aa.AuthMiddleware:
    basic = aa.HTTPBasic(verifier=verifier)
    key = aa.APIKeyHeader(name="X-Key", verifier=lambda k: aa.Principal("k") if k == "good" else None)
    policy = aa.AuthPolicy(
        [aa.Rule("/public", require=[]), aa.Rule("/key", require=key), aa.Rule("/either", require=[basic, key])],
        default=basic,
        failure_limit=limit,
        **extra,
    )
    return aa.AuthMiddleware(Recorder(), policy=policy)


def client(app: Any, address: str = "192.0.2.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 5000)), base_url="http://t")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_after_n_failures_429_with_retry_after_and_the_verifier_is_not_asked() -> None:
    verifier = Counting()
    app = app_with(aa.FailureLimit(attempts=3, window=60), verifier)
    async with client(app) as c:
        statuses = [(await c.get("/", headers=basic("alice", "guess"))).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        refused = await c.get("/", headers=basic("alice", "wonderland"))  # even the right password
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Too many failed attempts"}
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "www-authenticate" not in refused.headers
        assert verifier.calls == 3
        assert (await c.get("/public")).status_code == 200  # a route that verifies nothing is untouched
    async with client(app, "198.51.100.7") as other:
        assert (await other.get("/", headers=basic("bob", "builder"))).status_code == 200
        assert (await other.get("/", headers=basic("alice", "wonderland"))).status_code == 429  # the identity


async def test_successful_logins_never_count() -> None:
    verifier = Counting()
    app = app_with(aa.FailureLimit(attempts=2, window=60), verifier)
    async with client(app) as c:
        for _ in range(10):
            assert (await c.get("/", headers=basic("alice", "wonderland"))).status_code == 200
        assert (await c.get("/", headers=basic("alice", "nope"))).status_code == 401
        for _ in range(10):
            assert (await c.get("/", headers=basic("alice", "wonderland"))).status_code == 200
        assert (await c.get("/", headers=basic("alice", "nope"))).status_code == 401
        assert (await c.get("/", headers=basic("alice", "wonderland"))).status_code == 429


async def test_a_password_sprayed_over_many_users_is_stopped_by_the_address() -> None:
    app = app_with(aa.FailureLimit(attempts=4, window=60), Counting())
    async with client(app) as c:
        statuses = [(await c.get("/", headers=basic(f"user{i}", "Summer2026"))).status_code for i in range(6)]
        assert statuses == [401, 401, 401, 401, 429, 429]
        assert (await c.get("/key", headers={"X-Key": "bad"})).status_code == 429  # per address, every scheme
    async with client(app, "2001:db8::1") as v6, client(app, "2001:db8::2") as same_64:
        for _ in range(4):
            assert (await v6.get("/key", headers={"X-Key": "bad"})).status_code == 401
        assert (await same_64.get("/key", headers={"X-Key": "good"})).status_code == 429  # one /64, one host


async def test_attempts_that_arrive_together_are_capped_at_n() -> None:
    verifier = Counting(delay=0.05)
    app = app_with(aa.FailureLimit(attempts=5, window=60), verifier)
    async with client(app) as c:
        answers = await asyncio.gather(*(c.get("/", headers=basic("alice", f"g{i}")) for i in range(30)))
    assert verifier.calls == 5
    assert sorted(r.status_code for r in answers) == [401] * 5 + [429] * 25


async def test_schemes_left_out_of_the_limit_are_never_delayed() -> None:
    app_basic = aa.HTTPBasic(verifier=Counting())
    key = aa.APIKeyHeader(name="X-Key", verifier=lambda k: None)
    policy = aa.AuthPolicy(
        [aa.Rule("/key", require=key)], default=app_basic, failure_limit=aa.FailureLimit(2, 60, schemes=[app_basic])
    )
    app = aa.AuthMiddleware(Recorder(), policy=policy)
    async with client(app) as c:
        for _ in range(5):
            assert (await c.get("/key", headers={"X-Key": "x"})).status_code == 401
        assert (await c.get("/", headers=basic("alice", "wonderland"))).status_code == 200


async def test_a_trusted_proxy_header_names_the_address_only_when_configured() -> None:
    limit = aa.FailureLimit(attempts=2, window=60, per=["address"], address_header="X-Forwarded-For")
    app = app_with(limit, Counting())
    async with client(app, "10.0.0.1") as proxy:
        for _ in range(2):
            forged = {**basic("x", "y"), "X-Forwarded-For": "203.0.113.9, 198.51.100.1"}
            assert (await proxy.get("/", headers=forged)).status_code == 401
        # the client wrote the left entry itself; the proxy appended the right one
        blocked = {**basic("alice", "wonderland"), "X-Forwarded-For": "1.2.3.4, 198.51.100.1"}
        assert (await proxy.get("/", headers=blocked)).status_code == 429
        other = {**basic("alice", "wonderland"), "X-Forwarded-For": "198.51.100.2"}
        assert (await proxy.get("/", headers=other)).status_code == 200
    plain = app_with(aa.FailureLimit(attempts=2, window=60, per=["address"]), Counting())
    async with client(plain, "10.0.0.1") as c:
        for i in range(2):
            assert (await c.get("/", headers={**basic("x", "y"), "X-Forwarded-For": f"1.1.1.{i}"})).status_code == 401
        assert (await c.get("/", headers=basic("alice", "wonderland"))).status_code == 429  # the header is ignored


async def test_a_digest_stale_nonce_is_not_a_failed_attempt() -> None:
    digest = aa.HTTPDigest(verifier=lambda user: PASSWORDS.get(user), nonce_lifetime=0.0)
    policy = aa.AuthPolicy(default=digest, failure_limit=aa.FailureLimit(attempts=2, window=60))
    app = aa.AuthMiddleware(Recorder(), policy=policy)
    async with client(app) as c:
        for _ in range(4):  # the right password on a nonce already past its lifetime: stale, retried
            response = await c.get("/", auth=httpx.DigestAuth("alice", "wonderland"))
            assert response.status_code == 401
            assert "stale=true" in response.headers["www-authenticate"]
        for _ in range(2):
            assert (await c.get("/", auth=httpx.DigestAuth("alice", "wrong"))).status_code == 401
        assert (await c.get("/", auth=httpx.DigestAuth("alice", "wrong"))).status_code == 429


async def test_a_failure_store_that_cannot_answer_is_a_503_for_what_it_guards(redis: RedisServer) -> None:
    backend = RedisBackend(redis.url, deadline=0.3)
    app = app_with(aa.FailureLimit(attempts=3, window=60, store=RedisFailureCounter(backend)), Counting())
    try:
        async with client(app) as c:
            assert (await c.get("/", headers=basic("alice", "wonderland"))).status_code == 200
            redis.stop()
            down = await c.get("/", headers=basic("alice", "wonderland"))
            assert down.status_code == 503
            assert down.json()["detail"].endswith("unavailable")
            assert (await c.get("/public")).status_code == 200
            assert (await c.get("/")).status_code == 401  # no credentials: nothing to count
            redis.start()
            assert (await c.get("/", headers=basic("alice", "wonderland"))).status_code == 200
    finally:
        await backend.aclose()


async def test_a_requirement_of_alternatives_is_limited_per_scheme_tried() -> None:
    verifier = Counting()
    app = app_with(aa.FailureLimit(attempts=2, window=60), verifier)
    async with client(app) as c:
        for _ in range(2):
            assert (await c.get("/either", headers=basic("alice", "nope"))).status_code == 401
        refused = await c.get("/either", headers=basic("alice", "wonderland"))
        assert refused.status_code == 429
        assert verifier.calls == 2
