from __future__ import annotations

import time

import pytest

from asgi_auth.stores import MemoryNonceCounter

pytestmark = pytest.mark.anyio


async def test_counts_must_grow_per_nonce() -> None:
    store = MemoryNonceCounter()
    later = time.time() + 60
    assert await store.advance("n1", 1, later)
    assert not await store.advance("n1", 1, later)
    assert await store.advance("n1", 5, later)
    assert not await store.advance("n1", 3, later)
    assert await store.advance("n2", 1, later)


async def test_expired_nonces_are_forgotten_and_a_full_store_fails_closed() -> None:
    store = MemoryNonceCounter(max_entries=2)
    assert await store.advance("old", 1, time.time() - 1)
    assert await store.advance("a", 1, time.time() + 60)
    assert await store.advance("b", 1, time.time() + 60)  # "old" expired: its place is reused
    assert len(store) == 2
    assert not await store.advance("c", 1, time.time() + 60)  # full of live nonces: refuse
    assert not await store.advance("a", 1, time.time() + 60)  # and live ones still block replays
