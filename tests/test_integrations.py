from __future__ import annotations

import pytest
from fastapi import FastAPI

import asgi_auth as aa
from asgi_auth.integrations.fastapi import docs_rules, install
from asgi_auth.integrations.litestar import AuthPlugin
from tests.conftest import client_for

pytestmark = pytest.mark.anyio

bearer = aa.HTTPBearer(verifier=aa.inline(lambda token: aa.Principal("u") if token == "ok" else None))


async def test_fastapi_install_enforces_and_documents() -> None:
    app = FastAPI()

    @app.get("/private")
    def private() -> str:
        return "p"

    install(app, aa.AuthPolicy(docs_rules(app), default=bearer), responses=True)
    async with client_for(app) as client:
        assert (await client.get("/private")).status_code == 401
        assert (await client.get("/private", headers={"Authorization": "Bearer ok"})).status_code == 200
        assert (await client.get("/docs")).status_code == 200
        spec = (await client.get("/openapi.json")).json()
    assert spec["paths"]["/private"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "401" in spec["paths"]["/private"]["get"]["responses"]
    assert app.openapi() is app.openapi()  # cached


async def test_litestar_plugin_enforces_and_documents() -> None:
    from litestar import Litestar, get

    @get("/private", sync_to_thread=False)
    def private() -> str:
        return "p"

    policy = aa.AuthPolicy([aa.Rule("/schema/{rest:path}", require=[])], default=bearer)
    app = Litestar([private], plugins=[AuthPlugin(policy)])
    from litestar.testing import AsyncTestClient  # runs the app's start-up, where the schema is patched

    async with AsyncTestClient(app) as client:
        assert (await client.get("/private")).status_code == 401
        assert (await client.get("/private", headers={"Authorization": "Bearer ok"})).status_code == 200
        spec = (await client.get("/schema/openapi.json")).json()
    assert spec["paths"]["/private"]["get"]["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["securitySchemes"] == {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
