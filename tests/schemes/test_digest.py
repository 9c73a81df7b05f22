"""RFC 7616 Digest against clients nobody here wrote: httpx.DigestAuth and curl."""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import asgi_auth as aa
from asgi_auth.schemes.digest import parse_auth_params
from tests.conftest import Recorder, client_for
from tests.loopback import serve

USERS = {"mufasa": "Circle of Life", "jäsøn": "Secret, or not?"}
CURL = shutil.which("curl") or "curl"  # a real curl: .ci/run installs it


def get_password(username: str) -> str | None:
    return USERS.get(username)


def digest_app(**options: Any) -> tuple[aa.AuthMiddleware, aa.HTTPDigest]:
    scheme = aa.HTTPDigest(realm="http-auth@example.org", verifier=get_password, **options)
    return aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=scheme)), scheme


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app, _ = digest_app()
    with serve(app) as url:
        yield url


@pytest.mark.parametrize("algorithms", [("SHA-256", "MD5"), ("SHA-256",), ("MD5",), ("SHA-256-sess",), ("MD5-sess",)])
def test_httpx_digest_auth(algorithms: tuple[str, ...]) -> None:
    app, _ = digest_app(algorithms=algorithms)
    with serve(app) as url, httpx.Client() as client:
        ok = client.get(url + "/p?q=1", auth=httpx.DigestAuth("mufasa", "Circle of Life"))
        bad = client.get(url + "/p", auth=httpx.DigestAuth("mufasa", "wrong"))
        unknown = client.get(url + "/p", auth=httpx.DigestAuth("scar", "Circle of Life"))
    assert ok.status_code == 200
    assert ok.text == "ok"
    assert bad.status_code == unknown.status_code == 401
    assert bad.json() == {"detail": "Could not validate credentials"}
    assert bad.headers["www-authenticate"].startswith('Digest realm="http-auth@example.org", qop="auth"')


def test_httpx_reuses_the_nonce_with_growing_nc(server: str) -> None:
    auth = httpx.DigestAuth("mufasa", "Circle of Life")
    with httpx.Client() as client:
        statuses = [client.get(server + "/p", auth=auth).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]


