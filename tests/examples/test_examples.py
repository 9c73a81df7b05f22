"""Every example runs, as its docstring says, and does what its docs page claims."""

from __future__ import annotations

import base64
import importlib

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.loopback import free_port, serve


def test_api_keys() -> None:
    from examples.api_keys import app

    with serve(app) as base, httpx.Client(base_url=base) as c:
        assert c.get("/reports").status_code == 401
        assert c.get("/reports", headers={"X-API-Key": "key-reader"}).json()["via"] == "APIKeyHeader"
        assert c.get("/reports", params={"api_key": "key-reader"}).json()["via"] == "APIKeyQuery"
        assert c.get("/reports", headers={"Cookie": "session=key-admin"}).json()["caller"] == "ops"
        assert c.get("/reports", headers={"X-API-Key": "nope"}).status_code == 401
        assert c.post("/reports", headers={"X-API-Key": "key-reader"}).status_code == 403
        assert c.post("/reports", headers={"X-API-Key": "key-admin"}).status_code == 200


def test_http_basic() -> None:
    from examples.http_basic import app

    with serve(app) as base, httpx.Client(base_url=base) as c:
        assert c.get("/users/me", auth=("alice", "wonderland")).json() == {"username": "alice"}
        assert c.get("/users/me", auth=("alice", "nope")).status_code == 401


def test_digest() -> None:
    from examples.digest import app

    with serve(app) as base, httpx.Client(base_url=base) as c:
        assert c.get("/", auth=httpx.DigestAuth("mufasa", "Circle of Life")).text == "Hello, mufasa"
        assert c.get("/", auth=httpx.DigestAuth("mufasa", "nope")).status_code == 401


def test_jwks_bearer() -> None:
    from examples.jwks_bearer import create_app

    port = free_port()
    app = create_app(f"http://127.0.0.1:{port}/.well-known/jwks.json")
    with serve(app, port=port) as base, httpx.Client(base_url=base) as c:
        token = c.get("/token").json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert c.get("/read", headers=bearer).json() == {"sub": "alice", "scopes": ["read"]}
        assert c.post("/write", headers=bearer).status_code == 403
        writer = c.get("/token", params={"scope": "read write"}).json()["access_token"]
        assert c.post("/write", headers={"Authorization": f"Bearer {writer}"}).status_code == 200
        assert c.get("/read").status_code == 401


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the provider's authlib
def test_openid_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    import jwt

    from examples.openid_connect import create_app
    from tests.verifiers.test_oidc_provider import id_token, provider

    port = free_port()
    with serve(create_app(f"http://127.0.0.1:{port}"), port=port) as base, httpx.Client(base_url=base) as c:
        token = c.get("/provider/token").json()["id_token"]
        assert "scope" not in jwt.decode(token, options={"verify_signature": False})  # as real ID tokens
        assert c.get("/profile", headers={"Authorization": f"Bearer {token}"}).json() == {"sub": "alice"}
        assert c.get("/profile").status_code == 401
    # The same policy in front of a real provider (oidc-provider-mock), as its docstring says.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with provider() as issuer, serve(create_app(issuer)) as base, httpx.Client(base_url=base) as c:
        real = id_token(issuer, client="example-client")
        assert c.get("/profile", headers={"Authorization": f"Bearer {real}"}).json() == {"sub": "alice"}
        other = id_token(issuer, client="another-client")
        assert c.get("/profile", headers={"Authorization": f"Bearer {other}"}).status_code == 401


def test_several_schemes() -> None:
    from examples.several_schemes import app

    with serve(app) as base, httpx.Client(base_url=base) as c:
        admin = {"Authorization": "Bearer t-admin"}
        user = {"Authorization": "Bearer t-user"}
        device = {"X-Device-Key": "device-42"}
        assert c.get("/admin/stats", headers=admin).json()["scheme"] == "OAuth2PasswordBearer"
        assert c.get("/admin/stats", headers=device).json()["scheme"] == "APIKeyHeader"
        assert c.get("/admin/stats", headers=user).status_code == 403
        assert c.get("/firmware", headers=user).status_code == 401
        both = c.get("/firmware", headers={**user, **device}).json()
        assert both == {"schemes": ["APIKeyHeader", "OAuth2PasswordBearer"]}
        spec = c.get("/openapi.json")
        assert spec.status_code == 401  # the policy's default is closed, docs included


