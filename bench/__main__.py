"""Run every benchmark in one process: `python -m bench [--quick] [--json PATH] [--plot PATH]`.

Each variant is an ASGI app called directly (`await app(scope, receive, send)`) with a
fresh copy of a prepared scope; after a warm-up, rounds are interleaved across the
variants, in a new shuffled order each round, so that machine drift and the heap left by
a neighbour hit all of them alike. Reported per request: the median µs of each variant's
fastest batch (as timeit takes the best run: a busy machine only ever adds time), the
median and p99 of all its samples, and each variant's overhead over its floor as a ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench import apps

#: The minimal middleware rows, decoding every request and with a token cache.
MINIMAL_DECODING = "minimal middleware, decoding"
MINIMAL_CACHED = "minimal middleware, cache keyed by digest"
MINIMAL_TOKEN_KEYED = "minimal middleware, cache keyed by token"
#: The most tokens a rotating row sends once each before it is measured.
WARM_PASS = 60_000
#: Rotating token counts, and rule counts.
TOKEN_COUNTS = [1, 1_000, 10_000, 100_000]
RULE_COUNTS = [10, 1_000, 10_000]
BASE_HEADERS = [(b"host", b"bench"), (b"user-agent", b"bench/1"), (b"accept", b"*/*")]


@dataclass
class Variant:
    name: str
    group: str
    app: Any
    path: str
    headers: list[tuple[bytes, bytes]]
    status: int
    floor: str | None = None  # the variant whose cost this one adds to
    against: str | None = None  # the asgi_auth variant doing the same work
    minimal: str = MINIMAL_DECODING  # the minimal middleware doing the same work
    tokens: int = 0  # > 1: the Authorization header rotates over this many tokens
    paths: Callable[[int], str] | None = None  # request i's path, for distinct paths
    rules: int = 0  # > 0: the first `rules` distinct paths reach every rule once
    own_headers: Callable[[int], list[tuple[bytes, bytes]]] | None = None  # request i's own headers (a proof)
    sent: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    samples: list[float] = field(default_factory=list)
    batch_medians: list[float] = field(default_factory=list)

    @property
    def warmup_pass(self) -> int:
        """Requests that first send each token once, in order, or reach each rule once
        (up to `WARM_PASS`), so that the measured requests meet caches as full as steady
        traffic leaves them: a rule remembers its own decisions, so without this a
        distinct-paths row over more rules than its warm-up would count the first
        request of its token to each rule, not the router."""
        return min(max(self.tokens if self.tokens > 1 else 0, self.rules), WARM_PASS)


def scope_for(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [*BASE_HEADERS, *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("bench", 80),
        "state": {},
    }


def bearer(alg: str = "HS256") -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {apps.TOKENS[alg]}".encode())]


def fresh(value: bytes) -> bytes:
    """A new bytes object equal to `value`, as a server makes one per request: its
    hash is not yet computed (`bytes(value)` would give back `value` itself)."""
    return bytes(bytearray(value))


Request = tuple[str, bytes, list[tuple[bytes, bytes]]]


def requests(variant: Variant, n: int) -> list[Request]:
    """The next `n` requests' path, raw path and headers, each header a new bytes
    object; a rotating variant draws its token uniformly (seeded), after its warm-up
    pass, and a distinct-paths variant gives each request its own path."""
    out: list[Request] = []
    for _ in range(n):
        i = variant.sent
        variant.sent += 1
        path = variant.paths(i) if variant.paths is not None else variant.path
        headers = [(fresh(k), fresh(v)) for k, v in (*BASE_HEADERS, *variant.headers)]
        if variant.tokens > 1:
            t = i if i < variant.warmup_pass else variant.rng.randrange(variant.tokens)
            headers.append((b"authorization", f"Bearer {apps.rotating_token(t)}".encode()))
        if variant.own_headers is not None:  # made here, before the batch's clock starts
            headers += variant.own_headers(i)
        out.append((path, path.encode(), headers))
    return out


def variants(rules: list[int] | None = None, only: Container[str] | None = None, build: bool = True) -> list[Variant]:
    """Every contestant, or those named in `only`; apps are built only when chosen, so
    that a process measuring one of them (`bench.instructions`) builds just that one,
    and not at all with `build=False` (to read the names and what each is set against)."""
    raw = apps.raw_app
    chosen: list[Variant] = []

    def add(
        name: str,
        group: str,
        make: Callable[[], Any],
        path: str = "/users/me/",
        headers: list[tuple[bytes, bytes]] | None = None,
        status: int = 200,
        floor: str | None = "raw ASGI app",
        alg: str = "HS256",
        **extra: Any,
    ) -> None:
        if only is None or name in only:
            hs = bearer(alg) if headers is None else headers
            chosen.append(Variant(name, group, make() if build else None, path, hs, status, floor, **extra))

    cached = {"minimal": MINIMAL_CACHED}
    # Floors: what each contestant adds its cost to.
    add("raw ASGI app", "floors", lambda: raw, floor=None)
    for name, plain in (
        ("FastAPI", apps.fastapi_plain),
        ("Starlette", apps.starlette_plain),
        ("Litestar", apps.litestar_plain),
    ):
        add(f"{name} plain", "floors", plain, floor=None)
    # The headline: every contestant decodes the token of every request.
    off = "asgi_auth HS256 cache off"
    add(MINIMAL_DECODING, "decoding", partial(apps.MinimalMiddleware, raw, cache=False), against=off)
    add(off, "decoding", partial(apps.asgi_auth_app, raw, apps.bearer("HS256", cache=False)))
    peers = (
        ("FastAPI", "FastAPI Security()", apps.fastapi_security, apps.fastapi_asgi_auth),
        ("Starlette", "Starlette AuthenticationMiddleware", apps.starlette_authentication, apps.starlette_asgi_auth),
        ("Litestar", "Litestar JWTAuth", apps.litestar_jwt, apps.litestar_asgi_auth),
    )
    for framework, theirs, make_theirs, ours in peers:
        floor, mine = f"{framework} plain", f"{framework} + asgi_auth cache off"
        add(theirs, "decoding", make_theirs, floor=floor, against=mine)
        add(mine, "decoding", partial(ours, cache=False), floor=floor)
    # Caching: beside peers that cache too, or labelled as the feature it is.
    on = "asgi_auth HS256 cache on"
    # Like for like: keyed by the header's digest, as asgi_auth's cache must be; and keyed
    # by the token, the shortest a hand-written cache gets (and one asgi_auth may not be).
    add(MINIMAL_CACHED, "cached", partial(apps.MinimalMiddleware, raw, digest=True), against=on, **cached)
    add(MINIMAL_TOKEN_KEYED, "cached", partial(apps.MinimalMiddleware, raw), against=on, **cached)
    add(on, "cached", partial(apps.asgi_auth_app, raw, apps.bearer("HS256", cache=True)), **cached)
    for framework, theirs, make_theirs, ours in peers:
        floor, mine = f"{framework} plain", f"{framework} + asgi_auth cache on"
        if framework != "Litestar":  # JWTAuth has no cache to turn on: the row is the feature
            add(
                f"{theirs} + LRU cache", "cached", partial(make_theirs, cache=True), floor=floor, against=mine, **cached
            )
        add(mine, "cached", partial(ours, cache=True), floor=floor, **cached)
    # References: verification alone, and asgi_auth's checks as one function.
    add("PyJWT decode alone, key prepared once", "reference", lambda: apps.PyJWTDecode(raw), against=off)
    add("PyJWT jwt.decode(token, secret)", "reference", lambda: apps.PyJWTDecode(raw, prepared=False), against=off)
    add("same checks inlined, cache off", "reference", partial(apps.InlinedChecks, raw, cache=False), against=off)
    add("same checks inlined, cache on", "reference", partial(apps.InlinedChecks, raw), against=on, **cached)
    # asgi_auth's other answers and algorithms.
    add("asgi_auth API key", "asgi_auth", lambda: apps.api_key_app(raw), headers=[(b"x-api-key", b"key-123")], **cached)
    add("asgi_auth public route", "asgi_auth", lambda: apps.asgi_auth_app(raw, apps.bearer()), "/public", [], **cached)
    make = partial(apps.asgi_auth_app, raw, apps.bearer())
    add("asgi_auth 401 (no token)", "asgi_auth", make, headers=[], status=401, **cached)
    add("asgi_auth 403 (scope)", "asgi_auth", make, "/admin", status=403, **cached)
    for alg in ("RS256", "ES256"):
        for cache in (True, False):
            add(
                f"asgi_auth {alg} cache {'on' if cache else 'off'}",
                "asgi_auth",
                lambda alg=alg, cache=cache: apps.asgi_auth_app(raw, apps.bearer(alg, cache)),
                alg=alg,
                against=on if cache else off,
                **(cached if cache else {}),
            )
    for hook in apps.DECISION_HOOKS:
        add(
            f"asgi_auth HS256 cache on, {hook}",
            "events",
            lambda hook=hook: apps.asgi_auth_app(raw, apps.bearer(), on_decision=apps.decision_hook(hook)),
            against=on,
            **cached,
        )
    # Many clients: tokens drawn uniformly from a pool.
    for n in TOKEN_COUNTS:
        for cache in (True, False):
            add(
                f"asgi_auth cache {'on' if cache else 'off'}, {n:,} token{'s' if n > 1 else ''}",
                "tokens",
                partial(apps.asgi_auth_app, raw, apps.bearer("HS256", cache)),
                headers=[] if n > 1 else None,
                tokens=n,
                against=on if cache else off,
                **(cached if cache else {}),
            )
    # Many rules: one path again and again (the memo), distinct paths (the router).
    for n in RULE_COUNTS if rules is None else rules:
        target = f"/svc{(n - 3) // 2}/items/7"
        make = partial(apps.asgi_auth_app, raw, apps.bearer(), rules=n)
        add(f"asgi_auth {n:,} rules, one path", "rules", make, target, against=on, **cached)
        add(
            f"asgi_auth {n:,} rules, distinct paths",
            "rules",
            make,
            target,
            paths=partial(_distinct_path, n),
            rules=n,
            against=on,
            **cached,
        )
        add(
            f"asgi_auth {n:,} mixed templates, distinct paths",
            "rules",
            partial(apps.asgi_auth_app, raw, apps.bearer(), rules=n, shape="mixed"),
            f"/files/a.v{(n - 3) // 2}",
            paths=partial(_mixed_path, n),
            rules=n,
            against=on,
            **cached,
        )
    return chosen


def _distinct_path(rules: int, i: int) -> str:
    """Request i's path: a rule chosen by i (the first `rules - 3` requests reach each
    once: 7919 is prime to the rule counts), and an id no earlier request had."""
    return f"/svc{(i * 7919) % (rules - 3)}/items/{i}"


def _mixed_path(rules: int, i: int) -> str:
    """Request i's path for the `/files/{name}.v{k}` rules: rule k chosen by i, a new name."""
    return f"/files/report{i}.v{(i * 7919) % (rules - 3)}"


