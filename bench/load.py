"""Load over loopback: uvicorn (httptools) serving a protected app, wrk hammering it.

    python -m bench.load [--seconds 30] [--connections 64]
    python -m bench.load --tokens 100000 --cache both [--seconds 15] [--markdown FILE]

The first form sends one token for 30 s and passes (exit 0) when wrk saw no socket
errors and no non-2xx answers, and the server's resident memory grew by less than 10%
between the first and the last few seconds. The second sends tokens drawn uniformly
(each wrk thread its own stream) from a pool of `--tokens`, with the verifier's cache
on, off, or each in turn (a fresh server each, `--rounds` times, the order alternating),
and reports throughput, p50 and p99 latency as wrk measures them (its --latency
distribution), and the server's full collections (how many, the longest, timed in the
server with `gc.callbacks`), for each run and their medians, failing on any error. Each
run starts with a warm-up of the same traffic, so the measured part meets a cache as
full as steady traffic leaves it. Sends traffic to 127.0.0.1 only.

Each run also reports the server's CPU time per request (from /proc, user + system, over
the measured part), and with both configurations the ratio of on to off within each
round (two runs that follow each other, not runs minutes apart), their median and range.
`--pin` runs the server on one CPU and wrk on the others, to tell whether the spread
between runs is where the scheduler puts them: it is not, mostly (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt

SECRET = "load-secret-" + "x" * 40
APP = """
import atexit, gc, json, os, time
import asgi_auth as aa
# Full collections, timed here: when every object alive is walked, every request in
# flight waits, so their longest pause is the p99 a heap of cached answers can cost.
_started, _pauses = [0.0], []
def _timed(phase, info):
    if info["generation"] == 2:
        if phase == "start":
            _started[0] = time.time()
        else:
            _pauses.append((_started[0], time.time() - _started[0]))
gc.callbacks.append(_timed)
atexit.register(lambda: open(os.environ["LOAD_GC_FILE"], "w").write(json.dumps(_pauses)))
verifier = aa.JWTVerifier(key="{secret}", algorithms=["HS256"], cache={cache})
bearer = aa.HTTPBearer(verifier=verifier)
async def inner(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}})
    await send({{"type": "http.response.body", "body": scope["state"]["auth"].principal.subject.encode()}})
app = aa.AuthMiddleware(inner, aa.AuthPolicy([], default=bearer))
"""
#: wrk's script for rotating tokens: each thread reads the pool, then draws per request.
ROTATE = """
local tokens = {}
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = "Bearer " .. line end
  math.randomseed(tonumber(args[2]) + wrk.thread:get("id"))
end
function setup(thread)
  thread_id = (thread_id or 0) + 1
  thread:set("id", thread_id)
