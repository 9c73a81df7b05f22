"""DPoP (RFC 9449) on the bearer schemes: each §4.3 check failing alone, the binding,
Bearer downgrade (§7.2), challenges (§7.1), nonces (§9), websockets, OpenAPI, and no
decision remembered for a proof.

Proofs are made with joserfc (and one with jwcrypto), never with our code; tokens with
PyJWT. Requests go through FastAPI's own router (TestClient); tests/peers/test_dpop.py
drives a real DPoP client library against uvicorn.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
import warnings
from typing import Any

import anyio
import jwt
import openapi_spec_validator
import pytest
from fastapi import FastAPI, WebSocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey
from starlette.testclient import TestClient, WebSocketDenialResponse

import asgi_auth as aa
from asgi_auth.rfc9449 import DPoP, jwk_thumbprint, normalize_uri, request_uri
from asgi_auth.schemes.dpop import DPoPCredential
from asgi_auth.stores import MemoryReplayCache
from tests.conftest import call_asgi, http_scope
from tests.loopback import serve

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
URL = "http://testserver/items"
EC = ECKey.generate_key("P-256")
OTHER = ECKey.generate_key("P-256")


def public(key: Any) -> dict[str, Any]:
    return dict(key.as_dict(private=False))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(key: Any = EC, scope: str = "items", bound: bool = True, **claims: Any) -> str:
    payload: dict[str, Any] = {"sub": "alice", "scope": scope, "exp": int(time.time()) + 600, **claims}
    if bound:
        payload["cnf"] = {"jkt": jwk_thumbprint(public(key))}
    return jwt.encode(payload, SECRET, algorithm="HS256")


def ath(access_token: str) -> str:
    return b64(hashlib.sha256(access_token.encode()).digest())


def claims_for(access_token: str | None, htm: str = "GET", htu: str = URL, **claims: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": htm, "htu": htu, "iat": int(time.time())}
    if access_token is not None:
        body["ath"] = ath(access_token)
    body.update(claims)
    return {k: v for k, v in body.items() if v is not None}


def proof(
    access_token: str | None,
    *,
    key: Any = EC,
    alg: str = "ES256",
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A proof signed by joserfc; `None` for a claim or header field drops it."""
    head = {"typ": "dpop+jwt", "alg": alg, "jwk": public(key), **(header or {})}
    head = {k: v for k, v in head.items() if v is not None}
    body = claims_for(access_token, **claims)
    return jws.serialize_compact(head, json.dumps(body).encode(), key, algorithms=[alg])


def unsigned(head: dict[str, Any], body: dict[str, Any], sign: Any = None) -> str:
    """A JWS joserfc won't make (alg none, HS256 with the jwk): written by hand."""
    first = b64(json.dumps(head).encode()) + "." + b64(json.dumps(body).encode())
    return first + "." + (b64(sign(first.encode())) if sign else "")


def client(mode: Any = "required", scopes: list[str] | None = None, **options: Any) -> TestClient:
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    dpop = DPoP(required=mode == "required", **options) if options else mode
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"items": "Read items"}, verifier=verifier, dpop=dpop)
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/items")
    async def post_items() -> dict[str, str]:
        return {"ok": "posted"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.scope["state"]["auth"].principal.subject)
        await websocket.close()

    required = scopes if scopes is not None else ["items"]
    policy = aa.AuthPolicy(rules=[aa.Rule("/items", require={bearer: required})], default=bearer)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return TestClient(app)


def dpop_headers(access_token: str, the_proof: str) -> dict[str, str]:
    return {"Authorization": f"DPoP {access_token}", "DPoP": the_proof}


def error_of(response: Any) -> str | None:
    challenge = response.headers.get("www-authenticate", "")
    for part in challenge.split(","):
        name, _, value = part.strip().partition("=")
        if name.endswith("error"):
            return value.strip('"')
    return None


# -- a good proof passes, once --------------------------------------------------------------


def test_a_good_proof_passes_and_its_replay_is_refused() -> None:
    c = client()
    tok = token()
    good = proof(tok)
    assert c.get("/items", headers=dpop_headers(tok, good)).json() == {"ok": "yes"}
    again = c.get("/items", headers=dpop_headers(tok, good))
    assert again.status_code == 401
    assert error_of(again) == "invalid_dpop_proof"
    assert again.json() == {"detail": "Could not validate credentials"}
    # A fresh proof for the same token passes again.
    assert c.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200


@pytest.mark.parametrize(
    "make",
    [
        lambda: RSAKey.generate_key(2048),
        lambda: ECKey.generate_key("P-384"),
        lambda: OKPKey.generate_key("Ed25519"),
    ],
    ids=["PS256", "ES384", "EdDSA"],
)
def test_other_algorithms_pass(make: Any) -> None:
    key = make()
    alg = {"RSA": "PS256", "EC": "ES384", "OKP": "EdDSA"}[key.key_type]
    tok = token(key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc: "EdDSA is deprecated via RFC 9864"
        the_proof = proof(tok, key=key, alg=alg)
    assert client().get("/items", headers=dpop_headers(tok, the_proof)).status_code == 200


def test_a_proof_made_by_jwcrypto_passes() -> None:
    from jwcrypto import jwk as jwc_jwk
    from jwcrypto import jws as jwc_jws

    key = jwc_jwk.JWK.generate(kty="EC", crv="P-256")
    public_jwk = json.loads(key.export_public())
    tok = jwt.encode(
        {"sub": "alice", "scope": "items", "exp": int(time.time()) + 600, "cnf": {"jkt": key.thumbprint()}},
        SECRET,
        algorithm="HS256",
    )
    signed = jwc_jws.JWS(json.dumps(claims_for(tok)).encode())
    signed.add_signature(key, None, json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk}))
    assert client().get("/items", headers=dpop_headers(tok, signed.serialize(compact=True))).status_code == 200


