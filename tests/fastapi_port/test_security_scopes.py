"""FastAPI's scope chains, kept on top of the middleware.

FastAPI hands each dependency used as `Security(dep, scopes=[...])` the scopes
accumulated along its own chain of sub-dependencies. With asgi_auth the middleware
authenticates, and `Depends(check_scopes)` in a dependency checks that chain's
accumulated scopes against the ones the middleware granted. These ports follow
FastAPI's `tests/test_security_scopes*.py` and `tests/test_dependency_security_overrides.py`:
the same app shapes, requests and assertions, plus a token that lacks a scope.
"""

# No `from __future__ import annotations`: FastAPI must see these local dependencies.

from typing import Annotated, Any

import fastapi.security as fs
import pytest
from fastapi import Depends, FastAPI, Security
from fastapi.testclient import TestClient

import asgi_auth as aa
from asgi_auth.integrations.fastapi import check_scopes

Checked = Annotated[aa.AuthContext, Depends(check_scopes)]


@aa.inline
def grant(token: str) -> aa.Principal | None:
    """A token is the comma-separated scopes it grants (`-` grants none)."""
    return aa.Principal("alice", [s for s in token.split(",") if s != "-"]) if token else None


def protected(app: FastAPI) -> TestClient:
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=grant)
    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=bearer))
    return TestClient(app)


def bearer(token: str) -> dict[str, dict[str, str]]:
    return {"headers": {"Authorization": f"Bearer {token}"}}


def dont_propagate_app() -> FastAPI:
    """The shape of tests/test_security_scopes_dont_propagate.py."""

    async def security1(scopes: fs.SecurityScopes, auth: Checked) -> list[str]:
        return scopes.scopes

    async def security2(scopes: fs.SecurityScopes, auth: Checked) -> list[str]:
        return scopes.scopes

    async def dep3(
        dep1: Annotated[list[str], Security(security1, scopes=["scope1"])],
        dep2: Annotated[list[str], Security(security2, scopes=["scope2"])],
    ) -> dict[str, Any]:
        return {"dep1": dep1, "dep2": dep2}

    app = FastAPI()

    @app.get("/scopes")
    def get_scopes(dep3: Annotated[dict[str, Any], Security(dep3, scopes=["scope3"])]) -> dict[str, Any]:
        return dep3

    return app


def test_security_scopes_dont_propagate() -> None:
    with protected(dont_propagate_app()) as client:
        ok = client.get("/scopes", **bearer("scope1,scope2,scope3"))
        short = client.get("/scopes", **bearer("scope1,scope3"))
        anonymous = client.get("/scopes")
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"dep1": ["scope3", "scope1"], "dep2": ["scope3", "scope2"]}
    # dep2's chain needs scope3 and scope2: the link that lacks it refuses, as FastAPI's would.
    assert (short.status_code, short.json()) == (403, {"detail": "Not enough permissions"})
    assert short.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="scope3 scope2"'
    assert (anonymous.status_code, anonymous.headers["WWW-Authenticate"]) == (401, "Bearer")


def sub_dependency_app(counts: dict[str, int]) -> FastAPI:
    """The shape of tests/test_security_scopes_sub_dependency.py."""

    def get_db_session() -> str:
        counts["get_db_session"] += 1
        return f"db_session_{counts['get_db_session']}"

    def get_current_user(
        security_scopes: fs.SecurityScopes, db_session: Annotated[str, Depends(get_db_session)], auth: Checked
    ) -> dict[str, Any]:
        counts["get_current_user"] += 1
        return {
            "user": f"user_{counts['get_current_user']}",
            "scopes": security_scopes.scopes,
            "db_session": db_session,
        }

    def get_user_me(
        current_user: Annotated[dict[str, Any], Security(get_current_user, scopes=["me"])],
    ) -> dict[str, Any]:
        counts["get_user_me"] += 1
        return {"user_me": f"user_me_{counts['get_user_me']}", "current_user": current_user}

    def get_user_items(user_me: Annotated[dict[str, Any], Depends(get_user_me)]) -> dict[str, Any]:
        counts["get_user_items"] += 1
        return {"user_items": f"user_items_{counts['get_user_items']}", "user_me": user_me}

    app = FastAPI()

    @app.get("/")
    def path_operation(
        user_me: Annotated[dict[str, Any], Depends(get_user_me)],
        user_items: Annotated[dict[str, Any], Security(get_user_items, scopes=["items"])],
    ) -> dict[str, Any]:
        return {"user_me": user_me, "user_items": user_items}

    return app


