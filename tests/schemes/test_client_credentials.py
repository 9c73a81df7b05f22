"""`OAuth2ClientCredentials`: RFC 6749 §4.4 as a named scheme, documented as OpenAPI's
`flows.clientCredentials`, enforced by the middleware and offered by Swagger UI.

The OpenAPI entry is compared with what FastAPI emits for `OAuth2(flows=...)` written
by hand; the patched document is validated by openapi-spec-validator; Swagger UI (in
Debian's Chromium) gets a token from the app's token endpoint with a client ID and
secret and calls a protected route with it.
"""

import secrets
import time
from typing import Annotated, Any

import jwt
import pytest
from fastapi import Depends, FastAPI, Form, HTTPException
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import HTTPBasic, HTTPBasicCredentials, OAuth2
from openapi_spec_validator import validate

import asgi_auth as aa
from asgi_auth.integrations.fastapi import docs_rules, install
from tests.browser import chromium, offline_swagger_ui, try_it_out
from tests.loopback import serve

SECRET = "client-credentials-test-" + "k" * 32
SCOPES = {"read": "Read reports.", "write": "Write reports."}
CLIENTS = {"reporting-job": "s3cret-of-the-job"}


def scheme(**options: Any) -> aa.OAuth2ClientCredentials:
    return aa.OAuth2ClientCredentials(
        tokenUrl="/token", scopes=SCOPES, verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]), **options
    )


def fastapi_entry(flows: OAuthFlows, **options: Any) -> dict[str, Any]:
    app = FastAPI()
    fastapi_scheme = OAuth2(flows=flows, **options)

    @app.get("/x", dependencies=[Depends(fastapi_scheme)])
    def x() -> None: ...

    return dict(app.openapi()["components"]["securitySchemes"]["OAuth2"])


def test_openapi_entry_is_what_fastapi_emits_for_the_same_flow() -> None:
    flows = OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/token", scopes=SCOPES))
    assert scheme().openapi() == fastapi_entry(flows)
    assert scheme().openapi() == {
        "type": "oauth2",
        "flows": {"clientCredentials": {"tokenUrl": "/token", "scopes": SCOPES}},
    }
    refreshing = aa.OAuth2ClientCredentials(
        tokenUrl="/token", refreshUrl="/refresh", description="jobs", verifier=aa.EXTRACT_ONLY
    )
    with_refresh = OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl="/token", refreshUrl="/refresh"))
    assert refreshing.openapi() == fastapi_entry(with_refresh, description="jobs")
    assert scheme().declared_scopes == frozenset(SCOPES)
    assert aa.OAuth2ClientCredentials("/t", verifier=aa.EXTRACT_ONLY).scheme_name == "OAuth2ClientCredentials"


def make_app() -> FastAPI:
    """A FastAPI app that is its own token endpoint for the client-credentials grant."""
    app = FastAPI(title="client credentials", docs_url=None, redoc_url=None)
    jobs = scheme()
    policy = aa.AuthPolicy(
        [
            aa.Rule("/token", methods=["POST"], require=[]),
            aa.Rule("/reports", require={jobs: ["read"]}),
            aa.Rule("/reports", methods=["POST"], require={jobs: ["write"]}),
            aa.Rule("/docs", methods=["GET"], require=[]),
            aa.Rule("/static/{path:path}", methods=["GET"], require=[]),
            *docs_rules(app),
        ],
        default=jobs,
    )
    install(app, policy)
    basic = HTTPBasic(auto_error=False)

    @app.post("/token", include_in_schema=False)
    def token(
        grant_type: Annotated[str, Form()],
        credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
    ) -> dict[str, Any]:
        # RFC 6749 §2.3.1: Basic (Swagger UI's default) or the form's fields.
        client, password = (credentials.username, credentials.password) if credentials else (client_id, client_secret)
        expected = CLIENTS.get(client or "")
        if (
            grant_type != "client_credentials"
            or expected is None
            or not secrets.compare_digest(expected, password or "")
        ):
            raise HTTPException(status_code=400, detail="invalid_client")
        claims = {"sub": client, "scope": scope, "exp": int(time.time()) + 300}
        return {"access_token": jwt.encode(claims, SECRET, "HS256"), "token_type": "bearer"}

    @app.get("/reports")
    def reports(auth: Annotated[aa.AuthContext, Depends(aa.get_auth)]) -> dict[str, Any]:
        return {"client": auth.principal.subject, "scopes": sorted(auth.scopes)}

    offline_swagger_ui(app)
    return app


def test_the_patched_fastapi_document_is_valid_and_names_the_flow() -> None:
    document = make_app().openapi()
    validate(document)
    entry = document["components"]["securitySchemes"]["OAuth2ClientCredentials"]
    assert entry["flows"]["clientCredentials"] == {"tokenUrl": "/token", "scopes": SCOPES}
    assert document["paths"]["/reports"]["get"]["security"] == [{"OAuth2ClientCredentials": ["read"]}]


def test_tokens_from_the_flow_are_enforced_over_http() -> None:
    import httpx

    with serve(make_app()) as url, httpx.Client(base_url=url) as client:
        refused = client.get("/reports")
        assert (refused.status_code, refused.headers["www-authenticate"]) == (401, "Bearer")
        grant = {"grant_type": "client_credentials", "scope": "read"}
        answer = client.post("/token", data=grant, auth=("reporting-job", CLIENTS["reporting-job"]))
        token = answer.json()["access_token"]
        ok = client.get("/reports", headers={"Authorization": f"Bearer {token}"})
        assert ok.json() == {"client": "reporting-job", "scopes": ["read"]}
        write = client.post("/reports", headers={"Authorization": f"Bearer {token}"})
        assert write.status_code == 403
        assert write.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="write"'


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_swagger_ui_offers_the_flow_and_its_token_works() -> None:
    with chromium() as browser, serve(make_app()) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(base + "/docs")
        page.locator("button.authorize").first.click()
        modal = page.locator(".modal-ux")
        assert "clientCredentials" in modal.inner_text() or "Client credentials" in modal.inner_text()
        page.fill("#client_id_clientCredentials", "reporting-job")
        page.fill("#client_secret_clientCredentials", CLIENTS["reporting-job"])
        page.locator('label[for="read-clientCredentials-checkbox-OAuth2ClientCredentials"]').click()
        modal.locator("button.modal-btn.authorize").click()
        modal.locator("button", has_text="Logout").wait_for(timeout=15_000)
        modal.locator("button.btn-done").click()
        assert try_it_out(page, "reports_reports_get") == "200"
        results = page.locator("#operations-default-reports_reports_get .live-responses-table")
        assert '"reporting-job"' in results.inner_text()