end
request = function()
  return wrk.format("GET", "/", {["Authorization"] = tokens[math.random(#tokens)]})
end
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpus(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """The CPUs for the server and for wrk: the last one and the rest, when pinning."""
    available = sorted(os.sched_getaffinity(0))
    if not pin or len(available) < 2:
        return None, None
    return {available[-1]}, set(available[:-1])


def on_cpus(chosen: set[int] | None) -> Callable[[], None] | None:
    """A `preexec_fn` that keeps the child on `chosen`, or None to leave it be."""
    if chosen is None:
        return None
    return lambda: os.sched_setaffinity(0, chosen)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(workdir: Path, cache: bool, where: set[int] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """uvicorn with httptools on a free loopback port, once it accepts connections."""
    (workdir / "load_app.py").write_text(APP.format(secret=SECRET, cache=cache))
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "load_app:app", "--port", str(port), "--http", "httptools"]
    environment = {**os.environ, "LOAD_GC_FILE": str(workdir / "gc.json")}
    server = subprocess.Popen(
        [*command, "--log-level", "warning", "--no-access-log"], cwd=workdir, env=environment, preexec_fn=on_cpus(where)
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise
            time.sleep(0.1)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def token(i: int) -> str:
    return jwt.encode({"sub": f"user{i:06d}", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


def read(out: str) -> dict[str, float]:
    """Requests per second, p50 and p99 in ms, and the errors, from wrk's report."""
    units = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        return float(found.group(1)) * units[found.group(2)] if found else float("nan")

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"^\s+(\d+) requests in", out, re.MULTILINE)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rate.group(1)) if rate else 0.0,
        "requests": int(done.group(1)) if done else 0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def steady(wrk: str, args: argparse.Namespace, workdir: Path) -> int:
    """One token, the leak check: the original form of this command."""
    server, port = serve(workdir, cache=True)
    try:
        header = f"Authorization: Bearer {token(0)}"
        url = f"http://127.0.0.1:{port}/"
        subprocess.run([wrk, "-t2", "-c16", "-d3s", "-H", header, url], capture_output=True, check=True)  # warm-up
        start_rss = rss_kib(server.pid)
        out = subprocess.run(
            [wrk, "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "-H", header, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        end_rss = rss_kib(server.pid)
    finally:
        stop(server)
    print(out)
    errors = re.search(r"Socket errors: (.*)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    growth = (end_rss - start_rss) / start_rss if start_rss else 0.0
    print(f"server RSS: {start_rss} KiB after warm-up, {end_rss} KiB at the end ({growth:+.1%})")
    failed = bool(errors) or bool(non_2xx) or growth > 0.10
    print("FAIL" if failed else "OK: no errors, no growth")
    return 1 if failed else 0


def rotating(wrk: str, args: argparse.Namespace, workdir: Path) -> int:
    """Tokens drawn uniformly from a pool, cache on and/or off, each on a fresh server."""
    pool = workdir / f"tokens-{args.tokens}.txt"
    pool.write_text("\n".join(token(i) for i in range(args.tokens)) + "\n")
    script = workdir / "rotate.lua"
    script.write_text(ROTATE)
    rows = []
    configs = {"on": [True], "off": [False], "both": [True, False]}[args.cache]
    # Rounds alternate the order (on, off; off, on; ...): on a shared machine the
    # figures drift by a fifth from one run to the next, so one run of each compares
    # the machine's moods as much as the configurations; the medians compare these.
    order = [cache for r in range(args.rounds) for cache in (configs if r % 2 == 0 else configs[::-1])]
    server_cpus, wrk_cpus = cpus(args.pin)
    for cache in order:
        server, port = serve(workdir, cache, server_cpus)
        try:
            url = f"http://127.0.0.1:{port}/"
            base = [wrk, "-t2", f"-c{args.connections}", "--latency", "-s", str(script), url, "--", str(pool)]
            pinned = on_cpus(wrk_cpus)
            warmup = [*base[:-3], f"-d{args.warmup}s", *base[-3:], "1"]
            subprocess.run(warmup, capture_output=True, check=True, preexec_fn=pinned)
            start_rss, started, start_cpu = rss_kib(server.pid), time.time(), cpu_seconds(server.pid)
            measured = [*base[:-3], f"-d{args.seconds}s", *base[-3:], "2"]
            out = subprocess.run(measured, capture_output=True, text=True, check=True, preexec_fn=pinned).stdout
            used = cpu_seconds(server.pid) - start_cpu
            figures = read(out) | {"cache": cache, "rss_start_kib": start_rss, "rss_end_kib": rss_kib(server.pid)}
            figures["cpu_us"] = 1e6 * used / figures["requests"] if figures["requests"] else float("nan")
        finally:
            stop(server)
        pauses = [pause for at, pause in json.loads((workdir / "gc.json").read_text()) if at >= started]
        figures |= {"full_gcs": len(pauses), "full_gc_max_ms": 1000 * max(pauses, default=0.0)}
        rows.append(figures)
        print(out)
    lines = [
        f"Measured on {platform.machine()}, CPython {platform.python_version()}, {time.strftime('%Y-%m-%d')} with"
        f" `python -m bench.load --tokens {args.tokens} --cache {args.cache} --seconds {args.seconds}"
        f" --connections {args.connections} --rounds {args.rounds} --warmup {args.warmup}"
        f"{' --pin' if args.pin else ''}`"
        " (uvicorn + httptools, wrk -t2, loopback;"
        f"{' the server on one CPU, wrk on the other;' if server_cpus else ''}"
        f" {args.warmup} s of warm-up first; a fresh server per run, in the order listed).",
        "",
        "| cache | requests/s | p50 ms | p99 ms | server CPU µs/request | errors"
        " | server RSS KiB (start → end) | full GCs, longest ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {'on' if r['cache'] else 'off'} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
            f" {r['cpu_us']:.1f} | {r['errors'] + r['non_2xx']} | {r['rss_start_kib']:,} → {r['rss_end_kib']:,} |"
            f" {r['full_gcs']}, {r['full_gc_max_ms']:.1f} |"
        )
    if args.rounds > 1:
        for cache in configs:
            runs = [r for r in rows if r["cache"] is cache]
            lines.append(
                f"| **{'on' if cache else 'off'}, median of {len(runs)}** |"
                f" **{statistics.median(r['rps'] for r in runs):,.0f}** |"
                f" **{statistics.median(r['p50_ms'] for r in runs):.2f}** |"
                f" **{statistics.median(r['p99_ms'] for r in runs):.2f}** |"
                f" **{statistics.median(r['cpu_us'] for r in runs):.1f}** | | |"
                f" **{statistics.median(r['full_gc_max_ms'] for r in runs):.1f}** |"
            )
    if args.cache == "both":
        lines += ["", paired(rows)]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 1 if any(r["errors"] or r["non_2xx"] or not r["rps"] for r in rows) else 0


def paired(rows: list[dict[str, Any]]) -> str:
    """On against off within each round (the two runs next to each other), then the median.

    A round's two runs meet the machine in about the same mood, so their ratio moves less
    than either; the medians of all runs above compare runs minutes apart.
    """
    ratios: dict[str, list[float]] = {"rps": [], "p99_ms": [], "cpu_us": []}
    for first, second in zip(rows[::2], rows[1::2], strict=True):
        on, off = (first, second) if first["cache"] else (second, first)
        for key, found in ratios.items():
            found.append(on[key] / off[key])
    shown = {key: sorted(found) for key, found in ratios.items()}
    return f"Cache on / off within each round ({len(shown['rps'])} rounds), median (lowest to highest):" + "".join(
        f" {label} {statistics.median(found):.3f} ({found[0]:.3f} to {found[-1]:.3f}){end}"
        for label, found, end in (
            ("requests/s", shown["rps"], ";"),
            ("p99", shown["p99_ms"], ";"),
            ("server CPU per request", shown["cpu_us"], "."),
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=0, help="rotate over this many distinct tokens")
    parser.add_argument("--cache", choices=["on", "off", "both"], default="both", help="with --tokens")
    parser.add_argument("--warmup", type=int, default=10, help="seconds of warm-up, with --tokens")
    parser.add_argument("--markdown", type=Path, default=None, help="with --tokens: write the table")
    parser.add_argument("--rounds", type=int, default=3, help="with --tokens: runs of each, order alternating")
    parser.add_argument("--pin", action="store_true", help="with --tokens: the server on one CPU, wrk on the rest")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="asgi_auth_load_"))
    try:
        return rotating(wrk, args, workdir) if args.tokens else steady(wrk, args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