def exchange(variant: Variant) -> tuple[dict[str, Any], Callable[..., Any], Callable[..., Any], Callable[[], None]]:
    """`variant`'s scope template, ASGI `receive` and `send` for it, and a check that it
    answered with the status it should: a contestant that answers wrongly is not measured."""
    template = scope_for(variant.path, variant.headers)
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    def check() -> None:
        if not status or any(s != variant.status for s in status):
            wrong = next((s for s in status if s != variant.status), None)
            raise SystemExit(f"{variant.name}: expected {variant.status}, got {wrong}")
        status.clear()

    return template, receive, send, check


async def run_batch(variant: Variant, n: int) -> None:
    template, receive, send, check = exchange(variant)
    app, clock = variant.app, time.perf_counter_ns
    samples: list[float] = []
    for path, raw_path, headers in requests(variant, n):
        scope = {**template, "path": path, "raw_path": raw_path, "headers": headers, "state": {}}
        start = clock()
        await app(scope, receive, send)
        samples.append((clock() - start) / 1000)
    variant.samples += samples
    variant.batch_medians.append(statistics.median(samples))
    check()


async def warm(variant: Variant, warmup: int) -> None:
    """A rotating variant's pass over its tokens, then `warmup` requests; nothing kept."""
    pending = variant.warmup_pass + warmup
    while pending > 0:  # in batches, so that no list holds the whole pass
        await run_batch(variant, min(pending, 5_000))
        pending -= 5_000
    variant.samples.clear()
    variant.batch_medians.clear()


