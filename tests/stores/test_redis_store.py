"""The Redis stores against a real redis-server: the same answers as the memory stores,
each in one round trip, and every fault a 503 (issue 20)."""

from __future__ import annotations

import asyncio
import time

import pytest

from asgi_auth.errors import ServiceUnavailable
from asgi_auth.redis_store import (
    RedisBackend,
    RedisFailureCounter,
    RedisNonceCounter,
    RedisReplayCache,
    RedisResultCache,
    RedisRevocationList,
    StoreUnavailable,
    _digest,
)
from asgi_auth.stores import WINDOW, MemoryNonceCounter, NonceUse
from tests.stores.servers import Proxy, RedisServer

pytestmark = pytest.mark.anyio

ISSUER = "https://issuer.example"


def nonce(n: int = 0) -> str:
    return f"{n:072x}"


async def use(counter: RedisNonceCounter | MemoryNonceCounter, n: str, count: int, *, issued: float = 0) -> NonceUse:
    issued = issued or time.time() - 1
    return await counter.use(n, count, username="alice", issued_at=issued, expires_at=issued + 300)


async def test_nonce_counts_are_accepted_once_in_any_order_as_in_memory(backend: RedisBackend) -> None:
    redis_counter = RedisNonceCounter(backend)
    await use(redis_counter, nonce(99), 1, issued=time.time() - 5)  # the epoch marker is set now
    memory = MemoryNonceCounter()
    issued = time.time()  # after the epoch
    counts = [1, 1, 3, 2, 2, 70, 5, 6, 7, 69, 70, 200, 137, 136, 1, 0, 4_294_967_295, 4_294_967_295]
    for count in counts:
        expected = await use(memory, nonce(1), count, issued=issued)
        assert await use(redis_counter, nonce(1), count, issued=issued) is expected, count
    assert [await use(redis_counter, nonce(2), c, issued=issued) for c in (2, 1, 2)] == [
        NonceUse.ACCEPTED,
        NonceUse.ACCEPTED,
        NonceUse.REPLAYED,
    ]


async def test_a_nonce_keeps_at_most_the_window_of_counts_and_expires_with_the_nonce(
    backend: RedisBackend, redis: RedisServer
) -> None:
    counter = RedisNonceCounter(backend)
    await use(counter, nonce(99), 1, issued=time.time() - 5)
    issued = time.time()
    for count in range(1, 500):
        assert await use(counter, nonce(3), count, issued=issued) is NonceUse.ACCEPTED
    key = backend.key("nc", _digest(nonce(3)))
    client = backend.client
    assert await client.zcard(key) <= WINDOW
    ttl = await client.pttl(key)
    assert 0 < ttl <= 300_000


async def test_a_redis_that_lost_its_data_makes_earlier_nonces_stale_not_replayable(
    backend: RedisBackend, redis: RedisServer
) -> None:
    counter = RedisNonceCounter(backend)
    issued = time.time() - 1
    assert await use(counter, nonce(4), 1, issued=issued) is NonceUse.STALE  # before the first epoch
    issued = time.time()
    assert await use(counter, nonce(4), 1, issued=issued) is NonceUse.ACCEPTED
    assert await use(counter, nonce(4), 1, issued=issued) is NonceUse.REPLAYED
    redis.flush()  # as a restart without persistence: every count forgotten
    # The captured request's count is not accepted again: the nonce is stale (the
    # client takes a new one), while nonces issued since are counted as usual.
    assert await use(counter, nonce(4), 1, issued=issued) is NonceUse.STALE
    await asyncio.sleep(0.002)
    fresh = time.time()
    assert await use(counter, nonce(5), 1, issued=fresh) is NonceUse.ACCEPTED
    assert await use(counter, nonce(5), 1, issued=fresh) is NonceUse.REPLAYED


async def test_concurrent_uses_of_one_count_are_accepted_exactly_once(redis: RedisServer) -> None:
    redis.flush()
    backend = RedisBackend(redis.url, deadline=10)  # fifty new connections on a busy machine
    counter = RedisNonceCounter(backend)
    await use(counter, nonce(99), 1, issued=time.time() - 5)
    issued = time.time()
    answers = await asyncio.gather(*(use(counter, nonce(6), 7, issued=issued) for _ in range(50)))
    await backend.aclose()
    assert answers.count(NonceUse.ACCEPTED) == 1
    assert answers.count(NonceUse.REPLAYED) == 49