# -- each §4.3 check failing alone ------------------------------------------------------------

TOKEN = token()
NOW = int(time.time())

BAD_PROOFS = {
    "htm": lambda: proof(TOKEN, htm="POST"),
    "htu host": lambda: proof(TOKEN, htu="http://elsewhere/items"),
    "htu path": lambda: proof(TOKEN, htu="http://testserver/other"),
    "htu scheme": lambda: proof(TOKEN, htu="https://testserver/items"),
    "htu userinfo": lambda: proof(TOKEN, htu="http://u@testserver/items"),
    "iat old": lambda: proof(TOKEN, iat=int(time.time()) - 120),
    "iat future": lambda: proof(TOKEN, iat=int(time.time()) + 60),
    "iat string": lambda: proof(TOKEN, iat=str(int(time.time()))),
    # Python's json reads NaN, which no comparison refuses: a proof good forever, and
    # a replay cache keeping its jti until NaN keeps it for no time at all (attack).
    "iat NaN": lambda: proof(TOKEN, iat=float("nan")),
    "iat Infinity": lambda: proof(TOKEN, iat=float("inf")),
    "iat -Infinity": lambda: proof(TOKEN, iat=float("-inf")),
    "iat huge": lambda: proof(TOKEN, iat=10**400),
    "ath mismatch": lambda: proof(TOKEN, ath=ath("another-token")),
    "ath missing": lambda: proof(TOKEN, ath=None),
    "jti missing": lambda: proof(TOKEN, jti=None),
    "jti too long": lambda: proof(TOKEN, jti="x" * 1000),
    "htu missing": lambda: proof(TOKEN, htu=None),
    "typ wrong": lambda: proof(TOKEN, header={"typ": "JWT"}),
    "typ missing": lambda: proof(TOKEN, header={"typ": None}),
    "jwk missing": lambda: proof(TOKEN, header={"jwk": None}),
    "jwk private": lambda: proof(TOKEN, header={"jwk": dict(EC.as_dict(private=True))}),
    "jwk of another key": lambda: proof(TOKEN, header={"jwk": public(OTHER)}),
    "alg none": lambda: unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": public(EC)}, claims_for(TOKEN)),
    "alg HS256": lambda: unsigned(
        {"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"k" * 32)}},
        claims_for(TOKEN),
        lambda data: hmac.new(b"k" * 32, data, hashlib.sha256).digest(),
    ),
    "alg not offered": lambda: proof(TOKEN, key=ECKey.generate_key("secp256k1"), alg="ES256K"),
    "crit": lambda: proof(TOKEN, header={"crit": ["kid"], "kid": "k"}),
    "not a JWT": lambda: "not-a-jwt",
    "signature cut": lambda: proof(TOKEN).rsplit(".", 1)[0] + ".AAAA",
    "payload not JSON": lambda: b64(b'{"typ":"dpop+jwt"}') + "." + b64(b"[") + ".AAAA",
}


@pytest.mark.parametrize("name", list(BAD_PROOFS))
def test_each_check_fails_alone(name: str) -> None:
    response = client().get("/items", headers=dpop_headers(TOKEN, BAD_PROOFS[name]()))
    assert response.status_code == 401, response.text
    assert error_of(response) == "invalid_dpop_proof"
    assert 'algs="' in response.headers["www-authenticate"]
    assert response.headers["www-authenticate"].startswith("DPoP ")


def test_the_same_proof_with_every_field_right_passes() -> None:
    """The control for the table above: the builder's defaults make a good proof."""
    assert client().get("/items", headers=dpop_headers(TOKEN, proof(TOKEN))).status_code == 200


def test_a_token_bound_to_another_key_is_invalid_token() -> None:
    tok = token(OTHER)  # cnf.jkt of OTHER, proof signed by EC
    response = client().get("/items", headers=dpop_headers(tok, proof(tok)))
    assert response.status_code == 401
    assert error_of(response) == "invalid_token"
    assert "Invalid DPoP key binding" in response.headers["www-authenticate"]


def test_an_unbound_token_sent_with_a_proof_is_refused() -> None:
    tok = token(bound=False)
    response = client().get("/items", headers=dpop_headers(tok, proof(tok)))
    assert (response.status_code, error_of(response)) == (401, "invalid_token")


def test_a_token_the_verifier_refuses_is_invalid_token_in_dpop_words() -> None:
    tok = jwt.encode({"sub": "a", "exp": 1, "cnf": {"jkt": jwk_thumbprint(public(EC))}}, SECRET, algorithm="HS256")
    response = client().get("/items", headers=dpop_headers(tok, proof(tok)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


def test_two_dpop_headers_are_400() -> None:
    c = client()
    headers = [("authorization", f"DPoP {TOKEN}"), ("dpop", proof(TOKEN)), ("dpop", proof(TOKEN))]
    response = c.get("/items", headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "Ambiguous credentials: header 'dpop' sent more than once"}
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_request"')


def test_a_dpop_token_without_a_proof_is_400() -> None:
    response = client().get("/items", headers={"Authorization": f"DPoP {TOKEN}"})
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"


def test_a_dpop_header_that_is_not_token68_is_malformed() -> None:
    response = client().get("/items", headers={"Authorization": "DPoP a b", "DPoP": proof(TOKEN)})
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_a_proof_header_over_the_cap_is_431() -> None:
    response = client().get("/items", headers={"Authorization": f"DPoP {TOKEN}", "DPoP": "a" * 9000})
    assert response.status_code == 431


def test_insufficient_scope_is_403_with_the_dpop_challenge() -> None:
    tok = token(scope="other")
    response = client().get("/items", headers=dpop_headers(tok, proof(tok)))
    assert response.status_code == 403
    assert response.headers["www-authenticate"].startswith('DPoP error="insufficient_scope", scope="items", algs=')


# -- required and allowed -------------------------------------------------------------------


def test_required_refuses_bearer_and_asks_for_dpop() -> None:
    response = client().get("/items", headers={"Authorization": f"Bearer {token(bound=False)}"})
    assert response.status_code == 401
    assert response.headers.get_list("www-authenticate") == [
        'DPoP algs="ES256 ES384 ES512 PS256 PS384 PS512 RS256 RS384 RS512 EdDSA"'
    ]


def test_allowed_accepts_both_and_challenges_with_both() -> None:
    c = client("allowed")
    assert c.get("/items", headers={"Authorization": f"Bearer {token(bound=False)}"}).status_code == 200
    assert c.get("/items", headers=dpop_headers(TOKEN, proof(TOKEN))).status_code == 200
    missing = c.get("/items")
    assert missing.status_code == 401
    assert [v.split(" ")[0] for v in missing.headers.get_list("www-authenticate")] == ["Bearer", "DPoP"]


@pytest.mark.parametrize("mode", ["allowed", "required"])
def test_a_bound_token_sent_as_bearer_is_refused(mode: str) -> None:
    response = client(mode).get("/items", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 401
    if mode == "allowed":  # §7.2: a downgrade
        assert response.headers["www-authenticate"].startswith('DPoP error="invalid_token"')


def test_allowed_bearer_with_a_bad_token_keeps_the_bearer_challenge() -> None:
    response = client("allowed").get("/items", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


# -- nothing about a DPoP request is remembered ------------------------------------------------


def test_a_decision_is_never_replayed_for_the_same_authorization_header() -> None:
    """The decision layer remembers answers by the Authorization header's value; a DPoP
    request's header is the same each time while its proof is not. A second request
    with the same header and a proof for another method must be checked, not replayed."""
    c = client()
    tok = token()
    for _ in range(3):
        assert c.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200
    assert c.get("/items", headers=dpop_headers(tok, proof(tok, htm="POST"))).status_code == 401
    assert c.get("/items", headers={"Authorization": f"DPoP {tok}"}).status_code == 400


@pytest.mark.parametrize("mode", ["required", "allowed"])
@pytest.mark.parametrize("word", ["DPoP", "Dpop", "dpop"])
def test_no_decision_is_replayed_whatever_the_scheme_word_case(word: str, mode: str) -> None:
    """`Dpop <token>` is a spelling the decision layer would remember a Bearer-style
    answer under (one capital, then lower case): a proof must still be checked."""
    c = client(mode)
    tok = token()
    good = proof(tok)
    assert c.get("/items", headers={"Authorization": f"{word} {tok}", "DPoP": good}).status_code == 200
    again = c.get("/items", headers={"Authorization": f"{word} {tok}", "DPoP": good})
    assert (again.status_code, error_of(again)) == (401, "invalid_dpop_proof")
    assert c.get("/items", headers={"Authorization": f"{word} {tok}"}).status_code == 400


def test_the_scheme_answers_no_verdict_for_a_dpop_request() -> None:
    """What keeps it so, in both modes: nothing is looked up or remembered by the
    header's value (`source_header` is `None`), and a DPoP answer is a bare principal."""
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    for mode in ("required", "allowed"):
        assert aa.HTTPBearer(verifier=verifier, dpop=mode).source_header is None
    assert aa.HTTPBearer(verifier=verifier).source_header == b"authorization"


@pytest.mark.anyio
async def test_a_dpop_answer_is_a_bare_principal() -> None:
    bearer = aa.OAuth2PasswordBearer(
        tokenUrl="t", verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]), dpop="allowed"
    )
    tok = token()
    credential = DPoPCredential(tok, token=tok, proof=proof(tok), method="GET", uri=URL)
    answer = await bearer.verify(credential)
    assert type(answer) is aa.Principal  # not a Verdict: nothing to remember it by
    assert type(bearer.verify(token(bound=False))) is aa.Verdict  # a Bearer token still vouched for


# -- nonces (§9) ------------------------------------------------------------------------------


def test_nonce_flow() -> None:
    c = client(nonces=True)
    tok = token()
    first = c.get("/items", headers=dpop_headers(tok, proof(tok)))
    assert first.status_code == 401
    assert first.headers["www-authenticate"].startswith('DPoP error="use_dpop_nonce"')
    nonce = first.headers["dpop-nonce"]
    assert first.headers["cache-control"] == "no-store"
    assert c.get("/items", headers=dpop_headers(tok, proof(tok, nonce=nonce))).status_code == 200
    forged = nonce[:-2] + ("AA" if not nonce.endswith("AA") else "BB")
    refused = c.get("/items", headers=dpop_headers(tok, proof(tok, nonce=forged)))
    assert error_of(refused) == "use_dpop_nonce"
    assert refused.headers["dpop-nonce"] != forged


def test_an_expired_nonce_asks_for_a_new_one() -> None:
    dpop = DPoP(nonces=True, nonce_lifetime=30)
    old = dpop.make_nonce(now=time.time() - 60)
    assert not dpop.nonce_fresh(old, time.time())
    assert dpop.nonce_fresh(dpop.make_nonce(), time.time())
    assert not DPoP(nonces=True).nonce_fresh(dpop.make_nonce(), time.time())  # another secret


# -- websocket handshakes ---------------------------------------------------------------------


def test_websocket_without_a_proof_is_refused_with_the_http_answer() -> None:
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        client().websocket_connect("/ws", headers={"Authorization": f"DPoP {TOKEN}"}),
    ):
        pass
    assert denied.value.status_code == 400


def test_websocket_with_a_good_proof_connects() -> None:
    tok = token()
    the_proof = proof(tok, htu="ws://testserver/ws")
    with client().websocket_connect("/ws", headers=dpop_headers(tok, the_proof)) as ws:
        assert ws.receive_text() == "alice"


def test_websocket_with_a_proof_for_another_path_is_refused() -> None:
    tok = token()
    headers = dpop_headers(tok, proof(tok, htu="ws://testserver/x"))
    with pytest.raises(WebSocketDenialResponse) as denied, client().websocket_connect("/ws", headers=headers):
        pass
    assert denied.value.status_code == 401


# -- the request's URI ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        ("HTTP://Example.COM:80/a", "http://example.com/a"),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/a/./b/../c", "https://example.com:8443/a/c"),
        ("https://example.com/%7euser/%2f", "https://example.com/~user/%2F"),
        ("https://example.com/a?q=1#f", "https://example.com/a"),
        ("wss://example.com/ws", "https://example.com/ws"),
        ("ftp://example.com/a", None),
        ("/relative", None),
        ("https://user@example.com/", None),
        ("https://example.com:99999/", None),
    ],
)
def test_htu_is_normalised_per_rfc_3986(claim: str, expected: str | None) -> None:
    assert normalize_uri(claim) == expected


