"""FastAPI's own scheme tests (`tests/test_security_*.py` in fastapi/fastapi), ported.

Each case names the FastAPI test it follows. FastAPI's app reads the scheme through
`Security(scheme)`; the port protects the same route with `AuthMiddleware` and a scheme
of the same arguments (`verifier=aa.EXTRACT_ONLY`, since FastAPI's classes only
extract), and its handler answers from `AuthContext.credentials`. The requests, the
statuses, the bodies and the challenges FastAPI's test asserts are the port's, and
every one holds. (With a verifier, see test_verified.py.)
"""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

import asgi_auth as aa

Auth = Annotated[aa.AuthContext, Depends(aa.get_auth)]
CREATE = {"msg": "Create an account first"}
NOT_AUTHENTICATED = {"detail": "Not authenticated"}
X = aa.EXTRACT_ONLY


def username(credentials: Any) -> dict[str, Any]:
    return {"username": credentials}


def split(credentials: Any) -> dict[str, Any]:
    return {"scheme": credentials.scheme, "credentials": credentials.credentials}


def basic(credentials: Any) -> dict[str, Any]:
    return {"username": credentials.username, "password": credentials.password}


def token(credentials: Any) -> dict[str, Any]:
    return {"token": credentials}


@dataclass
class Case:
    follows: str  # the FastAPI test, as tests/<file>::<test>
    scheme: Callable[[], aa.SecurityScheme]
    show: Callable[[Any], dict[str, Any]]
    request: dict[str, Any]
    status: int
    body: Any
    challenge: str | None = None  # asserted when FastAPI's test asserts it
    path: str = "/users/me"


def api_key_cases(kind: str, request: dict[str, Any]) -> list[Case]:
    cls = {"cookie": aa.APIKeyCookie, "header": aa.APIKeyHeader, "query": aa.APIKeyQuery}[kind]
    out: list[Case] = []
    for suffix, options in (("", {}), ("_description", {"description": "An API Key"})):
        f = f"tests/test_security_api_key_{kind}{suffix}.py"
        out += [
            Case(f + "::test_security_api_key", lambda o=options: cls(name="key", verifier=X, **o), username,
                 request, 200, {"username": "secret"}),
            Case(f + "::test_security_api_key_no_key", lambda o=options: cls(name="key", verifier=X, **o), username,
                 {}, 401, NOT_AUTHENTICATED, "APIKey"),
        ]  # fmt: skip
    f = f"tests/test_security_api_key_{kind}_optional.py"
    optional = lambda: cls(name="key", auto_error=False, verifier=X)  # noqa: E731
    out += [
        Case(f + "::test_security_api_key", optional, username, request, 200, {"username": "secret"}),
        Case(f + "::test_security_api_key_no_key", optional, username, {}, 200, CREATE),
    ]
    return out


def http_base_cases() -> list[Case]:
    out: list[Case] = []
    for suffix, options in (("", {}), ("_description", {"description": "HTTPBase scheme"})):
        f = f"tests/test_security_http_base{suffix}.py"
        scheme = lambda o=options: aa.HTTPBase(scheme="Other", verifier=X, **o)  # noqa: E731
        out += [
            Case(f + "::test_security_http_base", scheme, split, {"headers": {"Authorization": "Other foobar"}}, 200,
                 {"scheme": "Other", "credentials": "foobar"}),
            Case(f + "::test_security_http_base_no_credentials", scheme, split, {}, 401, NOT_AUTHENTICATED, "Other"),
        ]  # fmt: skip
    out.append(
        Case("tests/test_security_http_base.py::test_security_http_base_with_whitespaces",
             lambda: aa.HTTPBase(scheme="Other", verifier=X), split, {"headers": {"Authorization": "Other  foobar "}},
             200, {"scheme": "Other", "credentials": "foobar"})
    )  # fmt: skip
    f = "tests/test_security_http_base_optional.py"
    optional = lambda: aa.HTTPBase(scheme="Other", auto_error=False, verifier=X)  # noqa: E731
    out += [
        Case(f + "::test_security_http_base", optional, split, {"headers": {"Authorization": "Other foobar"}}, 200,
             {"scheme": "Other", "credentials": "foobar"}),
        Case(f + "::test_security_http_base_no_credentials", optional, split, {}, 200, CREATE),
    ]  # fmt: skip
    return out


