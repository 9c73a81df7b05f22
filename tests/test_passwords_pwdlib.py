"""`BasicPasswordVerifier(hasher=)`: the `$argon2id$` and bcrypt hashes users already
hold, made by pwdlib itself (and by argon2-cffi and bcrypt directly), over a real
FastAPI app on uvicorn; rehash on login reported once; the hashing pool's bound kept.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import argon2
import bcrypt
import httpx
import pytest
from fastapi import Depends, FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pwdlib.hashers.bcrypt import BcryptHasher

import asgi_auth as aa
from tests.loopback import serve

# Cheap parameters: these tests are about formats and flow, not cost.
ARGON2 = Argon2Hasher(time_cost=1, memory_cost=8 * 1024)
BCRYPT = BcryptHasher(rounds=4)
CURRENT = PasswordHash((ARGON2, BCRYPT))  # argon2 is current: bcrypt hashes are rehashed


def hashes() -> dict[str, str]:
    return {
        "alice": CURRENT.hash("wonderland"),  # pwdlib's argon2id, current parameters
        "bob": PasswordHash((BCRYPT,)).hash("builder"),  # pwdlib's bcrypt: rehashed to argon2
        "carol": bcrypt.hashpw(b"c4rol", bcrypt.gensalt(4)).decode(),  # the bcrypt library's own $2b$
        "dave": argon2.PasswordHasher(time_cost=2, memory_cost=8 * 1024).hash("d4ve"),  # other parameters
        "erin": aa.hash_password("scrypt-pw"),  # asgi_auth's own, verified beside
    }


def make_app(verifier: aa.BasicPasswordVerifier) -> FastAPI:
    basic = aa.HTTPBasic(realm="api", verifier=verifier)
    app = FastAPI()

    @app.get("/me")
    def me(auth: aa.AuthContext = Depends(aa.get_auth)) -> dict[str, Any]:
        return {"user": auth.principal.identity}

    @app.get("/public")
    def public() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([aa.Rule("/public", require=[])], default=basic))
    return app


def test_pwdlib_hashes_over_fastapi_and_rehash_reported_once() -> None:
    db = hashes()
    reported: list[tuple[str, str]] = []

    async def on_rehash(username: str, new_hash: str) -> None:  # the app stores it
        reported.append((username, new_hash))
        db[username] = new_hash

    verifier = aa.BasicPasswordVerifier(db.get, hasher=CURRENT, on_rehash=on_rehash)
    with serve(make_app(verifier)) as url, httpx.Client(base_url=url) as client:

        def login(user: str, password: str) -> int:
            return client.get("/me", auth=(user, password)).status_code

        for user, password in [("alice", "wonderland"), ("bob", "builder"), ("carol", "c4rol"), ("dave", "d4ve")]:
            assert login(user, password) == 200, user
            assert login(user, password + "!") == 401, user
        assert login("erin", "scrypt-pw") == 200
        assert login("erin", "nope") == 401
        assert login("mallory", "wonderland") == 401  # unknown: checked against the dummy
        assert client.get("/me", auth=("alice", "wonderland")).json() == {"user": "alice"}
        # bcrypt (pwdlib's and the bcrypt library's) and argon2 of other parameters are due
        assert sorted(name for name, _ in reported) == ["bob", "carol", "dave"]
        assert all(new.startswith("$argon2id$v=19$m=8192,t=1,") for _, new in reported)
        for user, password in [("bob", "builder"), ("carol", "c4rol"), ("dave", "d4ve")]:
            assert login(user, password) == 200  # with the stored new hash
        assert len(reported) == 3  # once each: the new hashes are current
    assert db["alice"].startswith("$argon2id$") and not any(name == "alice" for name, _ in reported)
    assert not any(name == "erin" for name, _ in reported)  # scrypt hashes are left alone


def test_a_mapping_is_updated_so_the_rehash_is_reported_once_from_a_sync_check() -> None:
    reported: list[str] = []
    verifier = aa.BasicPasswordVerifier(
        {"bob": PasswordHash((BCRYPT,)).hash("builder")},
        hasher=[ARGON2, BCRYPT],  # a sequence of pwdlib hashers, the current one first
        on_rehash=lambda name, new: reported.append(name),
    )
    for _ in range(3):
        assert verifier(aa.HTTPBasicCredentials(username="bob", password="builder")) is not None
    assert verifier(aa.HTTPBasicCredentials(username="bob", password="wrong")) is None
    assert reported == ["bob"]


def test_a_failing_on_rehash_is_logged_and_the_login_stands(caplog: pytest.LogCaptureFixture) -> None:
    stored = PasswordHash((BCRYPT,)).hash("builder")

    def on_rehash(name: str, new: str) -> None:
        raise RuntimeError(new)  # a database down, say; its message holds the hash

    verifier = aa.BasicPasswordVerifier({"bob": stored}, hasher=CURRENT, on_rehash=on_rehash)
    with serve(make_app(verifier)) as url:
        assert httpx.get(url + "/me", auth=("bob", "builder")).status_code == 200
    assert "on_rehash raised RuntimeError" in caplog.text
    assert "$argon2id$" not in caplog.text


def test_unreadable_hashes_refuse() -> None:
    verifier = aa.BasicPasswordVerifier(
        {"a": "$1$md5$notours", "b": "$2b$04$broken", "c": PasswordHash((BCRYPT,)).hash("x")}, hasher=CURRENT
    )
    assert verifier(aa.HTTPBasicCredentials(username="a", password="x")) is None  # no hasher reads it
    assert verifier(aa.HTTPBasicCredentials(username="b", password="x")) is None
    assert verifier(aa.HTTPBasicCredentials(username="c", password="x" * 100)) is None  # bcrypt: over 72 bytes


def test_configuration() -> None:
    with pytest.raises(aa.ConfigurationError, match="not a pwdlib PasswordHash or hasher"):
        aa.BasicPasswordVerifier({}, hasher=object())
    with pytest.raises(aa.ConfigurationError, match="not both"):
        aa.BasicPasswordVerifier({}, hasher=CURRENT, verify=lambda p, s: False, dummy_hash="x")
    with pytest.raises(aa.ConfigurationError, match="needs hasher="):
        aa.BasicPasswordVerifier({}, on_rehash=lambda n, h: None)


def test_argon2_runs_in_the_bounded_pool_and_a_flood_gets_503() -> None:
    """Structural: the pool's one worker is held from a thread, so a login that hashes
    (argon2 here) must be refused by the pool's bound, not queued behind it."""
    pool = aa.HashingPool(1, max_waiting=1, max_wait=0.2)
    verifier = aa.BasicPasswordVerifier(hashes(), hasher=CURRENT, pool=pool)
    release, held = threading.Event(), threading.Event()

    def hold() -> None:
        pool.run_sync(lambda: (held.set(), release.wait(20)))

    holder = threading.Thread(target=hold, daemon=True)
    with serve(make_app(verifier)) as url, httpx.Client(base_url=url) as client:
        holder.start()
        assert held.wait(10)
        statuses = [client.get("/me", auth=("alice", "wonderland" if i % 2 else "wrong")).status_code for i in range(8)]
        refused = client.get("/me", auth=("alice", "wonderland"))
        public = client.get("/public")
        release.set()
        holder.join(10)
        assert client.get("/me", auth=("alice", "wonderland")).status_code == 200  # and it recovers
    assert statuses == [503] * 8  # the right password too: the pool is full, nothing is guessed
    assert (refused.status_code, refused.json()) == (503, {"detail": "Password checking unavailable"})
    assert refused.headers["retry-after"] == "1"
    assert public.status_code == 200  # routes that don't hash never wait
    assert pool.refused == 9


def test_no_hash_or_password_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    db = hashes()
    verifier = aa.BasicPasswordVerifier(db.get, hasher=CURRENT, on_rehash=lambda n, h: None)
    with serve(make_app(verifier)) as url:
        httpx.get(url + "/me", auth=("bob", "builder"))
        httpx.get(url + "/me", auth=("bob", "wrong-pw"))
    assert "builder" not in caplog.text and "wrong-pw" not in caplog.text and "$2b$" not in caplog.text