def scope(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "scheme": "http",
        "path": "/api/items",
        "root_path": "/api",
        "headers": [(b"host", b"Internal:8000")],
        "server": ("10.0.0.5", 8000),
    }
    base.update(overrides)
    return base


def test_request_uri_as_the_router_sees_it_and_behind_a_proxy() -> None:
    assert request_uri(scope()) == "http://internal:8000/api/items"
    assert request_uri(scope(headers=[])) == "http://10.0.0.5:8000/api/items"
    assert request_uri(scope(path="/items")) == "http://internal:8000/api/items"  # path without root_path
    assert request_uri(scope(), "https://api.example.com/v1") == "https://api.example.com/v1/items"
    assert request_uri(scope(raw_path=b"/api/it%65ms")) == "http://internal:8000/api/items"
    assert request_uri(scope(path="/api/a b", raw_path=b"/api/a%20b")) == "http://internal:8000/api/a%20b"
    assert request_uri(scope(headers=[(b"host", b"bad host")])) == ""
    for moving in (b"evil/x", b"u@internal", b"internal?x", b"internal#x"):
        assert request_uri(scope(headers=[(b"host", moving)])) == ""  # the Host header moves no path
    # The router serves a dotted path as itself: no proof for the path it would resolve to passes.
    dotted = request_uri(scope(path="/api/a/../items", raw_path=b"/api/a/../items"))
    assert dotted == "http://internal:8000/api/a/../items"
    assert normalize_uri("http://internal:8000/api/items") != dotted


