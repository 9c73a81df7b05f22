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


@dataclass
class Variant:
    name: str
    group: str
    app: Any
    path: str
    headers: list[tuple[bytes, bytes]]
    status: int
    floor: str | None = None  # the variant whose cost this one adds to
    samples: list[float] = field(default_factory=list)
    batch_medians: list[float] = field(default_factory=list)


FRAMEWORK_NAMES = {"fastapi": "FastAPI", "starlette": "Starlette", "litestar": "Litestar"}
#: The asgi_auth variant doing the same check as the variants of a group.
ASGI_AUTH_FOR = {group: f"{name} + asgi_auth" for group, name in FRAMEWORK_NAMES.items()}


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
        "headers": [(b"host", b"bench"), (b"user-agent", b"bench/1"), (b"accept", b"*/*"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("bench", 80),
        "state": {},
    }


def bearer(alg: str = "HS256") -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {apps.TOKENS[alg]}".encode())]


def variants(rules: list[int], only: Container[str] | None = None) -> list[Variant]:
    """Every contestant, or those named in `only`; apps are built only when chosen, so
    that a process measuring one of them (`bench.instructions`) builds just that one."""
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
    ) -> None:
        if only is None or name in only:
            chosen.append(Variant(name, group, make(), path, bearer() if headers is None else headers, status, floor))

    add("raw ASGI app", "floor", lambda: raw, floor=None)
    add("minimal middleware", "floor", lambda: apps.MinimalMiddleware(raw))
    add("PyJWT HS256 decode alone", "floor", lambda: apps.PyJWTDecode(raw), headers=[])
    add("same checks inlined, cache on", "floor", lambda: apps.InlinedChecks(raw))
    add("same checks inlined, cache off", "floor", lambda: apps.InlinedChecks(raw, cache=False))
    add("asgi_auth API key", "asgi_auth", lambda: apps.api_key_app(raw), headers=[(b"x-api-key", b"key-123")])
    add("asgi_auth public route", "asgi_auth", lambda: apps.asgi_auth_app(raw, apps.bearer()), "/public", [])
    add("asgi_auth 401 (no token)", "asgi_auth", lambda: apps.asgi_auth_app(raw, apps.bearer()), headers=[], status=401)
    add("asgi_auth 403 (scope)", "asgi_auth", lambda: apps.asgi_auth_app(raw, apps.bearer()), "/admin", status=403)
    for alg in ("HS256", "RS256", "ES256"):
        for cache in (True, False):
            add(
                f"asgi_auth {alg} cache {'on' if cache else 'off'}",
                "jwt",
                partial(apps.asgi_auth_app, raw, apps.bearer(alg, cache)),
                headers=bearer(alg),
            )
    for hook in apps.DECISION_HOOKS:
        add(
            f"asgi_auth HS256 cache on, {hook}",
            "events",
            lambda hook=hook: apps.asgi_auth_app(raw, apps.bearer(), on_decision=apps.decision_hook(hook)),
        )
    for n in rules:
        add(
            f"asgi_auth {n} rules",
            "rules",
            partial(apps.asgi_auth_app, raw, apps.bearer(), rules=n),
            f"/svc{(n - 3) // 2}/items/7",
        )
    for framework, plain, theirs, theirs_name, ours in (
        ("fastapi", apps.fastapi_plain, apps.fastapi_security, "FastAPI Security()", apps.fastapi_asgi_auth),
        (
            "starlette",
            apps.starlette_plain,
            apps.starlette_authentication,
            "Starlette AuthenticationMiddleware",
            apps.starlette_asgi_auth,
        ),
        ("litestar", apps.litestar_plain, apps.litestar_jwt, "Litestar JWTAuth", apps.litestar_asgi_auth),
    ):
        floor = f"{FRAMEWORK_NAMES[framework]} plain"
        add(floor, framework, plain, floor=None)
        add(theirs_name, framework, theirs, floor=floor)
        add(ASGI_AUTH_FOR[framework], framework, ours, floor=floor)
    return chosen


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
        if status[-1] != variant.status:
            raise SystemExit(f"{variant.name}: expected {variant.status}, got {status[-1]}")

    return template, receive, send, check


async def run_batch(variant: Variant, n: int) -> None:
    template, receive, send, check = exchange(variant)
    app, clock = variant.app, time.perf_counter_ns
    samples: list[float] = []
    for _ in range(n):
        scope = {**template, "state": {}}
        start = clock()
        await app(scope, receive, send)
        samples.append((clock() - start) / 1000)
    variant.samples += samples
    variant.batch_medians.append(statistics.median(samples))
    check()


