"""Load over loopback: uvicorn serving a protected app, wrk hammering it for 30 s.

    python -m bench.load [--seconds 30] [--connections 64]

Passes (exit 0) when wrk saw no socket errors and no non-2xx answers, and the server's
resident memory grew by less than 10% between the first and the last few seconds.
Sends traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt

SECRET = "load-secret-" + "x" * 40
APP = """
import asgi_auth as aa
bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(key="{secret}", algorithms=["HS256"]))
async def inner(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({{"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}})
    await send({{"type": "http.response.body", "body": scope["state"]["auth"].principal.subject.encode()}})
app = aa.AuthMiddleware(inner, aa.AuthPolicy([], default=bearer))
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.gettempdir()) / "asgi_auth_load"
    workdir.mkdir(exist_ok=True)
    (workdir / "load_app.py").write_text(APP.format(secret=SECRET))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "load_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=workdir,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        token = jwt.encode({"sub": "load", "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
        url = f"http://127.0.0.1:{port}/"
        header = f"Authorization: Bearer {token}"
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
        server.send_signal(signal.SIGINT)
        server.wait(timeout=20)
    print(out)
    errors = re.search(r"Socket errors: (.*)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    growth = (end_rss - start_rss) / start_rss if start_rss else 0.0
    print(f"server RSS: {start_rss} KiB after warm-up, {end_rss} KiB at the end ({growth:+.1%})")
    failed = bool(errors) or bool(non_2xx) or growth > 0.10
    print("FAIL" if failed else "OK: no errors, no growth")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
