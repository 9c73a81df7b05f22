"""With a verifier, what the app reads is still what FastAPI's class would have given it.

Each test runs FastAPI's own `fastapi.security` app and the asgi_auth-protected port
side by side, following the FastAPI test it names.
"""

# No `from __future__ import annotations`: FastAPI must see these local dependencies.

from collections.abc import Callable
from typing import Annotated, Any

import fastapi.security as fs
import jwt
import pytest
from fastapi import Depends, FastAPI, Security
from fastapi.testclient import TestClient

import asgi_auth as aa

Auth = Annotated[aa.AuthContext, Depends(aa.get_auth)]
Scopes = Annotated[aa.SecurityScopes, Depends(aa.get_security_scopes)]


class Tokens:
    """A verifier that records what it was handed."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.__asgi_auth_inline__ = True

    def __call__(self, token: str) -> aa.Principal | None:
        self.seen.append(token)
        return aa.Principal("alice") if token == "footokenbar" else None


WHOLE_HEADER: list[tuple[str, Callable[..., Any], Callable[..., aa.SecurityScheme]]] = [
    ("OAuth2", lambda **o: fs.OAuth2(**o), lambda **o: aa.OAuth2(**o)),
    (
        "OpenIdConnect",
        lambda **o: fs.OpenIdConnect(openIdConnectUrl="/openid", **o),
        lambda **o: aa.OpenIdConnect(openIdConnectUrl="/openid", **o),
    ),
]


def fastapi_app(scheme: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/users/me")
    def me(header: Annotated[str | None, Security(scheme)]) -> dict[str, Any]:
        return {"username": header}

    return app


def port(scheme: aa.SecurityScheme) -> FastAPI:
    app = FastAPI()

    @app.get("/users/me")
    def me(auth: Auth) -> dict[str, Any]:
        return {"username": auth.credentials}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=scheme))
    return app


@pytest.mark.parametrize(("name", "theirs", "ours"), WHOLE_HEADER, ids=[n for n, _, _ in WHOLE_HEADER])
def test_credentials_are_the_whole_header_and_the_verifier_gets_the_token(
    name: str, theirs: Callable[..., Any], ours: Callable[..., aa.SecurityScheme]
) -> None:
    """tests/test_security_oauth2.py and tests/test_security_openid_connect.py::test_security_oauth2."""
    tokens = Tokens()
    with TestClient(fastapi_app(theirs())) as expected, TestClient(port(ours(verifier=tokens))) as actual:
        want = expected.get("/users/me", headers={"Authorization": "Bearer footokenbar"})
        got = actual.get("/users/me", headers={"Authorization": "Bearer footokenbar"})
    assert got.json() == want.json() == {"username": "Bearer footokenbar"}
    assert tokens.seen == ["footokenbar"]


@pytest.mark.parametrize(("name", "theirs", "ours"), WHOLE_HEADER, ids=[n for n, _, _ in WHOLE_HEADER])
def test_another_auth_scheme_is_no_credential_for_a_verifier(
    name: str, theirs: Callable[..., Any], ours: Callable[..., aa.SecurityScheme]
) -> None:
    """..._password_other_header: FastAPI hands `Other footokenbar` to the app, which then
    verifies; a verifier only ever sees bearer tokens, so for it this is no credential."""
    tokens = Tokens()
    with TestClient(port(ours(verifier=tokens))) as required:
        refused = required.get("/users/me", headers={"Authorization": "Other footokenbar"})
        empty = required.get("/users/me", headers={"Authorization": "Bearer "})
    assert (refused.status_code, refused.json()) == (401, {"detail": "Not authenticated"})
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert empty.status_code == 401
    with TestClient(port(ours(verifier=tokens, auto_error=False))) as optional:
        anonymous = optional.get("/users/me", headers={"Authorization": "Other footokenbar"})
    assert (anonymous.status_code, anonymous.json()) == (200, {"username": None})
    assert tokens.seen == []


def test_password_bearer_credentials_stay_the_token() -> None:
    """FastAPI's OAuth2PasswordBearer returns the token alone, and so does the port's context."""
    tokens = Tokens()
    with TestClient(fastapi_app(fs.OAuth2PasswordBearer(tokenUrl="token"))) as expected:
        want = expected.get("/users/me", headers={"Authorization": "Bearer footokenbar"})
    scheme = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=tokens)
    with TestClient(port(scheme)) as actual:
        got = actual.get("/users/me", headers={"Authorization": "Bearer footokenbar"})
    assert got.json() == want.json() == {"username": "footokenbar"}


def test_remembered_decisions_still_hand_the_whole_header() -> None:
    """A verifier that vouches for a window lets the requirement remember its decision by
    header value; the remembered context is the one with FastAPI's credentials."""
    verifier = aa.JWTVerifier(key="k" * 32, algorithms=["HS256"])

    token = jwt.encode({"sub": "alice", "exp": 2_000_000_000}, "k" * 32, algorithm="HS256")
    with TestClient(port(aa.OAuth2(verifier=verifier))) as client:
        answers = [client.get("/users/me", headers={"Authorization": f"Bearer {token}"}).json() for _ in range(2)]
    assert answers == [{"username": f"Bearer {token}"}] * 2


@pytest.mark.parametrize(
    "require",
    [
        lambda b, o: [{}, {b: ["foo", "bar"]}],
        lambda b, o: {o: ["foo", "bar"]},
    ],
    ids=["optional-rule", "auto_error-False"],
)
def test_an_anonymous_pass_sees_the_scopes_its_alternative_requires(require: Callable[..., Any]) -> None:
    """FastAPI's dependency under `Security(dep, scopes=["foo", "bar"])` of an optional
    scheme sees those scopes whether or not credentials came."""
    theirs = fs.OAuth2PasswordBearer(tokenUrl="token", auto_error=False)

    def dependency(security_scopes: fs.SecurityScopes, token: Annotated[str | None, Depends(theirs)]) -> list[str]:
        return security_scopes.scopes

    expected_app = FastAPI()

    @expected_app.get("/status")
    def expected_status(scopes: Annotated[list[str], Security(dependency, scopes=["foo", "bar"])]) -> list[str]:
        return scopes

    # A scheme that declares no scopes takes any, as FastAPI does.
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=Tokens())
    optional = aa.OAuth2PasswordBearer(tokenUrl="token", auto_error=False, verifier=Tokens(), scheme_name="opt")
    actual_app = FastAPI()

    @actual_app.get("/status")
    def actual_status(security_scopes: Scopes, auth: Auth) -> list[str]:
        assert not auth.authenticated
        return security_scopes.scopes

    policy = aa.AuthPolicy([aa.Rule("/status", require=require(bearer, optional))], default=[])
    actual_app.add_middleware(aa.AuthMiddleware, policy=policy)
    with TestClient(expected_app) as expected, TestClient(actual_app) as actual:
        assert actual.get("/status").json() == expected.get("/status").json() == ["foo", "bar"]


def test_a_public_route_has_no_security_scopes() -> None:
    bearer = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=Tokens())
    app = FastAPI()

    @app.get("/open")
    def open_(security_scopes: Scopes) -> list[str]:
        return security_scopes.scopes

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([aa.Rule("/open", require=[])], default=bearer))
    with TestClient(app) as client:
        assert client.get("/open").json() == []
