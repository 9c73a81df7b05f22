"""The tests of "Testing your app" for the FastAPI app: run with `pytest examples/testing`."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from asgi_auth.testing import KeyServer, TokenFactory
from examples.testing.fastapi_app import create_app

# --8<-- [start:tests]
pytest_plugins = ["asgi_auth.testing.pytest_plugin"]  # or in your top-level conftest.py


@pytest.fixture
def client() -> Any:
    # No provider is reached: auth_as replaces verification before any token is checked.
    with TestClient(create_app("http://127.0.0.1:9/unused")) as client:
        yield client


def test_me_as_alice(client: TestClient, auth_as: Any) -> None:
    auth_as(client.app.state.policy, "alice", scopes={"me"})  # type: ignore[attr-defined]
    assert client.get("/users/me").json() == {"user": "alice"}


def test_items_need_the_items_scope(client: TestClient, auth_as: Any) -> None:
    auth_as(client.app.state.policy, "alice", scopes={"me"})  # type: ignore[attr-defined]
    assert client.get("/users/me/items").status_code == 403


def test_no_one_gets_in_without_a_token(client: TestClient) -> None:
    assert client.get("/users/me").status_code == 401


def test_with_real_tokens(token_factory: TokenFactory, key_server: KeyServer) -> None:
    """The whole way: the verifier fetches the test key set and checks a signed token."""
    with TestClient(create_app(key_server.jwks_url)) as client:
        token = token_factory.mint(sub="bob", scopes=["me", "items"])
        reply = client.get("/users/me/items", headers={"Authorization": f"Bearer {token}"})
        assert reply.json() == {"items": ["bob's book"]}
        expired = token_factory.mint(sub="bob", scopes=["me"], exp=0)
        assert client.get("/users/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


# --8<-- [end:tests]