async def measure(vs: list[Variant], rounds: int, per_round: int, warmup: int, pause: float = 0.0) -> None:
    """Interleaved rounds, each in its own shuffled order (seeded, so runs compare), so
    that no variant always follows the same neighbour; the collector runs between
    batches, never inside one, so that every batch starts from a clean heap. What the
    apps and their warm-up built is frozen out of the collector's view, so that
    collecting between batches costs what the batches left, not the whole heap.
    `pause`: seconds the event loop is left to other tasks before each batch (a store's
    background refresh), as a server's loop runs them between requests."""
    for v in vs:
        if pause:
            await asyncio.sleep(pause)
        await warm(v, warmup)
    gc.collect()
    gc.freeze()
    order, rng = list(vs), random.Random(0)
    try:
        for _ in range(rounds):
            rng.shuffle(order)
            for v in order:
                if pause:
                    await asyncio.sleep(pause)
                gc.collect()
                gc.disable()
                await run_batch(v, per_round)
                gc.enable()
    finally:
        gc.enable()
        gc.unfreeze()


def overheads(values: dict[str, float], vs: list[Variant]) -> dict[str, dict[str, float | None]]:
    """Per variant with a floor: what it adds to it (`values` are µs or instructions),
    and that as a ratio to what the minimal middleware doing the same work adds (decoding
    or caching) and to what the asgi_auth variant doing the same work adds."""
    added = {v.name: values[v.name] - values[v.floor] for v in vs if v.floor and v.floor in values}
    out: dict[str, dict[str, float | None]] = {}
    for v in vs:
        if v.name in added:
            minimal, ours = added.get(v.minimal), added.get(v.against or "")
            out[v.name] = {
                "overhead": added[v.name],
                "vs_minimal": round(added[v.name] / minimal, 2) if minimal else None,
                "vs_asgi_auth": round(added[v.name] / ours, 2) if ours else None,
            }
    return out