def test_public_url_is_what_a_proof_must_name() -> None:
    c = client(public_url="https://api.example.com")
    tok = token()
    assert c.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 401  # names testserver
    good = proof(tok, htu="https://API.example.com:443/items")
    assert c.get("/items", headers=dpop_headers(tok, good)).status_code == 200


# -- configuration, OpenAPI, the replay store ---------------------------------------------------


@pytest.mark.parametrize("algorithms", [["HS256"], ["none"], []])
def test_only_asymmetric_algorithms_may_be_offered(algorithms: list[str]) -> None:
    with pytest.raises(aa.ConfigurationError):
        DPoP(algorithms=algorithms)


def test_dpop_needs_a_verifier_and_a_bearer_scheme() -> None:
    with pytest.raises(aa.ConfigurationError, match="needs a verifier"):
        aa.HTTPBearer(verifier=aa.EXTRACT_ONLY, dpop="required")
    with pytest.raises(aa.ConfigurationError, match='"required", "allowed"'):
        aa.HTTPBearer(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]), dpop="yes")  # type: ignore[arg-type]


def test_openapi_documents_the_scheme() -> None:
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    http = aa.HTTPBearer(verifier=verifier, dpop=DPoP(algorithms=["ES256"]))
    assert http.openapi() == {
        "type": "http",
        "scheme": "dpop",
        "description": "DPoP-bound access tokens (RFC 9449) required: `Authorization: DPoP <token>` with a"
        " `DPoP` proof header signed with one of ES256",
        "x-dpop": {"dpop_bound_access_tokens_required": True, "dpop_signing_alg_values_supported": ["ES256"]},
    }
    oauth = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=verifier, dpop="allowed", description="Mine")
    spec = oauth.openapi()
    assert spec["type"] == "oauth2" and spec["description"] == "Mine"
    assert spec["x-dpop"]["dpop_bound_access_tokens_required"] is False
    app = FastAPI()

    @app.get("/x")
    async def x() -> dict[str, str]:
        return {}

    document = aa.patch_openapi(app.openapi(), aa.AuthPolicy(rules=[], default=http), app=app)
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "dpop"
    openapi_spec_validator.validate(document)  # an x- extension is allowed on a security scheme


