"""State that outlives a request: Digest nonce counts, revoked tokens, one-time proofs.

Each kind of state is a small Protocol here, in memory by default. A deployment with
several workers gives every worker the same store (one backed by Redis) by passing an
implementation of the Protocol. A store that cannot answer raises
`aa.ServiceUnavailable`, which the request meets as a 503: never a pass.

RFC 7616 §3.4 calls only a *repeated* nonce count a replay: a client sending requests
in parallel on one nonce lets them arrive out of order. So a nonce keeps the highest
count seen and a window of the counts just below it; each count is accepted once.

An attacker who knows one password must not be able to fill the store and lock other
users out, so the store is fair: each username holds at most `per_user` live nonces.
A nonce that has to make room is not forgotten silently (that would allow its replay):
its user's *floor* rises to its issue time, and any of that user's nonces issued at or
before the floor that the store no longer holds is answered `STALE`, which a client
takes as "fetch a new nonce and retry" without asking for the password again.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from enum import Enum
from typing import Any, Protocol

from .errors import ServiceUnavailable

__all__ = [
    "MemoryNonceCounter",
    "MemoryReplayCache",
    "MemoryRevocationList",
    "NonceCounter",
    "NonceUse",
    "ReplayCache",
    "ResultCache",
    "RevocationList",
]

WINDOW = 64
"""Counts this far below the highest one seen on a nonce are still told apart."""


class NonceUse(Enum):
    """What a nonce counter says about one use of a nonce count."""

    ACCEPTED = "accepted"
    """The first use of this count on this nonce."""
    REPLAYED = "replayed"
    """This count was used already, is too far behind the highest (unknowable), or the
    store has no room: refuse."""
    STALE = "stale"
    """The store let go of this nonce: refuse with `stale=true` so the client takes a
    new one."""


class NonceCounter(Protocol):
    async def use(self, nonce: str, count: int, *, username: str, issued_at: float, expires_at: float) -> NonceUse:
        """Record one use of `count` on `nonce` (issued to `username` at `issued_at`,
        valid until `expires_at`) and say whether it is the first."""
        ...


class RevocationList(Protocol):
    """Tokens revoked before they expire: one by its issuer and `jti`, or all of a
    subject's issued (`iat`) at or before a cut-off.

    `revoked` is synchronous because it is asked on the hot path, each time a remembered
    decision would be reused: an implementation answers from local memory (a shared one
    from a local copy it refreshes, so its staleness has a stated bound) and raises
    `aa.ServiceUnavailable` when its copy is older than that bound.
    """

    def revoked(self, claims: Mapping[str, Any]) -> bool:
        """Whether the token with these verified claims is revoked."""
        ...

    async def revoke_token(self, *, issuer: str | None, jti: str, expires_at: float) -> None:
        """Revoke one token until it would have expired anyway."""
        ...

    async def revoke_subject(
        self, *, issuer: str | None, subject: str, issued_before: float, expires_at: float
    ) -> None:
        """Revoke every token of `subject` issued at or before `issued_before`; kept
        until `expires_at` (the longest lifetime a token of theirs can have)."""
        ...


def revoked_in(
    claims: Mapping[str, Any],
    tokens: Mapping[tuple[str | None, str], float],
    subjects: Mapping[tuple[str | None, str], tuple[float, float]],
) -> bool:
    """Whether `claims` are revoked by these entries, as a `RevocationList` answers:
    `tokens` maps (iss, jti) to expires_at, `subjects` (iss, sub) to (cut-off, expires_at).

    Pure, so that every implementation reads its own copy with the same rules: an entry
    past its expiry no longer counts, and a subject's token that cannot show it was
    issued after the cut-off (`iat` missing or not a number) is refused.
    """
    issuer = claims.get("iss")
    if issuer is not None and type(issuer) is not str:
        return False  # not a token of any issuer a revocation names (PyJWT checks iss's type)
    now = time.time()
    jti = claims.get("jti")
    if type(jti) is str:
        until = tokens.get((issuer, jti))
        if until is not None and now < until:
            return True
    subject = claims.get("sub")
    if type(subject) is str:
        entry = subjects.get((issuer, subject))
        if entry is not None and now < entry[1]:
            iat = claims.get("iat")
            return not (type(iat) is int or type(iat) is float) or iat <= entry[0]
    return False


class MemoryRevocationList:
    """Revocations in this process's memory: a revoked token is refused on its next
    request, cached or not (`revoked` reads two dicts).

    Each entry lasts until the token it names would have expired anyway (`expires_at`),
    so the list holds only what still matters. It holds at most `max_entries`; when full
    of live entries a new revocation raises `ServiceUnavailable` rather than forgetting
    an older one, since a forgotten revocation would let that token work again. Each
    worker has its own copy: a deployment with several workers passes a shared
    implementation of `RevocationList` instead.

    A subject revocation refuses that subject's tokens whose `iat` is at or before the
    cut-off, and those without an `iat` (nothing says they were issued after it).
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._tokens: dict[tuple[str | None, str], float] = {}  # (iss, jti) -> expires_at
        self._subjects: dict[tuple[str | None, str], tuple[float, float]] = {}  # (iss, sub) -> (cut-off, expires_at)

    def revoked(self, claims: Mapping[str, Any]) -> bool:
        if not self._tokens and not self._subjects:
            return False
        return revoked_in(claims, self._tokens, self._subjects)

    async def revoke_token(self, *, issuer: str | None, jti: str, expires_at: float) -> None:
        key = (issuer, jti)
        if key not in self._tokens:
            self._make_room()
        self._tokens[key] = max(expires_at, self._tokens.get(key, expires_at))

    async def revoke_subject(
        self, *, issuer: str | None, subject: str, issued_before: float, expires_at: float
    ) -> None:
        key = (issuer, subject)
        held = self._subjects.get(key)
        if held is None:
            self._make_room()
            self._subjects[key] = (issued_before, expires_at)
        else:  # a later cut-off covers the earlier one; keep the longer of the two lives
            self._subjects[key] = (max(held[0], issued_before), max(held[1], expires_at))

    def _make_room(self) -> None:
        if len(self) < self.max_entries:
            return
        now = time.time()
        self._tokens = {k: v for k, v in self._tokens.items() if v > now}
        self._subjects = {k: v for k, v in self._subjects.items() if v[1] > now}
        if len(self) >= self.max_entries:
            raise ServiceUnavailable("Revocation list full")

    def __len__(self) -> int:
        return len(self._tokens) + len(self._subjects)


