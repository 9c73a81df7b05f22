"""The demo behaves as FastAPI's OAuth2-scopes tutorial, over real HTTP, with 403 for scopes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from examples.oauth2_scopes import app
from tests.loopback import serve


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve(app) as url:
        yield url


def token(client: httpx.Client, username: str, password: str, scope: str) -> str:
    r = client.post("/token", data={"username": username, "password": password, "scope": scope})
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    return str(r.json()["access_token"])


def test_tutorial_flow(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        me_only = token(client, "johndoe", "secret", "me")
        both = token(client, "johndoe", "secret", "me items")
        bearer = {"Authorization": f"Bearer {me_only}"}
        assert client.get("/users/me/", headers=bearer).json()["username"] == "johndoe"
        forbidden = client.get("/users/me/items/", headers=bearer)
        assert (forbidden.status_code, forbidden.json()) == (403, {"detail": "Not enough permissions"})
        assert forbidden.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="me items"'
        items = client.get("/users/me/items/", headers={"Authorization": f"Bearer {both}"})
        assert items.json() == [{"item_id": "Foo", "owner": "johndoe"}]
        assert client.get("/status/", headers=bearer).json() == {"status": "ok"}


def test_refusals_match_the_tutorial(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        wrong = client.post("/token", data={"username": "johndoe", "password": "nope"})
        assert (wrong.status_code, wrong.json()) == (400, {"detail": "Incorrect username or password"})
        missing = client.get("/users/me/")
        assert (missing.status_code, missing.json(), missing.headers["www-authenticate"]) == (
            401,
            {"detail": "Not authenticated"},
            "Bearer",
        )
        invalid = client.get("/status/", headers={"Authorization": "Bearer not-a-token"})
        assert (invalid.status_code, invalid.json()) == (401, {"detail": "Could not validate credentials"})
        alice = token(client, "alice", "secret2", "me")
        inactive = client.get("/users/me/", headers={"Authorization": f"Bearer {alice}"})
        assert (inactive.status_code, inactive.json()) == (400, {"detail": "Inactive user"})


def test_docs_are_public_and_show_the_policy(base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        assert client.get("/docs").status_code == 200
        spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "token"
    assert spec["paths"]["/users/me/items/"]["get"]["security"] == [{"OAuth2PasswordBearer": ["me", "items"]}]
    assert "security" not in spec["paths"]["/token"]["post"]
