"""Which key verifies which token: one rule for `key=` and `jwks_url=` (a real key server
on loopback), whatever the key set declares or leaves out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidAlgorithmError, InvalidSignatureError

import asgi_auth as aa
from tests.conftest import Recorder, client_for
from tests.loopback import serve
from tests.verifiers.keys import ec_key, ed_key, jwk, public_pem, rsa_key

pytestmark = pytest.mark.anyio
SOURCES = ["key", "jwks_url"]


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "exp": int(time.time()) + 600, **extra}


def sign(key: Any, alg: str, kid: str | None = None, **extra: Any) -> str:
    return jwt.encode(claims(**extra), key, algorithm=alg, headers={"kid": kid} if kid else None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def bare(key: Any, kid: str | None = None, **members: Any) -> dict[str, Any]:
    """A public JWK with only what its type needs (no alg, no use), plus `members`."""
    data = jwk(key, kid or "", "RS256")
    for name in ("alg", "use", "kid"):
        data.pop(name)
    if kid:
        data["kid"] = kid
    return {**data, **members}


class KeySetServer:
    def __init__(self, body: Any) -> None:
        self.body = body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(self.body).encode()})


@contextmanager
def verifier(source: str, keyset: dict[str, Any], **options: Any) -> Iterator[aa.JWTVerifier]:
    jwks_options = options.pop("jwks_options", {})
    if source == "key":
        yield aa.JWTVerifier(key=keyset, **options)
        return
    with serve(KeySetServer(keyset)) as url:
        jwks = aa.JWKSClient(url + "/jwks", **jwks_options)
        yield aa.JWTVerifier(jwks=jwks, **options)


@pytest.mark.parametrize("source", SOURCES)
async def test_ps256_with_an_rsa_jwk_that_declares_no_alg(source: str) -> None:
    """RFC 7517 §4.4: `alg` is optional; PyJWK would bind such a key to RS256."""
    with verifier(source, {"keys": [bare(rsa_key(), "r")]}, algorithms=["PS256", "RS256"]) as v:
        assert await v(sign(rsa_key(), "PS256", "r")) is not None
        assert await v(sign(rsa_key(), "RS256", "r")) is not None


def test_a_key_no_allowed_algorithm_can_verify_is_a_start_up_error() -> None:
    with pytest.raises(aa.ConfigurationError, match="can verify none of ES256"):
        aa.JWTVerifier(key=bare(rsa_key()), algorithms=["ES256"])
    with pytest.raises(aa.ConfigurationError, match="no key in the set can verify any of ES384"):
        aa.JWTVerifier(key={"keys": [jwk(ec_key(), "e", "ES256")]}, algorithms=["ES384"])


@pytest.mark.parametrize("source", SOURCES)
async def test_several_keys_without_kid_each_verify_up_to_the_bound(source: str) -> None:
    others = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4)]
    keys = [rsa_key(), *others]  # five keys, none with a kid
    with verifier(source, {"keys": [bare(k) for k in keys]}, algorithms=["RS256"], cache=False) as v:
        for signer in keys[: aa.verifiers._keys.MAX_KEY_TRIES]:
            assert await v(sign(signer, "RS256")) is not None
            assert await v(sign(signer, "RS256", kid="named-by-the-token")) is not None
        assert await v(sign(keys[-1], "RS256")) is None  # the fifth is past the bound: documented
        assert await v(sign(rsa_key(1), "RS384")) is None


@pytest.mark.parametrize("source", SOURCES)
async def test_kid_rules_are_the_same_for_key_and_jwks_url(source: str) -> None:
    """A token's kid picks its keys; an unknown kid falls back to keys without a kid,
    never to a key with another kid."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keyset = {"keys": [bare(rsa_key()), bare(other, "b")]}
    with verifier(source, keyset, algorithms=["RS256"], jwks_options={"cooldown": 60}) as v:
        assert await v(sign(rsa_key(), "RS256", "a")) is not None  # a kid-less key, any kid
        assert await v(sign(other, "RS256", "b")) is not None
        assert await v(sign(other, "RS256")) is not None  # no kid: every fitting key
        assert await v(sign(other, "RS256", "c")) is None  # "b" is not a kid-less key
        assert await v(sign(rsa_key(), "RS256", "b")) is None  # "b" names another key


@pytest.mark.filterwarnings("ignore:EdDSA is deprecated")  # joserfc, minting the EdDSA token
@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("declared", ["Ed25519", "EdDSA", None])
async def test_rfc_9864_ed25519(source: str, declared: str | None) -> None:
    """`alg: "Ed25519"` (RFC 9864) is EdDSA on an Ed25519 key: verified, never a 503."""
    from joserfc import jwk as jjwk
    from joserfc import jwt as jjwt

    key = jjwk.OKPKey.generate_key("Ed25519")
    public = {**key.as_dict(private=False), "kid": "ed"}
    if declared:
        public["alg"] = declared
    tokens = {
        alg: jjwt.encode({"alg": alg, "kid": "ed"}, claims(), key, algorithms=[alg]) for alg in ("Ed25519", "EdDSA")
    }
    with verifier(source, {"keys": [public]}, algorithms=["Ed25519", "EdDSA"]) as v:
        for token in tokens.values():
            assert await v(token) is not None
    with verifier(source, {"keys": [public]}, algorithms=["Ed25519"]) as v:
        assert await v(tokens["Ed25519"]) is not None
        assert await v(tokens["EdDSA"]) is None  # the allow-list is by name


