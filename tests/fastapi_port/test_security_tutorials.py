"""FastAPI's security tutorials (tests/test_tutorial/test_security/), ported.

Each tutorial's app is rewritten with its security in a policy and its verifier in a
function; the requests and assertions are the tutorial test's. Tutorials 004 and 005
(JWTs, then scopes) are examples/oauth2_scopes.py, ported by
tests/examples/test_oauth2_scopes.py.
Where asgi_auth deliberately answers otherwise, the test says so and asserts its answer;
docs/migration.md lists the difference and the reason.
"""

from base64 import b64encode
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.security import OAuth2PasswordRequestForm
from fastapi.testclient import TestClient

import asgi_auth as aa

Auth = Annotated[aa.AuthContext, Depends(aa.get_auth)]
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
NOT_BASIC = {"Authorization": "Basic " + b64encode(b"johnsecret").decode()}


def tutorial001() -> TestClient:
    """A bearer token handed to the endpoint, unverified."""
    app = FastAPI()
    scheme = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=aa.EXTRACT_ONLY)

    @app.get("/items/")
    async def read_items(auth: Auth) -> dict[str, Any]:
        return {"token": auth.credentials}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=scheme))
    return TestClient(app)


def test_tutorial001() -> None:
    """test_tutorial001.py::test_no_token, test_token, test_incorrect_token."""
    client = tutorial001()
    none = client.get("/items")
    token = client.get("/items", headers={"Authorization": "Bearer testtoken"})
    other = client.get("/items", headers={"Authorization": "Notexistent testtoken"})
    assert (none.status_code, none.json(), none.headers["WWW-Authenticate"]) == (401, NOT_AUTHENTICATED, "Bearer")
    assert (token.status_code, token.json()) == (200, {"token": "testtoken"})
    assert (other.status_code, other.json(), other.headers["WWW-Authenticate"]) == (401, NOT_AUTHENTICATED, "Bearer")


def tutorial002() -> TestClient:
    """The token "decoded" into a user: the decoding is the verifier, the user the principal."""
    app = FastAPI()

    @aa.inline
    def fake_decode_token(token: str) -> dict[str, Any]:
        return {"username": token + "fakedecoded", "email": "john@example.com", "full_name": "John Doe",
                "disabled": None}  # fmt: skip

    scheme = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=fake_decode_token)

    @app.get("/users/me")
    async def read_users_me(auth: Auth) -> dict[str, Any]:
        return dict(auth.principal)

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=scheme))
    return TestClient(app)


def test_tutorial002() -> None:
    """test_tutorial002.py::test_no_token, test_token."""
    client = tutorial002()
    none = client.get("/users/me")
    ok = client.get("/users/me", headers={"Authorization": "Bearer testtoken"})
    assert (none.status_code, none.json(), none.headers["WWW-Authenticate"]) == (401, NOT_AUTHENTICATED, "Bearer")
    assert (ok.status_code, ok.json()) == (
        200,
        {"username": "testtokenfakedecoded", "email": "john@example.com", "full_name": "John Doe", "disabled": None},
    )


USERS = {
    "johndoe": {"username": "johndoe", "full_name": "John Doe", "email": "johndoe@example.com",
                "hashed_password": "fakehashedsecret", "disabled": False},
    "alice": {"username": "alice", "full_name": "Alice Wonderson", "email": "alice@example.com",
              "hashed_password": "fakehashedsecret2", "disabled": True},
}  # fmt: skip