def test_security_scopes_sub_dependency_caching() -> None:
    counts = dict.fromkeys(("get_db_session", "get_current_user", "get_user_me", "get_user_items"), 0)
    with protected(sub_dependency_app(counts)) as client:
        response = client.get("/", **bearer("me,items"))
    assert response.status_code == 200, response.text
    assert counts == {"get_db_session": 1, "get_current_user": 2, "get_user_me": 2, "get_user_items": 1}
    assert response.json() == {
        "user_me": {
            "user_me": "user_me_1",
            "current_user": {"user": "user_1", "scopes": ["me"], "db_session": "db_session_1"},
        },
        "user_items": {
            "user_items": "user_items_1",
            "user_me": {
                "user_me": "user_me_2",
                "current_user": {"user": "user_2", "scopes": ["items", "me"], "db_session": "db_session_1"},
            },
        },
    }


def test_security_scopes_sub_dependency_refuses_the_chain_that_lacks_a_scope() -> None:
    counts = dict.fromkeys(("get_db_session", "get_current_user", "get_user_me", "get_user_items"), 0)
    with protected(sub_dependency_app(counts)) as client:
        response = client.get("/", **bearer("me"))
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="items me"'


def test_security_scopes_dependency_called_once() -> None:
    """tests/test_security_scopes.py: a dependency shared by a plain and a scoped chain runs once."""
    calls = {"count": 0}

    def get_db() -> str:
        calls["count"] += 1
        return f"db_{calls['count']}"

    def get_user(db: Annotated[str, Depends(get_db)], auth: Checked) -> str:
        return "user"

    app = FastAPI()

    @app.get("/")
    def endpoint(
        db: Annotated[str, Depends(get_db)], user: Annotated[str, Security(get_user, scopes=["read"])]
    ) -> dict[str, str]:
        return {"db": db}

    with protected(app) as client:
        response = client.get("/", **bearer("read"))
    assert response.status_code == 200 and calls["count"] == 1


@pytest.mark.parametrize("override", [False, True])
def test_dependency_security_overrides(override: bool) -> None:
    """tests/test_dependency_security_overrides.py: an overridden scoped dependency keeps its scopes."""

    def get_user(required_scopes: fs.SecurityScopes, auth: Checked) -> tuple[str, list[str]]:
        return "john", required_scopes.scopes

    def get_user_override(required_scopes: fs.SecurityScopes, auth: Checked) -> tuple[str, list[str]]:
        return "alice", required_scopes.scopes

    app = FastAPI()

    @app.get("/user")
    def read_user(user_data: tuple[str, list[str]] = Security(get_user, scopes=["foo", "bar"])) -> dict[str, Any]:
        return {"user": user_data[0], "scopes": user_data[1]}

    if override:
        app.dependency_overrides[get_user] = get_user_override
    with protected(app) as client:
        response = client.get("/user", **bearer("foo,bar"))
        short = client.get("/user", **bearer("foo"))
    assert response.json() == {"user": "alice" if override else "john", "scopes": ["foo", "bar"]}
    assert short.status_code == 403


def test_route_scopes_in_the_policy() -> None:
    """tests/test_security_oauth2_authorization_code_bearer_scopes_openapi_simple.py: the
    scopes FastAPI's route asked of `Security(get_token, scopes=[...])` are the rule's."""
    code = aa.OAuth2AuthorizationCodeBearer(
        authorizationUrl="api/oauth/authorize",
        tokenUrl="/api/oauth/token",
        scopes={"read": "Read access", "write": "Write access"},
        verifier=grant,
    )
    app = FastAPI()

    @app.get("/admin")
    async def read_admin() -> dict[str, str]:
        return {"message": "Admin Access"}

    policy = aa.AuthPolicy([aa.Rule("/admin", require={code: ["read", "write"]})], default=code)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    with TestClient(app) as client:
        response = client.get("/admin", **bearer("read,write"))
        short = client.get("/admin", **bearer("read"))
    assert (response.status_code, response.json()) == (200, {"message": "Admin Access"})
    assert short.status_code == 403