def test_ed25519_never_verifies_with_an_ed448_key() -> None:
    key = ed448.Ed448PrivateKey.generate()
    with pytest.raises(aa.ConfigurationError, match="can verify none of Ed25519"):
        aa.JWTVerifier(key=public_pem(key), algorithms=["Ed25519"])


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("marking", [{"use": "enc"}, {"key_ops": ["encrypt"]}, {"key_ops": ["wrapKey"]}])
async def test_encryption_keys_never_verify_signatures(source: str, marking: dict[str, Any]) -> None:
    """RFC 7517 §4.2-4.3: a key published for encryption is not a signature key."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keyset = {"keys": [bare(rsa_key(), "enc", **marking), bare(other, "sig", use="sig", key_ops=["verify"])]}
    with verifier(source, keyset, algorithms=["RS256"]) as v:
        assert await v(sign(rsa_key(), "RS256", "enc")) is None
        assert await v(sign(rsa_key(), "RS256")) is None
        assert await v(sign(other, "RS256", "sig")) is not None
    with pytest.raises(aa.ConfigurationError, match=r"not signatures|without 'verify'"):
        aa.JWTVerifier(key=bare(rsa_key(), "enc", **marking), algorithms=["RS256"])


async def test_iat_a_little_in_the_future_is_within_the_default_clock_skew() -> None:
    """An issuer whose clock runs ahead: iat up to 60 s ahead (Envoy's and Spring's skew)."""
    default = aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=["RS256"], cache=False)
    strict = aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=["RS256"], clock_skew=0, cache=False)
    ahead = sign(rsa_key(), "RS256", iat=int(time.time()) + 20)
    assert await default(ahead) is not None
    assert await strict(ahead) is None
    assert await default(sign(rsa_key(), "RS256", iat=int(time.time()) + 600)) is None
    assert await default(sign(rsa_key(), "RS256", iat="yesterday")) is None
    assert await default(sign(rsa_key(), "RS256", exp=int(time.time()) - 5)) is None  # exp keeps leeway=0


def _pre_2_13_verify_signature(
    self: PyJWS,
    signing_input: bytes,
    header: dict[str, Any],
    signature: bytes,
    key: Any = "",
    algorithms: Any = None,
    *_: Any,
    **__: Any,
) -> None:
    """PyJWS's signature check as PyJWT 2.10-2.12 wrote it: the header's alg is checked
    against the allow-list, then a `PyJWK` verifies with its own algorithm."""
    alg = header.get("alg")
    if not alg or (algorithms is not None and alg not in algorithms):
        raise InvalidAlgorithmError("The specified alg value is not allowed")
    if isinstance(key, jwt.PyJWK):
        algorithm, prepared = key.Algorithm, key.key
    else:
        algorithm = self.get_algorithm_by_name(alg)
        prepared = algorithm.prepare_key(key)
    if not algorithm.verify(signing_input, prepared, signature):
        raise InvalidSignatureError("Signature verification failed")


@pytest.mark.parametrize("pyjwt", ["installed", "2.10-2.12"])
async def test_the_2_10_1_attack_an_hmac_token_labelled_rs256_with_a_published_oct_key(
    pyjwt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed with the `k` of an `oct` key the JWKS publishes, labelled RS256: 401,
    whatever PyJWT is installed (the second case puts back PyJWT 2.12's check)."""
    if pyjwt != "installed":
        monkeypatch.setattr(PyJWS, "_verify_signature", _pre_2_13_verify_signature)
    secret = b"published-by-mistake-" + b"k" * 32
    oct_key = {"kty": "oct", "k": b64url(secret), "kid": "h"}
    keyset = {"keys": [oct_key, jwk(rsa_key(), "r", "RS256")]}
    head = b64url(json.dumps({"alg": "RS256", "kid": "h", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims(scope="admin")).encode())
    forged = f"{head}.{body}." + b64url(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    with serve(KeySetServer(keyset)) as url:
        jwks = aa.JWKSClient(url + "/jwks")
        bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(jwks=jwks, algorithms=["RS256"]))
        inner = Recorder()
        async with client_for(aa.AuthMiddleware(inner, aa.AuthPolicy([], default=bearer))) as client:
            refused = await client.get("/", headers={"Authorization": f"Bearer {forged}"})
            good = await client.get("/", headers={"Authorization": f"Bearer {sign(rsa_key(), 'RS256', 'r')}"})
    assert refused.status_code == 401 and good.status_code == 200
    assert [key.kid for key in jwks.keys] == ["r"]  # the fetched oct key was never kept
    # Given as key=, by the app itself, the set's oct key is a start-up error with RS256.
    with pytest.raises(aa.ConfigurationError, match="HMAC"):
        aa.JWTVerifier(key=keyset, algorithms=["RS256"])


async def test_a_fetched_oct_key_is_used_only_when_named() -> None:
    secret = b"s" * 40
    keyset = {"keys": [{"kty": "oct", "k": b64url(secret), "kid": "h"}, {"kty": "oct", "k": b64url(secret)}]}
    with serve(KeySetServer(keyset)) as url:
        with pytest.raises(aa.ConfigurationError, match="symmetric_kids"):
            aa.JWTVerifier(jwks_url=url + "/jwks", algorithms=["HS256"])
        jwks = aa.JWKSClient(url + "/jwks", symmetric_kids=["h"])
        v = aa.JWTVerifier(jwks=jwks, algorithms=["HS256"])
        assert await v(jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": "h"})) is not None
        assert [key.kid for key in jwks.keys] == ["h"]  # the oct key without a kid was not named


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_rsa_keys_under_2048_bits_are_refused_at_start_up_with_an_escape_hatch() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    for key in (public_pem(weak), weak.public_key(), jwk(weak, "w", "RS256")):
        with pytest.raises(aa.ConfigurationError, match=r"1024 bits is under 2048.*min_rsa_bits"):
            aa.JWTVerifier(key=key, algorithms=["RS256"])
    accepted = aa.JWTVerifier(key=public_pem(weak), algorithms=["RS256"], min_rsa_bits=1024)
    assert accepted.verify_inline(sign(weak, "RS256")) is not None


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_a_fetched_weak_rsa_key_is_dropped() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    with serve(KeySetServer({"keys": [jwk(weak, "w", "RS256"), jwk(rsa_key(), "r", "RS256")]})) as url:
        v = aa.JWTVerifier(jwks_url=url + "/jwks", algorithms=["RS256"])
        assert await v(sign(weak, "RS256", "w")) is None
        assert await v(sign(rsa_key(), "RS256", "r")) is not None


async def test_an_alg_family_mismatch_is_a_quiet_401(caplog: pytest.LogCaptureFixture) -> None:
    """An ES256 token for an RSA key: PyJWT raises TypeError preparing the key; the
    verifier narrows PyJWT's allow-list to the key's type, so nothing is raised."""
    bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(key=public_pem(rsa_key()), algorithms=["RS256", "ES256"]))
    caplog.set_level(logging.DEBUG, "asgi_auth")
    async with client_for(aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=bearer))) as client:
        for token in (sign(ec_key(), "ES256"), sign(ed_key(), "EdDSA")):
            r = await client.get("/", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def _short_ec_key() -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any], str]:
    """A P-256 key whose `x` or `y` has a zero first byte, its JWK with that byte dropped (as
    authlib.jose exports it, tests/verifiers/jose_matrix.py), and which member is short.
    The short one has a `-` or `_`, so it can be misspelt in the standard alphabet."""
    while True:  # one key in 128 has a zero first byte, most of those a `-` or `_`
        key = ec.generate_private_key(ec.SECP256R1())
        point = key.public_key().public_numbers()
        data = jwk(key, "k", "ES256")
        data["x"], data["y"] = (b64url(n.to_bytes(32, "big").lstrip(b"\0")) for n in (point.x, point.y))
        name = min(("x", "y"), key=lambda member: len(data[member]))
        if len(data[name]) < 43 and {"-", "_"} & set(data[name]):
            return key, data, name


