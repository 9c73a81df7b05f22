"""The bounded cache behind remembered decisions and verified tokens.

Keys are BLAKE2b digests of the credential (`digest`), never the credential, so an
entry costs the same whatever the token's length and a key can be handed from the
decision to the verifier: one hash per request, shared by both.

**Bounds.** At most `max_entries` entries and `max_bytes` of estimated state (each
entry is put with its `cost`, which the caller estimates from the credential's length:
what it keeps, a verified token's claims and context, grows with it).

**Eviction: CLOCK** (second chance). Each entry has a *used* bit, set by a hit; making
room, a hand walks a ring of slots, clearing set bits and evicting the first entry
whose bit is clear (or that has expired). It approximates LRU without moving anything
on a hit: a hit writes one attribute, allocates nothing, and no entry ever references
another, so the cache makes no cyclic garbage and the collector has nothing to trace
through it. Chosen over segmented LRU and S3-FIFO for that: their queues move entries
on hits or need a ghost list, for a gain that the admission rule below already gives.

**Admission: a doorkeeper.** While there is room every entry is admitted. Once full, a
new key is admitted only on its second sighting: a direct-mapped table of recently
seen keys (one slot per entry, overwritten by the next key falling on it) remembers the
first. So a stream of distinct credentials (a scan, 100k rotating tokens) does not
churn out the entries that are reused: those stay, and the hit rate degrades towards
`max_entries / distinct` instead of collapsing to zero, and a miss costs a dict lookup
and a slot write, not an eviction. A refusal the caller marks `doubtful` (a rejected
credential) is only ever admitted on its second sighting, so garbage sent once is
never kept.

**Bypass when cold.** When credentials hardly ever come back (100k tokens, each seen
rarely), every miss would still pay for the cache: the digest, a lookup, an admission
attempt, for hits too rare to repay them. So the cache counts its hits and misses and,
at the first put after every window of lookups (`WINDOW`, or twice the entries it has
room for if more: a window shorter than an entry's stay would judge a cyclic workload
by its bursts), judges them: full since the window began, and fewer than one lookup in
`COLD_RATE` hitting, it goes cold (`bypassing`). While cold, callers ask `skip(credential)`
before hashing anything, and leave the cache alone: no digest, no lookup, what
`cache=False` costs (a decision's cache left alone asks its verifier as if it had none,
and the verifier's own cache, cold or not, is the verifier's to skip).

**A cold cache holds nothing.** Going cold, it lets go of every entry: hits that rare do
not repay keeping thousands of answers alive, and a collector's full pass walks every
object they hold, which in a server stops every request in flight at once (under such
traffic that pause, not the work per request, is what made the p99 worse than
`cache=False`'s: docs/benchmarks.md). What judging needs is the hits a cache would have
had, and `skip` counts them for every request: the credential's *fingerprint* (Python's
`hash` of its last `FINGERPRINT` bytes — a JWT's signature, any credential's most
distinctive part) is kept in the doorkeeper's table, now a table of fingerprints (a list
of ints, in which the collector has nothing to follow; beside it a byte per slot says
whether that fingerprint came back), and counted as a full cache would have taken it: a
miss the first time (noted) and the second (admitted, as the doorkeeper admits), a
would-be hit from the third on; so a credential used twice and never again, which a
full cache never hits, does not make it look warm. A fingerprint is cheap, and never a
key: it only ever estimates (two credentials sharing one can make the cache look warmer
than it is, which costs a window of bookkeeping, never an answer). Every request, not a
sample: a credential used a few times in a row must be seen each time to be seen coming
back; and not one class of credentials at a time either (those sharing a character,
say), which misjudges traffic whose hits come from a few credentials and made such a
cache warm and go cold again over and over. Judged after every window, the cache warms
again, empty, once would-be hits are at least twice as common as going cold allowed (`2
/ COLD_RATE`: the table holds up to twice as many fingerprints as the cache has room
for, and the margin keeps a workload at the edge from going back and forth).

**Memory per entry** is what `tests/test_cache.py::test_memory_per_entry_is_what_the_docs_say`
measures with `tracemalloc`; `ENTRY_OVERHEAD` is the cache's own part (the entry object,
its digest, its dict and ring slots), and callers add the state they keep.

Not thread-safe beyond the GIL: a race between threads can cost a miss or an
over-full slot, never another key's value (the dict maps each digest to its own entry)
nor an exception (the tables are replaced when the cache goes cold, never shrunk under
a thread indexing them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["ENTRY_OVERHEAD", "Cache", "Entry", "digest"]

V = TypeVar("V")

_blake2b = hashlib.blake2b

WINDOW = 1024
"""Lookups between two judgements of the hit rate, at least (see the bypass, above)."""
COLD_RATE = 8
"""Cold when fewer than one lookup in this many hit, over a window, with the cache full."""
FINGERPRINT = 32
"""While cold, how many of a credential's last bytes `skip` hashes to count it."""

