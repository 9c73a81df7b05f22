"""The patched document says what the middleware enforces, as FastAPI itself would say it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

import asgi_auth as aa
from tests.conftest import client_for
from tests.schemes.test_differential import CASES, fastapi_app, middleware_app

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_patched_spec_equals_fastapis_own(name: str, kwargs: dict[str, Any]) -> None:
    scopes = ["me"] if name.startswith("OAuth2") and "scopes" in kwargs else []
    expected = fastapi_app(name, kwargs, scopes).openapi()
    app, policy = middleware_app(name, kwargs, scopes)
    patched = aa.patch_openapi(app.openapi(), policy)
    assert patched["components"]["securitySchemes"] == expected["components"]["securitySchemes"]
    want = expected["paths"]["/p"]["get"]["security"]
    if kwargs.get("auto_error") is False:
        # The contract: optional authentication is written [{}, {...}], which is what it means.
        want = [{}, *want]
    assert patched["paths"]["/p"]["get"]["security"] == want
    validate(patched)


def demo_app() -> tuple[FastAPI, aa.AuthPolicy]:
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Me", "items": "Items"}, verifier=aa.EXTRACT_ONLY)
    key = aa.APIKeyQuery(name="k", verifier=aa.EXTRACT_ONLY)
    policy = aa.AuthPolicy(
        [
            aa.Rule("/token", require=[]),
            aa.Rule("/items/{item_id}", methods=["GET"], require={bearer: ["items"]}),
            aa.Rule("/items/special", require=[]),
            aa.Rule("/files/{rest:path}", require=[{}, key]),
            aa.Rule("/both", require={bearer: ["me"], key: []}),
        ],
        default=bearer,
    )
    app = FastAPI()

    @app.post("/token")
    def token() -> None: ...

    @app.get("/items/{item_id}")
    def get_item(item_id: int) -> None: ...

    @app.put("/items/{item_id}")
    def put_item(item_id: int) -> None: ...

    @app.get("/items/special")
    def special() -> None: ...

    @app.get("/files/{rest:path}")
    def files(rest: str) -> None: ...

    @app.get("/both")
    def both() -> None: ...

    @app.get("/elsewhere")
    def elsewhere() -> None: ...

    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app, policy


def test_rules_methods_and_default_are_documented() -> None:
    app, policy = demo_app()
    original = app.openapi()
    snapshot = copy.deepcopy(original)
    patched = aa.patch_openapi(original, policy)
    assert original == snapshot  # input untouched
    ops = {(p, m): op.get("security") for p, item in patched["paths"].items() for m, op in item.items()}
    assert ops == {
        ("/token", "post"): None,
        ("/items/{item_id}", "get"): [{"OAuth2PasswordBearer": ["items"]}],
        ("/items/{item_id}", "put"): [{"OAuth2PasswordBearer": []}],
        ("/items/special", "get"): None,
        ("/files/{rest}", "get"): [{}, {"APIKeyQuery": []}],
        ("/both", "get"): [{"OAuth2PasswordBearer": ["me"], "APIKeyQuery": []}],
        ("/elsewhere", "get"): [{"OAuth2PasswordBearer": []}],
    }
    assert aa.patch_openapi(patched, policy) == patched  # idempotent
    validate(patched)


def test_disagreeing_security_is_overwritten_and_reported() -> None:
    app, policy = demo_app()
    spec = app.openapi()
    spec["paths"]["/both"]["get"]["security"] = [{"Legacy": []}]
    with pytest.warns(UserWarning, match=r"GET /both: \[\{'Legacy': \[\]\}\]"):
        patched = aa.patch_openapi(spec, policy)
    assert patched["paths"]["/both"]["get"]["security"] == [{"OAuth2PasswordBearer": ["me"], "APIKeyQuery": []}]


def test_error_responses_can_be_documented() -> None:
    app, policy = demo_app()
    patched = aa.patch_openapi(app.openapi(), policy, responses=True)
    answers = patched["paths"]["/items/{item_id}"]["get"]["responses"]
    assert {"401", "403"} <= set(answers)
    assert "WWW-Authenticate" in answers["401"]["headers"]
    assert "401" not in patched["paths"]["/token"]["post"]["responses"]


async def test_no_drift_between_the_document_and_the_middleware() -> None:
    app, policy = demo_app()
    patched = aa.patch_openapi(app.openapi(), policy)
    samples = {"{item_id}": "7", "{rest}": "a/b"}
    async with client_for(app) as client:
        for path, item in patched["paths"].items():
            url = path
            for param, value in samples.items():
                url = url.replace(param, value)
            for method, operation in item.items():
                security = operation.get("security") or []
                needs_credentials = bool(security) and {} not in security
                r = await client.request(method.upper(), url)
                assert (r.status_code == 401) == needs_credentials, (method, path, r.status_code)


def test_static_openapi_30_document_with_a_servers_prefix() -> None:
    bearer = aa.HTTPBearer(verifier=aa.EXTRACT_ONLY)
    policy = aa.AuthPolicy([aa.Rule("/api/public", require=[])], default=bearer)
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "static", "version": "1"},
        "servers": [{"url": "https://example.com/api/"}],
        "paths": {
            "/public": {"get": {"responses": {"200": {"description": "ok"}}}},
            "/private": {"post": {"responses": {"200": {"description": "ok"}}}},
        },
    }
    patched = aa.patch_openapi(spec, policy, prefix="servers")
    validate(patched)
    assert "security" not in patched["paths"]["/public"]["get"]
    assert patched["paths"]["/private"]["post"]["security"] == [{"HTTPBearer": []}]
    # Without the prefix, /public is not the rule's /api/public: the default applies.
    assert aa.patch_openapi(spec, policy)["paths"]["/public"]["get"]["security"] == [{"HTTPBearer": []}]
