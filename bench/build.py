"""What building a policy costs: `python -m bench.build [--markdown FILE]`.

Each size is built in a fresh child process, so one size's garbage and interned
strings cannot flatter the next: CPU seconds for `AuthPolicy(rules, default=...)`, and
the bytes it holds per rule (tracemalloc, a second build in the same child), for rules
that name four distinct requirements — as large rule sets do, one requirement shared by
thousands of routes. The `Rule` objects themselves are the caller's and not counted.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

SIZES = [1_000, 10_000, 100_000]


def measure(n: int) -> dict[str, float]:
    """In the child: build the policy for `n` rules, twice (timed, then traced)."""
    import gc
    import tracemalloc

    import asgi_auth as aa

    bearer = aa.HTTPBearer(verifier=aa.inline({}.get))
    key = aa.APIKeyHeader(name="k", verifier=aa.inline({}.get))
    requirements: list[aa.policy.RequireSpec] = [bearer, {bearer: []}, [bearer, key], []]
    rules = [aa.Rule(f"/svc{i % 100}/items/r{i}", require=requirements[i % 4]) for i in range(n)]
    gc.collect()
    start = time.process_time()
    aa.AuthPolicy(rules, default=bearer)
    cpu = time.process_time() - start
    gc.collect()
    tracemalloc.start()
    policy = aa.AuthPolicy(rules, default=bearer)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert policy.match(f"/svc{(n - 3) % 100}/items/r{n - 3}", "GET").rule is not None
    return {"rules": n, "cpu_s": cpu, "bytes_per_rule": held / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    rows = []
    for n in SIZES:
        out = subprocess.run(
            [sys.executable, "-m", "bench.build", "--child", str(n)], check=True, capture_output=True, text=True
        )
        rows.append(json.loads(out.stdout))
    when = time.strftime("%Y-%m-%d")
    lines = [
        f"Built on {platform.machine()}, CPython {platform.python_version()}, {when} with `python -m bench.build`.",
        "",
        "| rules | build (CPU s) | held per rule (bytes) |",
        "| ---: | ---: | ---: |",
        *(f"| {r['rules']:,.0f} | {r['cpu_s']:.3f} | {r['bytes_per_rule']:,.0f} |" for r in rows),
    ]
    table = "\n".join(lines) + "\n"
    print(table)
    if args.markdown:
        args.markdown.write_text(table)


if __name__ == "__main__":
    main()
