"""State that outlives a request: Digest nonce counts.

In memory by default. A deployment with several workers gives every worker the same
store (e.g. one backed by Redis) by implementing `NonceCounter`'s single method.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import anyio

__all__ = ["MemoryNonceCounter", "NonceCounter"]


class NonceCounter(Protocol):
    async def advance(self, nonce: str, count: int, expires_at: float) -> bool:
        """Record `count` for `nonce`; `False` if it is not above every count seen (a replay)."""
        ...


class MemoryNonceCounter:
    """The highest nonce-count seen per nonce, bounded in size and forgotten at expiry."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = anyio.Lock()

    async def advance(self, nonce: str, count: int, expires_at: float) -> bool:
        async with self._lock:
            now = time.time()
            counts = self._counts
            # Entries are kept in order of creation and nonces share one lifetime, so the
            # expired ones are at the front.
            while counts and next(iter(counts.values()))[1] <= now:
                counts.popitem(last=False)
            seen = counts.get(nonce)
            if seen is not None:
                if count <= seen[0]:
                    return False
                counts[nonce] = (count, seen[1])
                return True
            if len(counts) >= self.max_entries:
                # Full of live nonces: refuse rather than forget one and allow its replay.
                return False
            counts[nonce] = (count, expires_at)
            return True

    def __len__(self) -> int:
        return len(self._counts)