def curl_digest(url: str, credentials: str) -> str:
    """The status code curl --digest gets (curl does the whole challenge dance)."""
    command = [CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--digest", "-u", credentials, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False).stdout


@pytest.mark.parametrize("password", ["Circle of Life", "nope"])
def test_curl_digest(server: str, password: str) -> None:
    assert curl_digest(server + "/x", f"mufasa:{password}") == ("200" if password == "Circle of Life" else "401")


def test_curl_with_userhash_and_sha256_only() -> None:
    hashed = {hashlib.sha256(f"{name}:http-auth@example.org".encode()).hexdigest(): name for name in USERS}
    looked_up: list[str] = []

    def resolve(userhash: str) -> str | None:
        looked_up.append(userhash)
        return hashed.get(userhash)

    app, _ = digest_app(algorithms=["SHA-256"], userhash=True, usernames=resolve)
    with serve(app) as url:
        assert curl_digest(url + "/", "mufasa:Circle of Life") == "200"
        assert curl_digest(url + "/", "mufasa:wrong") == "401"
    assert looked_up[0] == hashlib.sha256(b"mufasa:http-auth@example.org").hexdigest()  # curl sent a userhash


def respond(
    challenge: str,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: str = "00000001",
    over: dict[str, str] | None = None,
) -> str:
    """A client computing the RFC 7616 response by hand, for the cases clients avoid."""
    params = parse_auth_params(challenge.removeprefix("Digest "))
    assert params is not None
    algorithm = params["algorithm"]
    h = (
        (lambda s: hashlib.sha256(s.encode()).hexdigest())
        if "SHA" in algorithm
        else (lambda s: hashlib.md5(s.encode()).hexdigest())
    )
    cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
    ha1 = h(f"{username}:{params['realm']}:{password}")
    response = h(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{h(f'{method}:{uri}')}")
    fields = {
        "username": username,
        "realm": params["realm"],
        "uri": uri,
        "algorithm": algorithm,
        "nonce": params["nonce"],
        "nc": nc,
        "cnonce": cnonce,
        "qop": "auth",
        "response": response,
        "opaque": params["opaque"],
        **(over or {}),
    }
    quoted = {"username", "realm", "uri", "nonce", "cnonce", "response", "opaque"}
    return "Digest " + ", ".join(f'{k}="{v}"' if k in quoted else f"{k}={v}" for k, v in fields.items())


@pytest.mark.anyio
async def test_replayed_nonce_count_is_refused() -> None:
    app, _ = digest_app()
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        header = respond(challenge, "GET", "/a", "mufasa", "Circle of Life")
        first = await client.get("/a", headers={"Authorization": header})
        replay = await client.get("/a", headers={"Authorization": header})
        lower = await client.get(
            "/a", headers={"Authorization": respond(challenge, "GET", "/a", "mufasa", "Circle of Life", nc="00000000")}
        )
        higher = await client.get(
            "/a", headers={"Authorization": respond(challenge, "GET", "/a", "mufasa", "Circle of Life", nc="00000002")}
        )
    assert (first.status_code, replay.status_code, lower.status_code, higher.status_code) == (200, 401, 401, 200)


@pytest.mark.anyio
async def test_expired_nonce_gets_stale_true_only_with_the_right_password() -> None:
    app, scheme = digest_app(nonce_lifetime=60)
    old_nonce = scheme.make_nonce(now=time.time() - 120)
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        challenge = re.sub(r'nonce="[^"]+"', f'nonce="{old_nonce}"', challenge)
        right = await client.get(
            "/a", headers={"Authorization": respond(challenge, "GET", "/a", "mufasa", "Circle of Life")}
        )
        wrong = await client.get("/a", headers={"Authorization": respond(challenge, "GET", "/a", "mufasa", "bad")})
    assert right.status_code == 401
    assert all("stale=true" in c for c in right.headers.get_list("www-authenticate"))
    assert wrong.status_code == 401
    assert not any("stale=true" in c for c in wrong.headers.get_list("www-authenticate"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("override", "status"),
    [
        ({"uri": "/other"}, 400),
        ({"realm": "elsewhere"}, 401),
        ({"opaque": "forged"}, 401),
        ({"qop": "auth-int"}, 401),
        ({"nc": "zz"}, 401),
        ({"nonce": "0" * 72}, 401),
        ({"nonce": "short"}, 401),
        ({"algorithm": "SHA-512"}, 401),
        ({"response": ""}, 401),
    ],
)
async def test_tampered_fields(override: dict[str, str], status: int) -> None:
    app, _ = digest_app()
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        header = respond(challenge, "GET", "/a", "mufasa", "Circle of Life", over=override)
        r = await client.get("/a", headers={"Authorization": header})
    assert r.status_code == status


@pytest.mark.anyio
async def test_md5_can_be_switched_off_and_non_ascii_usernames_work() -> None:
    app, _ = digest_app(algorithms=["SHA-256"])
    async with client_for(app) as client:
        challenges = (await client.get("/a")).headers.get_list("www-authenticate")
        assert len(challenges) == 1 and "algorithm=SHA-256" in challenges[0]
        md5 = respond(challenges[0].replace("SHA-256", "MD5"), "GET", "/a", "mufasa", "Circle of Life")
        assert (await client.get("/a", headers={"Authorization": md5})).status_code == 401
        header = respond(challenges[0], "GET", "/a", "jäsøn", "Secret, or not?")
        header = header.replace('username="jäsøn"', "username*=UTF-8''j%C3%A4s%C3%B8n")
        assert (await client.get("/a", headers={"Authorization": header.encode()})).status_code == 200


@pytest.mark.anyio
async def test_ha1_mapping_instead_of_password() -> None:
    realm = "http-auth@example.org"
    ha1 = hashlib.sha256(f"mufasa:{realm}:Circle of Life".encode()).hexdigest()
    scheme = aa.HTTPDigest(realm=realm, algorithms=["SHA-256"], verifier=aa.inline(lambda u: {"SHA-256": ha1}))
    app = aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=scheme))
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        r = await client.get(
            "/a", headers={"Authorization": respond(challenge, "GET", "/a", "mufasa", "Circle of Life")}
        )
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('a=b, c="d e"', {"a": "b", "c": "d e"}),
        ('a="q\\"uote"', {"a": 'q"uote'}),
        ("A=1,,b=2", {"a": "1", "b": "2"}),
        ("a=1, a=2", None),
        ('a="unterminated', None),
        ("a", None),
        ("=b", None),
        ("a=b c=d", None),
        ("x" * 5000, None),
        (", ".join(f"k{i}=v" for i in range(30)), None),
    ],
)
def test_parse_auth_params(text: str, expected: dict[str, str] | None) -> None:
    assert parse_auth_params(text) == expected


