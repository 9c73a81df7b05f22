from __future__ import annotations

import httpx

import asgi_auth as aa
from tests.conftest import Recorder
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
