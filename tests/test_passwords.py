from __future__ import annotations

import base64
import statistics
import threading
import time
import unicodedata

import anyio
import httpx
import pytest
from fastapi import FastAPI

import asgi_auth as aa
from tests.conftest import Recorder, client_for
from tests.loopback import serve


def test_hash_and_verify() -> None:
    stored = aa.hash_password("correct horse")
    assert stored.startswith("scrypt$")
    assert stored != aa.hash_password("correct horse")  # salted
    assert aa.verify_password("correct horse", stored)
    assert not aa.verify_password("wrong", stored)
    assert not aa.verify_password("x", "not-a-hash")
    assert not aa.verify_password("x", "bcrypt$1$2$3$4$5")


def test_basic_verifier_with_httpx_basic_auth_over_the_wire() -> None:
    users = {"alice": aa.hash_password("wonderland")}
    basic = aa.HTTPBasic(realm="api", verifier=aa.BasicPasswordVerifier(users, scopes={"alice": ["read"]}))
    inner = Recorder()
    app = aa.AuthMiddleware(inner, aa.AuthPolicy([], default={basic: ["read"]}))
    with serve(app) as url, httpx.Client() as client:
        ok = client.get(url + "/", auth=httpx.BasicAuth("alice", "wonderland"))
        wrong = client.get(url + "/", auth=httpx.BasicAuth("alice", "nope"))
        nobody = client.get(url + "/", auth=httpx.BasicAuth("bob", "wonderland"))
        none = client.get(url + "/")
    assert ok.status_code == 200
    assert inner.scopes[0]["state"]["auth"].principal.subject == "alice"
    assert (wrong.status_code, wrong.headers["www-authenticate"]) == (401, 'Basic realm="api"')
    assert nobody.status_code == 401
    assert (none.status_code, none.json()) == (401, {"detail": "Not authenticated"})


# -- issue 17: non-ASCII credentials, usernames that could never log in ---------------------


def basic_header(username: str, password: str, charset: str = "utf-8") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode(charset)).decode()}


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_non_ascii_credentials_over_the_wire(charset: str) -> None:
    """RFC 7617 §2.1: clients send UTF-8 (requests: latin-1 for a `str`); FastAPI's ASCII
    decoding refused both, so before this every client's `jäsøn` got 401."""
    users = {"jäsøn": aa.hash_password("pässwörd")}
    basic = aa.HTTPBasic(realm="api", verifier=aa.BasicPasswordVerifier(users))
    inner = Recorder()
    app = aa.AuthMiddleware(inner, aa.AuthPolicy([], default=basic))
    with serve(app) as url, httpx.Client() as client:
        ok = client.get(url + "/", headers=basic_header("jäsøn", "pässwörd", charset))
        wrong = client.get(url + "/", headers=basic_header("jäsøn", "passwörd", charset))
    assert (ok.status_code, wrong.status_code) == (200, 401)
    assert inner.scopes[0]["state"]["auth"].principal.subject == "jäsøn"


def test_charset_in_the_challenge_is_an_option() -> None:
    assert aa.HTTPBasic(realm="api").challenge() == 'Basic realm="api"'  # FastAPI's, by default
    assert aa.HTTPBasic(realm="api", charset="UTF-8").challenge() == 'Basic realm="api", charset="UTF-8"'
    assert aa.HTTPBasic(charset="utf-8").challenge() == 'Basic charset="UTF-8"'
    with pytest.raises(aa.ConfigurationError, match="UTF-8"):
        aa.HTTPBasic(charset="latin-1")


@pytest.mark.anyio
async def test_extract_only_decodes_as_fastapi_does() -> None:
    inner = Recorder()
    app = aa.AuthMiddleware(inner, aa.AuthPolicy([], default=aa.HTTPBasic(verifier=aa.EXTRACT_ONLY)))
    async with client_for(app) as client:
        assert (await client.get("/", headers=basic_header("jöhn", "x"))).status_code == 401
        assert (await client.get("/", headers=basic_header("john", "x"))).status_code == 200


@pytest.mark.parametrize("name", ["al:ice", "bob\n", "tab\there", "nul\x00", "del\x7f", "c1\x85"])
def test_usernames_that_could_never_log_in_are_refused_at_construction(name: str) -> None:
    with pytest.raises(aa.ConfigurationError, match="BasicPasswordVerifier"):
        aa.BasicPasswordVerifier({name: aa.hash_password("x", n=2)})


def test_usernames_match_in_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "jäsøn")
    verifier = aa.BasicPasswordVerifier({decomposed: aa.hash_password("pw", n=2)}, scopes={decomposed: ["r"]})
    principal = verifier(aa.HTTPBasicCredentials(username="jäsøn", password="pw"))
    assert principal is not None and principal.subject == decomposed and principal.scopes == frozenset({"r"})
    with pytest.raises(aa.ConfigurationError, match="NFC"):
        aa.BasicPasswordVerifier({decomposed: "x", "jäsøn": "y"})