NOT_BASIC = {"headers": {"Authorization": "Basic " + b64encode(b"johnsecret").decode()}}
NOT_BASE64 = {"headers": {"Authorization": "Basic notabase64token"}}


def http_basic_cases() -> list[Case]:
    out: list[Case] = []
    john = {"username": "john", "password": "secret"}
    for suffix, options in (("", {}), ("_description", {"description": "HTTPBasic scheme"})):
        f = f"tests/test_security_http_basic_realm{suffix}.py"
        scheme = lambda o=options: aa.HTTPBasic(realm="simple", verifier=X, **o)  # noqa: E731
        realm = 'Basic realm="simple"'
        out += [
            Case(f + "::test_security_http_basic", scheme, basic, {"auth": ("john", "secret")}, 200, john),
            Case(f + "::test_security_http_basic_no_credentials", scheme, basic, {}, 401, NOT_AUTHENTICATED, realm),
            Case(f + "::test_security_http_basic_invalid_credentials", scheme, basic, NOT_BASE64, 401,
                 NOT_AUTHENTICATED, realm),
            Case(f + "::test_security_http_basic_non_basic_credentials", scheme, basic, NOT_BASIC, 401,
                 NOT_AUTHENTICATED, realm),
        ]  # fmt: skip
    f = "tests/test_security_http_basic_optional.py"
    optional = lambda: aa.HTTPBasic(auto_error=False, verifier=X)  # noqa: E731
    out += [
        Case(f + "::test_security_http_basic", optional, basic, {"auth": ("john", "secret")}, 200, john),
        Case(f + "::test_security_http_basic_no_credentials", optional, basic, {}, 200, CREATE),
        Case(f + "::test_security_http_basic_invalid_credentials", optional, basic, NOT_BASE64, 401,
             NOT_AUTHENTICATED, "Basic"),
        Case(f + "::test_security_http_basic_non_basic_credentials", optional, basic, NOT_BASIC, 401,
             NOT_AUTHENTICATED, "Basic"),
    ]  # fmt: skip
    return out


def http_bearer_cases() -> list[Case]:
    out: list[Case] = []
    foobar = {"headers": {"Authorization": "Bearer foobar"}}
    other = {"headers": {"Authorization": "Basic notreally"}}
    shown = {"scheme": "Bearer", "credentials": "foobar"}
    for suffix, options in (("", {}), ("_description", {"description": "HTTP Bearer token scheme"})):
        f = f"tests/test_security_http_bearer{suffix}.py"
        scheme = lambda o=options: aa.HTTPBearer(verifier=X, **o)  # noqa: E731
        out += [
            Case(f + "::test_security_http_bearer", scheme, split, foobar, 200, shown),
            Case(f + "::test_security_http_bearer_no_credentials", scheme, split, {}, 401, NOT_AUTHENTICATED, "Bearer"),
            Case(f + "::test_security_http_bearer_incorrect_scheme_credentials", scheme, split, other, 401,
                 NOT_AUTHENTICATED, "Bearer"),
        ]  # fmt: skip
    f = "tests/test_security_http_bearer_optional.py"
    optional = lambda: aa.HTTPBearer(auto_error=False, verifier=X)  # noqa: E731
    out += [
        Case(f + "::test_security_http_bearer", optional, split, foobar, 200, shown),
        Case(f + "::test_security_http_bearer_no_credentials", optional, split, {}, 200, CREATE),
        Case(f + "::test_security_http_bearer_incorrect_scheme_credentials", optional, split, other, 200, CREATE),
    ]
    return out