def test_configuration() -> None:
    with pytest.raises(aa.ConfigurationError, match="unknown algorithm"):
        aa.HTTPDigest(verifier=get_password, algorithms=["SHA-1"])
    with pytest.raises(aa.ConfigurationError, match="usernames"):
        aa.HTTPDigest(verifier=get_password, userhash=True)
    with pytest.raises(aa.ConfigurationError, match="16 bytes"):
        aa.HTTPDigest(verifier=get_password, secret=b"short")


def test_nonces_from_another_secret_are_not_ours() -> None:
    one = aa.HTTPDigest(verifier=get_password, secret=b"a" * 32)
    two = aa.HTTPDigest(verifier=get_password, secret=b"b" * 32)
    shared = aa.HTTPDigest(verifier=get_password, secret=b"a" * 32)
    nonce = one.make_nonce()
    assert one.nonce_issued_at(nonce) is not None
    assert shared.nonce_issued_at(nonce) is not None  # workers sharing a secret agree
    assert two.nonce_issued_at(nonce) is None


@pytest.mark.anyio
async def test_undecodable_username_star_is_a_plain_refusal(caplog: pytest.LogCaptureFixture) -> None:
    app, _ = digest_app()
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        header = respond(challenge, "GET", "/a", "mufasa", "x").replace('username="mufasa"', "username*=UTF-8''%ff")
        r = await client.get("/a", headers={"Authorization": header})
    assert r.status_code == 401
    assert "raised" not in caplog.text  # refused as bad input, not logged as a verifier failure


# -- issue 17: what real clients send -----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
async def test_non_ascii_username_as_raw_bytes(charset: str) -> None:
    """The challenge says charset=UTF-8: aiohttp, curl, wget and Chromium send the name's
    UTF-8 bytes; requests (through http.client) sends latin-1 bytes of a name it hashed in
    UTF-8. Both name the same user; a wrong password is still refused."""
    app, _ = digest_app(algorithms=["SHA-256"])
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        right = respond(challenge, "GET", "/a", "jäsøn", "Secret, or not?").encode(charset)
        wrong = respond(challenge, "GET", "/a", "jäsøn", "nope").encode(charset)
        ok = await client.get("/a", headers={"Authorization": right})
        bad = await client.get("/a", headers={"Authorization": wrong})
    assert (ok.status_code, bad.status_code) == (200, 401)


@pytest.mark.anyio
async def test_nonce_counts_out_of_order_are_each_accepted_once() -> None:
    app, _ = digest_app()
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]

        async def status(nc: str) -> int:
            header = respond(challenge, "GET", "/a", "mufasa", "Circle of Life", nc=nc)
            return (await client.get("/a", headers={"Authorization": header})).status_code

        statuses = [await status(nc) for nc in ("00000002", "00000001", "00000001", "00000003", "00000002")]
    assert statuses == [200, 200, 401, 200, 401]


