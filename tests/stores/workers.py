"""Worker processes for the multi-worker tests: uvicorn serving `worker_app` on Redis."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO

import httpx

from tests.loopback import free_port
from tests.stores.servers import ROOT

SECRET = "0123456789abcdef-shared-digest-secret"
JWT_SECRET = "multi-worker-test-secret-of-32-bytes!!"
ISSUER = "https://issuer.example"
PASSWORDS = {"alice": "wonderland", "bob": "builder"}
# The revocation copy's refresh interval and staleness bound: the bound leaves a loaded
# machine room to run the refresh loop, so that only the faults the tests make are 503s.
REFRESH, STALENESS = 0.1, 2.0


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(ASGI_AUTH_TEST_REDIS=redis_url, ASGI_AUTH_TEST_SECRET=SECRET, PYTHONPATH=ROOT, **extra)
    return env


def _uvicorn(port: int, *options: str) -> list[str]:
    base = [sys.executable, "-m", "uvicorn", "tests.stores.worker_app:app", "--host", "127.0.0.1"]
    return [*base, "--port", str(port), "--log-level", "warning", *options]


def _wait(urls: Sequence[str], processes: Sequence[subprocess.Popen[bytes]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    for url in urls:
        while True:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError("a worker exited at start-up")
            try:
                if httpx.get(url + "/public", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            time.sleep(0.05)


def _stop(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def separate_workers(
    redis_url: str, count: int = 4, *, stderr: IO[bytes] | None = None, **env: str
) -> Iterator[list[str]]:
    """`count` uvicorn processes, each on its own port: a test can aim at each worker.
    `stderr`, if given, is where they all write their logs."""
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(_uvicorn(port), cwd=ROOT, env=_env(redis_url, **env), stderr=stderr) for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        _wait(urls, processes)
        yield urls
    finally:
        _stop(processes)


@contextmanager
def uvicorn_workers(redis_url: str, count: int = 4) -> Iterator[str]:
    """`uvicorn --workers N`: one port, the kernel hands each connection to a worker."""
    port = free_port()
    process = subprocess.Popen(_uvicorn(port, "--workers", str(count)), cwd=ROOT, env=_env(redis_url))
    url = f"http://127.0.0.1:{port}"
    try:
        _wait([url], [process], seconds=60)
        yield url
    finally:
        _stop([process])