def test_bearer_schemes_without_dpop_are_unchanged() -> None:
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    assert aa.HTTPBearer(verifier=verifier).openapi() == {"type": "http", "scheme": "bearer"}
    assert aa.HTTPBearer(verifier=verifier).source_header == b"authorization"


@pytest.mark.anyio
async def test_memory_replay_cache_is_bounded_and_fails_closed() -> None:
    cache = MemoryReplayCache(max_entries=2)
    later = time.time() + 60
    assert await cache.first_use("a", expires_at=later)
    assert not await cache.first_use("a", expires_at=later)
    assert await cache.first_use("b", expires_at=later)
    with pytest.raises(aa.ServiceUnavailable):
        await cache.first_use("c", expires_at=later)
    assert len(cache) == 2


@pytest.mark.anyio
async def test_memory_replay_cache_forgets_what_expired() -> None:
    cache = MemoryReplayCache(max_entries=1)
    assert await cache.first_use("a", expires_at=time.time() - 1)
    assert await cache.first_use("b", expires_at=time.time() + 60)  # "a" made room by expiring: no 503
    assert len(cache) == 1
    assert not await cache.first_use("b", expires_at=time.time() + 60)


def test_a_full_replay_cache_is_503() -> None:
    c = client(replay_cache=MemoryReplayCache(max_entries=1))
    tok = token()
    assert c.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200
    assert c.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 503


@pytest.mark.parametrize(
    "scheme",
    [
        lambda v: aa.HTTPBearer(verifier=v, dpop="required"),
        lambda v: aa.OAuth2(verifier=v, dpop="required"),
        lambda v: aa.OAuth2AuthorizationCodeBearer("auth", "token", verifier=v, dpop="required"),
        lambda v: aa.OpenIdConnect(openIdConnectUrl="https://id.example/.well-known", verifier=v, dpop="required"),
        lambda v: aa.OAuth2ClientCredentials("token", verifier=v, dpop="required"),
    ],
    ids=["HTTPBearer", "OAuth2", "AuthorizationCode", "OpenIdConnect", "ClientCredentials"],
)
def test_every_bearer_scheme_takes_dpop(scheme: Any) -> None:
    bearer = scheme(aa.JWTVerifier(key=SECRET, algorithms=["HS256"]))
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, Any]:
        return {}

    seen: list[Any] = []

    @app.middleware("http")
    async def spy(request: Any, call_next: Any) -> Any:
        seen.append(request.state.auth.credentials)
        return await call_next(request)

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(rules=[], default=bearer))
    c = TestClient(app)
    tok = token()
    assert c.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200
    assert c.get("/items", headers=dpop_headers(tok, proof(tok, htm="PUT"))).status_code == 401
    credentials = seen[0]
    if isinstance(bearer, aa.HTTPBearer):
        assert (credentials.scheme, credentials.credentials) == ("DPoP", tok)
    elif isinstance(bearer, (aa.OAuth2AuthorizationCodeBearer, aa.OAuth2ClientCredentials)):
        assert credentials == tok
    else:
        assert credentials == f"DPoP {tok}"


@pytest.mark.parametrize("mode", ["required", "allowed"])
def test_authorization_sent_twice_is_400_with_the_dpop_challenge(mode: str) -> None:
    the_proof = proof(TOKEN)
    headers = [("authorization", f"DPoP {TOKEN}"), ("authorization", f"DPoP {TOKEN}"), ("dpop", the_proof)]
    response = client(mode).get("/items", headers=headers)
    assert response.status_code == 400
    challenges = response.headers.get_list("www-authenticate")
    assert challenges[-1].startswith('DPoP error="invalid_request"')
    assert len(challenges) == (1 if mode == "required" else 2)


