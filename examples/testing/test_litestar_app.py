"""The tests of "Testing your app" for the Litestar app: run with `pytest examples/testing`."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from examples.testing.litestar_app import app, policy

# --8<-- [start:tests]
pytest_plugins = ["asgi_auth.testing.pytest_plugin"]


def test_reports_as_a_service(auth_as: Any) -> None:
    auth_as(policy, "billing")
    with TestClient(app) as client:
        assert client.get("/reports").json() == {"for": "billing"}


def test_reports_refuse_a_wrong_key() -> None:
    with TestClient(app) as client:
        assert client.get("/reports", headers={"X-API-Key": "nope"}).status_code == 401
        assert client.get("/reports", headers={"X-API-Key": "key-ops"}).json() == {"for": "ops"}


# --8<-- [end:tests]
