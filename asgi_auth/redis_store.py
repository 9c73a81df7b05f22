"""The shared stores on Redis (or Valkey): one state for every worker and host.

Install with the `redis` extra (`redis.asyncio`, the official client). Every store
takes one `RedisBackend`, which holds the connection pool and the rules every call
obeys:

- each call is bounded by `deadline` (socket timeouts alone do not bound a call that
  is retried, or a server that trickles its answer);
- whatever goes wrong — Redis down, slower than the deadline, out of memory, or an
  answer of the wrong shape — is `aa.ServiceUnavailable`: the request that needed the
  store gets 503, never a pass and never a 500, and the next call tries again, so the
  stores recover by themselves when Redis is back.

What each store keeps, and in how many round trips:

- `RedisNonceCounter`: Digest nonce counts, one Lua script per use (one round trip,
  atomic on the server). Counts are kept per nonce in a sorted set of at most `WINDOW`
  counts, as the memory store keeps them.
- `RedisReplayCache`: one-time values, `SET NX PX`.
- `RedisResultCache`: `GET` / `SET PX` of opaque bytes.
- `RedisRevocationList`: revocations in two sorted sets, copied into each worker's
  memory and refreshed in the background, so that the hot path (`revoked`) makes no
  call at all; a copy older than `max_staleness` answers 503.
- `RedisFailureCounter`: the brute-force limit's counts (`aa.FailureLimit`), one Lua
  script per attempt.

A Redis that loses its data (restarted without persistence, failed over to a replica
behind) must not let a used nonce count be used again: the nonce script keeps an
*epoch* marker, and when it is gone every nonce issued before it was found missing is
answered `STALE` (the client fetches a new nonce and retries, no password prompt).
Run Redis with `maxmemory-policy noeviction`: an evicted key is a forgotten nonce
count or revocation, while a refused write is only a 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .errors import ServiceUnavailable
from .stores import WINDOW, NonceUse, revoked_in

__all__ = [
    "RedisBackend",
    "RedisFailureCounter",
    "RedisNonceCounter",
    "RedisReplayCache",
    "RedisResultCache",
    "RedisRevocationList",
    "StoreUnavailable",
]

logger = logging.getLogger("asgi_auth")

T = TypeVar("T")

_REPORT_EVERY = 10.0  # seconds between two log lines about the same store's faults


class StoreUnavailable(ServiceUnavailable):
    """503: a shared store was needed and did not answer in time, or answered nonsense."""

    default_detail = "Authentication store unavailable"

    def __init__(
        self,
        detail: str | None = None,
        *,
        status_code: int | None = None,
        headers: Sequence[tuple[str, str]] = (("Retry-After", "1"),),
    ) -> None:
        super().__init__(detail, status_code=status_code, headers=headers)


class _Garbage(Exception):
    """Redis answered, but not what the script or command returns."""


class RedisBackend:
    """One connection pool and the limits every store's call obeys.

    `url` is a `redis://`, `rediss://` or `unix://` URL; or pass a ready
    `redis.asyncio.Redis` as `client` (its own timeouts and pool then apply, with its
    retries best left off; `deadline` still bounds each call, and the retry below
    still applies). The defaults suit a Redis on the same
    network: a call that takes longer than `deadline` seconds is a fault, not a slow
    answer. The socket and connect timeouts default to the deadline; `max_connections`
    caps the pool, and a call waiting for a free connection waits within its deadline.
    A call that meets a broken connection is made again, once and at once, on a new
    one: after Redis restarts, or a link to it is dropped, every pooled connection is
    dead, and only its first use finds out.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: aioredis.Redis | None = None,
        deadline: float = 0.5,
        socket_timeout: float | None = None,
        connect_timeout: float | None = None,
        max_connections: int = 64,
        key_prefix: str = "asgi_auth:",
    ) -> None:
        socket_timeout = deadline if socket_timeout is None else socket_timeout
        connect_timeout = deadline if connect_timeout is None else connect_timeout
        if deadline <= 0 or socket_timeout <= 0 or connect_timeout <= 0 or max_connections < 1:
            raise ValueError("deadline, timeouts and max_connections must be positive")
        self.deadline = deadline
        self.key_prefix = key_prefix
        if client is None:
            # No retries inside redis-py (whose defaults, and whose rules for pipelines,
            # vary by version): `call` makes a call again itself, once.
            client = aioredis.Redis.from_url(
                url,
                socket_timeout=socket_timeout,
                socket_connect_timeout=connect_timeout,
                max_connections=max_connections,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,
            )
        self.client = client
        # A call past `max_connections` waits here for a free one, within its deadline,
        # where the pool would refuse it at once. (Not redis-py's blocking pool: up to
        # 5.0.x it deadlocks when a pooled connection fails its check.) One call holds at
        # most one connection.
        self._connections = asyncio.Semaphore(max_connections)
        self._reported = 0.0

    def key(self, *parts: str) -> str:
        return self.key_prefix + ":".join(parts)

    async def call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        """Run one store call within the deadline; any fault is `StoreUnavailable`."""
        try:
            # asyncio's own timeout (redis.asyncio is asyncio's): it tells its expiry
            # from a cancellation that comes from outside, which must go on.
            if sys.version_info >= (3, 11):
                async with asyncio.timeout(self.deadline):
                    return await self._one_connection(make)
            return await asyncio.wait_for(self._one_connection(make), self.deadline)
        except (RedisError, OSError, asyncio.TimeoutError, _Garbage, ValueError, TypeError, IndexError) as exc:
            # asyncio.TimeoutError: before Python 3.11, not the built-in TimeoutError.
            self._report(what, exc)
            raise StoreUnavailable() from None

    async def _one_connection(self, make: Callable[[], Awaitable[T]]) -> T:
        async with self._connections:
            try:
                return await make()
            except RedisConnectionError:
                # A pooled connection found broken (Redis restarted, a link dropped):
                # redis-py has closed it, and the call is made again on a fresh one. A
                # command that did reach Redis before the break may so run twice, which
                # every store errs toward refusing: a nonce count or one-time value then
                # reads as used, a failure as counted twice.
                return await make()

    def _report(self, what: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._reported >= _REPORT_EVERY:
            self._reported = now
            logger.warning("Redis store %s failed (%s); requests that need it get 503", what, type(exc).__name__)

    async def aclose(self) -> None:
        await self.client.aclose()


def _int(value: Any) -> int:
    if type(value) is not int:
        raise _Garbage(f"expected an integer, got {type(value).__name__}")
    return value


def _digest(value: str | bytes) -> str:
    """Keys hold a digest of what they are about: fixed size, and no secret in Redis."""
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()[:32]


# -- Digest nonce counts ----------------------------------------------------------------

# KEYS[1] the nonce's sorted set of counts, KEYS[2] the epoch marker.
# ARGV: count, issued_at (ms), time to live (ms), window, now (ms).
# Returns 1 accepted, 0 replayed, 2 stale.
_NONCE_SCRIPT = """
local count = tonumber(ARGV[1])
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[5], 'NX')
  epoch = redis.call('GET', KEYS[2])
end
if tonumber(ARGV[2]) <= tonumber(epoch) then
  return 2
end
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local window = tonumber(ARGV[4])
local highest = count
if top[2] then
  highest = tonumber(top[2])
  if count <= highest - window then
    return 0
  end
  if count > highest then highest = count end
end
if redis.call('ZADD', KEYS[1], 'NX', count, ARGV[1]) == 0 then
  return 0
end
if not top[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', highest - window)
return 1
"""

_NONCE_ANSWERS = {1: NonceUse.ACCEPTED, 0: NonceUse.REPLAYED, 2: NonceUse.STALE}


class RedisNonceCounter:
    """Digest nonce counts shared by every worker: `HTTPDigest(nonce_counter=...)`.

    One atomic script per use, one round trip: each count is accepted once, in any
    order within `WINDOW` of the highest, as `MemoryNonceCounter` does. A count far
    behind, or already used, is a replay. Each nonce's set expires with the nonce.
    The workers' clocks (which stamp nonces) are compared with one another, so hosts
    keep them synchronised, as they must for the nonces' lifetime anyway.
    """

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self._script = backend.client.register_script(_NONCE_SCRIPT)
        self._epoch = backend.key("epoch")

    async def start(self) -> None:
        """Set the epoch marker now if Redis has none (a lifespan handler's call).

        Without it, the first use after Redis started empty sets the marker, and the
        nonce it came with, issued before, is answered `STALE`.
        """
        now = int(time.time() * 1000)
        await self.backend.call("nonce count", lambda: self.backend.client.set(self._epoch, now, nx=True))

    async def use(self, nonce: str, count: int, *, username: str, issued_at: float, expires_at: float) -> NonceUse:
        if count < 1:
            return NonceUse.REPLAYED  # counts start at 1 (RFC 7616 §3.4)
        now = time.time()
        if expires_at <= now:
            return NonceUse.STALE
        keys = [self.backend.key("nc", _digest(nonce)), self._epoch]
        args = [count, int(issued_at * 1000), max(1, math.ceil((expires_at - now) * 1000)), WINDOW, int(now * 1000)]
        answer = await self.backend.call("nonce count", lambda: self._script(keys=keys, args=args))
        use = _NONCE_ANSWERS.get(_int(answer))
        if use is None:
            raise StoreUnavailable()
        return use


# -- one-time values and shared results -------------------------------------------------


class RedisReplayCache:
    """One-time values (a DPoP proof's `jti`) shared by every worker: `SET NX PX`."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend

    async def first_use(self, key: str, *, expires_at: float) -> bool:
        ttl = math.ceil((expires_at - time.time()) * 1000)
        if ttl <= 0:
            return False  # cannot be held until it expires, so cannot be vouched unique
        name = self.backend.key("once", _digest(key))
        answer = await self.backend.call("replay cache", lambda: self.backend.client.set(name, b"1", nx=True, px=ttl))
        if answer is None:
            return False
        if answer is not True:
            raise StoreUnavailable()
        return True


class RedisResultCache:
    """Results shared by every worker (introspection answers), as opaque bytes."""

    def __init__(self, backend: RedisBackend, *, max_value: int = 64 * 1024) -> None:
        self.backend = backend
        self.max_value = max_value

    def _name(self, key: bytes) -> str:
        return self.backend.key("result", _digest(key))

    async def get(self, key: bytes) -> bytes | None:
        name = self._name(key)
        value = await self.backend.call("result cache", lambda: self.backend.client.get(name))
        if value is None:
            return None
        if type(value) is not bytes or len(value) > self.max_value:
            raise StoreUnavailable()
        return value

    async def set(self, key: bytes, value: bytes, *, expires_at: float) -> None:
        ttl = math.ceil((expires_at - time.time()) * 1000)
        if ttl <= 0 or len(value) > self.max_value:
            return
        name = self._name(key)
        await self.backend.call("result cache", lambda: self.backend.client.set(name, value, px=ttl))


# -- revocations ------------------------------------------------------------------------


class _Copy:
    """One worker's copy of the revocations: what `revoked` reads, replaced whole."""

    __slots__ = ("generation", "subjects", "tokens")

    def __init__(
        self,
        tokens: Mapping[tuple[str | None, str], float],
        subjects: Mapping[tuple[str | None, str], tuple[float, float]],
        gen: int,
    ) -> None:
        self.tokens = dict(tokens)  # (issuer, jti) -> expires_at
        self.subjects = dict(subjects)  # (issuer, subject) -> (issued_before, expires_at)
        self.generation = gen


def _member(*parts: Any) -> bytes:
    return json.dumps(parts, separators=(",", ":")).encode()


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError("not a string")
    return value


def _issuer(value: Any) -> str | None:
    return None if value is None else _text(value)


def _fold(
    subjects: dict[tuple[str | None, str], tuple[float, float]],
    key: tuple[str | None, str],
    issued_before: float,
    expires_at: float,
) -> None:
    """A later cut-off covers an earlier one; the longer of the two lives is kept."""
    held = subjects.get(key)
    if held is not None:
        issued_before, expires_at = max(held[0], issued_before), max(held[1], expires_at)
    subjects[key] = (issued_before, expires_at)


class RedisRevocationList:
    """Revocations shared by every worker, answered from a local copy.

    `revoked(claims)` reads only this worker's copy, which a background task refreshes
    every `refresh_interval` seconds (one `GET` of a generation counter; the whole list
    only when it changed). The copy is trusted for `max_staleness` seconds after the
    last refresh that succeeded: a token revoked through any worker is refused by every
    worker within `max_staleness` (at most `refresh_interval` plus a call's deadline, as
    long as Redis answers), and immediately by the worker it was revoked through. Past
    that bound `revoked` raises `ServiceUnavailable` (503) until Redis answers again.

    Call `await revocations.start()` at start-up (a lifespan handler) so the first
    request finds a copy; otherwise the first call starts the refresh and the requests
    before the first copy arrives get 503. Redis holding revocations should persist them
    (`appendonly yes`); when it lost them anyway (its generation counter is gone), each
    worker writes back what its copy holds, so only a worker started since knows less.
    """

    def __init__(
        self,
        backend: RedisBackend,
        *,
        refresh_interval: float = 1.0,
        max_staleness: float = 5.0,
        max_entries: int = 1_000_000,
    ) -> None:
        if refresh_interval <= 0 or max_staleness < refresh_interval + backend.deadline:
            raise ValueError("max_staleness must be at least refresh_interval plus the backend's deadline")
        self.backend = backend
        self.refresh_interval = refresh_interval
        self.max_staleness = max_staleness
        self.max_entries = max_entries
        self._tokens_key = backend.key("revoked", "tokens")
        self._subjects_key = backend.key("revoked", "subjects")
        self._gen_key = backend.key("revoked", "generation")
        self._copy: _Copy | None = None
        self._fresh_at = float("-inf")  # time.monotonic() of the last refresh that succeeded
        self._task: Any = None

    # -- the hot path -----------------------------------------------------------------

    def revoked(self, claims: Mapping[str, Any]) -> bool:
        copy = self._copy
        self._ensure_refreshing()
        if copy is None or time.monotonic() - self._fresh_at > self.max_staleness:
            raise StoreUnavailable("Revocation list unavailable")
        return revoked_in(claims, copy.tokens, copy.subjects)  # as MemoryRevocationList answers

    # -- revoking ---------------------------------------------------------------------

    async def revoke_token(self, *, issuer: str | None, jti: str, expires_at: float) -> None:
        await self._revoke(self._tokens_key, _member(issuer, jti), expires_at)
        copy = self._copy
        if copy is not None:
            key = (issuer, jti)
            copy.tokens[key] = max(expires_at, copy.tokens.get(key, expires_at))

    async def revoke_subject(
        self, *, issuer: str | None, subject: str, issued_before: float, expires_at: float
    ) -> None:
        await self._revoke(self._subjects_key, _member(issuer, subject, issued_before), expires_at)
        copy = self._copy
        if copy is not None:
            _fold(copy.subjects, (issuer, subject), issued_before, expires_at)

    async def _revoke(self, key: str, member: bytes, expires_at: float) -> None:
        client = self.backend.client

        async def write() -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {member: expires_at}, gt=True)  # added, or kept for longer
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.incr(self._gen_key)
                await pipe.execute()

        await self.backend.call("revocation", write)

    # -- the copy ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the copy now (raising `ServiceUnavailable` if Redis does not answer),
        and keep it refreshed in the background."""
        await self.refresh()
        self._ensure_refreshing()

    async def refresh(self) -> None:
        """Bring the copy up to date: one call when nothing changed."""
        client = self.backend.client
        generation = await self.backend.call("revocations", lambda: client.get(self._gen_key))
        gen = self._generation(generation)
        copy = self._copy
        if copy is not None and copy.generation == gen:
            self._fresh_at = time.monotonic()
            return

        async def load() -> list[Any]:
            now = time.time()
            async with client.pipeline(transaction=True) as pipe:
                pipe.get(self._gen_key)
                pipe.zrangebyscore(self._tokens_key, now, "+inf", withscores=True, start=0, num=self.max_entries + 1)
                pipe.zrangebyscore(self._subjects_key, now, "+inf", withscores=True, start=0, num=self.max_entries + 1)
                return list(await pipe.execute())

        started = time.monotonic()
        answer = await self.backend.call("revocations", load)
        fresh = self._parse(answer)
        if answer[0] is None and copy is not None and copy.generation > 0:
            # The generation counter is gone: Redis lost its data (a restart without
            # persistence). What this worker holds is written back, never forgotten.
            logger.warning("Redis lost the revocations; writing back the %d this worker holds", len(copy.tokens))
            await self._write_back(copy)
            for key, until in copy.tokens.items():
                fresh.tokens[key] = max(until, fresh.tokens.get(key, until))
            for key, (before, until) in copy.subjects.items():
                _fold(fresh.subjects, key, before, until)
            fresh.generation = -1  # reloaded on the next refresh, with every worker's
        self._copy = fresh
        self._fresh_at = started

    async def _write_back(self, copy: _Copy) -> None:
        client = self.backend.client
        now = time.time()

        async def write() -> None:
            async with client.pipeline(transaction=True) as pipe:
                for (issuer, jti), until in copy.tokens.items():
                    if until > now:
                        pipe.zadd(self._tokens_key, {_member(issuer, jti): until}, gt=True)
                for (issuer, subject), (before, until) in copy.subjects.items():
                    if until > now:
                        pipe.zadd(self._subjects_key, {_member(issuer, subject, before): until}, gt=True)
                pipe.incr(self._gen_key)
                await pipe.execute()

        await self.backend.call("revocations", write)

    def _generation(self, value: Any) -> int:
        try:
            return 0 if value is None else int(value)
        except (TypeError, ValueError):
            self.backend._report("revocations", ValueError("generation"))
            raise StoreUnavailable("Revocation list unavailable") from None

    def _parse(self, answer: list[Any]) -> _Copy:
        generation, tokens, subjects = answer
        if len(tokens) > self.max_entries or len(subjects) > self.max_entries:
            logger.error("more than %d revocations in Redis: the copy is refused", self.max_entries)
            raise StoreUnavailable("Revocation list unavailable")
        try:
            token_map: dict[tuple[str | None, str], float] = {}
            for member, score in tokens:
                issuer, jti = json.loads(member)
                token_map[(_issuer(issuer), _text(jti))] = float(score)
            subject_map: dict[tuple[str | None, str], tuple[float, float]] = {}
            for member, score in subjects:
                issuer, subject, before = json.loads(member)
                _fold(subject_map, (_issuer(issuer), _text(subject)), float(before), float(score))
            return _Copy(token_map, subject_map, self._generation(generation))
        except (ValueError, TypeError) as exc:
            self.backend._report("revocations", exc)
            raise StoreUnavailable("Revocation list unavailable") from None

    def _ensure_refreshing(self) -> None:
        task = self._task
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._task = loop.create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        me = asyncio.current_task()
        while self._task is me:  # until aclose(), even if a cancellation got lost on the way
            try:
                await self.refresh()
            except ServiceUnavailable:
                pass  # reported by the backend; the copy ages until Redis answers
            except Exception as exc:  # a bug must not end the refreshing
                logger.error("revocation refresh failed: %s", type(exc).__name__)
            await asyncio.sleep(self.refresh_interval)

    async def aclose(self) -> None:
        """Stop the background refresh."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=self.refresh_interval + self.backend.deadline + 1)


