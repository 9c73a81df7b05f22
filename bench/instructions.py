"""Instructions per request, counted by Valgrind: `python -m bench.instructions`.

Wall-clock figures on a shared machine move by a tenth to a half between runs; a count
of executed instructions barely moves (a few parts in a thousand), so this is the
figure to compare a change against. Each contestant runs in a child process under
`valgrind --tool=callgrind --dump-before=getppid`: the child builds that one app, warms
it, calls `os.getppid()`, sends N requests and calls it again, so the second dump holds
exactly the requests. Instructions are not time (a cache miss counts as one, and C
code such as PyJWT's hashing does more per instruction than the interpreter), so
`python -m bench` stays the figure for speed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asgi_auth._cache as _cache
import bench.__main__ as harness
from bench.__main__ import (
    Variant,
    cell,
    exchange,
    grouped_tables,
    headline,
    overheads,
    requests,
    variants,
    with_references,
)

WARMUP = 300


async def _requests(variant: Variant, n: int) -> None:
    """The child's work: warm up (a rotating variant first sends each of its tokens once),
    then N requests between two `getppid()` markers. Each request's headers are new
    bytes objects made before the first marker, so the count holds hashing them but
    not making them."""
    template, receive, send, check = exchange(variant)
    app = variant.app
    pending = variant.warmup_pass + WARMUP
    while pending > 0:
        for path, raw_path, headers in requests(variant, min(pending, 5_000)):
            await app({**template, "path": path, "raw_path": raw_path, "headers": headers, "state": {}}, receive, send)
        pending -= 5_000
    batch = requests(variant, n)
    await _settle_cold_caches(variant, template, receive, send)
    gc.collect()
    gc.disable()
    os.getppid()  # callgrind dumps here: the count starts afresh
    for path, raw_path, headers in batch:
        await app({**template, "path": path, "raw_path": raw_path, "headers": headers, "state": {}}, receive, send)
    os.getppid()  # and here: the dump now written holds the N requests alone
    gc.enable()
    check()


#: What the N requests meet in a cache the warm-up left cold (`--cold`, _cache.py):
#: "resting" (a rest just begun: the cache is not even asked) or "counting" (a counted
#: window just begun: each request's fingerprint counted).
COLD = "resting"


def _caches_of(app: Any) -> list[_cache.Cache[Any]]:
    """The caches `app` holds (its rules', its verifiers'), found through what refers to
    what: not through modules, classes or a function's globals, which lead to everything
    else in the process."""
    found: list[_cache.Cache[Any]] = []
    seen, pending = {id(app)}, [app]
    while pending and len(seen) < 1_000_000:
        here = pending.pop()
        if isinstance(here, _cache.Cache):
            found.append(here)
            continue
        if isinstance(here, types.FunctionType):
            referents = gc.get_referents(*(here.__closure__ or ()))  # what its cells hold
        else:
            referents = gc.get_referents(here)
        for there in referents:
            if id(there) not in seen and not isinstance(there, (type, types.ModuleType)):
                seen.add(id(there))
                pending.append(there)
    return found


async def _settle_cold_caches(variant: Variant, template: Any, receive: Any, send: Any) -> None:
    """Put every cache the warm-up left cold at the start of the state `COLD` names, so
    that the N requests fall wholly within it (rests are timed, _cache.py: where the
    warm-up ended in their schedule would otherwise decide the count). Requests are sent
    until none rests (then none has a timer pending), and each is then started afresh."""
    cold = [cache for cache in _caches_of(variant.app) if cache.bypassing]
    for path, raw_path, headers in requests(variant, 500_000):
        if not any(cache.resting for cache in cold):
            break
        await variant.app(
            {**template, "path": path, "raw_path": raw_path, "headers": headers, "state": {}}, receive, send
        )
    else:
        raise SystemExit("a cold cache rested through 500,000 requests")
    for cache in cold:
        if COLD == "resting":
            cache._sleep(3_600.0)  # longer than the count lasts
        else:
            cache._wake(None, force=True)  # a fresh counted window


def count(name: str, n: int, warm_pass: int = harness.WARM_PASS) -> float:
    """Instructions per request of variant `name`, from a child under callgrind."""
    arguments = [name, "-n", str(n), "--warm-pass", str(warm_pass), "--cold", COLD]
    return counted_child("bench.instructions", arguments, n, name)


def counted_child(module: str, arguments: list[str], n: int, what: str) -> float:
    """Instructions per request of `python -m module --child arguments...` under callgrind.

    The child brackets its N requests between two `os.getppid()` calls, where callgrind
    dumps; `what` names it if it fails.
    """
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--dump-before=getppid",
            f"--callgrind-out-file={Path(tmp) / 'callgrind.out'}",
            sys.executable,
            "-m",
            module,
            "--child",
            *arguments,
        ]
        # Hash randomisation changes dict layouts, and with them the count.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{what}: the child failed\n{done.stderr[-2000:]}")
        return per_request(Path(tmp), n)


def per_request(directory: Path, n: int) -> float:
    """The second dump's total over N: the first holds start-up, the last the exit.

    More than two dumps means something else called `getppid()` among the requests,
    and the count would be cut short: refused rather than reported.
    """
    dumps = sorted(directory.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
    if len(dumps) != 2:
        raise SystemExit(f"expected 2 callgrind dumps, found {len(dumps)}")
    match = re.search(r"^(?:summary|totals): (\d+)", dumps[1].read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"no total in {dumps[1]}")
    return int(match.group(1)) / n


def summarise(counts: dict[str, float], vs: list[Variant]) -> list[dict[str, Any]]:
    added = overheads(counts, vs)
    rows = []
    for v in vs:
        extra = added.get(v.name, {})
        overhead = extra.get("overhead")
        rows.append(
            {
                "name": v.name,
                "group": v.group,
                "instructions": round(counts[v.name]),
                "floor": v.floor,
                "against": v.against,
                "overhead": None if overhead is None else round(overhead),
                "overhead_vs_minimal": extra.get("vs_minimal"),
                "overhead_vs_asgi_auth": extra.get("vs_asgi_auth"),
            }
        )
    return rows


def table(rows: list[dict[str, Any]], machine: str, command: str) -> str:
    lines = grouped_tables(
        rows,
        f"Counted on {machine} with `{command}`.",
        ["variant", "instructions / request", "overhead", "ratio to minimal middleware", "ratio to asgi_auth"],
        lambda r: [
            r["name"],
            f"{r['instructions']:,}",
            cell(r["overhead"], ","),
            cell(r["overhead_vs_minimal"], ".2f"),
            cell(r["overhead_vs_asgi_auth"], ".3f"),
        ],
    )
    by = {r["name"]: r for r in rows}
    reference = "PyJWT decode alone, key prepared once"
    cache_off = (reference, "asgi_auth HS256 cache off", "same checks inlined, cache off")
    if all(name in by for name in cache_off):
        decode = by[reference]["overhead"]
        ours = by["asgi_auth HS256 cache off"]["overhead"] - decode
        inlined = by["same checks inlined, cache off"]["overhead"] - decode
        lines += [
            f"Cache off, against PyJWT's own decode with its key prepared once ({decode:,}): asgi_auth"
            f" {ours:+,} ({ours / decode:+.1%}), the same checks inlined {inlined:+,} ({inlined / decode:+.1%}).",
            "",
        ]
    said = headline(rows, "overhead", "instructions", ",.0f")
    if said:
        lines += ["Like for like (overhead over the same floor):", "", *(f"- {line}" for line in said)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("-n", type=int, default=2000, help="requests counted per contestant")
    parser.add_argument("--only", action="append", help="a contestant's name (repeatable); default: all")
    parser.add_argument("--json", type=Path, default=Path("bench/results/instructions.json"))
    parser.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown")
    parser.add_argument(
        "--warm-pass",
        type=int,
        default=harness.WARM_PASS,
        help="the most tokens a tokens row sends once before it is counted (fewer: faster, caches less full)",
    )
    parser.add_argument(
        "--cold",
        choices=["resting", "counting"],
        default="resting",
        help="what a cache the warm-up left cold is counted in: a rest, or a counted window",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    harness.WARM_PASS = args.warm_pass
    global COLD
    COLD = args.cold
    if args.child is not None:
        # A cold cache draws its rests at random (_cache.py); drawn from a seeded
        # generator here, a tokens row falls at the same point of that schedule every
        # run, as the fixed hash seed keeps dict layouts the same.
        _cache.draw = random.Random(0).random
        (variant,) = variants(only={args.child})
        asyncio.run(_requests(variant, args.n))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed (apt-get install valgrind)")
    # What a chosen contestant is set against is counted too: its floor, the minimal
    # middleware and the asgi_auth variant doing the same work.
    everything = variants(build=False)
    wanted = with_references(args.only) if args.only else {v.name for v in everything}
    vs = [v for v in everything if v.name in wanted]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = dict(
            zip([v.name for v in vs], pool.map(lambda v: count(v.name, args.n, args.warm_pass), vs), strict=True)
        )
    rows = summarise(counts, vs)
    machine = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    machine += f", {time.strftime('%Y-%m-%d')}"
    text = table(rows, machine, shlex.join(["python", "-m", "bench.instructions", *sys.argv[1:]]))
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "requests": args.n, "results": rows}, indent=2))
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
