"""Password hashes for HTTP Basic and token endpoints: stdlib scrypt, constant-time.

`hash_password` / `verify_password` use `hashlib.scrypt` (RFC 7914) so no extra
dependency is needed; `BasicPasswordVerifier` turns a mapping of usernames to such
hashes (or another hasher's) into an `HTTPBasic` verifier that takes the same time for
unknown users. Hashes made by pwdlib (`$argon2id$`, bcrypt), which FastAPI's tutorial
uses, are verified with `hasher=` (the optional extra `pwdlib`), and rehashed on login
when pwdlib says they are out of date.

A hash is deliberately slow, so an anonymous client sending wrong passwords is asking
for CPU. Hashing therefore runs in a `HashingPool`: a few worker threads of its own
capacity (not the shared pool sync endpoints use), a cap on the attempts waiting for
them, and a bounded wait, past which an attempt is refused with 503 rather than
queued. Routes that do not hash never wait behind a flood of attempts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import logging
import os
import threading
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import anyio
import anyio.to_thread

from .context import Principal
from .errors import ConfigurationError, ServiceUnavailable

__all__ = [
    "BasicPasswordVerifier",
    "HashingBusy",
    "HashingPool",
    "PasswordHashLike",
    "hash_password",
    "verify_password",
]

logger = logging.getLogger("asgi_auth")

_N, _R, _P, _LEN = 2**14, 8, 1, 32
_PREFIX = "scrypt"
_REPORT_EVERY = 10.0  # seconds between two log lines about refused attempts
T = TypeVar("T")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """`scrypt$n$r$p$salt$hash`, safe to store."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_LEN, maxmem=2**26)
    return f"{_PREFIX}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`, compared in constant time."""
    try:
        prefix, n, r, p, salt, expected = stored.split("$")
        if prefix != _PREFIX:
            return False
        digest = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=_LEN, maxmem=2**26
        )
        return hmac.compare_digest(digest, _unb64(expected))
    except (ValueError, TypeError):
        return False


class HashingBusy(ServiceUnavailable):
    """503: every hashing worker is busy and the attempt waited as long as it may.

    A 503, not a 429: the cap is the server's capacity, shared by every client, not a
    limit on this client's attempts; `Retry-After` says when to try again.
    """

    status_code = 503
    default_detail = "Password checking unavailable"