@pytest.mark.parametrize("source", SOURCES)
async def test_a_short_ec_coordinate_is_read_padded_back(source: str) -> None:
    """RFC 7518 §6.2.1.2 asks for the full length; a coordinate whose leading zero byte was
    dropped names the same point, and jwcrypto, joserfc and authlib all read it so."""
    key, short, _ = _short_ec_key()
    with verifier(source, {"keys": [short]}, algorithms=["ES256"]) as v:
        principal = await v(sign(key, "ES256", "k"))
        assert principal is not None and principal.subject == "alice"
        assert await v(sign(ec_key(), "ES256", "k")) is None  # another key's signature


def test_nothing_but_a_short_base64url_coordinate_is_stretched() -> None:
    """A coordinate one zero byte too long is refused, as is a short one in the standard
    alphabet (`+` and `/`, which a lenient decoder would read as the same bytes)."""
    key, short, name = _short_ec_key()
    full = jwk(key, "k", "ES256")
    long = {**full, "x": b64url(b"\0" + base64.urlsafe_b64decode(full["x"] + "="))}
    misspelt = {**short, name: short[name].replace("-", "+").replace("_", "/")}
    for data in (long, misspelt):
        with pytest.raises(aa.ConfigurationError, match="could not be read"):
            aa.JWTVerifier(key={"keys": [data]}, algorithms=["ES256"])
