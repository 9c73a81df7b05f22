"""A real DPoP client (requests-oauth2client's `DPoPToken`) against uvicorn on loopback.

The library makes its own proofs (jwskate), its own `htu` (the URL less query and
fragment, via furl) and answers our §9 `use_dpop_nonce` challenge by itself, so these
requests are what a client in the field sends, over the wire.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests
from fastapi import FastAPI, WebSocket
from requests_oauth2client import DPoPKey, DPoPToken
from requests_oauth2client.dpop import MissingDPoPNonce
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

import asgi_auth as aa
from tests.loopback import serve
from tests.peers.introspection_server import ISSUER, Client, Token, authorization_server

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def app_for(dpop: aa.DPoP) -> FastAPI:
    verifier = aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"items": "Read items"}, verifier=verifier, dpop=dpop)
    app = FastAPI()

    @app.get("/items/{name}")
    async def item(name: str) -> dict[str, Any]:
        return {"name": name}

    @app.post("/items/{name}")
    async def post_item(name: str) -> dict[str, Any]:
        return {"posted": name}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.scope["state"]["auth"].principal.subject)
        await websocket.close()

    policy = aa.AuthPolicy(rules=[aa.Rule("/items/{name}", require={bearer: ["items"]})], default=bearer)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


def bound_token(key: DPoPKey, scope: str = "items") -> str:
    claims = {"sub": "alice", "scope": scope, "exp": int(time.time()) + 600, "cnf": {"jkt": key.dpop_jkt}}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def nonce_server() -> Iterator[str]:
    with serve(app_for(aa.DPoP(nonces=True))) as url:
        yield url


@pytest.fixture(scope="module")
def plain_server() -> Iterator[str]:
    with serve(app_for(aa.DPoP())) as url:
        yield url


@pytest.mark.parametrize("alg", ["ES256", "PS256", "EdDSA"])
def test_the_client_library_passes(plain_server: str, alg: str) -> None:
    key = DPoPKey.generate(alg=alg)
    auth = DPoPToken(bound_token(key), _dpop_key=key)
    with requests.Session() as session:
        response = session.get(f"{plain_server}/items/a%20b?page=2", auth=auth, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json() == {"name": "a b"}
        assert session.post(f"{plain_server}/items/x", auth=auth, timeout=10).json() == {"posted": "x"}


def test_the_client_library_follows_the_nonce_flow(nonce_server: str) -> None:
    key = DPoPKey.generate(alg="ES256")
    tok = bound_token(key)
    url = f"{nonce_server}/items/one"
    # Its proof without a nonce: refused with §9's answer and a nonce to use.
    ath = base64.urlsafe_b64encode(hashlib.sha256(tok.encode()).digest()).rstrip(b"=").decode()
    bare = requests.get(
        url, headers={"Authorization": f"DPoP {tok}", "DPoP": str(key.proof("GET", url, ath))}, timeout=10
    )
    assert bare.status_code == 401
    assert bare.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    assert bare.headers["DPoP-Nonce"]
    # The library retries with it by itself, and keeps it for the next request.
    with requests.Session() as session:
        auth = DPoPToken(tok, _dpop_key=key)
        first = session.get(url, auth=auth, timeout=10)
        assert first.status_code == 200, first.text
        nonce = key.rs_nonce
        assert nonce
        assert session.get(f"{nonce_server}/items/two", auth=auth, timeout=10).status_code == 200
        assert key.rs_nonce == nonce  # no new round trip was needed


def test_a_token_bound_to_another_key_is_refused(plain_server: str) -> None:
    """The library reads every 401 DPoP challenge as a nonce request (its known
    behaviour): our `invalid_token`, which carries no `DPoP-Nonce`, surfaces as
    `MissingDPoPNonce` holding our answer."""
    key, other = DPoPKey.generate(alg="ES256"), DPoPKey.generate(alg="ES256")
    auth = DPoPToken(bound_token(other), _dpop_key=key)
    with pytest.raises(MissingDPoPNonce) as refused:
        requests.get(f"{plain_server}/items/x", auth=auth, timeout=10)
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')


def test_the_same_token_as_bearer_is_refused(plain_server: str) -> None:
    key = DPoPKey.generate(alg="ES256")
    response = requests.get(
        f"{plain_server}/items/x", headers={"Authorization": f"Bearer {bound_token(key)}"}, timeout=10
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("DPoP algs=")


def test_a_captured_proof_replayed_over_the_wire_is_refused(plain_server: str) -> None:
    key = DPoPKey.generate(alg="ES256")
    tok = bound_token(key)
    captured: dict[str, str] = {}
    with requests.Session() as session:
        session.hooks["response"].append(lambda response, **_: captured.update(response.request.headers))
        assert session.get(f"{plain_server}/items/x", auth=DPoPToken(tok, _dpop_key=key), timeout=10).ok
    replay = requests.get(
        f"{plain_server}/items/x",
        headers={"Authorization": captured["Authorization"], "DPoP": captured["DPoP"]},
        timeout=10,
    )
    assert replay.status_code == 401
    assert 'error="invalid_dpop_proof"' in replay.headers["WWW-Authenticate"]


def test_a_websocket_handshake_over_uvicorn(plain_server: str) -> None:
    """The handshake is a GET with the proof's headers: refused with the HTTP answer
    (uvicorn offers `websocket.http.response`), accepted with a good proof."""
    key = DPoPKey.generate(alg="ES256")
    tok = bound_token(key)
    url = plain_server.replace("http://", "ws://") + "/ws"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Authorization": f"DPoP {tok}"}, open_timeout=10).close()
    assert refused.value.response.status_code == 400
    ath = base64.urlsafe_b64encode(hashlib.sha256(tok.encode()).digest()).rstrip(b"=").decode()
    stale = str(key.proof("GET", url.replace("/ws", "/other"), ath))
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Authorization": f"DPoP {tok}", "DPoP": stale}, open_timeout=10).close()
    assert refused.value.response.status_code == 401
    good = str(key.proof("GET", url, ath))
    with connect(url, additional_headers={"Authorization": f"DPoP {tok}", "DPoP": good}, open_timeout=10) as ws:
        assert ws.recv(timeout=10) == "alice"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # uvicorn's WSGI adapter, serving the peer
def test_an_opaque_token_bound_through_introspection(monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9449 §6.2: an opaque token's `cnf.jkt` comes in the RFC 7662 answer (authlib's
    endpoint on loopback), whose `token_type` is then `DPoP`; the library's proofs pass
    for the key it names and not for another."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # loopback is plain http
    key, other = DPoPKey.generate(alg="ES256"), DPoPKey.generate(alg="ES256")
    with authorization_server([Client("rs", "client_secret_basic", secret="rs-secret")]) as peer:
        peer.tokens["opaque-1"] = Token(extra={"cnf": {"jkt": key.dpop_jkt}, "token_type": "DPoP"})
        introspection = aa.IntrospectionVerifier(
            peer.introspection_url,
            client_id="rs",
            client_secret="rs-secret",
            audience="https://api.example",
            issuer=ISSUER,
            token_types=("dpop", "bearer"),
        )
        bearer = aa.OAuth2PasswordBearer(
            tokenUrl="token", scopes={"items": "Items"}, verifier=introspection, dpop="required"
        )
        app = FastAPI()

        @app.get("/items/{name}")
        async def item(name: str) -> dict[str, Any]:
            return {"name": name}

        app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(rules=[], default={bearer: ["items"]}))
        with serve(app) as url, requests.Session() as session:
            good = session.get(f"{url}/items/x", auth=DPoPToken("opaque-1", _dpop_key=key), timeout=10)
            assert good.status_code == 200, good.text
            with pytest.raises(MissingDPoPNonce) as refused:  # the library's reading of our 401
                session.get(f"{url}/items/x", auth=DPoPToken("opaque-1", _dpop_key=other), timeout=10)
            assert refused.value.response.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')
