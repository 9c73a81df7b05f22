from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from asgi_auth.redis_store import RedisBackend
from tests.stores.servers import RedisServer, redis_server


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    """A real redis-server for this module's tests, emptied before each test."""
    with redis_server() as server:
        yield server


@pytest.fixture
async def backend(redis: RedisServer) -> AsyncIterator[RedisBackend]:
    redis.flush()
    store = RedisBackend(redis.url)
    try:
        yield store
    finally:
        await store.aclose()