class HashingPool:
    """Where password hashes run: bounded in threads, in waiting attempts, in time.

    `workers` attempts hash at once (default: half the CPUs, at least one); up to
    `max_waiting` more wait, each at most `max_wait` seconds. An attempt past either
    bound raises `HashingBusy` (503). From async code, `await pool.run(f, *args)` runs
    `f` on a worker thread counted against this pool alone (never the shared pool sync
    endpoints run on); from a thread, `pool.run_sync(f, *args)` runs it there, within the
    same bounds. One pool may serve several verifiers and a token endpoint
    (`await pool.run(verify_password, password, stored)`).
    """

    def __init__(self, workers: int | None = None, *, max_waiting: int = 32, max_wait: float = 2.0) -> None:
        self.workers = workers if workers is not None else max(1, (os.cpu_count() or 2) // 2)
        if self.workers < 1 or max_waiting < 0 or max_wait < 0:
            raise ConfigurationError("HashingPool: workers must be positive, max_waiting and max_wait not negative")
        self.max_waiting = max_waiting
        self.max_wait = max_wait
        self._slots = threading.BoundedSemaphore(self.workers)  # who may hash now
        self._lock = threading.Lock()
        self._admitted = 0  # hashing or waiting, from either side
        # The threads async callers wait and hash on: one per admitted attempt at most,
        # so this limiter never makes anyone wait; it only keeps them off the shared one.
        self._threads = anyio.CapacityLimiter(self.workers + max_waiting)
        self.refused = 0  # attempts refused since start, for metrics
        self._reported = (0, float("-inf"))  # refusals logged so far, and when

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on one of the pool's threads, or `HashingBusy`."""
        self._admit()  # refused on the event loop, before taking any thread
        try:
            return await anyio.to_thread.run_sync(self._hash, function, args, limiter=self._threads)
        finally:
            self._leave()

    def run_sync(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in the calling thread, within the pool's bounds, or `HashingBusy`."""
        self._admit()
        try:
            return self._hash(function, args)
        finally:
            self._leave()

    def _admit(self) -> None:
        with self._lock:
            if self._admitted >= self.workers + self.max_waiting:
                raise self._busy()
            self._admitted += 1

    def _leave(self) -> None:
        with self._lock:
            self._admitted -= 1

    def _hash(self, function: Callable[..., T], args: tuple[Any, ...]) -> T:
        if not self._slots.acquire(timeout=self.max_wait):
            with self._lock:
                raise self._busy()
        try:
            return function(*args)
        finally:
            self._slots.release()

    def _busy(self) -> HashingBusy:
        """The refusal (called holding `_lock`), logged at most once per `_REPORT_EVERY`."""
        self.refused += 1
        reported, when = self._reported
        now = time.monotonic()
        if now - when >= _REPORT_EVERY:  # a flood must not become a flood of log lines
            logger.warning(
                "password checks refused: %d since the last report (HashingPool: %d workers, %d may wait %.1f s)",
                self.refused - reported,
                self.workers,
                self.max_waiting,
                self.max_wait,
            )
            self._reported = (self.refused, now)
        return HashingBusy(headers=[("Retry-After", str(max(1, round(self.max_wait))))])


@runtime_checkable
class PasswordHashLike(Protocol):
    """What `BasicPasswordVerifier(hasher=)` uses: pwdlib's `PasswordHash` is one."""

    def hash(self, password: str) -> str: ...

    def verify_and_update(self, password: str, hash: str) -> tuple[bool, str | None]: ...


_HASHER_METHODS = ("identify", "hash", "verify", "check_needs_rehash")


def _password_hash(hasher: object) -> tuple[PasswordHashLike, tuple[type[Exception], ...]]:
    """A `PasswordHash` for `hasher=` (one, a pwdlib hasher, or a sequence of them, the
    current one first), and the exceptions its checks raise for a hash they can't read."""
    if not isinstance(hasher, PasswordHashLike):
        hashers = list(hasher) if isinstance(hasher, Sequence) else [hasher]
        if not hashers or not all(all(hasattr(h, m) for m in _HASHER_METHODS) for h in hashers):
            raise ConfigurationError(
                f"BasicPasswordVerifier: hasher={hasher!r} is not a pwdlib PasswordHash or hasher "
                "(e.g. pwdlib.PasswordHash.recommended(), or Argon2Hasher(), BcryptHasher())"
            )
        try:
            from pwdlib import PasswordHash
        except ImportError as exc:  # pragma: no cover - a hasher without pwdlib installed
            raise ConfigurationError(
                "BasicPasswordVerifier: hasher= needs pwdlib (pip install asgi_auth[pwdlib])"
            ) from exc
        hasher = PasswordHash(hashers)  # type: ignore[arg-type]  # checked just above, by duck typing
    try:
        from pwdlib.exceptions import PwdlibError
    except ImportError:  # a PasswordHash-like object of another library
        return hasher, (ValueError, TypeError)
    return hasher, (PwdlibError, ValueError, TypeError)


OnRehash = Callable[[str, str], "Awaitable[None] | None"]
"""`on_rehash(username, new_hash)`: store the new hash (sync or async)."""


def _check_username(name: str) -> str:
    """The NFC form of a configured username, or a start-up error for one that could
    never log in: Basic splits `user:password` at the first colon (RFC 7617 §2), and
    control characters are not allowed in a user-id."""
    if not isinstance(name, str):
        raise ConfigurationError(f"BasicPasswordVerifier: usernames must be str, not {type(name).__name__}")
    if ":" in name:
        raise ConfigurationError(f"BasicPasswordVerifier: username {name!r} contains ':' and could never log in")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ConfigurationError(f"BasicPasswordVerifier: username {name!r} contains a control character")
    return unicodedata.normalize("NFC", name)


class BasicPasswordVerifier:
    """An `HTTPBasic` verifier over `{username: hash_password(...)}`.

    Unknown users are checked against a dummy hash so that response time does not
    reveal which usernames exist. `scopes` maps usernames to the scopes they get.
    Usernames are compared in Unicode NFC (RFC 7613, which RFC 7617 §2.1 points to), so
    a name typed on one system matches the one stored from another.

    `hasher=` takes pwdlib's `PasswordHash` (or a pwdlib hasher, or a sequence of them,
    the current one first) for the `$argon2id$` and bcrypt hashes users already hold;
    scrypt hashes of `hash_password` are still verified beside them. When pwdlib says a
    verified hash is out of date (another hasher, other parameters), the new one is
    handed to `on_rehash(username, new_hash)` (sync or async) to store, and a `users`
    mapping given here is updated too; a failing `on_rehash` is logged and the login
    stands. Any other hasher plugs in as `verify(password, stored) -> bool` with a
    `dummy_hash` of its own format. Every hash, and every rehash, runs in `pool` (a
    `HashingPool` of its own unless one is shared): a flood of attempts waits a bounded
    time, then gets 503, and never holds the threads sync endpoints run on.
    """

    def __init__(
        self,
        users: Mapping[str, str] | Callable[[str], str | None],
        *,
        scopes: Mapping[str, list[str]] | None = None,
        verify: Callable[[str, str], bool] = verify_password,
        dummy_hash: str | None = None,
        pool: HashingPool | None = None,
        hasher: object | None = None,
        on_rehash: OnRehash | None = None,
    ) -> None:
        self._table: dict[str, tuple[str, str]] | None = None
        if isinstance(users, Mapping):
            table: dict[str, tuple[str, str]] = {}
            for name, stored in users.items():
                key = _check_username(name)
                if key in table:
                    raise ConfigurationError(
                        f"BasicPasswordVerifier: usernames {table[key][0]!r} and {name!r} are the same in NFC"
                    )
                table[key] = (name, stored)
            self._table = table
            self._lookup: Callable[[str], tuple[str, str] | None] = table.get
        else:
            lookup = users

            def found(name: str) -> tuple[str, str] | None:
                stored = lookup(name)
                return None if stored is None else (name, stored)

            self._lookup = found
        if on_rehash is not None and hasher is None:
            raise ConfigurationError("BasicPasswordVerifier: on_rehash= reports pwdlib's rehashes; it needs hasher=")
        self._check: Callable[[str, str], tuple[bool, str | None]]
        if hasher is not None:
            if verify is not verify_password:
                raise ConfigurationError("BasicPasswordVerifier: pass verify= or hasher=, not both")
            self._hasher, self._unreadable = _password_hash(hasher)
            self._check = self._check_pwdlib
            if dummy_hash is None:  # the current hasher's format: unknown users cost what known ones do
                dummy_hash = self._hasher.hash(os.urandom(16).hex())
        else:
            if verify is not verify_password and dummy_hash is None:
                raise ConfigurationError(
                    "BasicPasswordVerifier: a custom verify= needs a dummy_hash= in its own format"
                )

            def check(password: str, stored: str) -> tuple[bool, str | None]:
                return verify(password, stored), None

            self._check = check
        self._on_rehash = on_rehash
        self._scopes = scopes or {}
        self._dummy = dummy_hash if dummy_hash is not None else hash_password(os.urandom(16).hex())
        self.pool = pool if pool is not None else HashingPool()

    def __repr__(self) -> str:
        return f"BasicPasswordVerifier(workers={self.pool.workers})"

    def __call__(self, credentials: Any) -> Principal | None:
        """The principal for `credentials`, or `None`; hashes in the calling thread
        (within the pool's bounds), for a sync verifier of your own that wraps this one.
        An async `on_rehash` cannot be awaited here: it is closed unrun, and logged."""
        found, stored = self._find(credentials)
        ok, new_hash = self.pool.run_sync(self._check, credentials.password, stored)
        if ok and found is not None and new_hash is not None:
            pending = self._rehashed(found, new_hash)
            if pending is not None:
                if inspect.iscoroutine(pending):
                    pending.close()
                logger.warning("on_rehash returned an awaitable to a sync password check; it was not awaited")
        return self._conclude(found, ok)

    def verify_inline(self, credentials: Any) -> Awaitable[Principal | None]:
        """What a scheme calls: an awaitable that hashes on the pool's threads."""
        return self._verify_on_pool(credentials)

    async def _verify_on_pool(self, credentials: Any) -> Principal | None:
        found, stored = self._find(credentials)
        ok, new_hash = await self.pool.run(self._check, credentials.password, stored)
        if ok and found is not None and new_hash is not None:
            pending = self._rehashed(found, new_hash)
            if pending is not None:
                try:
                    await pending
                except Exception as exc:
                    logger.error("on_rehash raised %s; the login stands, the old hash is kept", type(exc).__name__)
        return self._conclude(found, ok)

    def _check_pwdlib(self, password: str, stored: str) -> tuple[bool, str | None]:
        """`(matches, new_hash)` on a pool thread: pwdlib's verify and, when due, rehash."""
        if stored.startswith(_PREFIX + "$"):
            return verify_password(password, stored), None
        try:
            return self._hasher.verify_and_update(password, stored)
        except self._unreadable:  # a hash no hasher reads, a bcrypt password over 72 bytes
            return False, None

    def _rehashed(self, found: tuple[str, str], new_hash: str) -> Awaitable[None] | None:
        """Keep `new_hash` for `found`'s user and report it; an awaitable to await, if any."""
        name = found[0]
        if self._table is not None:
            key = unicodedata.normalize("NFC", name)
            if self._table.get(key) == found:
                self._table[key] = (name, new_hash)
        if self._on_rehash is None:
            return None
        try:
            return self._on_rehash(name, new_hash)
        except Exception as exc:
            logger.error("on_rehash raised %s; the login stands, the old hash is kept", type(exc).__name__)
            return None

    def _find(self, credentials: Any) -> tuple[tuple[str, str] | None, str]:
        found = self._lookup(unicodedata.normalize("NFC", credentials.username))
        return found, found[1] if found is not None else self._dummy

    def _conclude(self, found: tuple[str, str] | None, ok: bool) -> Principal | None:
        if not ok or found is None:
            return None
        return Principal(found[0], self._scopes.get(found[0], ()))