def test_another_hasher_plugs_in_and_needs_its_own_dummy() -> None:
    def verify(password: str, stored: str) -> bool:
        return stored == "plain:" + password  # a stand-in hasher

    verifier = aa.BasicPasswordVerifier({"u": "plain:pw"}, verify=verify, dummy_hash="plain:")
    assert verifier(aa.HTTPBasicCredentials(username="u", password="pw")) is not None
    assert verifier(aa.HTTPBasicCredentials(username="u", password="no")) is None
    assert verifier(aa.HTTPBasicCredentials(username="v", password="")) is None  # the dummy never passes
    with pytest.raises(aa.ConfigurationError, match="dummy_hash"):
        aa.BasicPasswordVerifier({"u": "plain:pw"}, verify=verify)


# -- issue 15: hashing is bounded and leaves other routes alone ----------------------------


@pytest.mark.anyio
async def test_the_pool_refuses_past_its_bounds() -> None:
    pool = aa.HashingPool(1, max_waiting=2, max_wait=0.2)
    release = threading.Event()
    outcomes: list[str] = []

    async def attempt() -> None:
        try:
            await pool.run(release.wait, 5)
            outcomes.append("hashed")
        except aa.HashingBusy as exc:
            assert (exc.status_code, exc.detail) == (503, "Password checking unavailable")
            assert dict(exc.headers)["Retry-After"] == "1"
            outcomes.append("busy")

    def from_a_thread() -> None:  # a sync verifier of the user's, in a worker thread: same bounds
        try:
            pool.run_sync(release.wait, 5)
            outcomes.append("hashed")
        except aa.HashingBusy:
            outcomes.append("busy")

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(attempt)
        await anyio.sleep(0.05)
        await anyio.to_thread.run_sync(from_a_thread)  # waited 0.2 s (or refused at once), then busy
        await anyio.sleep(0.5)  # one hashes (blocked), two waited 0.2 s, three were refused at once
        release.set()
    assert sorted(outcomes) == ["busy"] * 6 + ["hashed"]
    assert pool.refused == 6
    assert await pool.run(lambda: 42) == 42  # and it recovers
    assert pool.run_sync(lambda: 43) == 43


def test_a_wrong_password_flood_leaves_other_routes_alone() -> None:
    """Issue 15: Basic attempts ran scrypt on the shared worker pool, unbounded, and a
    public route slowed from 0.04 s to 5.8 s. Measured as a ratio in one run: the public
    (sync) route's mean latency under a flood of wrong passwords over its idle mean."""
    users = {"alice": aa.hash_password("wonderland")}
    basic = aa.HTTPBasic(realm="api", verifier=aa.BasicPasswordVerifier(users))
    app = FastAPI()

    @app.get("/health")
    def health() -> str:  # sync: it runs on the shared thread pool, as most routes do
        return "ok"

    @app.get("/private")
    def private() -> str:
        return "secret"

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([aa.Rule("/health", require=[])], default=basic))
    statuses: list[int] = []
    refusals: list[tuple[object, str | None]] = []
    stop = threading.Event()

    async def flood(url: str) -> None:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:

            async def one() -> None:
                deadline = time.monotonic() + 30
                while not stop.is_set() and time.monotonic() < deadline:
                    r = await client.get(url + "/private", headers=basic_header("alice", "wrong"))
                    statuses.append(r.status_code)
                    if r.status_code == 503:
                        refusals.append((r.json(), r.headers.get("retry-after")))

            async with anyio.create_task_group() as group:
                for _ in range(64):  # more than the shared pool's 40 threads
                    group.start_soon(one)

    def mean_latency(client: httpx.Client, url: str) -> float:
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            assert client.get(url + "/health").status_code == 200
            samples.append(time.perf_counter() - start)
        return statistics.mean(samples)

    with serve(app) as url, httpx.Client(timeout=60) as client:
        idle = mean_latency(client, url)
        flooder = threading.Thread(target=anyio.run, args=(flood, url), daemon=True)
        flooder.start()
        deadline = time.monotonic() + 20
        while len(statuses) < 64 and time.monotonic() < deadline:  # the flood is under way
            time.sleep(0.05)
        loaded = mean_latency(client, url)
        stop.set()
        flooder.join(timeout=40)
    ratio = loaded / idle
    print(f"public route: idle {idle * 1e3:.1f} ms, under flood {loaded * 1e3:.1f} ms, ratio {ratio:.1f}")
    assert set(statuses) <= {401, 503}, set(statuses)  # refused, or told to come back; never a 500
    assert 503 in statuses  # the queue is bounded: past it, attempts are turned away
    assert refusals[0] == ({"detail": "Password checking unavailable"}, "2")
    assert ratio < 25, ratio
