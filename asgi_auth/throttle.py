"""Brute-force limits: after `attempts` failed authentications in `window` seconds,
429 `Too many failed attempts` with `Retry-After`, before any verifier runs again.

`AuthPolicy(..., failure_limit=aa.FailureLimit(attempts=5, window=300))` counts failures
per credential identity (the username of Basic and Digest) and per client address (the
ASGI `client`, or a proxy's header when one is named), each on its own: a password
sprayed across many users is stopped by the address, one user's password guessed from
many addresses by the identity. API keys and bearer tokens carry no identity before
they are verified, so they are counted per address only.

The check is a *reservation*: before the verifier runs, one attempt is reserved under
each key, atomically, unless a key already holds `attempts` in the window; after it,
an attempt that did not fail (a success, a 403, a Digest `stale` nonce whose password
was right, a store that could not answer) is taken back. So successful logins never
count, and `attempts` is a hard cap even for requests that arrive together: they
cannot all pass a check before any of them is counted.

The counts live in a `FailureCounter`: in this process's memory by default, or
`redis_store.RedisFailureCounter` to share them between workers. A store that cannot
answer is a 503 for the requests it guards (the verifier does not run).

Why not the `limits` package: its async Redis storage speaks `coredis` by default
(`redis.asyncio` through `implementation="redispy"`), its checks cost a round trip per
key and another to learn the reset time, a test-then-hit pair is not a reservation, and
its async memory storage has no bound on the keys it holds. Sliding windows over a
bounded list of attempt times are a few lines, in memory and in one Lua script.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import unquote

from ._asgi import RequestView
from .errors import AuthError, ConfigurationError, ErrorResponse, ServiceUnavailable
from .schemes.base import SecurityScheme
from .schemes.digest import DigestCredentials
from .schemes.http import HTTPBasicCredentials

__all__ = ["FailureCounter", "FailureLimit", "MemoryFailureCounter", "TooManyFailures"]

T = TypeVar("T")

MAX_IDENTITY = 256
"""Longer usernames are cut before counting: the key is a digest of what is kept."""


class TooManyFailures(AuthError):
    """429: too many failed attempts for this identity or address; `Retry-After` says when."""

    status_code = 429
    default_detail = "Too many failed attempts"


class FailureCounter(Protocol):
    """Where failed attempts are counted: each key a sliding window of attempt times."""

    async def reserve(self, keys: Sequence[str], token: str, *, limit: int, window: float) -> float:
        """Reserve one attempt, named `token`, under every key at once, and answer 0;
        or, when a key holds `limit` attempts of the last `window` seconds, reserve
        nothing and answer the seconds until it has room."""
        ...

    async def release(self, keys: Sequence[str], token: str) -> None:
        """Take back the attempt `token`: it did not fail."""
        ...


class MemoryFailureCounter:
    """Failed attempts in this process's memory: one worker's limit.

    Each key holds at most `limit` attempt times; at most `max_keys` keys are held,
    and when full the key touched longest ago makes room. Forgetting it forgives its
    failures, which takes an attacker `max_keys` failed requests of other keys (each
    limited by its address) inside one window.
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be positive")
        self.max_keys = max_keys
        self._keys: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()  # in order of last use

    async def reserve(self, keys: Sequence[str], token: str, *, limit: int, window: float) -> float:
        return self._reserve(keys, token, limit, window, time.monotonic())

    def _reserve(self, keys: Sequence[str], token: str, limit: int, window: float, now: float) -> float:
        self._expire(now - window)
        wait = 0.0
        for key in keys:
            entries = self._keys.get(key)
            if entries is None:
                continue
            while entries and entries[0][0] <= now - window:
                entries.popleft()
            if len(entries) >= limit:
                wait = max(wait, entries[0][0] + window - now, 1e-3)
        if wait:
            return wait
        for key in keys:
            entries = self._keys.get(key)
            if entries is None:
                if len(self._keys) >= self.max_keys:
                    self._keys.popitem(last=False)
                entries = self._keys[key] = deque()
            else:
                self._keys.move_to_end(key)
            entries.append((now, token))
        return 0.0

    async def release(self, keys: Sequence[str], token: str) -> None:
        for key in keys:
            entries = self._keys.get(key)
            if entries is None:
                continue
            for entry in entries:
                if entry[1] == token:
                    entries.remove(entry)
                    break
            if not entries:
                del self._keys[key]

    def _expire(self, cutoff: float) -> None:
        # Keys are in order of last use, so the idle ones gather at the front.
        keys = self._keys
        while keys:
            key, entries = next(iter(keys.items()))
            if entries and entries[-1][0] > cutoff:
                break
            del keys[key]

    def __len__(self) -> int:
        return len(self._keys)


