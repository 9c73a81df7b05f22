"""The middleware answers exactly as FastAPI's own `fastapi.security` classes do.

For every scheme and option, one FastAPI app uses the `fastapi.security` class in
`Security(...)`, another is protected by `AuthMiddleware` with the asgi_auth class of
the same arguments; both get the same requests and must give the same status, body
and `WWW-Authenticate` challenges.
"""

from __future__ import annotations

import base64
from typing import Any

import fastapi.security as fs
import pytest
from fastapi import FastAPI, Security

import asgi_auth as aa
from tests.conftest import client_for

pytestmark = pytest.mark.anyio


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


AUTH_HEADERS = [
    None,
    "",
    "Bearer abc.def.ghi",
    "bearer lower-case-token",
    "BEARER   spaced  ",
    "Bearer",
    "Bearer ",
    f"Basic {b64('john:secret')}",
    f"basic {b64('john:')}",
    f"Basic {b64('nocolon')}",
    "Basic !!!notbase64",
    "Basic",
    f"Basic {base64.b64encode('jöhn:pässword'.encode()).decode()}",
    'Digest username="john", realm="r", nonce="n", uri="/p", response="x"',
    "digest x",
    "Other value",
    "Token abc",
]

CASES: list[tuple[str, dict[str, Any]]] = [
    ("APIKeyHeader", {"name": "X-API-Key"}),
    ("APIKeyHeader", {"name": "X-API-Key", "auto_error": False}),
    ("APIKeyHeader", {"name": "X-API-Key", "scheme_name": "Key", "description": "a key"}),
    ("APIKeyQuery", {"name": "api_key"}),
    ("APIKeyQuery", {"name": "api_key", "auto_error": False}),
    ("APIKeyCookie", {"name": "session"}),
    ("APIKeyCookie", {"name": "session", "auto_error": False}),
    ("HTTPBasic", {}),
    ("HTTPBasic", {"realm": "simple"}),
    ("HTTPBasic", {"auto_error": False}),
    ("HTTPBasic", {"realm": "r", "auto_error": False, "scheme_name": "Basic"}),
    ("HTTPBearer", {}),
    ("HTTPBearer", {"bearerFormat": "JWT"}),
    ("HTTPBearer", {"auto_error": False}),
    ("HTTPDigest", {}),
    ("HTTPDigest", {"auto_error": False}),
    ("OAuth2", {"flows": {"password": {"tokenUrl": "token", "scopes": {}}}}),
    ("OAuth2", {"auto_error": False}),
    ("OAuth2PasswordBearer", {"tokenUrl": "token"}),
    ("OAuth2PasswordBearer", {"tokenUrl": "token", "scopes": {"me": "Me"}, "auto_error": False}),
    ("OAuth2PasswordBearer", {"tokenUrl": "token", "refreshUrl": "refresh", "scheme_name": "pw"}),
    ("OAuth2AuthorizationCodeBearer", {"authorizationUrl": "auth", "tokenUrl": "token"}),
    ("OAuth2AuthorizationCodeBearer", {"authorizationUrl": "auth", "tokenUrl": "token", "auto_error": False}),
    ("OpenIdConnect", {"openIdConnectUrl": "https://id.example/.well-known/openid-configuration"}),
    ("OpenIdConnect", {"openIdConnectUrl": "https://id.example/.well-known/openid-configuration", "auto_error": False}),
]


def fastapi_app(name: str, kwargs: dict[str, Any], scopes: list[str]) -> FastAPI:
    scheme = getattr(fs, name)(**kwargs)
    app = FastAPI()

    @app.get("/p")
    def endpoint(credentials: Any = Security(scheme, scopes=scopes)) -> dict[str, bool]:
        return {"ok": True}

    return app


def middleware_app(name: str, kwargs: dict[str, Any], scopes: list[str]) -> tuple[FastAPI, aa.AuthPolicy]:
    options = dict(kwargs, verifier=aa.EXTRACT_ONLY)  # FastAPI's classes only extract
    scheme = getattr(aa, name)(**options)
    if scopes and scheme.declared_scopes is not None:
        scopes = [s for s in scopes if s in scheme.declared_scopes]
    policy = aa.AuthPolicy([aa.Rule("/p", require={scheme: scopes})], default=[])
    app = FastAPI()

    @app.get("/p")
    def endpoint() -> dict[str, bool]:
        return {"ok": True}

    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app, policy


def requests() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in AUTH_HEADERS:
        out.append({"headers": {} if value is None else {"Authorization": value}})
    out += [
        {"headers": {"X-API-Key": "k"}},
        {"headers": {"X-API-Key": ""}},
        {"headers": {"x-api-key": "lower"}},
        {"params": {"api_key": "k"}},
        {"params": {"api_key": ""}},
        {"params": {"other": "k"}},
        {"cookies": {"session": "s"}},
        {"cookies": {"session": ""}},
        {"cookies": {"other": "s"}},
    ]
    return out


def answer(response: Any) -> tuple[int, Any, list[str]]:
    return response.status_code, response.json(), response.headers.get_list("www-authenticate")


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
async def test_same_answers_as_fastapi(name: str, kwargs: dict[str, Any]) -> None:
    expected_app = fastapi_app(name, kwargs, [])
    actual_app, _ = middleware_app(name, kwargs, [])
    async with client_for(expected_app) as expected, client_for(actual_app) as actual:
        for request in requests():
            cookies = request.pop("cookies", None)
            if cookies:
                expected.cookies.clear()
                actual.cookies.clear()
                request["headers"] = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
            want = answer(await expected.get("/p", **request))
            got = answer(await actual.get("/p", **request))
            assert got == want, (name, kwargs, request)


@pytest.mark.parametrize("name", ["OAuth2PasswordBearer", "OAuth2AuthorizationCodeBearer"])
async def test_scopes_without_verifier_are_left_to_the_app_as_in_fastapi(name: str) -> None:
    kwargs: dict[str, Any] = {"tokenUrl": "token", "scopes": {"me": "Me", "items": "Items"}}
    if name == "OAuth2AuthorizationCodeBearer":
        kwargs["authorizationUrl"] = "auth"
    expected_app = fastapi_app(name, kwargs, ["me", "items"])
    with pytest.warns(UserWarning, match="EXTRACT_ONLY: nothing grants scopes"):  # said at start-up
        actual_app, policy = middleware_app(name, kwargs, ["me", "items"])
    async with client_for(expected_app) as expected, client_for(actual_app) as actual:
        for headers in ({}, {"Authorization": "Bearer t"}, {"Authorization": "Basic x"}):
            assert answer(await actual.get("/p", headers=headers)) == answer(await expected.get("/p", headers=headers))
    requirement = policy.match("/p", "GET")
    assert requirement.alternatives[0].scopes == ("me", "items")
