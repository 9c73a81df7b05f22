"""Real HTTP clients, each driven the way its users drive it, against one base URL.

Every driver takes the same plan (a list of `(method, path, body)` sent in order, on
one session or one invocation where the client has one) and credentials, and only
sends: what the server saw is read from the server's own log, so each client is
judged by the same evidence. A driver raises what its client raises.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import httpx
import requests
import requests.auth

Plan = Sequence[tuple[str, str, bytes | None]]
Driver = Callable[[str, bool, Plan, str, str], None]
"""`driver(base, digest, plan, username, password)`."""

CURL = shutil.which("curl") or "/usr/bin/curl"  # .ci/run installs Debian's curl and wget
WGET = shutil.which("wget") or "/usr/bin/wget"
TIMEOUT = 15


def run_httpx(base: str, digest: bool, plan: Plan, username: str, password: str) -> None:
    auth: httpx.Auth = httpx.DigestAuth(username, password) if digest else httpx.BasicAuth(username, password)
    with httpx.Client(auth=auth, timeout=TIMEOUT) as client:
        for method, path, body in plan:
            client.request(method, base + path, content=body)


def run_requests(base: str, digest: bool, plan: Plan, username: str, password: str) -> None:
    with requests.Session() as session:
        if digest:
            session.auth = requests.auth.HTTPDigestAuth(username, password)
        else:
            session.auth = requests.auth.HTTPBasicAuth(username, password)
        for method, path, body in plan:
            session.request(method, base + path, data=body, timeout=TIMEOUT)


def run_aiohttp(base: str, digest: bool, plan: Plan, username: str, password: str) -> None:
    async def main() -> None:
        options: dict[str, Any] = {}
        if digest:
            options["middlewares"] = (aiohttp.DigestAuthMiddleware(login=username, password=password),)
        else:  # what aiohttp 3.14 recommends over its deprecated `auth=BasicAuth(...)`
            options["headers"] = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT), **options) as session:
            for method, path, body in plan:
                async with session.request(method, base + path, data=body) as response:
                    await response.read()

    # In a thread of its own: the caller may be running an event loop (Playwright's is).
    errors: list[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(errors, lambda: asyncio.run(main())))
    thread.start()
    thread.join(TIMEOUT * 2)
    if errors:
        raise errors[0]


def _capture(errors: list[BaseException], function: Callable[[], None]) -> None:
    try:
        function()
    except BaseException as exc:  # handed to the caller's thread
        errors.append(exc)


def run_urllib(base: str, digest: bool, plan: Plan, username: str, password: str) -> None:
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, base, username, password)
    kind = urllib.request.HTTPDigestAuthHandler if digest else urllib.request.HTTPBasicAuthHandler
    opener = urllib.request.build_opener(kind(manager))
    for method, path, body in plan:
        try:
            request = urllib.request.Request(base + path, data=body, method=method)  # noqa: S310 - http://127.0.0.1
            with opener.open(request, timeout=TIMEOUT) as r:
                r.read()
        except urllib.error.HTTPError as error:  # a final 4xx: the server's log says which
            error.close()


def _run(command: list[str]) -> None:
    subprocess.run(command, capture_output=True, timeout=TIMEOUT * 2, check=False)


def run_curl(base: str, digest: bool, plan: Plan, username: str, password: str) -> None:
    """One curl invocation for the whole plan: curl keeps the connection between URLs."""
    command = [CURL, "-s", "--digest" if digest else "--basic", "-u", f"{username}:{password}"]
    methods = {method for method, _, _ in plan}
    assert len(methods) == 1, "one curl invocation sends one method"
    method, _, body = plan[0]
    if body is not None:
        command += ["--data-binary", body.decode()]
    elif method != "GET":
        command += ["-X", method]
    for _, path, _ in plan:
        command += ["-o", "/dev/null", base + path]
    _run(command)


def run_wget(base: str, digest: bool, plan: Plan, username: str, password: str) -> None:
    """One wget invocation for the whole plan (wget keeps the connection between URLs).

    wget answers whichever challenge the server sends; `digest` is the server's choice.
    """
    command = [WGET, "-q", "-O", "/dev/null", "--tries=1", f"--user={username}", f"--password={password}"]
    method, _, body = plan[0]
    if body is not None:
        command.append(f"--post-data={body.decode()}")
    elif method != "GET":
        command.append(f"--method={method}")
    command += [base + path for _, path, _ in plan]
    _run(command)


def version(client: str) -> str:
    """The client's version, as it reports it."""
    if client in ("curl", "wget"):
        binary = CURL if client == "curl" else WGET
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
        return out.split()[1 if client == "curl" else 2]
    if client == "urllib":
        import sys

        return "Python " + sys.version.split()[0]
    if client == "Chromium":
        return "Debian's /usr/bin/chromium"
    return importlib.metadata.version(client)


DRIVERS: dict[str, Driver] = {
    "httpx": run_httpx,
    "requests": run_requests,
    "aiohttp": run_aiohttp,
    "urllib": run_urllib,
    "curl": run_curl,
    "wget": run_wget,
}