async def test_replay_cache_is_first_use_once_until_expiry(backend: RedisBackend) -> None:
    cache = RedisReplayCache(backend)
    now = time.time()
    assert await cache.first_use("jti-1", expires_at=now + 0.2)
    assert not await cache.first_use("jti-1", expires_at=now + 60)
    assert await cache.first_use("jti-2", expires_at=now + 60)
    assert not await cache.first_use("jti-3", expires_at=now - 1)  # cannot be held: not vouched for
    await asyncio.sleep(0.3)
    assert await cache.first_use("jti-1", expires_at=time.time() + 60)  # expired with its window


async def test_result_cache_round_trips_bytes_under_a_digest_of_the_key(backend: RedisBackend) -> None:
    cache = RedisResultCache(backend, max_value=64)
    assert await cache.get(b"token") is None
    await cache.set(b"token", b'{"active":true}', expires_at=time.time() + 60)
    assert await cache.get(b"token") == b'{"active":true}'
    keys = await backend.client.keys("*")
    assert all(b"token" not in key for key in keys)  # the credential is never a key
    await cache.set(b"big", b"x" * 65, expires_at=time.time() + 60)
    assert await cache.get(b"big") is None
    await backend.client.set(backend.key("result", _digest(b"g")), b"y" * 100)
    with pytest.raises(ServiceUnavailable):
        await cache.get(b"g")  # more than it could have written: not its answer


async def test_revocations_reach_other_workers_within_the_refresh_and_hot_path_makes_no_call(
    redis: RedisServer,
) -> None:
    redis.flush()
    one, other = RedisBackend(redis.url), RedisBackend(redis.url)
    here = RedisRevocationList(one, refresh_interval=0.05, max_staleness=1.0)
    there = RedisRevocationList(other, refresh_interval=0.05, max_staleness=1.0)
    try:
        await here.start()
        await there.start()
        now = time.time()
        claims = {"iss": ISSUER, "jti": "t1", "sub": "alice", "iat": now - 10}
        assert not there.revoked(claims)
        await here.revoke_token(issuer=ISSUER, jti="t1", expires_at=now + 60)
        assert here.revoked(claims)  # at once through the worker that revoked it
        deadline = time.monotonic() + 1.0
        while not there.revoked(claims):
            assert time.monotonic() < deadline, "not seen within max_staleness"
            await asyncio.sleep(0.01)
        await here.revoke_subject(issuer=ISSUER, subject="bob", issued_before=now, expires_at=now + 60)
        await there.refresh()
        assert there.revoked({"iss": ISSUER, "sub": "bob", "iat": now - 1})
        assert there.revoked({"iss": ISSUER, "sub": "bob"})
        assert not there.revoked({"iss": ISSUER, "sub": "bob", "iat": now + 1})
        assert not there.revoked({"iss": "https://other.example", "jti": "t1"})
        assert not there.revoked({"iss": 5, "jti": "t1"})
    finally:
        await here.aclose()
        await there.aclose()
        await one.aclose()
        await other.aclose()


async def test_a_copy_older_than_its_bound_is_a_503_and_recovers_by_itself(redis: RedisServer) -> None:
    redis.flush()
    proxy = Proxy(redis.port)
    backend = RedisBackend(proxy.url, deadline=0.1)
    revocations = RedisRevocationList(backend, refresh_interval=0.05, max_staleness=0.3)
    try:
        claims = {"iss": ISSUER, "jti": "x"}
        with pytest.raises(ServiceUnavailable):
            revocations.revoked(claims)  # no copy yet: the first call starts the refresh
        await asyncio.sleep(0.2)
        assert not revocations.revoked(claims)
        proxy.garbage = True
        proxy.cut()
        deadline = time.monotonic() + 3
        while True:
            try:
                revocations.revoked(claims)
            except ServiceUnavailable as exc:
                assert exc.status_code == 503
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        proxy.garbage = False
        deadline = time.monotonic() + 3
        while True:
            try:
                assert not revocations.revoked(claims)
                break
            except ServiceUnavailable:
                assert time.monotonic() < deadline, "did not recover"
                await asyncio.sleep(0.02)
    finally:
        await revocations.aclose()
        await backend.aclose()
        proxy.close()


