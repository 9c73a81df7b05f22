"""Real peers for the store tests: a `redis-server` on a free loopback port, and a
loopback TCP proxy in front of it that can delay, cut or garble what passes."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from tests.loopback import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
START_WAIT = 10.0


class RedisServer:
    """One `redis-server` process without persistence, started and stopped by a test."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
                *("--maxmemory-policy", "noeviction", "--protected-mode", "yes", "--loglevel", "warning"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_WAIT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(16).startswith(b"+OK")


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Proxy:
    """A loopback TCP proxy in front of Redis, in its own process (`tests.stores.proxy`):
    `delay` seconds before each chunk is passed on, `garbage` to answer every request
    with bytes that are not RESP, `cut()` to drop every link. Each change holds once
    its setter returns."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._delay = 0.0
        self._garbage = False
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.stores.proxy", str(target_port)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = int(self._read())

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def delay(self) -> float:
        return self._delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._command(f"delay {seconds}")
        self._delay = seconds

    @property
    def garbage(self) -> bool:
        return self._garbage

    @garbage.setter
    def garbage(self, on: bool) -> None:
        self._command(f"garbage {int(on)}")
        self._garbage = on

    def cut(self) -> None:
        self._command("cut")

    def close(self) -> None:
        process = self._process
        if process.poll() is None:
            assert process.stdin is not None
            with suppress(OSError):
                process.stdin.close()  # the proxy drops every link and exits
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    def _command(self, line: str) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        answer = self._read()
        assert answer == "ok", (line, answer)

    def _read(self) -> str:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the proxy exited ({self._process.poll()})")
        return line.strip()


__all__ = ["Proxy", "RedisServer", "redis_server"]
