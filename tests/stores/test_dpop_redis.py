"""DPoP proofs' `jti`s on Redis (issue 20): a proof accepted by one worker is refused
by another, and a Redis that cannot answer is a 503, never a pass."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.testclient import TestClient

from asgi_auth.redis_store import RedisBackend, RedisReplayCache
from tests.schemes.test_dpop import client, dpop_headers, proof, token
from tests.stores.servers import RedisServer


@contextmanager
def worker(redis_url: str) -> Iterator[TestClient]:
    """One app with its own connection pool on the shared Redis, as a worker has."""
    backend = RedisBackend(redis_url, deadline=0.5)
    with client(replay_cache=RedisReplayCache(backend)) as c:
        yield c
        c.portal.call(backend.aclose)  # type: ignore[union-attr]  # on the loop that made it


def test_a_proof_used_on_one_worker_is_refused_by_another(redis: RedisServer) -> None:
    redis.flush()
    with worker(redis.url) as one, worker(redis.url) as other:
        tok = token()
        good = proof(tok)
        assert one.get("/items", headers=dpop_headers(tok, good)).status_code == 200
        assert other.get("/items", headers=dpop_headers(tok, good)).status_code == 401
        assert one.get("/items", headers=dpop_headers(tok, good)).status_code == 401
        assert other.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200


def test_a_replay_cache_that_cannot_answer_is_a_503(redis: RedisServer) -> None:
    with worker(redis.url) as one:
        tok = token()
        assert one.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200
        redis.stop()
        try:
            assert one.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 503
        finally:
            redis.start()
        assert one.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200