def http_digest_cases() -> list[Case]:
    out: list[Case] = []
    foobar = {"headers": {"Authorization": "Digest foobar"}}
    other = {"headers": {"Authorization": "Other invalidauthorization"}}
    for suffix, options in (("", {}), ("_description", {"description": "HTTPDigest scheme"})):
        f = f"tests/test_security_http_digest{suffix}.py"
        scheme = lambda o=options: aa.HTTPDigest(verifier=X, **o)  # noqa: E731
        out += [
            Case(f + "::test_security_http_digest", scheme, split, foobar, 200,
                 {"scheme": "Digest", "credentials": "foobar"}),
            Case(f + "::test_security_http_digest_no_credentials", scheme, split, {}, 401, NOT_AUTHENTICATED,
                 "Digest"),
            Case(f + "::test_security_http_digest_incorrect_scheme_credentials", scheme, split, other, 401,
                 NOT_AUTHENTICATED, "Digest"),
        ]  # fmt: skip
    f = "tests/test_security_http_digest_optional.py"
    optional = lambda: aa.HTTPDigest(auto_error=False, verifier=X)  # noqa: E731
    out += [
        Case(f + "::test_security_http_digest", optional, split, foobar, 200,
             {"scheme": "Digest", "credentials": "foobar"}),
        Case(f + "::test_security_http_digest_no_credentials", optional, split, {}, 200, CREATE),
        Case(f + "::test_security_http_digest_incorrect_scheme_credentials", optional, split, other, 200, CREATE),
    ]  # fmt: skip
    return out


FLOWS = {"password": {"tokenUrl": "token", "scopes": {"read:users": "Read the users", "write:users": "Create users"}}}
BEARER = {"headers": {"Authorization": "Bearer footokenbar"}}
OTHER = {"headers": {"Authorization": "Other footokenbar"}}


def whole_header_cases() -> list[Case]:
    """`OAuth2` and `OpenIdConnect` return the whole `Authorization` value."""
    out: list[Case] = []
    schemes: list[tuple[str, Callable[..., aa.SecurityScheme]]] = [
        ("tests/test_security_oauth2.py", lambda **o: aa.OAuth2(flows=FLOWS, verifier=X, **o)),
        ("tests/test_security_openid_connect.py", lambda **o: aa.OpenIdConnect(openIdConnectUrl="/openid", verifier=X)),
        ("tests/test_security_openid_connect_description.py",
         lambda **o: aa.OpenIdConnect(openIdConnectUrl="/openid", description="OpenIdConnect security scheme",
                                      verifier=X)),
    ]  # fmt: skip
    for f, make in schemes:
        out += [
            Case(f + "::test_security_oauth2", make, username, BEARER, 200, {"username": "Bearer footokenbar"}),
            Case(f + "::test_security_oauth2_password_other_header", make, username, OTHER, 200,
                 {"username": "Other footokenbar"}),
            Case(f + "::test_security_oauth2_password_bearer_no_header", make, username, {}, 401, NOT_AUTHENTICATED,
                 "Bearer"),
        ]  # fmt: skip
    optional: list[tuple[str, Callable[[], aa.SecurityScheme]]] = [
        ("tests/test_security_oauth2_optional.py", lambda: aa.OAuth2(flows=FLOWS, auto_error=False, verifier=X)),
        ("tests/test_security_oauth2_optional_description.py",
         lambda: aa.OAuth2(flows=FLOWS, description="OAuth2 security scheme", auto_error=False, verifier=X)),
        ("tests/test_security_openid_connect_optional.py",
         lambda: aa.OpenIdConnect(openIdConnectUrl="/openid", auto_error=False, verifier=X)),
    ]  # fmt: skip
    for f, make in optional:
        out += [
            Case(f + "::test_security_oauth2", make, username, BEARER, 200, {"username": "Bearer footokenbar"}),
            Case(f + "::test_security_oauth2_password_other_header", make, username, OTHER, 200,
                 {"username": "Other footokenbar"}),
            Case(f + "::test_security_oauth2_password_bearer_no_header", make, username, {}, 200, CREATE),
        ]  # fmt: skip
    return out