def test_insufficient_scope_where_both_are_allowed_names_both() -> None:
    tok = token(scope="other")
    response = client("allowed").get("/items", headers=dpop_headers(tok, proof(tok)))
    assert response.status_code == 403
    bearer, dpop = response.headers.get_list("www-authenticate")  # a field each (RFC 9110 §11.6.1)
    assert bearer == 'Bearer error="insufficient_scope", scope="items"'
    assert dpop.startswith('DPoP error="insufficient_scope", scope="items", algs="')


def test_a_refused_token_is_invalid_token_even_with_a_bad_proof() -> None:
    """The token is checked first: a new proof would not help the client."""
    tok = jwt.encode({"sub": "a", "exp": 1, "cnf": {"jkt": jwk_thumbprint(public(EC))}}, SECRET, algorithm="HS256")
    response = client().get("/items", headers=dpop_headers(tok, proof(tok, htm="POST")))
    assert (response.status_code, error_of(response)) == (401, "invalid_token")


# -- anything at all: a refusal, never a crash ---------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
header_fields = st.fixed_dictionaries(
    {},
    optional={
        "typ": st.sampled_from(["dpop+jwt", "DPoP+JWT", "jwt"]) | json_values,
        "alg": st.sampled_from(["ES256", "none", "HS256", "PS256"]) | json_values,
        "jwk": st.just(public(EC)) | st.just({"kty": "RSA", "n": "AQAB", "e": "AQAB"}) | json_values,
        "crit": json_values,
    },
)
claim_fields = st.fixed_dictionaries(
    {},
    optional={name: json_values for name in ("jti", "htm", "htu", "iat", "ath", "nonce")},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=header_fields, body=claim_fields, signature=st.binary(max_size=80))
def test_any_proof_is_refused_with_an_answer(header: dict[str, Any], body: dict[str, Any], signature: bytes) -> None:
    the_proof = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}.{b64(signature)}"
    with pytest.raises(aa.AuthError) as refused:
        DPoP(nonces=True).check(the_proof, method="GET", uri=URL, token=TOKEN)
    assert refused.value.status_code == 401


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=120))
def test_any_text_is_a_uri_or_none(text: str) -> None:
    normalized = normalize_uri(text)
    assert normalized is None or normalize_uri(normalized) == normalized  # normalising is idempotent


@settings(max_examples=100, deadline=None)
@given(authorization=st.binary(max_size=200), dpop=st.binary(max_size=300))
def test_any_header_bytes_get_a_4xx_never_a_crash(authorization: bytes, dpop: bytes) -> None:
    bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]), dpop="allowed")
    app = aa.AuthMiddleware(_ok, policy=aa.AuthPolicy(rules=[], default=bearer))
    scope = http_scope("/items", headers=[(b"authorization", b"DPoP " + authorization), (b"dpop", dpop)])
    sent = anyio.run(call_asgi, app, scope)
    assert sent[0]["status"] in (400, 401, 431)


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_dpop_in_an_or_requirement() -> None:
    """`AnyOf` verifies each scheme once and remembers nothing: the proof is checked."""
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    bearer = aa.HTTPBearer(verifier=verifier, dpop="required")
    key = aa.APIKeyHeader(name="X-Key", verifier=aa.inline({"k" * 32: aa.Principal("svc")}.get))
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, str]:
        return {}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(rules=[], default=[bearer, key]))
    c = TestClient(app)
    tok = token()
    good = proof(tok)
    assert c.get("/items", headers=dpop_headers(tok, good)).status_code == 200
    assert c.get("/items", headers=dpop_headers(tok, good)).status_code == 401  # replayed
    assert c.get("/items", headers={"X-Key": "k" * 32}).status_code == 200


@pytest.mark.parametrize("kind", [aa.HTTPBearer, aa.OAuth2])
def test_no_token_in_reprs(kind: Any) -> None:
    bearer = kind(verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]), dpop="required")
    seen: list[Any] = []
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, str]:
        return {}

    @app.middleware("http")
    async def spy(request: Any, call_next: Any) -> Any:
        seen.append(request.state.auth)
        return await call_next(request)

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(rules=[], default=bearer))
    tok = token()
    assert TestClient(app).get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200
    (context,) = seen
    assert tok in str(getattr(context.credentials, "credentials", context.credentials))  # the app reads it ...
    assert tok not in repr(context) and tok not in repr(context.credentials)  # ... no repr shows it


def test_dpop_challenges_carry_rfc_9728_resource_metadata() -> None:
    """With `resource=aa.ProtectedResource(...)`, §5.1's `resource_metadata` goes in the
    DPoP challenges too, the proof's own refusals included."""
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"], audience="https://api.example.com/")
    bearer = aa.HTTPBearer(verifier=verifier, dpop="required")
    resource = aa.ProtectedResource("https://api.example.com/", authorization_servers=["https://id.example.com"])
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, str]:
        return {}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(rules=[], default=bearer, resource=resource))
    c = TestClient(app)
    url = '"https://api.example.com/.well-known/oauth-protected-resource"'
    missing = c.get("/items")
    assert missing.headers["www-authenticate"] == f'DPoP algs="{" ".join(DPoP().algorithms)}", resource_metadata={url}'
    tok = token(aud="https://api.example.com/")
    bad = c.get("/items", headers=dpop_headers(tok, proof(tok, htm="PUT")))
    assert bad.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    assert bad.headers["www-authenticate"].endswith(f"resource_metadata={url}")
    assert c.get("/items", headers=dpop_headers(tok, proof(tok))).status_code == 200