async def test_revocations_lost_by_redis_are_written_back_not_forgotten(redis: RedisServer) -> None:
    redis.flush()
    one, other = RedisBackend(redis.url), RedisBackend(redis.url)
    here = RedisRevocationList(one, refresh_interval=0.05, max_staleness=1.0)
    try:
        await here.start()
        now = time.time()
        await here.revoke_token(issuer=ISSUER, jti="kept", expires_at=now + 60)
        await here.revoke_subject(issuer=ISSUER, subject="bob", issued_before=now, expires_at=now + 60)
        await here.refresh()
        redis.flush()  # as a restart without persistence
        await here.refresh()
        assert here.revoked({"iss": ISSUER, "jti": "kept"})
        assert here.revoked({"iss": ISSUER, "sub": "bob", "iat": now - 1})
        later = RedisRevocationList(other, refresh_interval=0.05, max_staleness=1.0)
        await later.start()  # a worker that never saw the revocation learns it again
        assert later.revoked({"iss": ISSUER, "jti": "kept"})
        assert later.revoked({"iss": ISSUER, "sub": "bob", "iat": now - 1})
        await later.aclose()
    finally:
        await here.aclose()
        await one.aclose()
        await other.aclose()


async def test_a_revocation_list_refuses_garbage_in_redis(backend: RedisBackend) -> None:
    revocations = RedisRevocationList(backend, refresh_interval=0.05, max_staleness=0.6)
    try:
        await revocations.start()
        await backend.client.zadd(backend.key("revoked", "tokens"), {b"not json": time.time() + 60})
        await backend.client.incr(backend.key("revoked", "generation"))
        with pytest.raises(ServiceUnavailable):
            await revocations.refresh()
        await backend.client.delete(backend.key("revoked", "tokens"))
        await backend.client.set(backend.key("revoked", "generation"), b"not a number")
        with pytest.raises(ServiceUnavailable):
            await revocations.refresh()
    finally:
        await revocations.aclose()


async def test_failure_counter_is_a_hard_cap_and_takes_back_what_did_not_fail(redis: RedisServer) -> None:
    redis.flush()
    backend = RedisBackend(redis.url, deadline=10)
    counter = RedisFailureCounter(backend)
    keys = ["id:alice", "ip:127.0.0.1"]
    waits = await asyncio.gather(*(counter.reserve(keys, f"t{i}", limit=3, window=60) for i in range(20)))
    assert waits.count(0) == 3  # together or not, three attempts and no more
    assert all(0 < wait <= 60 for wait in waits if wait)
    await counter.release(keys, f"t{waits.index(0)}")  # one that was reserved
    assert await counter.reserve(keys, "again", limit=3, window=60) == 0
    assert await counter.reserve(keys, "more", limit=3, window=60) > 0
    assert await counter.reserve(["id:bob", "ip:127.0.0.1"], "bob", limit=3, window=60) > 0  # the address is full
    assert await counter.reserve(["id:bob", "ip:10.0.0.1"], "bob", limit=3, window=60) == 0
    assert await counter.reserve(["id:carol"], "short", limit=1, window=0.1) == 0
    await asyncio.sleep(0.15)
    assert await counter.reserve(["id:carol"], "later", limit=1, window=0.1) == 0  # the window slid
    await backend.aclose()


async def test_a_reservation_that_timed_out_errs_toward_refusing(redis: RedisServer) -> None:
    """docs/stores.md: a reserve held up past the deadline is a 503, and may still be made
    when it reaches Redis; it is then counted like a failure, never forgotten as a pass."""
    redis.flush()
    proxy = Proxy(redis.port)
    backend = RedisBackend(proxy.url, deadline=0.3)
    direct = RedisBackend(redis.url, deadline=5)
    try:
        counter, seen = RedisFailureCounter(backend), RedisFailureCounter(direct)
        keys = ["id:alice"]
        assert await counter.reserve(keys, "warm", limit=2, window=60) == 0  # the connection is made
        await counter.release(keys, "warm")
        proxy.delay = 0.6
        with pytest.raises(StoreUnavailable):
            await counter.reserve(keys, "late", limit=2, window=60)
        await asyncio.sleep(1.0)  # the held-up script reaches Redis and runs
        assert await seen.reserve(keys, "next", limit=2, window=60) == 0
        assert await seen.reserve(keys, "refused", limit=2, window=60) > 0  # "late" is counted
    finally:
        await backend.aclose()
        await direct.aclose()
        proxy.close()


