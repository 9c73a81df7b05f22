"""schemes/openid_connect.py: OpenIdConnect, verified by discovery unless given a verifier."""

from __future__ import annotations

from typing import Any

import fastapi.security as fs
import pytest

import asgi_auth as aa
from tests.schemes.peer import asgi_auth_reads, fastapi_challenge, fastapi_openapi, fastapi_reads, scope_for

pytestmark = pytest.mark.anyio

URL = "https://id.example/.well-known/openid-configuration"


@pytest.mark.parametrize("authorization", [None, "", "Bearer tok", "bearer  tok ", "Bearer", "Basic abc", "tok"])
async def test_extract_gives_what_fastapi_gives(authorization: str | None) -> None:
    scope = scope_for({"Authorization": authorization} if authorization is not None else None)
    ours = aa.OpenIdConnect(openIdConnectUrl=URL, verifier=aa.EXTRACT_ONLY)
    peer = fs.OpenIdConnect(openIdConnectUrl=URL, auto_error=False)
    assert asgi_auth_reads(ours, scope) == await fastapi_reads(peer, scope)


async def test_challenge_and_openapi_are_fastapis() -> None:
    ours = aa.OpenIdConnect(openIdConnectUrl=URL, description="d", scheme_name="oidc", verifier=aa.EXTRACT_ONLY)
    peer = fs.OpenIdConnect(openIdConnectUrl=URL, description="d", scheme_name="oidc")
    assert ours.challenge() == await fastapi_challenge(peer)
    assert ours.openapi() == fastapi_openapi(peer)


def test_without_a_verifier_it_discovers_for_an_audience() -> None:
    scheme = aa.OpenIdConnect(openIdConnectUrl=URL, audience="api")
    assert isinstance(scheme.verifier, aa.DiscoveryVerifier) and scheme.verifier.audience == "api"
    with pytest.raises(aa.ConfigurationError, match="audience"):
        aa.OpenIdConnect(openIdConnectUrl=URL)
    assert aa.OpenIdConnect(openIdConnectUrl=URL, discover=False).verifier is None
    with pytest.raises(aa.ConfigurationError, match="openIdConnectUrl"):
        aa.OpenIdConnect(openIdConnectUrl="")


def test_a_bearer_scheme_of_one_header() -> None:
    verifier: Any = aa.inline(lambda token: None)
    scheme = aa.OpenIdConnect(openIdConnectUrl=URL, verifier=verifier)
    assert scheme.bearer and scheme.source_header == b"authorization" and not scheme.challenges_vary
    assert scheme.invalid_challenge() == 'Bearer error="invalid_token"'
