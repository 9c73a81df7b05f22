"""What PyJWT's base64url checks cost per token byte: `python -m bench.b64 [--markdown FILE]`.

One HS256 decode (key prepared once, as JWTVerifier does) of tokens of about 300 B,
2 KB and 8 KB, counted by callgrind as `bench.instructions` counts requests, twice:
with PyJWT's own segment check, and with `asgi_auth.verifiers._b64.decode_segment`
standing in for it on that decoder alone. Also timed (best of several runs), since
the two differ in how much of the work is C.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
import timeit
from pathlib import Path

import jwt

from bench import apps
from bench.instructions import counted_child

SIZES = [300, 2_000, 8_000]
READERS = ["PyJWT", "fast path"]


def token_of(size: int) -> str:
    """An HS256 token of `size` characters or a few more: a padded claim makes the bulk."""
    claims = {"sub": "johndoe", "scope": "me items", "iat": apps.IAT, "exp": apps.IAT + 86_400, "pad": ""}
    bare = len(jwt.encode(claims, apps.SECRET, algorithm="HS256"))
    claims["pad"] = "p" * max(0, (size - bare) * 3 // 4)
    while len(token := jwt.encode(claims, apps.SECRET, algorithm="HS256")) < size:
        claims["pad"] += "p"
    return token


def decoder(reader: str) -> tuple[jwt.PyJWT, bytes]:
    from asgi_auth.verifiers._b64 import use_fast_segments

    made, key = apps.prepared_decoder({"require": ["exp"]})
    if reader == "fast path" and not use_fast_segments(made._jws):
        raise SystemExit("this PyJWT has no segment check to stand in for")
    return made, key


def child(reader: str, size: int, n: int) -> None:
    made, key = decoder(reader)
    token = token_of(size)
    for _ in range(50):
        made.decode(token, key, algorithms=["HS256"])
    gc.collect()
    gc.disable()
    os.getppid()  # callgrind dumps here: the count starts afresh
    for _ in range(n):
        made.decode(token, key, algorithms=["HS256"])
    os.getppid()  # and here
    gc.enable()


def count(reader: str, size: int, n: int) -> float:
    return counted_child("bench.b64", [reader, str(size), "-n", str(n)], n, f"{reader} {size}")


def timed(reader: str, size: int) -> float:
    """µs per decode: the best of seven runs."""
    made, key = decoder(reader)
    token = token_of(size)
    runs = timeit.repeat(lambda: made.decode(token, key, algorithms=["HS256"]), number=300, repeat=7)
    return min(runs) / 300 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.b64")
    parser.add_argument("-n", type=int, default=300, help="decodes counted per size and reader")
    parser.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown")
    parser.add_argument("--json", type=Path, default=Path("bench/results/b64.json"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.n)
        return
    rows = []
    for size in SIZES:
        length = len(token_of(size))
        row: dict[str, float] = {"size": size, "length": length}
        for reader in READERS:
            row[f"{reader} instructions"] = count(reader, size, args.n)
            row[f"{reader} µs"] = timed(reader, size)
        rows.append(row)
    lines = [
        f"Counted on {platform.machine()}, CPython {platform.python_version()}, PyJWT {jwt.__version__},"
        f" {time.strftime('%Y-%m-%d')} with `python -m bench.b64`.",
        "",
        "| token | PyJWT: instructions / decode | fast path | saved | PyJWT µs (best) | fast path µs |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        theirs, ours = r["PyJWT instructions"], r["fast path instructions"]
        lines.append(
            f"| {r['length']:,.0f} B | {theirs:,.0f} | {ours:,.0f} | {1 - ours / theirs:.0%} |"
            f" {r['PyJWT µs']:.1f} | {r['fast path µs']:.1f} |"
        )
    first, last = rows[0], rows[-1]
    span = last["length"] - first["length"]
    for reader in READERS:
        slope = (last[f"{reader} instructions"] - first[f"{reader} instructions"]) / span
        lines += ["", f"{reader}: {slope:,.0f} instructions per token byte (from the smallest token to the largest)."]
    text = "\n".join(lines) + "\n"
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"results": rows}, indent=2))
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