def test_a_403_where_bearer_and_dpop_are_allowed_names_the_metadata_in_both_challenges() -> None:
    """Each accepted scheme's 403 challenge is a field of its own, so `resource_metadata`
    reaches the Bearer one as well as the DPoP one."""
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"], audience="https://api.example.com/")
    bearer = aa.OAuth2PasswordBearer("token", scopes={"items": "Read items"}, verifier=verifier, dpop="allowed")
    resource = aa.ProtectedResource("https://api.example.com/", authorization_servers=["https://id.example.com"])
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, str]:
        return {}

    policy = aa.AuthPolicy(rules=[], default={bearer: ["items"]}, resource=resource)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    tok = token(aud="https://api.example.com/", scope="other")
    plain = token(aud="https://api.example.com/", scope="other", bound=False)
    for headers in ({"Authorization": f"Bearer {plain}"}, dpop_headers(tok, proof(tok))):
        response = TestClient(app).get("/items", headers=headers)
        assert response.status_code == 403
        challenges = response.headers.get_list("www-authenticate")
        assert [c.split(" ", 1)[0] for c in challenges] == ["Bearer", "DPoP"]
        url = '"https://api.example.com/.well-known/oauth-protected-resource"'
        assert all(c.endswith(f"resource_metadata={url}") for c in challenges), challenges


class RecordingCache:
    """A `ReplayCache` of the app's own: what it is asked, and whether it can answer."""

    def __init__(self, up: bool = True) -> None:
        self.up = up
        self.asked: list[tuple[str, float]] = []

    async def first_use(self, key: str, *, expires_at: float) -> bool:
        if not self.up:
            raise aa.ServiceUnavailable("Replay cache unavailable")
        self.asked.append((key, expires_at))
        return True


def test_a_replay_cache_of_ones_own_is_asked_past_the_window_and_never_sees_a_raw_jti() -> None:
    cache = RecordingCache()
    tok = token()
    iat = int(time.time()) - 10
    jti = "a-jti-the-store-must-not-see"
    assert (
        client(replay_cache=cache).get("/items", headers=dpop_headers(tok, proof(tok, iat=iat, jti=jti))).status_code
        == 200
    )
    ((key, expires_at),) = cache.asked
    assert expires_at > iat + 60  # kept past the last instant the proof is accepted
    assert jti not in key and key.startswith("dpop:")


def test_a_replay_cache_that_cannot_answer_is_503() -> None:
    tok = token()
    response = client(replay_cache=RecordingCache(up=False)).get("/items", headers=dpop_headers(tok, proof(tok)))
    assert response.status_code == 503
    assert response.json() == {"detail": "Replay cache unavailable"}


# -- held under attack: one proof, one use, whatever the request it is sent with ------------------


