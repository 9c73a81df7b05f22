"""Real ASGI servers as subprocesses on 127.0.0.1, and a client that sends raw bytes.

Each server is started by the test on a free port, polled until it answers (bounded
in attempts and time), and stopped at the end by its process group. The client
writes the request bytes as given — no normalising HTTP library in between — and
reads the answer until the server closes or the body is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.wire.apps:app"
START_TIMEOUT = 30.0  # seconds for a server to answer its first request
IO_TIMEOUT = 5.0  # seconds for one request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ServerConfig:
    """One way to run a server: its name and, optionally, a `root_path` set by its own flag."""

    server: str
    root_path: str = ""

    @property
    def id(self) -> str:
        return self.server + (f"[root_path={self.root_path}]" if self.root_path else "")

    def command(self, port: int, app: str = APP) -> list[str]:
        py = sys.executable
        if self.server in ("uvicorn-h11", "uvicorn-httptools"):
            command = [py, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
            command += ["--http", self.server.removeprefix("uvicorn-"), "--ws", "websockets-sansio"]
            command += ["--log-level", "warning", "--no-access-log"]
            return command + (["--root-path", self.root_path] if self.root_path else [])
        if self.server == "hypercorn":
            command = [py, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
            return command + (["--root-path", self.root_path] if self.root_path else [])
        if self.server == "daphne":
            command = [py, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
            return command + (["--root-path", self.root_path] if self.root_path else []) + [app]
        if self.server == "granian":
            command = [py, "-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
            command += ["--log-level", "warning", "--no-access-log", "--workers", "1"]
            return command + (["--url-path-prefix", self.root_path] if self.root_path else []) + [app]
        raise ValueError(self.server)


SERVERS = ("uvicorn-h11", "uvicorn-httptools", "hypercorn", "daphne", "granian")
CONFIGS = [ServerConfig(server, root) for server in SERVERS for root in ("", "/prefix")]


@dataclass
class Answer:
    """What came back for one request: status (None when the server just closed), headers, body."""

    raw: bytes
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


def parse_answer(raw: bytes) -> Answer:
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return Answer(raw)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return Answer(raw)
    headers = []
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers.append((key.strip().lower(), value.strip()))
    answer = Answer(raw, status, headers, rest)
    if (answer.header("transfer-encoding") or "").lower() == "chunked":
        answer.body = dechunk(rest)
    return answer


def dechunk(data: bytes) -> bytes:
    body = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        body += data[:size]
        data = data[size + 2 :]
    return body


def complete(raw: bytes) -> bool:
    """Whether a response is whole: headers and Content-Length bytes, or a last chunk."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    lowered = head.lower()
    if b" 101 " in head.split(b"\r\n", 1)[0]:  # a websocket: complete after its first frame
        if len(rest) < 4:
            return False
        length = rest[1] & 0x7F
        return len(rest) >= (2 + length if length < 126 else 4 + int.from_bytes(rest[2:4], "big"))
    for line in lowered.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            with contextlib.suppress(ValueError):
                return len(rest) >= int(line.split(b":", 1)[1])
    if b"transfer-encoding: chunked" in lowered:
        return rest.endswith(b"0\r\n\r\n")
    return False


def send_raw(port: int, request: bytes) -> Answer:
    """Write `request` as is, read the answer until close or completion (bounded in time)."""
    chunks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(request)
        deadline = time.monotonic() + IO_TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if complete(b"".join(chunks)):
                break
    return parse_answer(b"".join(chunks))


def websocket_message(answer: Answer) -> Any:
    """The first text frame after a 101 (server frames are unmasked), as JSON."""
    data = answer.body
    if len(data) < 2 or data[0] & 0x0F != 1:
        return None
    length, offset = data[1] & 0x7F, 2
    if length == 126:
        length, offset = int.from_bytes(data[2:4], "big"), 4
    try:
        return json.loads(data[offset : offset + length])
    except ValueError:
        return None


@contextlib.contextmanager
def running(config: ServerConfig, app: str = APP, env: dict[str, str] | None = None) -> Iterator[int]:
    """Start the server on `app` (with `env` added to its environment), wait until it
    answers, yield the port, stop the server."""
    port = free_port()
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below) a file, not a pipe: never blocks the server
    proc = subprocess.Popen(
        config.command(port, app),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,  # its own process group: stopped whole, workers included
    )
    try:
        probe = f"GET {config.root_path}/public HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Wire-App: raw\r\n"
        probe += "Connection: close\r\n\r\n"
        deadline = time.monotonic() + START_TIMEOUT
        for _ in range(int(START_TIMEOUT / 0.1)):
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"{config.id} did not start: {log.read()[-2000:].decode(errors='replace')}")
            with contextlib.suppress(OSError):
                if send_raw(port, probe.encode()).status is not None:
                    break
            time.sleep(0.1)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def send_h2(port: int, headers: list[tuple[str, str]]) -> Answer:
    """One HTTP/2 request with prior knowledge (h2c), its header list sent as given.

    HTTP/2 clients send cookies as separate `cookie` fields (RFC 9113 §8.2.3), which
    servers hand over as separate headers: the case an HTTP/1.1 client rarely makes.
    """
    import h2.config
    import h2.connection
    import h2.events

    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="latin-1"))
    conn.initiate_connection()
    conn.send_headers(1, headers, end_stream=True)
    answer = Answer(b"")
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as sock:
        sock.sendall(conn.data_to_send())
        deadline = time.monotonic() + IO_TIMEOUT
        done = False
        while not done and time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    fields = [(str(k), str(v)) for k, v in event.headers]
                    answer.status = int(dict(fields)[":status"])
                    answer.headers = [(k, v) for k, v in fields if not k.startswith(":")]
                elif isinstance(event, h2.events.DataReceived):
                    answer.body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    done = True
            sock.sendall(conn.data_to_send())
    return answer
