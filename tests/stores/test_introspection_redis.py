"""Introspection results shared through Redis (issue 20): a second worker skips the
POST, and a Redis that cannot answer makes the verifier ask the endpoint itself."""

from __future__ import annotations

import pytest

from asgi_auth.redis_store import RedisBackend, RedisResultCache
from tests.peers.introspection_server import AuthorizationServerPeer
from tests.stores.servers import RedisServer
from tests.verifiers.test_rfc7662 import insecure_transport, peer, verifier

__all__ = ["insecure_transport", "peer"]  # the fixtures, used by name

pytestmark = pytest.mark.anyio


async def test_a_redis_result_cache_lets_another_worker_skip_the_post(
    redis: RedisServer, peer: AuthorizationServerPeer
) -> None:
    redis.flush()
    one, other = RedisBackend(redis.url), RedisBackend(redis.url)
    try:
        first = verifier(peer, shared_cache=RedisResultCache(one))
        second = verifier(peer, shared_cache=RedisResultCache(other))
        assert await first("good") is not None
        assert await first("unknown") is None
        assert await second("good") is not None
        assert await second("unknown") is None
        assert len(peer.posts) == 2
        assert all(b"good" not in key for key in await one.client.keys("*"))
        redis.stop()
        down = RedisBackend(redis.url, deadline=0.2)
        try:
            third = verifier(peer, shared_cache=RedisResultCache(down))
            assert await third("good") is not None  # a miss: asked the endpoint, judged as ever
            assert len(peer.posts) == 3
        finally:
            redis.start()
            await down.aclose()
    finally:
        await one.aclose()
        await other.aclose()