async def measure(vs: list[Variant], rounds: int, per_round: int, warmup: int) -> None:
    """Interleaved rounds, each in its own shuffled order (seeded, so runs compare), so
    that no variant always follows the same neighbour; the collector runs between
    batches, never inside one, so that every batch starts from a clean heap."""
    for v in vs:
        await run_batch(v, warmup)
        v.samples.clear()
        v.batch_medians.clear()
    order, rng = list(vs), random.Random(0)
    try:
        for _ in range(rounds):
            rng.shuffle(order)
            for v in order:
                gc.collect()
                gc.disable()
                await run_batch(v, per_round)
                gc.enable()
    finally:
        gc.enable()


def counterpart(variant: Variant) -> str:
    """The asgi_auth variant doing the same check: the same framework's, else HS256 cached."""
    return ASGI_AUTH_FOR.get(variant.group, "asgi_auth HS256 cache on")


def overheads(values: dict[str, float], vs: list[Variant]) -> dict[str, dict[str, float | None]]:
    """Per variant with a floor: what it adds to it (`values` are µs or instructions),
    and that as a ratio to the minimal middleware's and to its asgi_auth counterpart's."""
    added = {v.name: values[v.name] - values[v.floor] for v in vs if v.floor}
    minimal = added["minimal middleware"]
    out: dict[str, dict[str, float | None]] = {}
    for v in vs:
        if v.name in added:
            ours = added.get(counterpart(v))
            out[v.name] = {
                "overhead": added[v.name],
                "vs_minimal": round(added[v.name] / minimal, 2),
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
                "overhead_us": None if overhead is None else round(overhead, 3),
                "overhead_vs_minimal": extra.get("vs_minimal"),
                "overhead_vs_asgi_auth": extra.get("vs_asgi_auth"),
            }
        )
    return out


def cell(value: float | None, spec: str) -> str:
    """A table cell: empty for a variant that has no such figure."""
    return "" if value is None else format(value, spec)


def _cells(r: dict[str, Any]) -> tuple[str, str, str]:
    return cell(r["overhead_us"], ".2f"), cell(r["overhead_vs_minimal"], ".1f"), cell(r["overhead_vs_asgi_auth"], ".2f")


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'variant':38} {'best µs':>10} {'p99 µs':>9} {'overhead µs':>12} {'x minimal':>10} {'x asgi_auth':>12}")
    for r in rows:
        overhead, minimal, ours = _cells(r)
        print(f"{r['name']:38} {r['median_us']:10.2f} {r['p99_us']:9.2f} {overhead:>12} {minimal:>10} {ours:>12}")
    by = {r["name"]: r for r in rows}
    print()
    for framework, theirs in (
        ("FastAPI", "FastAPI Security()"),
        ("Starlette", "Starlette AuthenticationMiddleware"),
        ("Litestar", "Litestar JWTAuth"),
    ):
        ours = by[f"{framework} + asgi_auth"]["overhead_us"]
        print(
            f"{framework}: asgi_auth adds {ours:.2f} µs, {theirs} adds {by[theirs]['overhead_us']:.2f} µs "
            f"(ratio {ours / by[theirs]['overhead_us']:.3f})"
        )


def markdown(rows: list[dict[str, Any]], machine: str, command: str) -> str:
    lines = [
        f"Measured on {machine} with `{command}`.",
        "",
        "| variant | median µs (fastest batch) | p99 µs (all) | overhead µs | ratio to minimal middleware"
        " | ratio to asgi_auth |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        overhead, minimal, ours = _cells(r)
        lines.append(f"| {r['name']} | {r['median_us']:.2f} | {r['p99_us']:.2f} | {overhead} | {minimal} | {ours} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["overhead_us"] is not None]
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(shown) + 1.2))
    names = [r["name"] for r in shown][::-1]
    values = [max(r["overhead_us"], 0.01) for r in shown][::-1]
    colors = ["#2a7ab0" if "asgi_auth" in n else "#999999" for n in names]
    ax.barh(names, values, color=colors)
    ax.set_xscale("log")
    ax.set_xlabel("added cost per request, µs (median of the fastest batch, log scale)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    parser.add_argument("--json", type=Path, default=Path("bench/results/latest.json"))
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG (needs matplotlib)")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown")
    args = parser.parse_args()
    rounds, per_round, warmup = (3, 200, 200) if args.quick else (30, 1500, 3000)
    rules = [10, 1_000, 10_000]
    vs = variants(rules)
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


if __name__ == "__main__":
    main()