ENTRY_OVERHEAD = 256
"""Bytes the cache itself holds per entry (an `Entry` of 7 slots, a 64-byte digest,
its dict and ring slots, and its doorkeeper slot), rounded up."""


def digest(data: bytes) -> bytes:
    """The key a credential is cached under: BLAKE2b-512, collision-resistant, so no
    credential can find another's entry.

    BLAKE2b because it is the cheapest such hash here: CPython's own C code, called
    with no parameters, where SHA-256 goes through OpenSSL's per-call setup (and,
    without SHA-NI, costs about twice as much). Its full 64-byte digest, not a
    truncation: that is the cheapest call too (no keyword to parse), and its 256-bit
    collision resistance leaves no collision for anyone to precompute, which is what
    a per-process key would otherwise be for (BLAKE2's `key=` costs one more
    compression per call; a 16-byte digest would bring the birthday bound down to
    2**64)."""
    return _blake2b(data).digest()


class Entry(Generic[V]):
    """One remembered answer and the window `valid_from <= now < valid_until` it holds for."""

    __slots__ = ("cost", "slot", "still_valid", "used", "valid_from", "valid_until", "value")

    def __init__(
        self,
        value: V,
        valid_from: float,
        valid_until: float,
        still_valid: Callable[[], bool] | None,
        cost: int,
        slot: int,
    ) -> None:
        self.value = value
        self.valid_from = valid_from
        self.valid_until = valid_until
        #: Asked before the entry is reused (a revocation check); see `Verdict.still_valid`.
        self.still_valid = still_valid
        self.cost = cost
        self.slot = slot
        self.used = False