# -- brute-force limits -----------------------------------------------------------------

# KEYS: one sorted set of attempt times per counted key. ARGV: limit, window (ms), token.
# Returns 0 when one attempt was reserved under every key, else the milliseconds until
# the fullest key has room (and nothing is reserved).
_RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wait = 0
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w < 1 then w = 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 then
  return wait
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
end
return 0
"""


class RedisFailureCounter:
    """The failed attempts `aa.FailureLimit` counts, shared by every worker.

    One script reserves an attempt under every key at once (identity and address),
    timed by the Redis server's clock; an attempt that did not fail is taken back. So
    `attempts` failures in `window` are the limit across all workers together, however
    many requests arrive at once. The keys are digests. The script touches several
    keys, so a Redis Cluster is not supported (a single Redis, or Sentinel, is).
    """

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self._script = backend.client.register_script(_RESERVE_SCRIPT)

    async def reserve(self, keys: Sequence[str], token: str, *, limit: int, window: float) -> float:
        names = [self.backend.key("fail", _digest(key)) for key in keys]
        args: list[int | str] = [limit, max(1, math.ceil(window * 1000)), token]
        answer = _int(await self.backend.call("failure limit", lambda: self._script(keys=names, args=args)))
        if answer < 0:
            raise StoreUnavailable()
        return answer / 1000

    async def release(self, keys: Sequence[str], token: str) -> None:
        names = [self.backend.key("fail", _digest(key)) for key in keys]
        client = self.backend.client

        async def remove() -> None:
            async with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.zrem(name, token)
                await pipe.execute()

        await self.backend.call("failure limit", remove)
