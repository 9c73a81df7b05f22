from __future__ import annotations

import time
import tracemalloc

import pytest

import asgi_auth as aa
from asgi_auth.stores import WINDOW, MemoryNonceCounter, NonceUse

pytestmark = pytest.mark.anyio

ACCEPTED, REPLAYED, STALE = NonceUse.ACCEPTED, NonceUse.REPLAYED, NonceUse.STALE


async def use(store: MemoryNonceCounter, nonce: str, count: int, user: str = "u", issued: float = 0.0) -> NonceUse:
    now = time.time()
    return await store.use(nonce, count, username=user, issued_at=issued or now, expires_at=now + 60)


async def test_each_count_is_accepted_once_in_any_order() -> None:
    store = MemoryNonceCounter()
    assert await use(store, "n1", 1) is ACCEPTED
    assert await use(store, "n1", 1) is REPLAYED
    assert await use(store, "n1", 5) is ACCEPTED
    assert await use(store, "n1", 3) is ACCEPTED  # out of order (RFC 7616 §3.4: only a repeat is a replay)
    assert await use(store, "n1", 3) is REPLAYED
    assert await use(store, "n1", 5) is REPLAYED
    assert await use(store, "n1", 0) is REPLAYED  # counts start at 1
    assert await use(store, "n2", 1) is ACCEPTED


async def test_the_window_of_counts_is_bounded() -> None:
    store = MemoryNonceCounter()
    assert await use(store, "n", 2) is ACCEPTED
    assert await use(store, "n", 1) is ACCEPTED
    top = 1000
    assert await use(store, "n", top) is ACCEPTED
    assert await use(store, "n", top - WINDOW + 1) is ACCEPTED  # the oldest count still told apart
    assert await use(store, "n", top - WINDOW) is REPLAYED  # too far behind to know: refused
    assert all([await use(store, "n", c) is ACCEPTED for c in range(top - WINDOW + 2, top)])
    assert all([await use(store, "n", c) is REPLAYED for c in range(top - WINDOW, top + 1)])


async def test_a_nonce_belongs_to_the_user_who_first_used_it() -> None:
    store = MemoryNonceCounter()
    assert await use(store, "n", 1, user="alice") is ACCEPTED
    assert await use(store, "n", 2, user="bob") is REPLAYED


async def test_expired_nonces_are_forgotten_and_an_expired_one_is_stale() -> None:
    store = MemoryNonceCounter(max_entries=2)
    now = time.time()
    assert await store.use("old", 1, username="u", issued_at=now - 61, expires_at=now - 1) is STALE
    assert await use(store, "a", 1) is ACCEPTED
    assert await use(store, "b", 1) is ACCEPTED
    assert len(store) == 2


async def test_one_user_cannot_fill_the_store() -> None:
    """Issue 15: one user's 100,000 nonces locked every other user out. Now a user
    holds at most `per_user` nonces; the ones that made room are stale, never replayable."""
    store = MemoryNonceCounter(max_entries=1000, per_user=8)
    base = time.time()
    for i in range(5000):
        assert await use(store, f"m{i}", 1, user="mallory", issued=base + i / 1e5) is ACCEPTED
    assert len(store) == 8
    assert await use(store, "alice-1", 1, user="alice") is ACCEPTED
    assert await use(store, "m0", 2, user="mallory", issued=base) is STALE  # let go of: refused, with stale=true
    assert await use(store, "m0", 1, user="mallory", issued=base) is STALE  # and never a fresh start
    assert await use(store, "m4999", 1, user="mallory", issued=base + 4999 / 1e5) is REPLAYED  # still held


async def test_a_full_store_makes_room_fairly() -> None:
    store = MemoryNonceCounter(max_entries=100, per_user=100)
    base = time.time()
    for i in range(100):
        assert await use(store, f"m{i}", 1, user="mallory", issued=base + i / 1e5) is ACCEPTED
    assert await use(store, "alice-1", 1, user="alice") is ACCEPTED  # full: the oldest nonce made room
    assert len(store) == 100
    assert await use(store, "m0", 2, user="mallory", issued=base) is STALE
    assert await use(store, "m99", 2, user="mallory", issued=base + 99 / 1e5) is ACCEPTED
    assert await use(store, "alice-1", 2, user="alice") is ACCEPTED


async def test_a_full_user_table_fails_closed() -> None:
    store = MemoryNonceCounter(max_entries=2, per_user=1)
    assert await use(store, "a", 1, user="a") is ACCEPTED
    assert await use(store, "b", 1, user="b") is ACCEPTED
    assert await use(store, "c", 1, user="c") is REPLAYED  # both users have live state: no room, refuse
    assert await use(store, "a", 1, user="a") is REPLAYED  # and live nonces still block replays


async def test_memory_is_bounded_per_entry() -> None:
    """The bound docs/security.md states: under 640 bytes a held nonce, its text included."""
    entries = 2000
    store = MemoryNonceCounter(max_entries=entries, per_user=entries)
    users = [f"user{i}" for i in range(50)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(3 * entries):
            await use(store, f"{i:072d}", 1, user=users[i % 50])
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(store) == entries
    print(f"bytes per held nonce: {held / entries:.0f}")
    assert held / entries < 640, held / entries


def test_stores_and_pools_are_built_outside_an_event_loop() -> None:
    """Apps build schemes at import time: anyio before 4.2 could not make a lock or a
    limiter outside a running loop, which is why 4.2 is the floor."""
    assert aa.MemoryNonceCounter() is not None
    assert aa.HashingPool() is not None
