from __future__ import annotations

import base64
import json
import time
from typing import Any

import anyio
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import HMACAlgorithm

import asgi_auth as aa
from tests.verifiers.keys import HMAC_SECRET, ec_key, ed_key, jwk, public_pem, rsa_key

pytestmark = pytest.mark.anyio

NOW = int(time.time())
PRIVATE_PEM = (serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "exp": int(time.time()) + 600, "scope": "me items", **extra}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def test_hs256_principal_scopes_and_claims() -> None:
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"])
    principal = await verifier(jwt.encode(claims(), HMAC_SECRET, algorithm="HS256"))
    assert principal is not None
    assert (principal.subject, principal.scopes, principal.claims["sub"]) == ("alice", {"me", "items"}, "alice")


@pytest.mark.parametrize(
    ("alg", "other", "private", "public"),
    [
        ("RS256", "RS384", rsa_key, lambda: public_pem(rsa_key())),
        ("PS256", "RS256", rsa_key, lambda: public_pem(rsa_key())),
        ("ES256", None, ec_key, lambda: ec_key().public_key()),  # PyJWT ties a curve to one alg
        ("EdDSA", None, ed_key, lambda: public_pem(ed_key())),
        ("RS256", "PS256", rsa_key, rsa_key),  # a private key verifies with its public half
        ("ES256", None, ec_key, lambda: ec_key().private_bytes(*PRIVATE_PEM)),
    ],
)
async def test_asymmetric_algorithms(alg: str, other: str | None, private: Any, public: Any) -> None:
    verifier = aa.JWTVerifier(key=public(), algorithms=[alg])
    token = jwt.encode(claims(), private(), algorithm=alg)
    assert (await verifier(token)) is not None
    if other is not None:  # the same key, another algorithm on the allow-list
        assert (await aa.JWTVerifier(key=public(), algorithms=[other])(token)) is None


def test_each_key_is_prepared_once_when_the_verifier_is_built() -> None:
    """PyJWT parses a PEM per decode; the verifier hands it the parsed key instead."""
    pem = public_pem(rsa_key())
    verifier = aa.JWTVerifier(key=pem, algorithms=["RS256"])
    assert isinstance(verifier._single_key, rsa.RSAPublicKey)
    assert verifier.verify_inline(jwt.encode(claims(), rsa_key(), algorithm="RS256")) is not None


