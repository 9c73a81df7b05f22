"""The client peer matrix: Basic and Digest with seven real clients over uvicorn.

httpx, requests, aiohttp, urllib, curl, wget and Chromium's own authentication (Debian's
chromium driven by Playwright: its network stack answers the challenge, as it does for
the password prompt) each log in to every algorithm the server offers, send several
requests on one connection, a POST with a body, a query string, and non-ASCII
credentials. What each did is read from the server's log. A client's own limit is
asserted as that client's known behaviour (`LIMITS`), so an upgrade that lifts it
fails here and gets noticed; nothing is skipped.

The table in docs/interop-clients.md is rendered from what was observed: when it
differs from the file, the file is rewritten and the test fails, asking for a commit.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

import asgi_auth as aa
from tests.browser import CHROMIUM, FLAGS
from tests.loopback import serve
from tests.peers.drivers import DRIVERS, Plan, version

DOCS = Path(__file__).resolve().parents[2] / "docs" / "interop-clients.md"

USERS = {"mufasa": "Circle of Life", "jäsøn": "pässwörd"}
SCHEMES = ("Basic", "default", "SHA-256", "SHA-256-sess", "MD5", "MD5-sess")
"""Routes: Basic, `HTTPDigest()` as configured by default (SHA-256 then MD5 offered), one algorithm each."""
SCENARIOS = ("query string", "3 on one connection", "POST with a body", "non-ASCII credentials")
CLIENTS = (*DRIVERS, "Chromium")
BODY = b"hello=world&x=1"

DIGESTS = SCHEMES[1:]
ALGORITHMS = {"default": ("SHA-256", "MD5"), **{a: (a,) for a in SCHEMES[2:]}}
HTTPX_ASCII = "httpx 0.28's `DigestAuth` builds its header as text, which httpx encodes as ASCII: it raises"
REQUESTS_SESS = "requests applies the -sess step to MD5-sess only: its SHA-256-sess responses are plain SHA-256 ones"
URLLIB_KEEPALIVE = "urllib opens a connection per request (no keep-alive)"
URLLIB_SHA256 = "urllib has no SHA-256 Digest (Python 3.11): it raises"
URLLIB_SESS = "urllib has no -sess Digest: it raises"
URLLIB_ASCII = "urllib hashes the Digest input as ASCII: it raises"
URLLIB_FIRST = (
    "urllib reads only the first challenge, here SHA-256, which it lacks, though MD5 is offered too"
    " (RFC 7616 §3.7 lists them by preference: a server for urllib lists MD5 first)"
)
WGET_MD5 = "wget 1.21 answers every Digest challenge with MD5, whatever algorithm it names"

LIMITS: dict[tuple[str, str, str], tuple[str, str]] = {
    **{("httpx", d, "non-ASCII credentials"): ("raises UnicodeEncodeError", HTTPX_ASCII) for d in DIGESTS},
    **{("requests", "SHA-256-sess", s): ("401 after retry", REQUESTS_SESS) for s in SCENARIOS},
    ("urllib", "Basic", "3 on one connection"): ("a connection per request", URLLIB_KEEPALIVE),
    ("urllib", "MD5", "3 on one connection"): ("a connection per request", URLLIB_KEEPALIVE),
    ("urllib", "MD5", "non-ASCII credentials"): ("raises UnicodeEncodeError", URLLIB_ASCII),
    **{("urllib", "SHA-256", s): ("raises ValueError", URLLIB_SHA256) for s in SCENARIOS},
    **{("urllib", d, s): ("raises ValueError", URLLIB_SESS) for d in ("SHA-256-sess", "MD5-sess") for s in SCENARIOS},
    **{("urllib", "default", s): ("raises ValueError", URLLIB_FIRST) for s in SCENARIOS},
    **{("wget", d, s): ("401 after retry", WGET_MD5) for d in ("SHA-256", "SHA-256-sess") for s in SCENARIOS},
}
"""(client, scheme, scenario) → (what the client is known to do, why). Anything else: "ok"."""


@dataclass
class Log:
    """What the server saw, by path: (status, client port) per response, and the
    user and body each authenticated request reached the app with."""

    responses: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    reached: dict[str, tuple[str, bytes]] = field(default_factory=dict)


def make_app(log: Log) -> Any:
    async def echo(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        auth = scope["state"]["auth"]
        log.reached[scope["path"]] = (auth.principal.subject if auth.authenticated else "", body)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})

    users = {name: aa.hash_password(password, n=2**8) for name, password in USERS.items()}  # cheap: many logins
    basic = aa.HTTPBasic(realm="peers", verifier=aa.BasicPasswordVerifier(users))
    rules = [aa.Rule("/Basic/{rest:path}", require=basic)]
    for name, algorithms in ALGORITHMS.items():
        scheme = aa.HTTPDigest(
            realm="peers", algorithms=algorithms, verifier=aa.inline(USERS.get), scheme_name=f"Digest-{name}"
        )
        rules.append(aa.Rule(f"/{name}/{{rest:path}}", require=scheme))
    guarded = aa.AuthMiddleware(echo, aa.AuthPolicy(rules, default=[]))

    async def logged(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await guarded(scope, receive, send)
        key = scope["path"]

        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                log.responses.setdefault(key, []).append((message["status"], scope["client"][1]))
            await send(message)

        await guarded(scope, receive, record)

    return logged


def plan_for(scenario: str, prefix: str) -> tuple[Plan, str, str]:
    if scenario == "query string":
        return [("GET", f"{prefix}/get?q=1&w=a%20b", None)], "mufasa", USERS["mufasa"]
    if scenario == "3 on one connection":
        return [("GET", f"{prefix}/again/{i}", None) for i in range(3)], "mufasa", USERS["mufasa"]
    if scenario == "POST with a body":
        return [("POST", f"{prefix}/post", BODY)], "mufasa", USERS["mufasa"]
    return [("GET", f"{prefix}/non-ascii", None)], "jäsøn", USERS["jäsøn"]


def judge(log: Log, plan: Plan, username: str) -> str:
    """The outcome, from the server's side: "ok", or what went otherwise."""
    ports: set[int] = set()
    sent = 0
    for _, target, body in plan:
        path = target.partition("?")[0]
        responses = log.responses.get(path)
        if not responses:
            return "not sent"
        status = responses[-1][0]
        if status != 200:
            return f"{status} {'after retry' if len(responses) > 1 else 'at once'}"
        ports |= {port for _, port in responses}
        sent += len(responses)
        user, received = log.reached[path]
        if user != username:
            return f"reached the app as {user!r}"
        if body is not None and received != body:
            return "body lost"
    # Kept alive: fewer connections than responses (how many varies with the client's
    # timing: aiohttp and Chromium sometimes open a second one for the retry).
    if len(plan) > 1 and len(ports) >= sent:
        return "a connection per request"
    return "ok"