def token_cases() -> list[Case]:
    """The password and authorization-code flows return the token alone."""
    out: list[Case] = []
    for suffix, options in (("", {}), ("_description", {"description": "OAuth2 Code Bearer"})):
        f = f"tests/test_security_oauth2_authorization_code_bearer{suffix}.py"
        scheme = lambda o=options: aa.OAuth2AuthorizationCodeBearer(  # noqa: E731
            authorizationUrl="authorize", tokenUrl="token", verifier=X, **o
        )
        out += [
            Case(f + "::test_no_token", scheme, token, {}, 401, NOT_AUTHENTICATED, path="/items"),
            Case(f + "::test_incorrect_token", scheme, token, {"headers": {"Authorization": "Non-existent testtoken"}},
                 401, NOT_AUTHENTICATED, path="/items"),
            Case(f + "::test_token", scheme, token, {"headers": {"Authorization": "Bearer testtoken"}}, 200,
                 {"token": "testtoken"}, path="/items"),
        ]  # fmt: skip
    out.append(
        Case("tests/test_security_oauth2_authorization_code_bearer.py::test_token_with_whitespaces",
             lambda: aa.OAuth2AuthorizationCodeBearer(authorizationUrl="authorize", tokenUrl="token", verifier=X),
             token, {"headers": {"Authorization": "Bearer  testtoken "}}, 200, {"token": "testtoken"}, path="/items")
    )  # fmt: skip
    for suffix, options in (("", {}), ("_description", {"description": "OAuth2PasswordBearer security scheme"})):
        f = f"tests/test_security_oauth2_password_bearer_optional{suffix}.py"
        scheme = lambda o=options: aa.OAuth2PasswordBearer(tokenUrl="/token", auto_error=False, verifier=X, **o)  # noqa: E731
        out += [
            Case(f + "::test_no_token", scheme, token, {}, 200, CREATE, path="/items"),
            Case(f + "::test_token", scheme, token, {"headers": {"Authorization": "Bearer testtoken"}}, 200,
                 {"token": "testtoken"}, path="/items"),
            Case(f + "::test_incorrect_token", scheme, token, {"headers": {"Authorization": "Notexistent testtoken"}},
                 200, CREATE, path="/items"),
        ]  # fmt: skip
    return out


CASES = [
    *api_key_cases("cookie", {"headers": {"Cookie": "key=secret"}}),
    *api_key_cases("header", {"headers": {"key": "secret"}}),
    *api_key_cases("query", {"params": {"key": "secret"}}),
    *http_base_cases(),
    *http_basic_cases(),
    *http_bearer_cases(),
    *http_digest_cases(),
    *whole_header_cases(),
    *token_cases(),
]


def app_for(case: Case) -> FastAPI:
    app = FastAPI()

    @app.get(case.path)
    def endpoint(auth: Auth) -> Any:
        return CREATE if auth.credentials is None else case.show(auth.credentials)

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=case.scheme()))
    return app


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.follows.split("/")[-1])
def test_fastapis_assertions_hold(case: Case) -> None:
    with TestClient(app_for(case)) as client:
        response = client.get(case.path, **case.request)
    assert (response.status_code, response.json()) == (case.status, case.body), response.text
    if case.challenge is not None:
        assert response.headers["WWW-Authenticate"] == case.challenge


def test_every_fastapi_test_file_is_ported() -> None:
    files = {c.follows.split("::")[0] for c in CASES}
    expected = {
        f"tests/test_security_api_key_{kind}{suffix}.py"
        for kind in ("cookie", "header", "query")
        for suffix in ("", "_description", "_optional")
    } | {
        "tests/test_security_http_base.py",
        "tests/test_security_http_base_description.py",
        "tests/test_security_http_base_optional.py",
        "tests/test_security_http_basic_optional.py",
        "tests/test_security_http_basic_realm.py",
        "tests/test_security_http_basic_realm_description.py",
        "tests/test_security_http_bearer.py",
        "tests/test_security_http_bearer_description.py",
        "tests/test_security_http_bearer_optional.py",
        "tests/test_security_http_digest.py",
        "tests/test_security_http_digest_description.py",
        "tests/test_security_http_digest_optional.py",
        "tests/test_security_oauth2.py",
        "tests/test_security_oauth2_optional.py",
        "tests/test_security_oauth2_optional_description.py",
        "tests/test_security_oauth2_authorization_code_bearer.py",
        "tests/test_security_oauth2_authorization_code_bearer_description.py",
        "tests/test_security_oauth2_password_bearer_optional.py",
        "tests/test_security_oauth2_password_bearer_optional_description.py",
        "tests/test_security_openid_connect.py",
        "tests/test_security_openid_connect_description.py",
        "tests/test_security_openid_connect_optional.py",
    }
    assert files == expected