def _username(credentials: Any) -> str | None:
    """The identity credentials claim before they are verified, if they name one."""
    if isinstance(credentials, HTTPBasicCredentials):
        name = credentials.username
    elif isinstance(credentials, DigestCredentials):
        params = credentials.params
        name = params.get("username", "")
        if not name and params.get("username*", "").lower().startswith("utf-8''"):
            name = unquote(params["username*"][7:], errors="replace")
    else:
        return None
    return name[:MAX_IDENTITY].casefold()


def _address(host: str) -> str:
    """An IPv4 address, or the /64 network of an IPv6 one (one host holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(host.strip().strip("[]"))
    except ValueError:
        return "raw:" + host[:64]
    if ip.version == 6:
        mapped = ip.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FailureLimit:
    """`attempts` failed authentications per `window` seconds, per identity and per address.

    - `per`: which keys count, `"identity"` and/or `"address"`.
    - `schemes`: the schemes (objects or names) whose attempts are limited; all by
      default. A scheme left out is never delayed by the limit.
    - `store`: a `FailureCounter`; `MemoryFailureCounter()` (one process) by default,
      `redis_store.RedisFailureCounter(backend)` for several workers.
    - `address_header`: read the client address from this header (`x-forwarded-for`),
      set by a proxy in front of every request, instead of the ASGI `client`; the
      `trusted_hops`-th address from the right is the one the nearest trusted proxy saw.
      Leave it unset unless a proxy always sets it: a client can write any header.
      (uvicorn's `--proxy-headers` already puts the forwarded address in `client`.)
    """

    def __init__(
        self,
        attempts: int = 5,
        window: float = 300.0,
        *,
        per: Iterable[str] = ("identity", "address"),
        schemes: Iterable[SecurityScheme | str] | None = None,
        store: FailureCounter | None = None,
        address_header: str | None = None,
        trusted_hops: int = 1,
    ) -> None:
        if attempts < 1 or window <= 0:
            raise ConfigurationError("FailureLimit: attempts and window must be positive")
        self.per = frozenset(per)
        if not self.per or not self.per <= {"identity", "address"}:
            raise ConfigurationError("FailureLimit: per= names 'identity', 'address' or both")
        if trusted_hops < 1:
            raise ConfigurationError("FailureLimit: trusted_hops must be at least 1")
        self.attempts = attempts
        self.window = window
        self.store: FailureCounter = store if store is not None else MemoryFailureCounter()
        self._schemes = None if schemes is None else {s if isinstance(s, str) else s.scheme_name for s in schemes}
        self.address_header = address_header.lower().encode("latin-1") if address_header else None
        self.trusted_hops = trusted_hops

    def covers(self, scheme: SecurityScheme) -> bool:
        return self._schemes is None or scheme.scheme_name in self._schemes

    def keys(self, request: RequestView, credentials: Any) -> list[str]:
        keys = []
        if "identity" in self.per:
            name = _username(credentials)
            if name is not None:
                keys.append("id:" + name)
        if "address" in self.per:
            keys.append("ip:" + self.address(request))
        return keys

    def address(self, request: RequestView) -> str:
        if self.address_header is not None:
            try:
                value = request.header(self.address_header)
            except Exception:  # sent twice: not one proxy's word
                value = None
            if value:
                hops = [part.strip() for part in value.split(",")]
                if len(hops) >= self.trusted_hops and hops[-self.trusted_hops]:
                    return _address(hops[-self.trusted_hops])
        client = request.scope.get("client")
        if client:
            return _address(str(client[0]))
        return "unknown"

    async def guard(
        self, request: RequestView, credentials: Any, verify: Callable[[], T | Awaitable[T]]
    ) -> T | ErrorResponse:
        """Run `verify` if the limit allows another attempt, and count it if it failed."""
        keys = self.keys(request, credentials)
        if not keys:
            return await _settled(verify())
        token = secrets.token_hex(8)
        try:
            wait = await self.store.reserve(keys, token, limit=self.attempts, window=self.window)
        except ServiceUnavailable as exc:
            return ErrorResponse(exc)
        if wait > 0:
            return ErrorResponse(TooManyFailures(headers=[("Retry-After", str(max(1, math.ceil(wait))))]))
        result = await _settled(verify())
        if not failed(result):
            # Left counted if the store fails: its fault errs toward refusing, and is logged.
            with contextlib.suppress(ServiceUnavailable):
                await self.store.release(keys, token)
        return result


async def _settled(result: T | Awaitable[T]) -> T:
    if hasattr(result, "__await__"):
        return await cast("Awaitable[T]", result)
    return result


def failed(result: object) -> bool:
    """Whether a verification's result is a failed attempt: a 401 from the verifier,
    except Digest's `stale=true`, which says the password was right."""
    if type(result) is not ErrorResponse or result.status != 401:
        return False
    return not any("stale=true" in challenge for challenge in result.error.challenges)
