"""OpenID Connect discovery against a provider served on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

import asgi_auth as aa
from tests.conftest import Recorder, client_for
from tests.loopback import serve
from tests.verifiers.keys import jwk, rsa_key

pytestmark = pytest.mark.anyio


class Provider:
    def __init__(self) -> None:
        self.base = ""
        self.issuer_override: str | None = None
        self.jwks_uri_override: str | None = None
        self.down = False
        self.hits: dict[str, int] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope["path"]
        self.hits[path] = self.hits.get(path, 0) + 1
        if self.down:
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if path == "/.well-known/openid-configuration":
            body: Any = {
                "issuer": self.issuer_override or self.base,
                "jwks_uri": self.jwks_uri_override or self.base + "/keys",
                "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
            }
        else:
            body = {"keys": [jwk(rsa_key(), "k", "RS256")]}
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = Provider()
    with serve(p) as url:
        p.base = url
        yield p


def id_token(issuer: str, **extra: Any) -> str:
    claims = {"iss": issuer, "sub": "alice", "aud": "my-client", "exp": int(time.time()) + 60, **extra}
    return jwt.encode(claims, rsa_key(), algorithm="RS256", headers={"kid": "k"})


def app_for(provider: Provider) -> tuple[aa.AuthMiddleware, Recorder]:
    oidc = aa.OpenIdConnect(openIdConnectUrl=provider.base + "/.well-known/openid-configuration", audience="my-client")
    inner = Recorder()
    return aa.AuthMiddleware(inner, aa.AuthPolicy([], default={oidc: ["openid"]})), inner


async def test_discovery_then_verification(provider: Provider) -> None:
    app, inner = app_for(provider)
    async with client_for(app) as client:
        ok = await client.get("/", headers={"Authorization": f"Bearer {id_token(provider.base, scope='openid')}"})
        wrong_iss = await client.get("/", headers={"Authorization": f"Bearer {id_token('https://evil')}"})
        wrong_aud = await client.get("/", headers={"Authorization": f"Bearer {id_token(provider.base, aud='x')}"})
        no_scope = await client.get("/", headers={"Authorization": f"Bearer {id_token(provider.base)}"})
    assert ok.status_code == 200
    assert inner.scopes[0]["state"]["auth"].claims["sub"] == "alice"
    assert wrong_iss.status_code == wrong_aud.status_code == 401
    assert no_scope.status_code == 403
    assert provider.hits == {"/.well-known/openid-configuration": 1, "/keys": 1}


async def test_a_verified_token_is_then_answered_from_the_cache(provider: Provider) -> None:
    verifier = aa.DiscoveryVerifier(provider.base + "/.well-known/openid-configuration", audience="my-client")
    token = id_token(provider.base)
    pending = verifier.verify_inline(token)  # nothing discovered yet: it must wait
    assert verifier.lifetime(token) is None and hasattr(pending, "__await__")
    principal = await pending
    assert principal is not None and verifier.verify_inline(token) is principal
    assert verifier.lifetime(token) is not None
    other = verifier.verify_inline(id_token(provider.base, n=1))  # a new token: its key is looked up
    assert hasattr(other, "__await__")
    assert await other not in (None, principal)


async def test_hmac_and_none_advertised_by_the_provider_are_never_used(provider: Provider) -> None:
    app, _ = app_for(provider)
    forged = jwt.encode({"iss": provider.base, "sub": "x", "aud": "my-client", "exp": int(time.time()) + 60}, "k" * 32)
    async with client_for(app) as client:
        r = await client.get("/", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


async def test_issuer_mismatch_in_discovery_is_refused_with_503(provider: Provider) -> None:
    provider.issuer_override = "https://someone-else"
    app, inner = app_for(provider)
    async with client_for(app) as client:
        r = await client.get("/", headers={"Authorization": f"Bearer {id_token('https://someone-else')}"})
    assert (r.status_code, r.json()) == (503, {"detail": "OpenID Connect provider is unavailable"})
    assert inner.scopes == []


async def test_provider_down_is_503_and_not_hammered(provider: Provider) -> None:
    provider.down = True
    app, _ = app_for(provider)
    async with client_for(app) as client:
        for _ in range(5):
            r = await client.get("/", headers={"Authorization": f"Bearer {id_token(provider.base)}"})
            assert r.status_code == 503
    assert provider.hits == {"/.well-known/openid-configuration": 1}


async def test_docker_a_discovery_url_that_is_not_the_public_issuer(provider: Provider) -> None:
    """The app reaches the provider by an internal name; the document and the tokens say
    the public one, and the document's jwks_uri names a host the app can't reach."""
    public = "http://localhost:8080/realms/demo"
    provider.issuer_override = public
    provider.jwks_uri_override = "http://127.0.0.1:9/unreachable-from-the-app"
    url = provider.base + "/.well-known/openid-configuration"
    token = id_token(public)
    unmatched = aa.DiscoveryVerifier(url, audience="my-client")
    with pytest.raises(aa.ServiceUnavailable):
        await unmatched(token)  # Discovery §4.3: the issuer must match the URL, unless told
    told = aa.DiscoveryVerifier(url, audience="my-client", issuer=public, jwks_url=provider.base + "/keys")
    assert (await told(token)) is not None
    assert (await told(id_token(provider.base))) is None  # tokens must say the public issuer
    wrong = aa.DiscoveryVerifier(url, audience="my-client", issuer="http://elsewhere")
    with pytest.raises(aa.ServiceUnavailable):
        await wrong(token)