@pytest.mark.parametrize("fault", ["down", "slow", "garbage"])
async def test_every_store_call_fails_closed_within_the_deadline(redis: RedisServer, fault: str) -> None:
    redis.flush()
    proxy = Proxy(redis.port)
    backend = RedisBackend(proxy.url, deadline=0.2)
    try:
        counter, replay = RedisNonceCounter(backend), RedisReplayCache(backend)
        results, failures = RedisResultCache(backend), RedisFailureCounter(backend)
        assert await replay.first_use("warm", expires_at=time.time() + 60)
        if fault == "down":
            proxy.close()
        elif fault == "slow":
            proxy.delay = 0.5
        else:
            proxy.garbage = True
        calls = [
            lambda: use(counter, nonce(7), 1),
            lambda: replay.first_use("k", expires_at=time.time() + 60),
            lambda: results.get(b"k"),
            lambda: results.set(b"k", b"v", expires_at=time.time() + 60),
            lambda: failures.reserve(["ip:1"], "t", limit=3, window=60),
        ]
        for call in calls:
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                await call()
            assert caught.value.status_code == 503
            assert ("Retry-After", "1") in caught.value.headers
            assert time.monotonic() - started < 2  # bounded by the deadline, not by retries
    finally:
        await backend.aclose()
        proxy.close()


async def test_a_restarted_redis_is_used_again_without_a_new_backend(redis: RedisServer) -> None:
    backend = RedisBackend(redis.url, deadline=0.3)
    replay = RedisReplayCache(backend)
    try:
        assert await replay.first_use("before", expires_at=time.time() + 60)
        redis.stop()
        with pytest.raises(StoreUnavailable):
            await replay.first_use("during", expires_at=time.time() + 60)
        redis.start()
        assert await replay.first_use("after", expires_at=time.time() + 60)  # the pool reconnects
    finally:
        await backend.aclose()


async def test_connections_dropped_under_the_pool_are_replaced_without_a_503(redis: RedisServer) -> None:
    """Every pooled connection dead at once (Redis restarted, a link dropped): each call
    that draws one is made again on a new one, so no request sees the fault — a plain
    command, a script, and a pipeline alike. (With redis-py's synchronous `Retry` given
    to its asyncio client, nothing was retried, and each dead connection cost a 503.)"""
    redis.flush()
    proxy = Proxy(redis.port)
    backend = RedisBackend(proxy.url, deadline=1.0)
    replay, failures = RedisReplayCache(backend), RedisFailureCounter(backend)
    revocations = RedisRevocationList(backend, refresh_interval=60, max_staleness=120)
    try:
        for round_ in range(3):
            for fault, drop in (("cut", proxy.cut), ("restart", lambda: (redis.stop(), redis.start()))):
                keys = [f"{round_} {fault} {i}" for i in range(8)]
                firsts = [replay.first_use(key, expires_at=time.time() + 60) for key in keys]
                assert await asyncio.gather(*firsts) == [True] * 8  # eight connections in the pool
                drop()
                await asyncio.sleep(0.1)  # the client has seen each link close
                again = await asyncio.gather(
                    *(replay.first_use(key + " again", expires_at=time.time() + 60) for key in keys[:5]),
                    failures.reserve([keys[5]], "attempt", limit=5, window=60),  # a script
                    failures.release([keys[6]], "attempt"),  # a pipeline
                    revocations.revoke_token(issuer=ISSUER, jti=keys[7], expires_at=time.time() + 60),  # a transaction
                )
                assert again == [True] * 5 + [0, None, None], fault
    finally:
        await backend.aclose()
        proxy.close()


async def test_calls_past_the_pool_wait_for_a_connection_within_the_deadline(redis: RedisServer) -> None:
    """More calls at once than `max_connections`: the rest wait for a connection (and
    are answered), as long as the deadline allows; past it, they are 503s like any slow
    call, not an error at once."""
    redis.flush()
    proxy = Proxy(redis.port)
    backend = RedisBackend(proxy.url, deadline=1.0, max_connections=1)
    replay = RedisReplayCache(backend)
    try:
        assert await replay.first_use("warm", expires_at=time.time() + 60)  # the one connection, made
        proxy.delay = 0.1  # each way: a round trip of 0.2 s
        answers = await asyncio.gather(*(replay.first_use(f"k{i}", expires_at=time.time() + 60) for i in range(3)))
        assert answers == [True] * 3  # one at a time, on the one connection
        proxy.delay = 2.0
        started = time.monotonic()
        waited = await asyncio.gather(
            *(replay.first_use(f"slow{i}", expires_at=time.time() + 60) for i in range(3)), return_exceptions=True
        )
        assert all(isinstance(answer, StoreUnavailable) for answer in waited), waited
        assert time.monotonic() - started < 1.9  # each bounded by its own deadline, waiting included
    finally:
        await backend.aclose()
        proxy.close()