def test_optional_auth() -> None:
    from examples.optional_auth import app

    with serve(app) as base, httpx.Client(base_url=base) as c:
        assert c.get("/greeting").json() == {"message": "Hello, stranger"}
        assert c.get("/greeting", headers={"Authorization": "Bearer t-alice"}).json() == {"message": "Hello, alice"}
        assert c.get("/greeting", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_websockets() -> None:
    from examples.websockets_app import app

    with serve(app, ws="websockets-sansio") as base:
        url = base.replace("http", "ws") + "/chat"
        with pytest.raises(InvalidStatus):
            connect(url + "?ticket=nope", open_timeout=5)
        with connect(url + "?ticket=tk-1", open_timeout=5) as ws:
            assert ws.recv(timeout=5) == "welcome alice"
            ws.send("hi")
            assert ws.recv(timeout=5) == "alice: hi"


def test_litestar_example() -> None:
    from examples.litestar_app import app

    with serve(app, lifespan="on") as base, httpx.Client(base_url=base) as c:
        assert c.get("/books").status_code == 401
        assert c.get("/books", headers={"Authorization": "Bearer t-alice"}).json()["reader"] == "alice"
        spec = c.get("/schema/openapi.json").json()
        assert spec["paths"]["/books"]["get"]["security"] == [{"HTTPBearer": ["read"]}]


def test_quart_example() -> None:
    from examples.quart_app import app

    with serve(app, ws="websockets-sansio") as base, httpx.Client(base_url=base) as c:
        assert c.get("/").text == "public"
        assert c.get("/me").status_code == 401
        assert c.get("/me", headers={"Authorization": "Bearer t-alice"}).json() == {"user": "alice"}
        with connect(base.replace("http", "ws") + "/ws", additional_headers={"Authorization": "Bearer t-alice"}) as ws:
            assert ws.recv(timeout=5) == "hello alice"


def test_django_example() -> None:
    module = importlib.import_module("examples.django_app")
    from django.conf import settings
    from django.urls import clear_url_caches

    settings.ROOT_URLCONF = module  # another test may have configured Django first
    clear_url_caches()
    with serve(module.application) as base, httpx.Client(base_url=base) as c:
        assert c.get("/api/me").status_code == 401
        assert c.get("/api/me", headers={"Authorization": "Bearer t-alice"}).json() == {"user": "alice"}


MIGRATION_REQUESTS: list[tuple[str, dict[str, str]]] = [
    (path, headers)
    for path in ["/header", "/query", "/cookie", "/basic", "/bearer", "/password", "/code", "/oidc"]
    for headers in [
        {},
        {"X-API-Key": "k-1"},
        {"X-API-Key": "bad"},
        {"Cookie": "session=k-1"},
        {"Authorization": "Basic " + base64.b64encode(b"alice:wonderland").decode()},
        {"Authorization": "Basic " + base64.b64encode(b"alice:nope").decode()},
        {"Authorization": "Basic !!"},
        {"Authorization": "Bearer t-1"},
        {"Authorization": "Bearer bad"},
    ]
]


@pytest.mark.anyio
async def test_migration_before_and_after_answer_alike() -> None:
    from examples.migration import after, before
    from tests.conftest import client_for

    async with client_for(before.app) as old, client_for(after.app) as new:
        for path, headers in MIGRATION_REQUESTS:
            url = path + ("?api_key=k-1" if path == "/query" and "X-API-Key" in headers else "")
            a, b = await old.get(url, headers=headers), await new.get(url, headers=headers)
            assert (b.status_code, b.json(), b.headers.get_list("www-authenticate")) == (
                a.status_code,
                a.json(),
                a.headers.get_list("www-authenticate"),
            ), (path, headers)


def test_roles() -> None:
    from examples.roles import app

    with serve(app) as base, httpx.Client(base_url=base) as c:

        def bearer(roles: str) -> dict[str, str]:
            return {"Authorization": "Bearer " + c.get("/token", params={"roles": roles}).json()["access_token"]}

        assert c.get("/admin", headers=bearer("admin")).json() == {"sub": "alice", "roles": ["admin"]}
        refused = c.get("/admin", headers=bearer("viewer"))
        assert refused.status_code == 403
        assert refused.json() == {"detail": 'Not enough permissions: claim realm_access.roles contains "admin"'}
        assert c.get("/reports", headers=bearer("viewer")).status_code == 200
        assert c.get("/reports", headers=bearer("admin")).status_code == 403
        assert c.get("/admin").status_code == 401
