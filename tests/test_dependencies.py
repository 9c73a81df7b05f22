from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI

import asgi_auth as aa
from tests.conftest import client_for

pytestmark = pytest.mark.anyio

bearer = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"me": "", "items": "", "admin": ""},
    verifier=aa.inline(lambda t: aa.Principal("u", t.split(","))),
)
policy = aa.AuthPolicy([aa.Rule("/open", require=[{}, bearer])], default={bearer: ["me"]})


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/me")
    def me(auth: Annotated[aa.AuthContext, Depends(aa.get_auth)]) -> dict[str, Any]:
        return {"subject": auth.principal.subject, "rule": auth.rule}

    @app.get("/scopes")
    def scopes(security_scopes: Annotated[aa.SecurityScopes, Depends(aa.get_security_scopes)]) -> dict[str, Any]:
        return {"scopes": security_scopes.scopes, "scope_str": security_scopes.scope_str}

    @app.get("/admin")
    def admin(auth: Annotated[aa.AuthContext, Depends(aa.require_scopes("admin"))]) -> dict[str, str]:
        return {"ok": auth.principal.subject}

    @app.get("/open")
    def open_(auth: Annotated[aa.AuthContext, Depends(aa.require_scopes("me"))]) -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


async def test_fastapi_depends_get_auth_and_security_scopes() -> None:
    async with client_for(make_app()) as client:
        r = await client.get("/me", headers={"Authorization": "Bearer me"})
        assert r.json() == {"subject": "u", "rule": None}
        r = await client.get("/scopes", headers={"Authorization": "Bearer me,items"})
        assert r.json() == {"scopes": ["me"], "scope_str": "me"}


async def test_require_scopes_dependency() -> None:
    async with client_for(make_app()) as client:
        ok = await client.get("/admin", headers={"Authorization": "Bearer me,admin"})
        no = await client.get("/admin", headers={"Authorization": "Bearer me"})
        anon = await client.get("/open")
    assert ok.json() == {"ok": "u"}
    assert (no.status_code, no.json()) == (403, {"detail": "Not enough permissions"})
    assert no.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'
    assert (anon.status_code, anon.headers["www-authenticate"]) == (401, "Bearer")


def test_works_with_any_object_exposing_scope_and_with_a_scope() -> None:
    context = aa.AuthContext(authenticated=True, security_scopes=aa.SecurityScopes(["a", "b"]))

    class FrameworkRequest:
        scope = {"state": {"auth": context}}

    assert aa.get_auth(FrameworkRequest()) is context
    assert aa.get_auth({"state": {"auth": context}}) is context
    assert aa.get_security_scopes(FrameworkRequest()).scope_str == "a b"


def test_missing_middleware_is_an_error_not_anonymous() -> None:
    with pytest.raises(RuntimeError, match="AuthMiddleware"):
        aa.get_auth({"state": {}})


def test_security_scopes_shape_matches_fastapi() -> None:
    from fastapi.security import SecurityScopes as FastAPIScopes

    ours, theirs = aa.SecurityScopes(["me", "items"]), FastAPIScopes(["me", "items"])
    assert (ours.scopes, ours.scope_str) == (theirs.scopes, theirs.scope_str)
    assert (aa.SecurityScopes().scopes, aa.SecurityScopes().scope_str) == ([], "")
