"""schemes/oauth2.py: OAuth2 with any flows, and the password and authorization-code bearers."""

from __future__ import annotations

from typing import Any

import fastapi.security as fs
import pytest

import asgi_auth as aa
from tests.schemes.peer import asgi_auth_reads, fastapi_challenge, fastapi_openapi, fastapi_reads, scope_for

pytestmark = pytest.mark.anyio

AUTHORIZATION = [None, "", "Bearer tok", "bearer  tok ", "Bearer", "Bearer ", "Basic abc", "Other value", "tok"]

FLOWS = {"password": {"tokenUrl": "token", "scopes": {"me": "Me"}}}
PAIRS = [
    (lambda **kw: aa.OAuth2(flows=FLOWS, **kw), lambda **kw: fs.OAuth2(flows=FLOWS, **kw)),
    (
        lambda **kw: aa.OAuth2PasswordBearer("token", scopes={"me": "Me"}, refreshUrl="r", **kw),
        lambda **kw: fs.OAuth2PasswordBearer("token", scopes={"me": "Me"}, refreshUrl="r", **kw),
    ),
    (
        lambda **kw: aa.OAuth2AuthorizationCodeBearer("auth", "token", **kw),
        lambda **kw: fs.OAuth2AuthorizationCodeBearer("auth", "token", **kw),
    ),
]
IDS = ["oauth2", "password", "authorization-code"]


def scope(authorization: str | None) -> dict[str, Any]:
    return scope_for({"Authorization": authorization} if authorization is not None else None)


@pytest.mark.parametrize("authorization", AUTHORIZATION)
@pytest.mark.parametrize(("ours", "peer"), PAIRS, ids=IDS)
async def test_extract_gives_what_fastapi_gives(ours: Any, peer: Any, authorization: str | None) -> None:
    assert asgi_auth_reads(ours(verifier=aa.EXTRACT_ONLY), scope(authorization)) == await fastapi_reads(
        peer(auto_error=False), scope(authorization)
    )


@pytest.mark.parametrize(("ours", "peer"), PAIRS, ids=IDS)
async def test_challenge_and_openapi_are_fastapis(ours: Any, peer: Any) -> None:
    scheme, fastapi_scheme = ours(verifier=aa.EXTRACT_ONLY, description="d"), peer(description="d")
    assert scheme.challenge() == await fastapi_challenge(fastapi_scheme)
    assert scheme.openapi() == fastapi_openapi(fastapi_scheme)
    assert scheme.declared_scopes == (frozenset({"me"}) if "me" in str(scheme.flows) else None)


async def test_with_a_verifier_only_a_bearer_token_is_taken_and_the_verifier_gets_the_token() -> None:
    seen: list[str] = []

    def record(token: str) -> aa.Principal:
        seen.append(token)
        return aa.Principal("u")

    oauth2 = aa.OAuth2(verifier=aa.inline(record))
    assert asgi_auth_reads(oauth2, scope("Other value")) is None
    credentials = asgi_auth_reads(oauth2, scope("Bearer tok"))
    assert credentials == "Bearer tok"  # the whole value, as FastAPI's OAuth2 returns it
    assert oauth2.verify(credentials) == aa.Principal("u") and seen == ["tok"]
    password = aa.OAuth2PasswordBearer("token", verifier=aa.inline(record))
    assert password.verify(asgi_auth_reads(password, scope("Bearer t2"))) == aa.Principal("u")
    assert seen == ["tok", "t2"]  # the token alone, which is also its credentials