def summarise(vs: list[Variant]) -> list[dict[str, Any]]:
    # The fastest batch's median: on a shared machine a slow stretch (other tenants)
    # moves the median of all samples, and even the median batch, by up to a half;
    # it cannot make a batch faster than the code is.
    medians = {v.name: min(v.batch_medians) for v in vs}
    added = overheads(medians, vs)
    out = []
    for v in vs:
        ordered = sorted(v.samples)
        extra = added.get(v.name, {})
        overhead = extra.get("overhead")
        out.append(
            {
                "name": v.name,
                "group": v.group,
                "median_us": round(medians[v.name], 3),
                "median_all_us": round(statistics.median(ordered), 3),
                "p99_us": round(ordered[int(len(ordered) * 0.99) - 1], 3),
                "floor": v.floor,
                "against": v.against,
                "minimal": v.minimal if v.floor else None,
                "overhead_us": None if overhead is None else round(overhead, 3),
                "overhead_vs_minimal": extra.get("vs_minimal"),
                "overhead_vs_asgi_auth": extra.get("vs_asgi_auth"),
            }
        )
    return out


#: The table's sections, in order, with what each shows.
GROUPS = {
    "floors": "Floors: the app alone, without authentication",
    "decoding": "Like for like: every contestant decodes every request's token",
    "cached": "Caching: asgi_auth's caches beside hand-written ones (Litestar's JWTAuth has none)",
    "reference": "References: verification alone, and asgi_auth's checks written as one function",
    "asgi_auth": "asgi_auth's other answers and algorithms",
    "events": "Decision events: asgi_auth with an on_decision hook (docs/observability.md)",
    "tokens": "Many clients: tokens drawn uniformly from a pool, after each was sent once",
    "rules": "Many rules: one path again and again, distinct paths, templates differing inside a segment",
}


def cell(value: float | None, spec: str) -> str:
    """A table cell: empty for a variant that has no such figure."""
    return "" if value is None else format(value, spec)


def _cells(r: dict[str, Any]) -> tuple[str, str, str]:
    return cell(r["overhead_us"], ".2f"), cell(r["overhead_vs_minimal"], ".1f"), cell(r["overhead_vs_asgi_auth"], ".2f")