@dataclass
class Matrix:
    base: str
    log: Log
    browser: Browser
    versions: dict[str, str] = field(default_factory=dict)
    observed: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def row(self, client: str) -> dict[tuple[str, str, str], str]:
        """Every (scheme, scenario) outcome of `client`, run once per test session."""
        if not any(key[0] == client for key in self.observed):
            self.versions[client] = self.browser.version if client == "Chromium" else version(client)
            for scheme in SCHEMES:
                for scenario in SCENARIOS:
                    prefix = f"/{scheme}/{client}/{SCENARIOS.index(scenario)}"
                    plan, username, password = plan_for(scenario, prefix)
                    try:
                        self.send(client, scheme != "Basic", plan, username, password)
                    except Exception as exc:  # the client's own refusal is an outcome
                        self.observed[client, scheme, scenario] = f"raises {type(exc).__name__}"
                        continue
                    self.observed[client, scheme, scenario] = judge(self.log, plan, username)
        return {key: value for key, value in self.observed.items() if key[0] == client}

    def send(self, client: str, digest: bool, plan: Plan, username: str, password: str) -> None:
        if client != "Chromium":
            DRIVERS[client](self.base, digest, plan, username, password)
            return
        context = self.browser.new_context(http_credentials={"username": username, "password": password})
        try:
            page = context.new_page()
            page.goto(self.base + "/start")  # an open page of the origin, for fetch()
            for method, path, body in plan:
                if body is None:
                    page.goto(self.base + path)  # a navigation: the browser's own auth
                else:
                    script = "([u, m, b]) => fetch(u, {method: m, body: b}).then(r => r.status)"
                    page.evaluate(script, [path, method, body.decode()])
        finally:
            context.close()


