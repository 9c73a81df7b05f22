"""schemes/http.py: Basic, Bearer, and any other `Authorization: <scheme> <credentials>`."""

from __future__ import annotations

import base64
from typing import Any

import fastapi.security as fs
import pytest

import asgi_auth as aa
from asgi_auth._asgi import RequestView
from tests.schemes.peer import asgi_auth_reads, fastapi_challenge, fastapi_openapi, fastapi_reads, scope_for

pytestmark = pytest.mark.anyio


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


AUTHORIZATION = [
    None,
    "",
    "Bearer tok",
    "bearer  tok ",
    "Bearer",
    "Bearer ",
    "BEARER a b",
    f"Basic {b64(b'john:secret')}",
    f"basic {b64(b'john:')}",
    f"Basic {b64(b':')}",
    f"Basic {b64(b'nocolon')}",
    f"Basic {b64('jöhn:pw'.encode())}",
    "Basic !!!",
    "Basic",
    "Digest x=1",
    "Token abc",
]


def scope(authorization: str | None) -> dict[str, Any]:
    return scope_for({"Authorization": authorization} if authorization is not None else None)


@pytest.mark.parametrize("authorization", AUTHORIZATION)
@pytest.mark.parametrize(
    ("ours", "peer"),
    [
        (lambda: aa.HTTPBasic(verifier=aa.EXTRACT_ONLY), lambda: fs.HTTPBasic(auto_error=False)),
        (lambda: aa.HTTPBearer(verifier=aa.EXTRACT_ONLY), lambda: fs.HTTPBearer(auto_error=False)),
        (
            lambda: aa.HTTPBase(scheme="token", verifier=aa.EXTRACT_ONLY),
            lambda: fs.http.HTTPBase(scheme="token", auto_error=False),
        ),
    ],
    ids=["basic", "bearer", "base"],
)
async def test_extract_gives_what_fastapi_gives(ours: Any, peer: Any, authorization: str | None) -> None:
    assert asgi_auth_reads(ours(), scope(authorization)) == await fastapi_reads(peer(), scope(authorization))


def test_with_a_verifier_basic_reads_utf8_where_extract_only_reads_ascii() -> None:
    header = scope(f"Basic {b64('jöhn:pässword'.encode())}")
    verified = aa.HTTPBasic(verifier=aa.inline(lambda c: None))
    assert asgi_auth_reads(verified, header) == {"username": "jöhn", "password": "pässword"}
    latin = scope(f"Basic {b64('jöhn:pw'.encode('latin-1'))}")
    assert asgi_auth_reads(verified, latin) == {"username": "jöhn", "password": "pw"}


@pytest.mark.parametrize(
    ("ours", "peer"),
    [
        (lambda: aa.HTTPBasic(verifier=aa.EXTRACT_ONLY), lambda: fs.HTTPBasic()),
        (lambda: aa.HTTPBasic(realm="simple", verifier=aa.EXTRACT_ONLY), lambda: fs.HTTPBasic(realm="simple")),
        (
            lambda: aa.HTTPBearer(bearerFormat="JWT", verifier=aa.EXTRACT_ONLY),
            lambda: fs.HTTPBearer(bearerFormat="JWT"),
        ),
        (lambda: aa.HTTPBearer(description="d", verifier=aa.EXTRACT_ONLY), lambda: fs.HTTPBearer(description="d")),
    ],
    ids=["basic", "basic-realm", "bearer-format", "bearer-description"],
)
async def test_challenge_and_openapi_are_fastapis(ours: Any, peer: Any) -> None:
    scheme, fastapi_scheme = ours(), peer()
    assert scheme.challenge() == await fastapi_challenge(fastapi_scheme)
    assert scheme.openapi() == fastapi_openapi(fastapi_scheme)


async def test_a_realm_is_a_quoted_string_where_fastapi_pastes_it() -> None:
    """FastAPI writes the realm between quotes as it is (its known behaviour), which
    a `"` in it breaks; the RFC 9110 quoted-string escapes it."""
    assert aa.HTTPBasic(realm='r "1"', verifier=aa.EXTRACT_ONLY).challenge() == 'Basic realm="r \\"1\\""'
    assert await fastapi_challenge(fs.HTTPBasic(realm='r "1"')) == 'Basic realm="r "1""'


def test_the_bearer_verifier_gets_the_token_and_rfc_6750_challenges() -> None:
    seen: list[Any] = []

    def record(token: str) -> aa.Principal:
        seen.append(token)
        return aa.Principal("u")

    bearer = aa.HTTPBearer(verifier=aa.inline(record))
    credentials = bearer.extract(RequestView(scope("Bearer tok")))
    assert bearer.verify(credentials) == aa.Principal("u") and seen == ["tok"]
    assert bearer.invalid_challenge() == 'Bearer error="invalid_token"'
    assert bearer.insufficient_challenges(("a", "b")) == ['Bearer error="insufficient_scope", scope="a b"']
    basic = aa.HTTPBasic(realm="r", verifier=aa.EXTRACT_ONLY)
    assert basic.invalid_challenge() == basic.challenge() and basic.insufficient_challenges(("a",)) == []
    assert bearer.source_header == basic.source_header == b"authorization"