def headline(rows: list[dict[str, Any]], key: str = "overhead_us", unit: str = "µs", spec: str = ",.2f") -> list[str]:
    """One sentence per peer: what it adds, what asgi_auth adds doing the same work."""
    by = {r["name"]: r for r in rows}
    lines = []
    for r in rows:
        against = by.get(r["against"] or "")
        if r["group"] in ("decoding", "cached") and against is not None and r[key] is not None:
            ours, theirs = against[key], r[key]
            lines.append(
                f"{r['name']} adds {theirs:{spec}} {unit}; {against['name']} adds {ours:{spec}} {unit}"
                f" ({theirs / ours:.2f}x asgi_auth's)"
            )
    return lines


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'variant':52} {'best µs':>10} {'p99 µs':>9} {'overhead µs':>12} {'x minimal':>10} {'x asgi_auth':>12}")
    for r in rows:
        overhead, minimal, ours = _cells(r)
        print(f"{r['name']:52} {r['median_us']:10.2f} {r['p99_us']:9.2f} {overhead:>12} {minimal:>10} {ours:>12}")
    print()
    print("\n".join(headline(rows)))


def grouped_tables(
    rows: list[dict[str, Any]], heading: str, columns: list[str], cells: Callable[[dict[str, Any]], list[str]]
) -> list[str]:
    """Markdown lines: `heading`, then one table per group of `GROUPS` that has rows,
    its `columns` (the first the variant, the others figures) filled by `cells`."""
    lines = [heading, ""]
    for group, title in GROUPS.items():
        chosen = [r for r in rows if r["group"] == group]
        if not chosen:
            continue
        lines += [f"**{title}**", "", "| " + " | ".join(columns) + " |", "| --- |" + " ---: |" * (len(columns) - 1)]
        lines += ["| " + " | ".join(cells(r)) + " |" for r in chosen]
        lines.append("")
    return lines


def markdown(rows: list[dict[str, Any]], machine: str, command: str) -> str:
    columns = ["variant", "median µs (fastest batch)", "p99 µs (all)", "overhead µs", "ratio to minimal middleware"]
    lines = grouped_tables(
        rows,
        f"Measured on {machine} with `{command}`.",
        [*columns, "ratio to asgi_auth"],
        lambda r: [r["name"], f"{r['median_us']:.2f}", f"{r['p99_us']:.2f}", *_cells(r)],
    )
    said = headline(rows)
    if said:
        lines += ["Like for like (overhead over the same floor):", "", *(f"- {line}" for line in said)]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["overhead_us"] is not None and r["group"] in ("decoding", "cached", "reference")]
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(shown) + 1.2))
    names = [r["name"] for r in shown][::-1]
    values = [max(r["overhead_us"], 0.01) for r in shown][::-1]
    colors = [
        ("#2a7ab0" if "asgi_auth" in r["name"] else "#999999")
        if r["group"] != "cached"
        else ("#7bb3d9" if "asgi_auth" in r["name"] else "#cccccc")
        for r in shown
    ][::-1]
    ax.barh(names, values, color=colors)
    ax.set_xscale("log")
    ax.set_xlabel("added µs per request (fastest batch's median, log scale); pale: with a cache")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    parser.add_argument("--only", action="append", help="a variant's name (repeatable), with its floors")
    parser.add_argument("--json", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG (needs matplotlib)")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown")
    args = parser.parse_args()
    rounds, per_round, warmup = (3, 200, 200) if args.quick else (20, 1000, 2000)
    vs = variants(only=with_references(args.only) if args.only else None)
    asyncio.run(measure(vs, rounds, per_round, warmup))
    rows = summarise(vs)
    print_table(rows)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    machine = (
        f"{platform.machine()}, {cores} cores, {platform.python_implementation()} {platform.python_version()},"
        f" {time.strftime('%Y-%m-%d')}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"machine": machine, "rounds": rounds, "per_round": per_round, "results": rows}, indent=2)
    )
    print(f"\nwrote {args.json}")
    if args.markdown:
        args.markdown.write_text(markdown(rows, machine, "python -m bench " + " ".join(sys.argv[1:])))
        print(f"wrote {args.markdown}")
    if args.plot:
        plot(rows, args.plot, f"asgi_auth benchmark — {machine}")
        print(f"wrote {args.plot}")


def with_references(names: list[str]) -> set[str]:
    """The variants named, and what each is set against: its floor, the minimal
    middleware doing the same work, the asgi_auth variant doing it, and their floors."""
    everything = {v.name: v for v in variants(build=False)}
    unknown = set(names) - set(everything)
    if unknown:
        raise SystemExit(f"no variant named {', '.join(sorted(unknown))}")
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        v = everything[name]
        todo += [n for n in (v.floor, v.against, v.minimal if v.floor else None) if n]
    return wanted


if __name__ == "__main__":
    main()