@pytest.fixture(scope="module")
def matrix() -> Iterator[Matrix]:
    log = Log()
    with sync_playwright() as playwright, serve(make_app(log)) as base:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield Matrix(base, log, browser)
        finally:
            browser.close()


@pytest.mark.parametrize("client", CLIENTS)
def test_client(matrix: Matrix, client: str) -> None:
    row = matrix.row(client)
    expected = {key: LIMITS.get(key, ("ok", ""))[0] for key in row}
    assert row == expected


HEADINGS = {"Basic": "Basic", "default": "Digest, default (SHA-256, MD5)"}


def render(matrix: Matrix) -> str:
    notes: list[str] = []
    lines = [
        "# Interoperability: HTTP clients",
        "",
        "<!-- Generated by tests/peers/test_clients.py from what the server saw; do not edit. -->",
        "",
        "Each client, real and unmodified, logs in over uvicorn on loopback to a route per",
        "scheme and algorithm, in four ways: a GET with a query string, three requests that",
        "should share one connection, a POST with a body, and non-ASCII credentials",
        "(`jäsøn` / `pässwörd`). A cell is ✓ when all four reached the app as the right user",
        "with the right body; ✗ when none did; otherwise it names what happened. The reasons",
        "are the clients' own: the server refuses only what is wrong by RFC 7616/7617.",
        "Chromium is Debian's, driven by Playwright; its network stack answers the challenge,",
        "as it does for its password prompt.",
        "",
        "| client | " + " | ".join(HEADINGS.get(s, f"Digest {s}") for s in SCHEMES) + " |",
        "| --- | " + " | ".join("---" for _ in SCHEMES) + " |",
    ]
    for client in CLIENTS:
        row = matrix.row(client)
        cells = []
        for scheme in SCHEMES:
            odd = [(s, row[client, scheme, s]) for s in SCENARIOS if row[client, scheme, s] != "ok"]
            if not odd:
                cells.append("✓")
                continue
            if len(odd) == len(SCENARIOS) and len({o for _, o in odd}) == 1:
                note = LIMITS.get((client, scheme, SCENARIOS[0]), ("", ""))[1]
                if note and note not in notes:
                    notes.append(note)
                cells.append(f"✗ {odd[0][1]}" + (f" [{notes.index(note) + 1}]" if note else ""))
                continue
            parts = []
            for scenario, outcome in odd:
                note = LIMITS.get((client, scheme, scenario), ("", ""))[1]
                if note and note not in notes:
                    notes.append(note)
                mark = f" [{notes.index(note) + 1}]" if note else ""
                parts.append(f"{scenario}: {outcome}{mark}")
            cells.append("✓ but " + "; ".join(parts) if len(odd) < len(SCENARIOS) else "; ".join(parts))
        release = ".".join(matrix.versions[client].split(".")[:2])  # a patch release changes no cell
        lines.append(f"| {client} {release} | " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "Why:", ""]
        lines += [f"{i}. {note}" for i, note in enumerate(notes, 1)]
    return "\n".join(lines) + "\n"


def test_docs_table_is_up_to_date(matrix: Matrix) -> None:
    text = render(matrix)
    if os.environ.get("ASGI_AUTH_PEERS_JSON"):  # a machine-readable copy, for whoever wants one
        Path(os.environ["ASGI_AUTH_PEERS_JSON"]).write_text(
            json.dumps({"|".join(k): v for k, v in matrix.observed.items()}, indent=1)
        )
    old = DOCS.read_text(encoding="utf-8") if DOCS.exists() else ""
    if old != text and _without_releases(old) == _without_releases(text):
        return  # older peers (`nox -s tests_versions`) behave as the page says; it names the newest
    if old != text:
        DOCS.write_text(text, encoding="utf-8")
    assert old == text, f"{DOCS.name} was out of date and has been regenerated: commit it"


def _without_releases(table: str) -> str:
    """The table with each client's release left out of its row (urllib's is Python's)."""
    return re.sub(r"^\| (\S+) (?:Python )?\d+(?:\.\d+)* \|", r"| \1 |", table, flags=re.MULTILINE)
