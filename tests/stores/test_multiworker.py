"""Four workers on one Redis (issue 20): a Digest request replayed against any worker is
refused, a revocation through one worker reaches all within the bound, and the
brute-force limit counts failures across workers, over real clients (httpx, curl)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import pytest

from tests.stores import workers as worker_app
from tests.stores.servers import RedisServer, redis_server
from tests.stores.workers import separate_workers, uvicorn_workers

CURL = shutil.which("curl") or "/usr/bin/curl"  # a real client the test needs: .ci/run installs it


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[RedisServer, list[str]]]:
    with redis_server() as redis, separate_workers(redis.url) as urls:
        yield redis, urls


def captured_digest(url: str) -> tuple[httpx.Response, str]:
    """One request authorised by httpx's own DigestAuth, and the header it sent."""
    sent: list[str] = []

    def keep(request: httpx.Request) -> None:
        if "authorization" in request.headers:
            sent.append(request.headers["authorization"])

    with httpx.Client(event_hooks={"request": [keep]}) as client:
        response = client.get(url + "/digest", auth=httpx.DigestAuth("alice", "wonderland"))
    return response, sent[-1]


def test_a_captured_digest_request_is_refused_by_every_worker(shared: tuple[RedisServer, list[str]]) -> None:
    _, urls = shared
    response, header = captured_digest(urls[0])
    assert response.status_code == 200
    refusals = {}
    for url in urls + urls:
        replay = httpx.get(url + "/digest", headers={"Authorization": header})
        refusals[replay.headers.get("x-worker") or url] = replay.status_code
        assert replay.status_code == 401, url
    assert len({httpx.get(u + "/public").headers["x-worker"] for u in urls}) == 4  # four processes


def test_one_fresh_digest_request_sent_to_all_workers_at_once_is_accepted_once(
    shared: tuple[RedisServer, list[str]],
) -> None:
    _, urls = shared
    challenge = httpx.get(urls[0] + "/digest").headers["www-authenticate"]
    params = dict(part.strip().split("=", 1) for part in challenge[len("Digest ") :].split(","))
    nonce, realm, opaque = (params[k].strip('"') for k in ("nonce", "realm", "opaque"))
    ha1 = hashlib.sha256(f"alice:{realm}:wonderland".encode()).hexdigest()
    ha2 = hashlib.sha256(b"GET:/digest").hexdigest()
    cnonce, nc = "0a4f113b", "00000001"
    answer = hashlib.sha256(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    header = (
        f'Digest username="alice", realm="{realm}", nonce="{nonce}", uri="/digest", algorithm=SHA-256,'
        f' response="{answer}", qop=auth, nc={nc}, cnonce="{cnonce}", opaque="{opaque}"'
    )
    targets = urls * 4
    with ThreadPoolExecutor(len(targets)) as pool:
        statuses = list(
            pool.map(lambda u: httpx.get(u + "/digest", headers={"Authorization": header}).status_code, targets)
        )
    assert sorted(statuses) == [200] + [401] * (len(targets) - 1)


def test_curl_digest_replayed_with_curl_is_refused_by_every_worker(shared: tuple[RedisServer, list[str]]) -> None:
    _, urls = shared
    run = subprocess.run(
        [
            CURL,
            "-sS",
            "-v",
            "--digest",
            "-u",
            "alice:wonderland",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            urls[1] + "/digest",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert run.stdout == "200"
    sent = [line[2:] for line in run.stderr.splitlines() if line.lower().startswith("> authorization: digest")]
    header = sent[-1].split(":", 1)[1].strip()
    for url in urls:
        replay = subprocess.run(
            [CURL, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Authorization: {header}", url + "/digest"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert replay.stdout == "401", url


def test_a_token_revoked_through_one_worker_is_refused_by_all_within_the_bound(
    shared: tuple[RedisServer, list[str]],
) -> None:
    _, urls = shared
    claims = {"iss": worker_app.ISSUER, "sub": "alice", "jti": f"t-{os.getpid()}", "exp": int(time.time()) + 600}
    token = jwt.encode(claims, worker_app.JWT_SECRET, algorithm="HS256")
    bearer = {"Authorization": f"Bearer {token}"}
    for url in urls:
        assert httpx.get(url + "/jwt", headers=bearer).status_code == 200  # each worker remembers the decision
    assert httpx.post(urls[2] + "/revoke", params={"jti": claims["jti"]}).status_code == 200
    assert httpx.get(urls[2] + "/jwt", headers=bearer).status_code == 401  # at once where it was revoked
    time.sleep(worker_app.STALENESS)
    # Past the bound each worker has either refreshed (401) or distrusts its copy (503):
    # none may still honour the token.
    statuses = [httpx.get(url + "/jwt", headers=bearer).status_code for url in urls]
    assert all(status in (401, 503) for status in statuses), statuses
    assert statuses.count(401) >= 1


def test_the_brute_force_limit_counts_failures_across_workers(shared: tuple[RedisServer, list[str]]) -> None:
    _, urls = shared
    wrong = httpx.BasicAuth("bob", "guess")
    statuses = [httpx.get(urls[i % 4] + "/basic", auth=wrong).status_code for i in range(5)]
    assert statuses == [401] * 5  # five failures, spread over four workers
    for url in urls:
        refused = httpx.get(url + "/basic", auth=httpx.BasicAuth("bob", "builder"))
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1


def test_uvicorn_workers_4_share_the_limit_and_the_nonce_counts() -> None:
    with redis_server() as redis, uvicorn_workers(redis.url) as url:
        workers = set()
        statuses = []
        for _ in range(8):
            with httpx.Client() as client:  # a new connection each time: any worker may take it
                response = client.get(url + "/basic", auth=httpx.BasicAuth("carol", "guess"))
                statuses.append(response.status_code)
                workers.add(response.headers.get("x-worker"))
        assert statuses == [401] * 5 + [429] * 3
        response, header = captured_digest(url)
        assert response.status_code == 200
        for _ in range(8):
            with httpx.Client() as client:
                replay = client.get(url + "/digest", headers={"Authorization": header})
                assert replay.status_code == 401
                workers.add(replay.headers.get("x-worker"))
        workers.discard(None)
        print(f"uvicorn --workers 4: {len(workers)} distinct workers answered")
        assert workers  # whichever took them, the limit and the counts held