def tutorial003() -> TestClient:
    """The password flow with the username as the token; the verifier looks it up."""
    app = FastAPI()

    @aa.inline
    def user_for(token: str) -> dict[str, Any] | None:
        return USERS.get(token)

    scheme = aa.OAuth2PasswordBearer(tokenUrl="token", verifier=user_for)

    @app.post("/token")
    async def login(form_data: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
        user = USERS.get(form_data.username)
        if not user or user["hashed_password"] != "fakehashed" + form_data.password:
            raise HTTPException(status_code=400, detail="Incorrect username or password")
        return {"access_token": user["username"], "token_type": "bearer"}

    @app.get("/users/me")
    async def read_users_me(auth: Auth) -> dict[str, Any]:
        if auth.principal["disabled"]:
            raise HTTPException(status_code=400, detail="Inactive user")
        return dict(auth.principal)

    policy = aa.AuthPolicy([aa.Rule("/token", methods=["POST"], require=[])], default=scheme)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return TestClient(app)


def test_tutorial003_login() -> None:
    """test_tutorial003.py::test_login, test_login_incorrect_password, test_login_incorrect_username."""
    client = tutorial003()
    ok = client.post("/token", data={"username": "johndoe", "password": "secret"})
    wrong = client.post("/token", data={"username": "johndoe", "password": "incorrect"})
    unknown = client.post("/token", data={"username": "foo", "password": "secret"})
    assert (ok.status_code, ok.json()) == (200, {"access_token": "johndoe", "token_type": "bearer"})
    for response in (wrong, unknown):
        assert (response.status_code, response.json()) == (400, {"detail": "Incorrect username or password"})


def test_tutorial003_users_me() -> None:
    """test_tutorial003.py::test_no_token, test_token, test_incorrect_token_type, test_inactive_user."""
    client = tutorial003()
    none = client.get("/users/me")
    ok = client.get("/users/me", headers={"Authorization": "Bearer johndoe"})
    other = client.get("/users/me", headers={"Authorization": "Notexistent testtoken"})
    inactive = client.get("/users/me", headers={"Authorization": "Bearer alice"})
    assert (none.status_code, none.json(), none.headers["WWW-Authenticate"]) == (401, NOT_AUTHENTICATED, "Bearer")
    assert (ok.status_code, ok.json()) == (200, USERS["johndoe"])
    assert (other.status_code, other.json(), other.headers["WWW-Authenticate"]) == (401, NOT_AUTHENTICATED, "Bearer")
    assert (inactive.status_code, inactive.json()) == (400, {"detail": "Inactive user"})


def test_tutorial003_incorrect_token_is_rejected_credentials() -> None:
    """test_tutorial003.py::test_incorrect_token. A deliberate difference: the tutorial
    answers an unknown token as if none was sent; the middleware answers RFC 6750 §3.1's
    `invalid_token`, so that a client can tell a bad token from a missing one."""
    response = tutorial003().get("/users/me", headers={"Authorization": "Bearer nonexistent"})
    assert (response.status_code, response.json()) == (401, {"detail": "Could not validate credentials"})
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def tutorial006() -> TestClient:
    """HTTP Basic, the credentials handed to the endpoint."""
    app = FastAPI()

    @app.get("/users/me")
    def read_current_user(auth: Auth) -> dict[str, str]:
        return {"username": auth.credentials.username, "password": auth.credentials.password}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=aa.HTTPBasic(verifier=aa.EXTRACT_ONLY)))
    return TestClient(app)


USERNAME, PASSWORD = "stanleyjobson", aa.hash_password("swordfish")


def tutorial007() -> TestClient:
    """HTTP Basic checked in constant time; the verifier keeps the tutorial's message."""
    app = FastAPI()
    check = aa.BasicPasswordVerifier({USERNAME: PASSWORD})

    def verifier(credentials: aa.HTTPBasicCredentials) -> aa.Principal:  # sync: runs in a worker thread
        principal = check(credentials)
        if principal is None:
            raise aa.InvalidCredentials("Incorrect username or password")
        return principal

    @app.get("/users/me")
    def read_current_user(auth: Auth) -> dict[str, str]:
        return {"username": auth.principal.subject}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=aa.HTTPBasic(verifier=verifier)))
    return TestClient(app)


@pytest.mark.parametrize("make", [tutorial006, tutorial007])
def test_basic_tutorials_refuse_as_fastapi_does(make: Any) -> None:
    """test_tutorial006.py and test_tutorial007.py: no credentials, not base64, no colon."""
    client = make()
    for headers in ({}, {"Authorization": "Basic notabase64token"}, NOT_BASIC):
        response = client.get("/users/me", headers=headers)
        assert (response.status_code, response.json()) == (401, NOT_AUTHENTICATED)
        assert response.headers["WWW-Authenticate"] == "Basic"


def test_tutorial006_credentials() -> None:
    response = tutorial006().get("/users/me", auth=("john", "secret"))
    assert (response.status_code, response.json()) == (200, {"username": "john", "password": "secret"})


def test_tutorial007_credentials() -> None:
    """test_tutorial007.py::test_security_http_basic, _invalid_username, _invalid_password."""
    client = tutorial007()
    ok = client.get("/users/me", auth=("stanleyjobson", "swordfish"))
    assert (ok.status_code, ok.json()) == (200, {"username": "stanleyjobson"})
    for auth in (("alice", "swordfish"), ("stanleyjobson", "wrongpassword")):
        response = client.get("/users/me", auth=auth)
        assert (response.status_code, response.json()) == (401, {"detail": "Incorrect username or password"})
        assert response.headers["WWW-Authenticate"] == "Basic"
