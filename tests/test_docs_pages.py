"""What the README says of FastAPI's docs pages under a closed `default`."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

import asgi_auth as aa
from asgi_auth.integrations.fastapi import docs_rules

PAGES = ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect")


def app_with(rules: list[aa.Rule]) -> FastAPI:
    app = FastAPI()
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=aa.inline(lambda t: None))
    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy(rules, default=bearer))
    return app


def test_a_closed_default_closes_fastapis_docs_pages() -> None:
    with TestClient(app_with([])) as client:
        assert {page: client.get(page).status_code for page in PAGES} == dict.fromkeys(PAGES, 401)


def test_docs_rules_open_them_and_nothing_else() -> None:
    app = FastAPI()
    with TestClient(app_with(docs_rules(app))) as client:
        assert {page: client.get(page).status_code for page in PAGES} == dict.fromkeys(PAGES, 200)
        assert client.get("/anything").status_code == 401
        assert client.post("/openapi.json").status_code == 401  # GET only


def test_fastapis_docs_page_loads_its_assets_from_a_cdn() -> None:
    """The README's offline note: without the CDN, /docs has no Swagger UI to run."""
    with TestClient(app_with(docs_rules(FastAPI()))) as client:
        page = client.get("/docs").text
    assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist" in page
