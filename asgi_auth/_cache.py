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
room for if more: a window shorter than an entry's stay would judge a cyclic workload by
its bursts), judges them: full since the window began, and fewer than one lookup in
`COLD_RATE` hitting, it goes cold (`bypassing`). While cold, callers ask
`skip(credential)` (or, resting, not even that: below) before hashing anything, and
leave the cache alone: no digest, no lookup, what `cache=False` costs (a decision's
cache left alone asks its verifier as if it had none, and the verifier's own cache, cold
or not, is the verifier's to skip).

**A cold cache holds nothing.** Going cold, it lets go of every entry: hits that rare do
not repay keeping thousands of answers alive, and a collector's full pass walks every
object they hold, which in a server stops every request in flight at once (under such
traffic that pause, not the work per request, is what made the p99 worse than
`cache=False`'s: docs/benchmarks.md). What judging needs is the hits a cache would have
had, and `skip` counts them for every request of a counted window (see the rest, below):
the credential's *fingerprint* (Python's `hash` of its last `FINGERPRINT` bytes — a
JWT's signature, any credential's most distinctive part) is kept in a direct-mapped
table of `PRINTS` slots per entry the cache has room for (an array of 64-bit ints, eight
bytes a slot and nothing for the collector to follow; beside it a byte per slot says
whether that fingerprint came back), and counted as a full cache would have taken it: a
miss the first time (noted) and the second (admitted, as the doorkeeper admits), a
would-be hit from the third on; so a credential used twice and never again, which a full
cache never hits, does not make it look warm. A fingerprint is cheap, and never a key:
it only ever estimates (two credentials sharing one can make the cache look warmer than
it is, which costs a window of bookkeeping, never an answer). Every request of the
window, not a sample: a credential used a few times in a row must be seen each time to
be seen coming back; and not one class of credentials at a time either (those sharing a
character, say), which misjudges traffic whose hits come from a few credentials and made
such a cache warm and go cold again over and over. A full cache's hit depends on what
came before it, so a fresh table first counts a window unjudged (`PRIMING`), rebuilding
that history: judging a fresh window alone, a credential had to come back three times
within it to count as a hit, and after a burst of garbage a cache stayed cold for good
under a working set as small as itself, which warm it would have served all from memory.
The window after is judged: the cache warms again, empty, once would-be hits are at
least twice as common as going cold allowed (`2 / COLD_RATE`, the margin that keeps a
workload at the edge from going back and forth). The table's size is what makes the
estimate a full cache's: with `PRINTS` slots per entry, a direct-mapped table keeps a
fingerprint about as long as the cache would keep its entry (with four, it remembered
further back than the cache could, and small caches, whose windows are long next to
their room, went warm and cold over and over under working sets eight times their room).
So, after a burst, a uniformly used working set up to twice the cache's room (a full
cache hits half of it) warms it again, at every size, and none goes back and forth;
`tests/test_cache.py` measures both.

**A cache that stays cold rests.** Counting is the one thing a cold cache costs over
`cache=False`, so one judged cold again counts less: it rests for about as long as a
window took, then counts afresh (a new table, primed, then judged: fingerprints from
before the rest would reach further back than a cache could), then rests 2 windows'
time, 4, 8, 16, and `MAX_REST` from then on — on average: each rest is drawn at random
between half and one and a half times that, so that when the next count falls cannot be
worked out from when the cache went cold (an attacker who could would only need to flood
those windows to keep legitimate traffic uncached; they must flood most of the time
instead, and what they then deny is the cache, never an answer: the cold path is
`cache=False`'s).

A rest is timed, not counted: counting requests down would cost every request of it
something, where a rest should cost nothing. Resting, the cache tells its owner
(`on_rest(True)`), whose hot path then takes the very branch it takes with `cache=False`
(a flag it reads either way), and a timer thread wakes the cache when the rest is over
(`on_rest(False)`; one thread for all the caches). Its length is windows of the last
counted window's duration, so it scales with the traffic, capped at `MAX_REST_SECONDS`:
a rest never outlasts a change of traffic by more than that. Under traffic that stays
cold the count costs about a sixteenth of what it would while `MAX_REST` windows take
less than that cap (for a cache of 4,096 entries, traffic of about 8,000 requests a
second or more); slower traffic, whose rests are capped, counts a larger part of the
time (at 1,000 requests a second, about a third), at a cost per second as much smaller;
a cache that went cold for a burst (of garbage, say) counts the very next windows and
warms after them if its traffic repeats; and however long it was cold, it warms within
the longest rest and `PRIMING` + 2 windows of its traffic starting to repeat. A timer
that cannot fire (the process forked under it) is woken in the child; without an alarm
thread at all (a thread limit) a cache does not rest but counts on; a wake-up for an
earlier rest (two threads that judged one window) is ignored; and the owner is held
weakly, so the cache makes no cycle with it. Keeping the entries instead and admitting
none (their hits at `max_entries / distinct`) was measured and is dearer: a miss through
a warm cache costs more than such hits save.

**Memory per entry** is what `tests/test_cache.py::test_memory_per_entry_is_what_the_docs_say`
measures with `tracemalloc`; `ENTRY_OVERHEAD` is the cache's own part (the entry object,
its digest, its dict and ring slots), and callers add the state they keep. A cold
cache holds no entry, only the tables it counts in: nine bytes a slot, `PRINTS` slots
per entry it has room for.