def raw_get(base: str, target: str, headers: dict[str, str]) -> tuple[int, str]:
    """`GET target` as bytes on a socket (no client normalises the target), and the
    status and `WWW-Authenticate` of the answer."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    challenge = next((h.split(":", 1)[1].strip() for h in head if h.lower().startswith("www-authenticate:")), "")
    return int(head[0].split()[1]), challenge


def catch_all(dpop: Any = "required", **policy: Any) -> FastAPI:
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    bearer = aa.HTTPBearer(verifier=verifier, dpop=dpop)
    app = FastAPI()

    @app.get("/{path:path}")
    async def anything(path: str) -> dict[str, str]:
        return {"path": path}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(default=bearer, **policy))
    return app


def test_a_proof_for_a_dotted_uri_is_used_once_on_either_spelling() -> None:
    """A proof whose `htu` has dot segments passes on that target and on the target
    those segments resolve to; it was kept under the request's URI, so the same jti
    was a first use on each (uvicorn on loopback, raw bytes)."""
    tok = token()
    with serve(catch_all()) as base:
        the_proof = proof(tok, htu=f"{base}/x/../items")
        headers = dpop_headers(tok, the_proof)
        assert raw_get(base, "/x/../items", headers)[0] == 200
        status, challenge = raw_get(base, "/items", headers)
        assert status == 401 and "jti was used already" in challenge
    with serve(catch_all()) as base:  # and the other way round
        headers = dpop_headers(tok, proof(tok, htu=f"{base}/x/../items"))
        assert raw_get(base, "/items", headers)[0] == 200
        assert "jti was used already" in raw_get(base, "/x/../items", headers)[1]


def test_a_request_held_to_two_rules_uses_its_proof_once() -> None:
    """`//items` is `/items` to a normalising router and the default's to Starlette,
    so it must meet both rules (matching.AllOf): each checked the proof, and the
    second found its jti "used already", refusing every such request."""
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    bearer = aa.OAuth2PasswordBearer("token", scopes={"items": "Read items"}, verifier=verifier, dpop="required")
    app = FastAPI()

    @app.get("/{path:path}")
    async def anything(path: str) -> dict[str, str]:
        return {"path": path}

    policy = aa.AuthPolicy(rules=[aa.Rule("/items", require={bearer: ["items"]})], default=bearer)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    tok = token()
    with serve(app) as base:
        headers = dpop_headers(tok, proof(tok, htu=f"{base}//items"))
        assert raw_get(base, "//items", headers)[0] == 200
        status, challenge = raw_get(base, "//items", headers)  # and still once: the replay is refused
        assert status == 401 and "jti was used already" in challenge


def test_two_dpop_schemes_sharing_a_replay_cache_check_one_proof_once() -> None:
    """An OR of two DPoP schemes with one store: the first refuses on scope, the
    second must not then find the proof used by the first."""
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    store = MemoryReplayCache()
    first = aa.HTTPBearer(scheme_name="first", verifier=verifier, dpop=DPoP(replay_cache=store))
    second = aa.OAuth2PasswordBearer("token", scheme_name="second", verifier=verifier, dpop=DPoP(replay_cache=store))
    app = FastAPI()

    @app.get("/items")
    async def items() -> dict[str, str]:
        return {"ok": "yes"}

    policy = aa.AuthPolicy(default=[{first: ["admin"]}, {second: []}])
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    tok = token()
    with TestClient(app) as c:
        headers = dpop_headers(tok, proof(tok))
        assert c.get("/items", headers=headers).status_code == 200
        assert error_of(c.get("/items", headers=headers)) == "invalid_dpop_proof"


def rsa_with_exponent(bits: int, exponent_bits: int) -> RSAKey:
    """An RSA key with a public exponent about `exponent_bits` long (no generator
    makes one: the primes of a generated key, a new e and its d)."""
    import math

    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = rsa.generate_private_key(65537, bits).private_numbers()
    p, q = numbers.p, numbers.q
    phi = (p - 1) * (q - 1)
    e = (1 << (exponent_bits - 1)) + 1
    while math.gcd(e, phi) != 1:
        e += 2
    d = pow(e, -1, phi)
    private = rsa.RSAPrivateNumbers(
        p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, p * q)
    ).private_key()
    return RSAKey.import_key(private)


def test_rsa_keys_costly_to_check_are_refused_before_their_signature_is() -> None:
    """The sender picks the proof's key, and any token the verifier accepts gets its
    proof checked: an exponent as long as a 3072-bit modulus made one check cost about
    70 ES256 ones (15 ms), a 16384-bit modulus 40. Refused unread beyond
    `max_rsa_bits` (4096) and an exponent of 2**31 - 1."""
    costly = rsa_with_exponent(3072, 3000)
    tok = token(costly)
    response = client().get("/items", headers=dpop_headers(tok, proof(tok, key=costly, alg="PS256")))
    assert response.status_code == 401
    assert "jwk is an RSA key larger than this server checks" in response.headers["www-authenticate"]
    big = RSAKey.generate_key(3072)
    tok = token(big)
    small_cap = client(max_rsa_bits=2048)
    assert small_cap.get("/items", headers=dpop_headers(tok, proof(tok, key=big, alg="PS256"))).status_code == 401
    # 4096 bits with e = 65537 is what clients use: it passes.
    usual = RSAKey.generate_key(4096)
    tok = token(usual)
    assert client().get("/items", headers=dpop_headers(tok, proof(tok, key=usual, alg="RS256"))).status_code == 200
    with pytest.raises(aa.ConfigurationError):
        DPoP(max_rsa_bits=1024)


def test_a_bound_token_is_refused_as_bearer_by_every_scheme_of_a_dpop_aware_policy() -> None:
    """RFC 9449 §7.2: beside a DPoP scheme, a plain bearer scheme (which would take a
    stolen bound token as Bearer) is a start-up error; `dpop="allowed"` is the way to keep
    Bearer clients, and refuses the bound token sent as Bearer."""
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    bound = aa.HTTPBearer(scheme_name="bound", verifier=verifier, dpop="required")
    plain = aa.HTTPBearer(scheme_name="plain", verifier=verifier)
    with pytest.raises(aa.ConfigurationError, match=r"'plain'.*dpop=\"allowed\""):
        aa.AuthPolicy(rules=[aa.Rule("/legacy", require=plain)], default=bound)
    with pytest.raises(aa.ConfigurationError, match="'legacy'"):
        aa.AuthPolicy(
            rules=[
                aa.Rule("/legacy", require=aa.OAuth2PasswordBearer("/token", scheme_name="legacy", verifier=verifier))
            ],
            default=bound,
        )
    legacy = aa.HTTPBearer(scheme_name="legacy", verifier=verifier, dpop="allowed")
    app = FastAPI()

    @app.get("/{path:path}")
    async def anything(path: str) -> dict[str, str]:
        return {"path": path}

    app.add_middleware(
        aa.AuthMiddleware, policy=aa.AuthPolicy(rules=[aa.Rule("/legacy", require=legacy)], default=bound)
    )
    tok = token()  # bound to EC: stolen without the key, it should be worth nothing
    unbound = jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with TestClient(app) as c:
        assert c.get("/api", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
        assert c.get("/legacy", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
        assert c.get("/legacy", headers={"Authorization": f"Bearer {unbound}"}).status_code == 200