def test_concurrent_requests_on_one_nonce_need_no_retry() -> None:
    """httpx.AsyncClient, 8 requests at once sharing one nonce: before, 6 of them got a
    401 (counts arrived out of order) and succeeded only on httpx's retry."""
    import anyio

    statuses: list[int] = []
    app, _ = digest_app()

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        await app(scope, receive, record)

    async def main(url: str) -> list[int]:
        auth = httpx.DigestAuth("mufasa", "Circle of Life")
        async with httpx.AsyncClient(auth=auth) as client:
            assert (await client.get(url + "/warm")).status_code == 200  # the nonce, learnt once
            statuses.clear()
            results: list[int] = []

            async def one(i: int) -> None:
                results.append((await client.get(f"{url}/c{i}")).status_code)

            async with anyio.create_task_group() as group:
                for i in range(8):
                    group.start_soon(one, i)
            return results

    with serve(counting) as url:
        results = anyio.run(main, url)
    assert results == [200] * 8
    assert statuses == [200] * 8  # no 401 on the wire: nothing was retried


@pytest.mark.anyio
async def test_one_user_cannot_lock_others_out_of_the_nonce_store() -> None:
    """Issue 15: one user filling the nonce store made another user's right password 401."""
    app, _ = digest_app(nonce_counter=aa.MemoryNonceCounter(max_entries=50, per_user=8))
    async with client_for(app) as client:
        for _ in range(120):  # a fresh nonce each time, as curl in a loop does
            challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
            header = respond(challenge, "GET", "/a", "mufasa", "Circle of Life")
            assert (await client.get("/a", headers={"Authorization": header})).status_code == 200
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        other = respond(challenge, "GET", "/a", "jäsøn", "Secret, or not?").encode()
        assert (await client.get("/a", headers={"Authorization": other})).status_code == 200


@pytest.mark.anyio
async def test_a_nonce_let_go_of_is_stale_never_replayable() -> None:
    app, _ = digest_app(nonce_counter=aa.MemoryNonceCounter(max_entries=50, per_user=2))
    async with client_for(app) as client:
        first = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        replay = respond(first, "GET", "/a", "mufasa", "Circle of Life")
        assert (await client.get("/a", headers={"Authorization": replay})).status_code == 200
        for _ in range(3):  # three newer nonces push the first out
            challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
            header = respond(challenge, "GET", "/a", "mufasa", "Circle of Life")
            assert (await client.get("/a", headers={"Authorization": header})).status_code == 200
        again = await client.get("/a", headers={"Authorization": replay})
    assert again.status_code == 401
    assert all("stale=true" in c for c in again.headers.get_list("www-authenticate"))


# -- issue 15 (low): bad input is a plain refusal, not a verifier failure at ERROR ----------


@pytest.mark.anyio
@pytest.mark.parametrize(
    "override",
    [
        {"response": "ä" * 64},
        {"opaque": "ö" * 32},
        {"nonce": "ü" * 72},
        {"cnonce": "ß"},
        {"nc": "0000000ä"},
        {"response": "a" * 32},  # an MD5-sized response for SHA-256
        {"algorithm": "MD5-sess"},  # an algorithm not offered
    ],
)
async def test_non_ascii_and_mismatched_fields_are_plain_refusals(
    override: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = digest_app()
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        header = respond(challenge, "GET", "/a", "mufasa", "Circle of Life", over=override)
        r = await client.get("/a", headers={"Authorization": header.encode("utf-8")})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Digest ")
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.anyio
async def test_an_ha1_of_the_wrong_algorithm_is_refused_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    realm = "http-auth@example.org"
    md5_ha1 = hashlib.md5(f"mufasa:{realm}:Circle of Life".encode()).hexdigest()
    scheme = aa.HTTPDigest(realm=realm, algorithms=["SHA-256"], verifier=aa.inline(lambda u: {"SHA-256": md5_ha1}))
    app = aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=scheme))
    caplog.set_level(logging.INFO, logger="asgi_auth")
    async with client_for(app) as client:
        challenge = (await client.get("/a")).headers.get_list("www-authenticate")[0]
        header = respond(challenge, "GET", "/a", "mufasa", "Circle of Life")
        r = await client.get("/a", headers={"Authorization": header})
    assert r.status_code == 401
    assert [r.levelno for r in caplog.records if r.name.startswith("asgi_auth")] == [logging.WARNING]
    assert md5_ha1 not in caplog.text and "raised" not in caplog.text