Not thread-safe beyond the GIL: a race between threads can cost a miss or an
over-full slot, never another key's value (the dict maps each digest to its own entry)
nor an exception (the tables are replaced when the cache goes cold, never shrunk under
a thread indexing them).
"""

from __future__ import annotations

import hashlib
import heapq
import inspect
import itertools
import logging
import os
import threading
import time
import weakref
from array import array
from collections.abc import Callable, Iterator
from functools import partial
from random import SystemRandom
from typing import Any, Generic, TypeVar

__all__ = ["ENTRY_OVERHEAD", "Cache", "Entry", "digest"]

V = TypeVar("V")

logger = logging.getLogger("asgi_auth")

_blake2b = hashlib.blake2b

WINDOW = 1024
"""Lookups between two judgements of the hit rate, at least (see the bypass, above)."""
COLD_RATE = 8
"""Cold when fewer than one lookup in this many hit, over a window, with the cache full."""
FINGERPRINT = 32
"""While cold, how many of a credential's last bytes `skip` hashes to count it."""
PRINTS = 2
"""While cold, how many fingerprints `skip` counts in, per entry the cache has room for."""
PRIMING = 1
"""While cold, windows `skip` counts to rebuild the history a full cache would have,
before the one that is judged."""
MAX_REST = 30
"""Staying cold, a cache rests (counts nothing) between two counts (`PRIMING` windows and
a judged one) for 1, 2, 4, 8, 16, then this many windows' time, on average (see "A cache
that stays cold rests")."""
MAX_REST_SECONDS = 30.0
"""The longest a rest may last, however slow the traffic that timed it."""

#: A rest's length, drawn uniformly from [0.5, 1.5) times its mean (a bench may seed it).
draw = SystemRandom().random
#: What a rest is timed by (a test may run it at a steady traffic's pace).
clock = time.monotonic


class _Alarm:
    """One daemon thread that runs each rest's wake-up when it falls due: one for every
    cache, since a thread per rest would let many cold rules hold as many threads. It
    lives only while a rest is pending (and `LINGER` seconds after): a process whose
    caches are warm has no thread of ours, so a fork (a pre-forking server, Python
    3.12's warning about forking with threads) finds none."""

    LINGER = 1.0

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Callable[[], None]]] = []  # a heap, soonest first
        self._order = itertools.count()  # ties are run in the order asked
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def later(self, seconds: float, wake: Callable[[], None]) -> None:
        """Run `wake` in `seconds`; raises if the alarm's thread can't be started (then
        nothing was scheduled)."""
        with self._changed:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._run, name="asgi_auth cache rests", daemon=True)
                thread.start()  # first: a thread that could not start is not the alarm's
                self._thread = thread
            heapq.heappush(self._due, (time.monotonic() + seconds, next(self._order), wake))
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._due or self._due[0][0] > time.monotonic():
                    if self._due:
                        self._changed.wait(self._due[0][0] - time.monotonic())
                    elif not self._changed.wait(self.LINGER) and not self._due:
                        self._thread = None  # under the lock: the next `later` starts another
                        return
                wake = heapq.heappop(self._due)[2]
            try:
                wake()  # outside the lock: a wake-up tells an owner, which must not wait on it
            except Exception:  # one cache's failure must not end every other cache's rests
                logger.exception("asgi_auth: a cache's rest could not be ended")
            del wake  # not to keep that cache (and its owner) alive till the next rest ends


_ALARM = _Alarm()


def later(seconds: float, wake: Callable[[], None]) -> None:
    """Call `wake` in `seconds`, on the alarm's thread (nothing in a rest cancels it)."""
    _ALARM.later(seconds, wake)


#: The caches resting now, woken at once in a forked child (see `_wake_all_in_child`).
_RESTING: weakref.WeakSet[Cache[Any]] = weakref.WeakSet()


