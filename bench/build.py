"""What building a policy costs: `python -m bench.build [--markdown FILE]`.

Each size is built in a fresh child process, so one size's garbage and interned
strings cannot flatter the next: CPU seconds for `AuthPolicy(rules, default=...)`, as
built and again with the collector off (whose full passes walk a heap that grows with
the rules, so that with it on no build of many objects is linear), and
the bytes it holds per rule (tracemalloc, a second build in the same child), for rules
that name four distinct requirements — as large rule sets do, one requirement shared by
thousands of routes. Two shapes of template: `/svc{k}/items/r{i}` (segments that differ
whole) and `/files/{name}.v{i}` (templates that differ inside a segment, after a
parameter). The `Rule` objects themselves are the caller's and not counted.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SIZES = [1_000, 10_000, 100_000]
SHAPES = {"segments": "/svc{k}/items/r{i}", "mixed": "/files/{{name}}.v{i}"}
PROBES = {"segments": "/svc{k}/items/r{i}", "mixed": "/files/report.v{i}"}
#: A build that takes longer than this, in wall-clock seconds (a quadratic one), is reported
#: as not finished.
TIMEOUT = 600


def measure(n: int, shape: str = "segments") -> dict[str, Any]:
    """In the child: build the policy for `n` rules, twice (timed, then traced)."""
    import gc
    import tracemalloc

    import asgi_auth as aa

    bearer = aa.HTTPBearer(verifier=aa.inline({}.get))
    key = aa.APIKeyHeader(name="k", verifier=aa.inline({}.get))
    requirements: list[aa.policy.RequireSpec] = [bearer, {bearer: []}, [bearer, key], []]
    template = SHAPES[shape]
    rules = [aa.Rule(template.format(k=i % 100, i=i), require=requirements[i % 4]) for i in range(n)]
    gc.collect()
    start = time.process_time()
    aa.AuthPolicy(rules, default=bearer)
    cpu = time.process_time() - start
    gc.collect()
    gc.disable()  # again without the collector: what its walks of a growing heap add
    start = time.process_time()
    aa.AuthPolicy(rules, default=bearer)
    cpu_no_gc = time.process_time() - start
    gc.enable()
    gc.collect()
    tracemalloc.start()
    policy = aa.AuthPolicy(rules, default=bearer)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    probe = PROBES[shape].format(k=(n - 3) % 100, i=n - 3)
    assert policy.match(probe, "GET").rule == template.format(k=(n - 3) % 100, i=n - 3)
    return {"rules": n, "shape": shape, "cpu_s": cpu, "cpu_s_no_gc": cpu_no_gc, "bytes_per_rule": held / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(int(args.child[0]), args.child[1])))
        return
    rows: list[dict[str, Any]] = []
    for shape in SHAPES:
        for n in SIZES:
            command = [sys.executable, "-m", "bench.build", "--child", str(n), shape]
            try:
                out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                rows.append({"rules": n, "shape": shape, "cpu_s": None, "cpu_s_no_gc": None, "bytes_per_rule": None})
                continue
            rows.append(json.loads(out.stdout))
    when = time.strftime("%Y-%m-%d")
    lines = [
        f"Built on {platform.machine()}, CPython {platform.python_version()}, {when} with `python -m bench.build`.",
        "",
        "| templates | rules | build (CPU s) | collector off (CPU s) | held per rule (bytes) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        shape = SHAPES[r["shape"]].replace("{{", "{").replace("}}", "}")
        if r["cpu_s"] is None:
            lines.append(f"| `{shape}` | {r['rules']:,} | not done in {TIMEOUT} s | | |")
        else:
            cpu = f"{r['cpu_s']:.3f} | {r['cpu_s_no_gc']:.3f}"
            lines.append(f"| `{shape}` | {r['rules']:,} | {cpu} | {r['bytes_per_rule']:,.0f} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
