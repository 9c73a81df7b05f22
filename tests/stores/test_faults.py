"""Faults with four workers on one Redis (issue 20): Redis stopped mid-run, slowed past
the deadline by a loopback proxy, answering garbage, then restarted. Requests that need Redis get 503,
never a pass and never a 500; those that do not are untouched; recovery is by itself.
The figures are printed (`-s`) and written in docs/security.md."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest

from tests.stores import workers as config
from tests.stores.servers import Proxy, RedisServer, redis_server
from tests.stores.workers import separate_workers

ROUNDS = 12  # requests per worker and route in each phase


@dataclass
class Deployment:
    redis: RedisServer
    proxy: Proxy
    urls: list[str]
    log: Path  # every worker's stderr: each store fault is logged there with its type

    def mark(self) -> int:
        return self.log.stat().st_size

    def faults_since(self, mark: int) -> list[str]:
        """What the workers logged after `mark`: why a request was refused where none should be."""
        with self.log.open("rb") as log:
            log.seek(mark)
            return log.read().decode(errors="replace").splitlines()[-20:]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    # The proxy runs in its own process (tests.stores.proxy): in this one it shared the
    # interpreter lock and the collector with the whole session, and a clean clone's runs
    # saw, now and then, one 503 well after recovery (on Basic, on Digest), unexplained by
    # the faults made; the workers' logs now say what each such refusal met. The deadline
    # (1 s) leaves a loaded machine room.
    log = tmp_path_factory.mktemp("faults") / "workers.log"
    with redis_server() as redis, log.open("wb") as stderr:
        proxy = Proxy(redis.port)
        try:
            with separate_workers(
                proxy.url, stderr=stderr, ASGI_AUTH_TEST_DEADLINE="1.0", ASGI_AUTH_TEST_REPORT_ALL="1"
            ) as urls:
                yield Deployment(redis, proxy, urls, log)
        finally:
            proxy.close()


def phase(urls: list[str], token: str, revoked: str, odd: list[str] | None = None) -> dict[str, Counter[int]]:
    """Each route on each worker, `ROUNDS` times: the statuses seen. Into `odd`, if given,
    when and where each refusal of a request that should pass was seen."""
    seen: dict[str, Counter[int]] = {name: Counter() for name in ("digest", "jwt", "revoked", "basic", "public")}
    with httpx.Client(timeout=10) as client:
        for _ in range(ROUNDS):
            for url in urls:
                answers = {
                    "digest": client.get(url + "/digest", auth=httpx.DigestAuth("alice", "wonderland")),
                    "jwt": client.get(url + "/jwt", headers={"Authorization": f"Bearer {token}"}),
                    "revoked": client.get(url + "/jwt", headers={"Authorization": f"Bearer {revoked}"}),
                    "basic": client.get(url + "/basic", auth=httpx.BasicAuth("alice", "wonderland")),
                    "public": client.get(url + "/public"),
                }
                for route, answer in answers.items():
                    seen[route][answer.status_code] += 1
                    if odd is not None and route != "revoked" and answer.status_code != 200:
                        worker = answer.headers.get("x-worker", url)
                        odd.append(f"{time.time():.3f} worker {worker}: {route} {answer.status_code}")
    return seen


def recovery(urls: list[str], token: str, streak: int = 5) -> float:
    """Seconds until every worker answers each kind of Redis-backed request with 200,
    `streak` times in a row: a Digest one (the nonce count, read per request), a JWT one
    (the revocation copy, refreshed in the background, so it can come back a little after
    the first) and a Basic one (the failure limit). In a row, so that one lucky answer
    from a worker still recovering is not taken for its recovery. (A pooled connection
    the fault broke costs no request a 503: the command is sent again on a new one,
    which `tests/stores/test_redis_store.py` checks on its own.)"""
    started = time.monotonic()
    with httpx.Client(timeout=10) as client:
        for url in urls:
            good = 0
            while good < streak:
                answers = (
                    client.get(url + "/digest", auth=httpx.DigestAuth("alice", "wonderland")).status_code,
                    client.get(url + "/jwt", headers={"Authorization": f"Bearer {token}"}).status_code,
                    client.get(url + "/basic", auth=httpx.BasicAuth("alice", "wonderland")).status_code,
                )
                if answers == (200, 200, 200):
                    good += 1
                    continue
                good = 0
                assert time.monotonic() - started < 30, ("no recovery", answers)
                time.sleep(0.05)
    return time.monotonic() - started


def token(jti: str) -> str:
    claims = {"iss": config.ISSUER, "sub": "alice", "jti": jti, "exp": int(time.time()) + 600}
    return jwt.encode(claims, config.JWT_SECRET, algorithm="HS256")


def test_redis_down_slow_and_back(deployment: Deployment) -> None:
    redis, proxy, urls = deployment.redis, deployment.proxy, deployment.urls
    good, revoked = token("good"), token("revoked")
    assert httpx.post(urls[0] + "/revoke", params={"jti": "revoked"}).status_code == 200
    time.sleep(config.STALENESS)
    figures = {}

    mark, odd = deployment.mark(), []
    normal = phase(urls, good, revoked, odd)
    faults = odd + deployment.faults_since(mark)
    for route in ("digest", "jwt", "basic", "public"):
        assert normal[route] == {200: ROUNDS * 4}, (route, normal, faults)
    assert normal["revoked"] == {401: ROUNDS * 4}, (normal, faults)

    redis.stop()
    time.sleep(config.STALENESS + 0.2)  # every revocation copy is now past its bound
    down = phase(urls, good, revoked)
    figures["down"] = down
    restarted = time.monotonic()
    redis.start()
    figures["recovery after restart (s)"] = recovery(urls, good)
    figures["restart to recovered (s)"] = time.monotonic() - restarted

    proxy.delay = 2.0  # every answer later than the workers' 1 s deadline (which leaves a loaded machine room)
    time.sleep(config.STALENESS + 0.2)
    slow = phase(urls, good, revoked)
    figures["slow"] = slow
    proxy.delay = 0.0
    figures["recovery after slowness (s)"] = recovery(urls, good)

    proxy.garbage = True  # every command answered with bytes that are not RESP
    proxy.cut()
    time.sleep(config.STALENESS + 0.2)
    garbage = phase(urls, good, revoked)
    figures["garbage"] = garbage
    proxy.garbage = False
    proxy.cut()
    figures["recovery after garbage (s)"] = recovery(urls, good)

    mark, odd = deployment.mark(), []
    after = phase(urls, good, revoked, odd)  # Redis came back empty: the workers wrote their revocations back
    faults = odd + deployment.faults_since(mark)
    assert after["revoked"] == {401: ROUNDS * 4}, (after, faults)
    for route in ("digest", "jwt", "basic", "public"):
        assert after[route] == {200: ROUNDS * 4}, (route, after, faults)

    for name, seen in (("down", down), ("slow", slow), ("garbage", garbage)):
        for route in ("digest", "jwt", "revoked", "basic"):
            assert 200 not in seen[route], (name, route, seen[route])  # never a pass
            assert 500 not in seen[route]
        assert seen["digest"][503] == ROUNDS * 4  # the challenge needs no Redis; the answer does
        assert seen["jwt"] == seen["revoked"] == seen["basic"] == {503: ROUNDS * 4}
        assert seen["public"] == {200: ROUNDS * 4}  # untouched
    print("\nfault figures:", {k: dict(v) if isinstance(v, dict) else round(v, 2) for k, v in figures.items()})