def _wake_all_in_child() -> None:
    """After a fork the alarm's thread is gone (threads don't survive it, and its lock may
    have been held): a new alarm, and every cache it would have woken woken now, even one
    the fork caught half woken."""
    global _ALARM
    _ALARM = _Alarm()
    for cache in list(_RESTING):
        cache._wake(None, force=True)


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
        "__weakref__",
        "_again",
        "_began",
        "_counted",
        "_door",
        "_entries",
        "_filled",
        "_free",
        "_hand",
        "_hits",
        "_misses",
        "_owner",
        "_priming",
        "_prints",
        "_rest",
        "_rests",
        "_ring",
        "_slots",
        "_was_full",
        "_window",
        "bypassing",
        "max_bytes",
        "max_entries",
        "resting",
        "size",
    )

    def __init__(self, max_entries: int, max_bytes: int, *, on_rest: Callable[[bool], None] | None = None) -> None:
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
        # The doorkeeper's digests, while warm (made when first needed), a slot per entry
        # at least; while cold, the fingerprints counted (`PRINTS` slots per entry)
        # and, beside them, whether each came back. Both are made afresh, not cleared.
        self._door: list[bytes | None] = []
        self._slots = 1 << max(4, (max_entries - 1).bit_length())
        self._counted = PRINTS * max_entries  # the count's slots
        self._prints: array[int] = array("q")
        self._again = bytearray()
        self._priming = 0  # cold: windows still to count before one is judged
        # The bypass: hits and misses since the last judgement, its window, whether a put
        # has found the cache full, and whether one had when the window began.
        self._hits = self._misses = 0
        self._window = max(WINDOW, 2 * max_entries)
        self._filled = self._was_full = False
        self._began = clock()  # when the window began, to time a rest by it
        #: Whether the cache rests (cold, and counting nothing till a timer wakes it).
        self.resting = False
        # `on_rest`, told `True` when a rest begins and `False` when it ends (see the rest,
        # above). An owner's method is held weakly: the owner holds the cache, and a
        # strong reference back would make a cycle only the collector could free.
        self._owner: Callable[[], Callable[[bool], None] | None] = (
            weakref.WeakMethod(on_rest) if inspect.ismethod(on_rest) else lambda: on_rest
        )
        self._rests = 0  # rests begun: names the one a wake-up ends
        self._rest = 0  # how many windows' time the next rest lasts, on average
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
        if self.resting:  # a request that raced the rest's start: nothing counted
            return True
        # As a full cache would take it: noted at the first sighting, admitted at the
        # second (the doorkeeper), a hit from the third. The table holds fingerprints,
        # and beside it whether each was seen again.
        prints, again = self._prints, self._again
        if not prints:  # a thread racing the warming: it found no table, and counts nothing
            return True
        fingerprint = hash(credential[-FINGERPRINT:])
        index = fingerprint % self._counted
        if prints[index] != fingerprint:  # the first sighting (or another's slot): noted
            prints[index] = fingerprint
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
        if lookups < self._window:  # a racing thread has judged this window already
            return
        self._hits = self._misses = 0
        now = clock()
        took, self._began = now - self._began, now
        if self._priming > 0:  # rebuilding the history: this window is not judged
            self._priming -= 1
        elif self.bypassing:
            if hits * COLD_RATE >= 2 * lookups:
                self._rest = 0
                self._prints = array("q")  # (`_again` is kept: a racing `skip` may index it)
                self.bypassing = False
            else:  # still cold: rest, longer each time, then count afresh
                self._rest = min(2 * self._rest or 1, MAX_REST)
                self._sleep(min(self._rest * took * (0.5 + draw()), MAX_REST_SECONDS))
        elif self._was_full and hits * COLD_RATE < lookups:
            self._entries, self._ring, self._free, self._door = {}, [], [], []
            self._count_afresh()
            self._hand = self.size = 0
            self._filled = False
            self._rest = 0  # the first cold windows are counted, unrested
            self.bypassing = True  # last: a racing `skip` finds the tables it counts in
        self._was_full = self._filled

    def _sleep(self, seconds: float) -> None:
        """Rest for `seconds`: the owner is told, and the alarm wakes the cache. Without
        an alarm (no thread could be started) there is no rest: the counting goes on."""
        self._rests += 1
        _RESTING.add(self)  # first: a fork from here on wakes it in the child
        self.resting = True
        self._tell(True)
        try:
            later(seconds, partial(self._wake, self._rests))
        except Exception:
            logger.warning("asgi_auth: a cold cache counts on, unrested (no alarm thread)", exc_info=True)
            self._wake(self._rests)

    def _wake(self, rest: int | None, *, force: bool = False) -> None:
        """Rest number `rest` is over: count a window afresh, and tell the owner. A wake-up
        for an earlier rest (two threads that began one each) is ignored."""
        if not force and (not self.resting or rest != self._rests):
            return
        self._count_afresh()
        self._hits = self._misses = 0
        self._began = clock()
        self.resting = False
        self._tell(False)
        _RESTING.discard(self)  # last: a fork before here wakes it again in the child

    def _count_afresh(self) -> None:
        """New tables for `skip` to count in, and windows to rebuild their history."""
        self._again = bytearray(self._counted)  # first: `prints` is never the longer
        self._prints = array("q", bytes(8 * self._counted))
        self._priming = PRIMING

    def _tell(self, resting: bool) -> None:
        owner = self._owner()
        if owner is not None:
            owner(resting)

    def _seen_before(self, key: bytes) -> bool:
        """The doorkeeper: true on a key's second sighting, while its slot still holds it."""
        door = self._door or self._doorkeeper()
        index = hash(key) & (len(door) - 1)
        if door[index] == key:
            door[index] = None
            return True
        door[index] = key
        return False

    def _doorkeeper(self) -> list[bytes | None]:
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


os.register_at_fork(after_in_child=_wake_all_in_child)