class ReplayCache(Protocol):
    """One-time values (a DPoP proof's `jti`, ...) seen within their validity window."""

    async def first_use(self, key: str, *, expires_at: float) -> bool:
        """Record `key` until `expires_at`; true the first time it is seen, false after."""
        ...


class MemoryReplayCache:
    """One-time values in this process's memory, at most `max_entries` live at once.

    Values share one short lifetime (a DPoP proof's window), so they expire about in
    the order they came: the sweep stops at the first live one. A full store cannot
    tell a replay from a first use, so it fails closed: `aa.ServiceUnavailable` (503),
    which a client retries, rather than forgetting a value that could then be replayed.
    Several workers need a shared store (one backed by Redis) to see each other's values.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> expires_at, in order of first use

    async def first_use(self, key: str, *, expires_at: float) -> bool:
        # No await between the look-up and the insert: one event loop sees no interleaving.
        now = time.time()
        seen = self._seen
        while seen:
            oldest, until = next(iter(seen.items()))
            if until > now:
                break
            del seen[oldest]
        held = seen.get(key)
        if held is not None and held > now:
            return False
        if len(seen) >= self.max_entries:
            raise ServiceUnavailable("Replay cache unavailable: full")
        seen[key] = expires_at
        return True

    def __len__(self) -> int:
        return len(self._seen)


class ResultCache(Protocol):
    """Answers worth sharing between workers (RFC 7662 introspection results), keyed by
    a digest of the credential, never the credential itself."""

    async def get(self, key: bytes) -> bytes | None: ...

    async def set(self, key: bytes, value: bytes, *, expires_at: float) -> None: ...


class _Nonce:
    """The counts seen on one nonce: the highest, and a bit per count just below it."""

    __slots__ = ("expires_at", "highest", "issued_at", "seen", "user")

    def __init__(self, user: _User, count: int, issued_at: float, expires_at: float) -> None:
        self.user = user
        self.highest = count
        self.seen = 1  # bit i: count `highest - i` was used
        self.issued_at = issued_at
        self.expires_at = expires_at

    def use(self, count: int) -> bool:
        if count > self.highest:
            shift = count - self.highest
            self.seen = ((self.seen << shift) | 1) & ((1 << WINDOW) - 1) if shift < WINDOW else 1
            self.highest = count
            return True
        behind = self.highest - count
        if behind >= WINDOW or self.seen >> behind & 1:
            return False
        self.seen |= 1 << behind
        return True


class _User:
    __slots__ = ("floor", "floor_expires", "name", "nonces")

    def __init__(self, name: str) -> None:
        self.name = name
        self.nonces: OrderedDict[str, _Nonce] = OrderedDict()  # in order of first use
        self.floor = float("-inf")  # nonces issued at or before this, not held: stale
        self.floor_expires = float("-inf")

    def idle(self, now: float) -> bool:
        return not self.nonces and self.floor_expires <= now


class MemoryNonceCounter:
    """Nonce counts in this process's memory: bounded in nonces, users and per user.

    `max_entries` bounds the live nonces (and, separately, the users with state);
    `per_user` the live nonces one username may hold. When the whole store is full the
    nonce first used longest ago makes room (its user's floor rises), so no user is
    ever locked out by others; only `max_entries` distinct users, each with a live
    nonce or floor, fill the user table, and then a new user is refused until one expires.
    """

    def __init__(self, max_entries: int = 100_000, per_user: int = 64) -> None:
        if max_entries < 1 or per_user < 1:
            raise ValueError("max_entries and per_user must be positive")
        self.max_entries = max_entries
        self.per_user = per_user
        self._nonces: OrderedDict[str, _Nonce] = OrderedDict()  # every user's, in order of first use
        self._users: OrderedDict[str, _User] = OrderedDict()  # in order of last use

    async def use(self, nonce: str, count: int, *, username: str, issued_at: float, expires_at: float) -> NonceUse:
        # No lock: `_use` never awaits, so on one event loop each use is whole by itself.
        return self._use(nonce, count, username, issued_at, expires_at, time.time())

    def _use(self, nonce: str, count: int, username: str, issued_at: float, expires_at: float, now: float) -> NonceUse:
        if count < 1:
            return NonceUse.REPLAYED  # counts start at 1 (RFC 7616 §3.4)
        if expires_at <= now:
            return NonceUse.STALE
        self._expire(now)
        held = self._nonces.get(nonce)
        if held is not None:
            if held.user.name != username:
                return NonceUse.REPLAYED  # a nonce is one user's: another's use of it is not a fresh start
            self._users.move_to_end(username)
            return NonceUse.ACCEPTED if held.use(count) else NonceUse.REPLAYED
        user = self._users.get(username)
        if user is None:
            if len(self._users) >= self.max_entries:
                return NonceUse.REPLAYED  # every slot is a user with live state: fail closed
            user = self._users[username] = _User(username)
        else:
            self._users.move_to_end(username)
        if issued_at <= user.floor:
            return NonceUse.STALE
        if len(user.nonces) >= self.per_user:
            self._let_go(next(iter(user.nonces)))
        elif len(self._nonces) >= self.max_entries:
            self._let_go(next(iter(self._nonces)))
        entry = _Nonce(user, count, issued_at, expires_at)
        user.nonces[nonce] = entry
        self._nonces[nonce] = entry
        return NonceUse.ACCEPTED

    def _let_go(self, nonce: str) -> None:
        """Make room: drop `nonce` and make sure it can never be used again."""
        entry = self._nonces.pop(nonce)
        user = entry.user
        del user.nonces[nonce]
        user.floor = max(user.floor, entry.issued_at)
        user.floor_expires = max(user.floor_expires, entry.expires_at)

    def _expire(self, now: float) -> None:
        # Nonces share one lifetime and are mostly first used soon after issue, so the
        # expired ones gather at the front; one that is not stops the sweep (it stays
        # bounded by the caps, and an expired nonce is refused before it gets here).
        nonces = self._nonces
        while nonces:
            nonce, entry = next(iter(nonces.items()))
            if entry.expires_at > now:
                break
            del nonces[nonce]
            entry.user.nonces.pop(nonce, None)
        users = self._users
        while users:
            user = next(iter(users.values()))
            if not user.idle(now):
                break
            del users[user.name]

    def __len__(self) -> int:
        return len(self._nonces)
