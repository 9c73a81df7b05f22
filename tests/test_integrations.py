from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

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


# -- the document cannot go stale: routes added after install, or after the idiom ------


async def test_routes_added_after_install_are_documented() -> None:
    app = FastAPI()
    install(app, aa.AuthPolicy([aa.Rule("/open", require=[])], default=bearer))

    @app.get("/early")
    def early() -> str:
        return "e"

    async with client_for(app) as client:
        first = (await client.get("/openapi.json", headers={"Authorization": "Bearer ok"})).json()

    @app.get("/late")
    def late() -> str:
        return "l"

    @app.get("/open")
    def opened() -> str:
        return "o"

    async with client_for(app) as client:
        second = (await client.get("/openapi.json", headers={"Authorization": "Bearer ok"})).json()
    assert first["paths"]["/early"]["get"]["security"] == [{"HTTPBearer": []}]
    assert second["paths"]["/early"]["get"]["security"] == [{"HTTPBearer": []}]
    assert app.openapi() is app.openapi()  # cached between rebuilds
    if not fastapi_rebuilds_its_document():  # FastAPI before it rebuilt on new routes
        assert "/late" not in second["paths"]
        return
    assert second["paths"]["/late"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in second["paths"]["/open"]["get"]


def fastapi_rebuilds_its_document() -> bool:
    """Whether the installed FastAPI documents routes added after its first `openapi()`."""
    app = FastAPI()
    app.openapi()

    @app.get("/added")
    def added() -> str:
        return "a"

    return "/added" in app.openapi()["paths"]


async def test_the_assign_back_idiom_keeps_its_lock_icons_when_routes_are_added() -> None:
    app = FastAPI()

    @app.get("/early")
    def early() -> str:
        return "e"

    policy = aa.AuthPolicy(docs_rules(app), default=bearer)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    app.openapi_schema = aa.patch_openapi(app.openapi(), policy)  # the fragile way, made safe

    @app.get("/late")
    def late() -> str:
        return "l"

    async with client_for(app) as client:
        spec = (await client.get("/openapi.json")).json()
    assert spec["paths"]["/early"]["get"]["security"] == [{"HTTPBearer": []}]
    assert spec["components"]["securitySchemes"] == {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
    if fastapi_rebuilds_its_document():
        assert spec["paths"]["/late"]["get"]["security"] == [{"HTTPBearer": []}]
    else:
        assert "/late" not in spec["paths"]


async def test_a_patched_copy_not_assigned_back_leaves_fastapis_document_alone() -> None:
    app = FastAPI()

    @app.get("/x")
    def x() -> str:
        return "x"

    policy = aa.AuthPolicy([], default=bearer)
    patched = aa.patch_openapi(app.openapi(), policy)
    assert patched["paths"]["/x"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in app.openapi()["paths"]["/x"]["get"]  # FastAPI's own, untouched


# -- token forms: RFC 6749 §5.2 without catching OAuth2FormError -----------------------


async def token_endpoint(request: Request) -> JSONResponse:
    form = await aa.OAuth2PasswordRequestForm.from_request(request)
    return JSONResponse({"username": form.username})


def fastapi_token_app() -> FastAPI:
    app = FastAPI()
    app.post("/token", openapi_extra=aa.OAuth2PasswordRequestForm.openapi())(token_endpoint)
    install(app, aa.AuthPolicy([aa.Rule("/token", require=[])], default=bearer))
    return app


def starlette_token_app() -> Starlette:
    policy = aa.AuthPolicy([aa.Rule("/token", require=[])], default=bearer)
    return Starlette(
        routes=[Route("/token", token_endpoint, methods=["POST"])],
        middleware=[Middleware(aa.AuthMiddleware, policy=policy)],
    )


@pytest.mark.parametrize("make", [fastapi_token_app, starlette_token_app], ids=["fastapi", "starlette"])
@pytest.mark.parametrize(
    ("request_kwargs", "error", "description"),
    [
        ({"data": {"username": "u"}}, "invalid_request", "password is required"),
        ({"data": {"password": "p"}}, "invalid_request", "username is required"),
        ({"json": {"username": "u", "password": "p"}}, "invalid_request", "x-www-form-urlencoded"),
        ({"data": {"username": "u", "password": "p", "grant_type": "x"}}, "unsupported_grant_type", "'password'"),
    ],
)
async def test_token_form_errors_answer_400_as_rfc6749_says(
    make: Any, request_kwargs: dict[str, Any], error: str, description: str
) -> None:
    async with client_for(make()) as client:
        r = await client.post("/token", **request_kwargs)
        ok = await client.post("/token", data={"username": "u", "password": "p"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    assert (r.headers["cache-control"], r.headers["pragma"]) == ("no-store", "no-cache")
    assert r.json()["error"] == error and description in r.json()["error_description"]
    assert set(r.json()) == {"error", "error_description"}
    assert ok.json() == {"username": "u"}


def test_the_token_form_and_its_400_are_documented() -> None:
    spec = fastapi_token_app().openapi()
    operation = spec["paths"]["/token"]["post"]
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert schema["required"] == ["username", "password"]
    assert set(schema["properties"]) == {"grant_type", "username", "password", "scope", "client_id", "client_secret"}
    error = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert error["required"] == ["error"] and "invalid_request" in error["properties"]["error"]["enum"]
    assert "security" not in operation
    validate(spec)