class Cache(Generic[V]):
    """Digest → `Entry`, bounded by entries and bytes, CLOCK eviction, doorkeeper admission."""

    __slots__ = (
        "_again",
        "_door",
        "_entries",
        "_filled",
        "_free",
        "_hand",
        "_hits",
        "_mask",
        "_misses",
        "_ring",
        "_slots",
        "_was_full",
        "_window",
        "bypassing",
        "max_bytes",
        "max_entries",
        "size",
    )

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a cache needs room for at least one entry")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        #: Estimated bytes held, the sum of the entries' costs.
        self.size = 0
        self._entries: dict[bytes, Entry[V]] = {}
        self._ring: list[bytes | None] = []  # the CLOCK's slots; grows to max_entries
        self._free: list[int] = []
        self._hand = 0
        # Digests while warm, fingerprints while cold; made when first needed. Its
        # slots are a power of two; cold, `_again` says which fingerprints came back.
        self._door: list[bytes | int | None] = []
        self._slots = 1 << max(4, (max_entries - 1).bit_length())
        self._mask = self._slots - 1
        self._again = bytearray()  # made when the cache goes cold
        # The bypass: hits and misses since the last judgement, its window, whether a put
        # has found the cache full, and whether one had when the window began.
        self._hits = self._misses = 0
        self._window = max(WINDOW, 2 * max_entries)
        self._filled = self._was_full = False
        #: Whether the cache is cold: requests leave it alone (see the module's docstring).
        self.bypassing = False

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self._entries))

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def get(self, key: bytes, now: float) -> Entry[V] | None:
        """The live entry for `key`, marked used; an expired one is dropped. None while
        cold, and not counted: a cold cache holds nothing, and `skip` counts."""
        if self.bypassing:
            return None
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return None
        if entry.valid_from <= now < entry.valid_until:
            entry.used = True
            self._hits += 1
            return entry
        self._misses += 1
        self._drop(key, entry)
        return None

    def discard(self, key: bytes) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            self._drop(key, entry)

    def put(
        self,
        key: bytes,
        value: V,
        valid_from: float,
        valid_until: float,
        now: float,
        *,
        cost: int,
        still_valid: Callable[[], bool] | None = None,
        doubtful: bool = False,
    ) -> bool:
        """Remember `value` under `key` for its window; whether it was admitted (never
        while cold: a cold cache holds nothing)."""
        if self._hits + self._misses >= self._window:
            self._judge()
        if self.bypassing:
            return False
        if valid_until <= now or valid_until <= valid_from:
            return False
        cost += ENTRY_OVERHEAD
        # Read once: going cold replaces them, and a thread racing that writes to the old.
        entries, ring, free = self._entries, self._ring, self._free
        held = entries.get(key)
        if held is not None:
            self.size += cost - held.cost
            held.value, held.valid_from, held.valid_until = value, valid_from, valid_until
            held.still_valid, held.cost = still_valid, cost
            return True
        if cost > self.max_bytes:
            return False
        full = len(entries) >= self.max_entries or self.size + cost > self.max_bytes
        self._filled |= full
        if (full or doubtful) and not self._seen_before(key):
            return False
        if full and not self._make_room(cost, now):
            return False
        if free:
            slot = free.pop()
            ring[slot] = key
        else:
            slot = len(ring)
            ring.append(key)
        entries[key] = Entry(value, valid_from, valid_until, still_valid, cost, slot)
        self.size += cost
        return True

    def skip(self, credential: bytes | str) -> bool:
        """Whether the request with `credential` (the header value, or the token) should
        leave the cache alone: true while cold, once its fingerprint is counted towards
        the judgement that ends it (see the bypass, above)."""
        if not self.bypassing:
            return False
        # As a full cache would take it: noted at the first sighting, admitted at the
        # second (the doorkeeper), a hit from the third. The table holds fingerprints,
        # and beside it whether each was seen again.
        fingerprint = hash(credential[-FINGERPRINT:])
        index = fingerprint & self._mask
        door, again = self._door or self._doorkeeper(), self._again
        if door[index] != fingerprint:  # the first sighting (or another's slot): noted
            door[index] = fingerprint
            again[index] = 0
            self._misses += 1
        elif again[index]:  # the third or later: a would-be hit
            self._hits += 1
        else:  # the second: admitted
            again[index] = 1
            self._misses += 1
        if self._hits + self._misses >= self._window:
            self._judge()
        return True

    def _judge(self) -> None:
        """Go cold, or warm again, by the (would-be) hit rate over the window just ended.

        Either way the tables are replaced, not emptied in place, so a thread still
        working on the old ones (`put` between taking a free slot and filling it) writes
        into those, costing a miss rather than an index out of range."""
        hits, lookups = self._hits, self._hits + self._misses
        self._hits = self._misses = 0
        if self.bypassing:
            if hits * COLD_RATE >= 2 * lookups:
                self.bypassing = False
                self._door = []  # digests again
        elif self._was_full and hits * COLD_RATE < lookups:
            self._entries, self._ring, self._free = {}, [], []
            self._door, self._again = [None] * self._slots, bytearray(self._slots)
            self._hand = self.size = 0
            self._filled = False
            self.bypassing = True  # last: a racing `skip` finds the tables it counts in
        self._was_full = self._filled

    def _seen_before(self, key: bytes) -> bool:
        """The doorkeeper: true on a key's second sighting, while its slot still holds it."""
        door = self._door or self._doorkeeper()
        index = hash(key) & (len(door) - 1)
        if door[index] == key:
            door[index] = None
            return True
        door[index] = key
        return False

    def _doorkeeper(self) -> list[bytes | int | None]:
        """The doorkeeper's table, made when first needed: a slot per entry at least."""
        self._door = [None] * self._slots
        return self._door

    def _make_room(self, cost: int, now: float) -> bool:
        """Evict by CLOCK until an entry of `cost` fits; false if the hand found none
        in two turns (only a race between threads can leave it so)."""
        entries, ring = self._entries, self._ring
        turns = 2 * len(ring) + 1
        hand = self._hand
        while len(entries) >= self.max_entries or self.size + cost > self.max_bytes:
            if turns == 0 or not ring:
                self._hand = hand
                return False
            turns -= 1
            if hand >= len(ring):
                hand = 0
            key = ring[hand]
            hand += 1
            if key is None:
                continue
            entry = entries.get(key)
            if entry is None:
                continue
            if entry.used and entry.valid_until > now:
                entry.used = False
                continue
            self._drop(key, entry)
        self._hand = hand
        return True

    def _drop(self, key: bytes, entry: Entry[V]) -> None:
        if self._entries.pop(key, None) is None:
            return
        ring = self._ring
        if entry.slot < len(ring) and ring[entry.slot] == key:
            ring[entry.slot] = None
            self._free.append(entry.slot)
        self.size -= entry.cost