def test_an_hmac_secret_is_checked_once_not_per_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyJWT's HMAC `prepare_key` (the algorithm-confusion checks) runs when the verifier
    is built; tokens verified after that are not checked again, on PyJWT releases that
    give each PyJWT its own PyJWS (2.11+)."""
    calls: list[object] = []
    prepare = HMACAlgorithm.prepare_key

    def counted(self: HMACAlgorithm, key: str | bytes) -> bytes:
        calls.append(key)
        return prepare(self, key)

    monkeypatch.setattr(HMACAlgorithm, "prepare_key", counted)
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], cache=False)
    assert calls == [HMAC_SECRET]
    token, forged = jwt.encode(claims(), HMAC_SECRET), jwt.encode(claims(), "y" * 40)
    calls.clear()
    for _ in range(3):
        assert verifier.verify_inline(token) is not None
    per_instance_jws = isinstance(getattr(jwt.PyJWT(), "_jws", None), jwt.PyJWS)
    assert len(calls) == (0 if per_instance_jws else 3)
    assert verifier.verify_inline(forged) is None
    # Any other secret still gets PyJWT's full check.
    calls.clear()
    assert verifier._jwt.decode(forged, "y" * 40, algorithms=["HS256"])["sub"] == "alice"
    assert calls == ["y" * 40]


async def test_jwk_set_picks_the_key_by_kid() -> None:
    keyset = {"keys": [jwk(rsa_key(), "one", "RS256"), jwk(ec_key(), "two", "ES256")]}
    verifier = aa.JWTVerifier(key=keyset, algorithms=["RS256", "ES256"])
    assert await verifier(jwt.encode(claims(), ec_key(), algorithm="ES256", headers={"kid": "two"})) is not None
    assert await verifier(jwt.encode(claims(), ec_key(), algorithm="ES256", headers={"kid": "one"})) is None
    assert await verifier(jwt.encode(claims(), ec_key(), algorithm="ES256", headers={"kid": "nine"})) is None


@pytest.mark.parametrize(
    ("name", "token"),
    [
        ("alg none", lambda: jwt.encode(claims(), None, algorithm="none")),
        (
            "hs256 signed with the rsa public key",
            lambda: (
                b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
                + "."
                + b64url(json.dumps(claims()).encode())
                + "."
                + b64url(__import__("hmac").new(public_pem(rsa_key()), b"", "sha256").digest())
            ),
        ),
        ("expired", lambda: jwt.encode(claims(exp=NOW - 10), rsa_key(), algorithm="RS256")),
        ("not yet valid", lambda: jwt.encode(claims(nbf=NOW + 600), rsa_key(), algorithm="RS256")),
        ("no exp", lambda: jwt.encode({"sub": "a"}, rsa_key(), algorithm="RS256")),
        ("wrong issuer", lambda: jwt.encode(claims(iss="https://evil"), rsa_key(), algorithm="RS256")),
        ("wrong audience", lambda: jwt.encode(claims(aud="other"), rsa_key(), algorithm="RS256")),
        ("other key", lambda: jwt.encode(claims(), rsa_key(1), algorithm="RS256")),
        ("garbage", lambda: "not.a.jwt"),
        ("empty", lambda: ""),
        ("oversize", lambda: jwt.encode(claims(pad="x" * 9000), rsa_key(), algorithm="RS256")),
        ("non-ascii", lambda: "é.é.é"),
    ],
)
async def test_attacks_are_refused(name: str, token: Any) -> None:
    verifier = aa.JWTVerifier(
        key=public_pem(rsa_key()), algorithms=["RS256"], issuer="https://id.example", audience="api"
    )
    assert await verifier(token()) is None


async def test_tampered_payload_is_refused() -> None:
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"])
    header, _, signature = jwt.encode(claims(), HMAC_SECRET, algorithm="HS256").split(".")
    forged = b64url(json.dumps(claims(scope="admin")).encode())
    assert await verifier(f"{header}.{forged}.{signature}") is None


async def test_the_attacks_through_the_middleware_are_401_never_500() -> None:
    from tests.conftest import Recorder, client_for

    bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=["RS256"]))
    app = aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=bearer))
    tokens = [jwt.encode(claims(), None, algorithm="none"), "a.b.c", "x" * 8000, "é", "eyJhbGciOiJSUzI1NiJ9.e30."]
    async with client_for(app) as client:
        for token in tokens:
            r = await client.get("/", headers={"Authorization": f"Bearer {token}".encode()})
            assert (r.status_code, r.headers["www-authenticate"]) == (401, 'Bearer error="invalid_token"')
        huge = await client.get("/", headers={"Authorization": "Bearer " + "x" * 20000})
        assert huge.status_code == 431  # over the header cap: refused before any parsing


async def test_issuer_audience_leeway_and_typ() -> None:
    verifier = aa.JWTVerifier(
        key=HMAC_SECRET, algorithms=["HS256"], issuer="https://id", audience="api", leeway=30, typ="at+jwt"
    )
    expired_5s_ago = int(time.time()) - 5
    good = jwt.encode(claims(iss="https://id", aud="api", exp=expired_5s_ago), HMAC_SECRET, headers={"typ": "at+jwt"})
    assert await verifier(good) is not None  # expired 5 s ago, within the leeway
    plain = jwt.encode(claims(iss="https://id", aud="api"), HMAC_SECRET)
    assert await verifier(plain) is None  # typ JWT, not at+jwt
    app_typ = jwt.encode(claims(iss="https://id", aud="api"), HMAC_SECRET, headers={"typ": "application/at+jwt"})
    assert await verifier(app_typ) is not None


@pytest.mark.parametrize(
    ("claim", "value", "scopes_claim", "expected"),
    [
        ("scope", "a b", None, {"a", "b"}),
        ("scp", ["a", "c"], None, {"a", "c"}),
        ("scopes", ["z"], None, {"z"}),
        ("roles", ["r1"], "roles", {"r1"}),
        ("scope", 42, None, set()),
    ],
)
async def test_scope_claims(claim: str, value: Any, scopes_claim: str | None, expected: set[str]) -> None:
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], scopes_claim=scopes_claim)
    token = jwt.encode({"sub": "s", "exp": int(time.time()) + 60, claim: value}, HMAC_SECRET)
    principal = await verifier(token)
    assert principal is not None and principal.scopes == expected


async def test_cache_serves_hits_but_honours_exp_and_is_bounded() -> None:
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], cache_size=3)
    token = jwt.encode(claims(exp=time.time() + 1.2), HMAC_SECRET)
    first = await verifier(token)
    assert await verifier(token) is first  # the cached principal itself
    for i in range(10):
        await verifier(jwt.encode(claims(n=i), HMAC_SECRET))
    assert len(verifier._cache) == 3
    short = jwt.encode(claims(exp=int(time.time()) + 1), HMAC_SECRET)
    assert await verifier(short) is not None
    await anyio.sleep(1.6)
    assert await verifier(short) is None  # expired while cached


def test_verify_inline_answers_on_the_loop_with_a_static_key() -> None:
    """With a static key nothing is awaited: the principal, or None, comes back as is."""
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"])
    token = jwt.encode(claims(), HMAC_SECRET)
    principal = verifier.verify_inline(token)
    assert isinstance(principal, aa.Principal) and principal.subject == "alice"
    assert verifier.verify_inline(token) is principal  # then from the cache
    assert verifier.verify_inline(token + "x") is None  # a bad signature: rejected at once
    assert verifier.verify_inline(None) is None
    assert all(len(key) == 64 for key in verifier._cache)  # digests: the cache holds no token
    uncached = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], cache=False)
    assert isinstance(uncached.verify_inline(token), aa.Principal) and not uncached._cache


def test_lifetime_is_the_cached_window_and_nothing_else() -> None:
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], leeway=5, cache_ttl=300)
    now = time.time()
    token = jwt.encode(claims(exp=int(now) + 60, nbf=int(now) - 10), HMAC_SECRET)
    assert verifier.lifetime(token) is None  # not verified yet: nothing to vouch for
    assert verifier.verify_inline(token) is not None
    assert verifier.lifetime(token) == (int(now) - 10 - 5, int(now) + 60 + 5)  # nbf and exp, with leeway
    long_lived = jwt.encode(claims(exp=int(now) + 3600), HMAC_SECRET)
    assert verifier.verify_inline(long_lived) is not None
    not_before, expires = verifier.lifetime(long_lived) or (0, 0)
    assert not_before == float("-inf") and now + 299 < expires <= time.time() + 300  # cache_ttl caps it
    assert verifier.lifetime(token + "x") is None
    uncached = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], cache=False)
    assert uncached.verify_inline(token) is not None and uncached.lifetime(token) is None


async def test_cached_drops_an_entry_that_expired() -> None:
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"])
    token = jwt.encode(claims(exp=int(time.time()) + 1), HMAC_SECRET)
    assert await verifier(token) is not None
    await anyio.sleep(1.2)
    assert verifier.verify_inline(token) is None  # expired: dropped, then refused
    assert len(verifier._cache) == 0


async def test_cache_off() -> None:
    verifier = aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"], cache=False)
    token = jwt.encode(claims(), HMAC_SECRET)
    assert await verifier(token) is not None
    assert await verifier(token) is not await verifier(token)
    assert len(verifier._cache) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": HMAC_SECRET, "algorithms": []}, "allow-list"),
        ({"key": HMAC_SECRET, "algorithms": "HS256"}, "allow-list"),
        ({"key": HMAC_SECRET, "algorithms": ["none"]}, "not allowed"),
        ({"key": HMAC_SECRET, "algorithms": ["RS256"]}, "HMAC secret can only"),
        ({"key": "-----BEGIN PUBLIC KEY-----\nabc", "algorithms": ["HS256"]}, "never verify HMAC"),
        ({"key": "short", "algorithms": ["HS256"]}, "at least 32 bytes"),
        (
            {
                "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                "algorithms": ["HS256"],
            },
            "refused",
        ),
        ({"key": ec_key().public_key(), "algorithms": ["RS256"]}, "refused key= for each of RS256"),
        (
            {"key": "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----", "algorithms": ["RS256"]},
            "refused",
        ),
        ({"algorithms": ["RS256"]}, "exactly one"),
        ({"jwks_url": "https://x/jwks", "algorithms": ["HS256"]}, "HMAC"),
    ],
)
def test_misconfiguration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(aa.ConfigurationError, match=message):
        aa.JWTVerifier(**kwargs)


def test_repr_hides_the_key() -> None:
    assert HMAC_SECRET not in repr(aa.JWTVerifier(key=HMAC_SECRET, algorithms=["HS256"]))


def test_the_verifiers_decoder_reads_segments_with_the_c_alphabet_scan_and_refuses_as_pyjwt() -> None:
    """`_b64.decode_segment` stands in for PyJWT's segment check on the verifier's own
    decoder (where this PyJWT has one), and a segment PyJWT refuses is still refused."""
    from asgi_auth.verifiers._b64 import decode_segment

    verifier = aa.JWTVerifier(HMAC_SECRET, algorithms=["HS256"])
    jws = verifier._jwt._jws
    if hasattr(jwt.PyJWS, "_decode_base64url_segment"):
        assert jws._decode_base64url_segment is decode_segment
    token = jwt.encode({"sub": "alice", "exp": time.time() + 60}, HMAC_SECRET, algorithm="HS256")
    assert verifier.verify_inline(token) is not None
    head, payload, signature = token.split(".")
    foreign_byte, plus_sign, bad_padding = (
        f"{head}.{payload}.{signature[:-1]}*",
        f"{head}.{payload}+.{signature}",
        f"{head}=.{payload}.{signature}",
    )
    for bad in (foreign_byte, plus_sign, bad_padding):
        with pytest.raises(jwt.DecodeError):
            jwt.decode(bad, HMAC_SECRET, algorithms=["HS256"])  # PyJWT's own verdict
        assert verifier.verify_inline(bad) is None
