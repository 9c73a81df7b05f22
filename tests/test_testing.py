"""asgi_auth.testing: tokens the real verifiers accept, key documents served for real,
and verification overridden only where a test enabled it."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

import asgi_auth as aa
from asgi_auth.testing import (
    ENABLE_VARIABLE,
    KeyServer,
    TestingNotEnabled,
    TokenFactory,
    authenticated_as,
    mock_transport,
    serve_keys,
)
from tests.loopback import serve

pytest_plugins = ["asgi_auth.testing.pytest_plugin"]


def run(awaitable: Any) -> Any:
    import anyio

    async def main() -> Any:
        return await awaitable

    return anyio.run(main)


# -- tokens -----------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256"])
def test_minted_tokens_pass_the_factorys_own_verifier(algorithm: str) -> None:
    tokens = TokenFactory(algorithm=algorithm, issuer="https://issuer.test", audience="api")
    principal = run(tokens.verifier(cache=False)(tokens.mint("alice", scopes=["me", "items"])))
    principal = getattr(principal, "principal", principal)
    assert principal.subject == "alice"
    assert principal.scopes == {"me", "items"}
    assert principal.claims["iss"] == "https://issuer.test"


def test_for_verifier_matches_an_apps_hmac_verifier() -> None:
    apps_verifier = aa.JWTVerifier(
        key="app-secret-" + "x" * 40, algorithms=["HS256"], issuer="https://me.test", audience=["api", "web"]
    )
    tokens = TokenFactory.for_verifier(apps_verifier)
    assert (tokens.algorithm, tokens.issuer, tokens.audience) == ("HS256", "https://me.test", "api")
    assert run(apps_verifier(tokens.mint("bob"))) is not None


def test_for_verifier_needs_the_private_key_of_a_public_key_verifier() -> None:
    tokens = TokenFactory(audience="api")
    with pytest.raises(aa.ConfigurationError, match="private key"):
        TokenFactory.for_verifier(aa.JWTVerifier(key=tokens.public_key, algorithms=["RS256"]))
    again = TokenFactory.for_verifier(aa.JWTVerifier(key=tokens.public_key, algorithms=["RS256"]), key=tokens.key)
    assert run(aa.JWTVerifier(key=tokens.public_key, algorithms=["RS256"])(again.mint())) is not None


def refused(verifier: aa.JWTVerifier, token: str) -> bool:
    try:
        return run(verifier(token)) is None
    except aa.InvalidCredentials:
        return True


def test_the_verifier_refuses_what_it_should() -> None:
    tokens = TokenFactory(issuer="https://issuer.test", audience="api")
    verifier = tokens.verifier(cache=False)
    assert not refused(verifier, tokens.mint())
    assert refused(verifier, tokens.mint(exp=int(time.time()) - 60))  # expired
    assert refused(verifier, tokens.mint(exp=None))  # `exp` is required by default
    assert refused(verifier, tokens.mint(aud="someone-else"))
    assert refused(verifier, tokens.mint(iss="https://evil.test"))
    assert refused(verifier, TokenFactory(issuer="https://issuer.test", audience="api").mint())  # another key


# -- key documents ------------------------------------------------------------------------------


def test_a_jwks_url_verifier_fetches_the_served_keys(key_server: KeyServer, token_factory: TokenFactory) -> None:
    verifier = aa.JWTVerifier(jwks_url=key_server.jwks_url, algorithms=["RS256"], audience="api", cache=False)
    assert run(verifier(token_factory.mint("alice"))) is not None
    assert key_server.requests == ["/.well-known/jwks.json"]


def test_openid_connect_discovers_the_served_provider() -> None:
    tokens = TokenFactory(audience="client-1")
    with serve_keys(tokens) as provider:
        assert tokens.issuer == provider.url
        oidc = aa.OpenIdConnect(openIdConnectUrl=provider.discovery_url, audience="client-1")
        app = FastAPI()

        @app.get("/me")
        def me(auth: aa.AuthContext = Depends(aa.get_auth)) -> dict[str, str]:
            return {"sub": auth.principal.subject}

        app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=oidc))
        with serve(app) as base, httpx.Client(base_url=base) as client:
            assert client.get("/me", headers={"Authorization": f"Bearer {tokens.mint('carol')}"}).json() == {
                "sub": "carol"
            }
            assert client.get("/me", headers={"Authorization": "Bearer x.y.z"}).status_code == 401
        assert provider.requests[:2] == ["/.well-known/openid-configuration", "/.well-known/jwks.json"]


def test_the_mock_transport_serves_the_same_documents() -> None:
    tokens = TokenFactory(audience="api")
    transport = mock_transport(tokens, "https://idp.test")
    verifier = aa.JWTVerifier(
        jwks_url="https://idp.test/.well-known/jwks.json",
        jwks_transport=transport,
        algorithms=["RS256"],
        audience="api",
    )
    assert run(verifier(tokens.mint("dave"))) is not None
    assert tokens.issuer == "https://idp.test"


# -- overriding verification ---------------------------------------------------------------------

bearer = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"me": "", "items": "", "admin": ""},
    verifier=aa.JWTVerifier(key="never-used-" + "k" * 40, algorithms=["HS256"]),
)
api_key = aa.APIKeyHeader(name="X-Key", verifier=aa.inline(lambda key: None))
POLICY = aa.AuthPolicy(
    [
        aa.Rule("/public", require=[]),
        aa.Rule("/me", require={bearer: ["me"]}),
        aa.Rule("/items", require={bearer: ["me", "items"]}),
        aa.Rule("/admin", require=[{bearer: ["admin"]}, api_key]),
        aa.Rule("/optional", require=[{}, bearer]),
    ],
    default=bearer,
)


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/{path:path}")
    def anything(auth: aa.AuthContext = Depends(aa.get_auth)) -> dict[str, Any]:
        subject = auth.principal.subject if auth.authenticated else None
        return {"sub": subject, "scheme": auth.scheme, "scopes": sorted(auth.scopes), "rule": auth.rule}

    app.add_middleware(aa.AuthMiddleware, policy=POLICY)
    return app


def test_refused_unless_the_environment_enables_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENABLE_VARIABLE, raising=False)
    with pytest.raises(TestingNotEnabled, match="ASGI_AUTH_TESTING=1"), authenticated_as(POLICY, "alice"):
        pass  # pragma: no cover
    monkeypatch.setenv(ENABLE_VARIABLE, "true")  # exactly "1", nothing looser
    with pytest.raises(TestingNotEnabled), authenticated_as(POLICY, "alice"):
        pass  # pragma: no cover


def test_as_alice_with_scopes(auth_as: Any, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(make_app()) as client:
        assert client.get("/me").status_code == 401  # not overridden yet
        auth_as(POLICY, "alice", scopes={"me"})
        assert client.get("/me").json() == {
            "sub": "alice",
            "scheme": "OAuth2PasswordBearer",
            "scopes": ["me"],
            "rule": "/me",
        }
        items = client.get("/items")
        assert items.status_code == 403  # the rule's scope check still applies
        assert items.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="me items"'
        assert client.get("/public").json()["sub"] is None  # public stays public
        assert client.get("/optional").json()["sub"] == "alice"  # credentials "sent"
        assert client.get("/unmatched").json()["rule"] is None  # the default too
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "verification is OFF" in r.getMessage()]
    assert len(warnings) == 1


def test_the_override_ends_with_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENABLE_VARIABLE, "1")
    with TestClient(make_app()) as client:
        with authenticated_as(POLICY, "alice", scopes={"me", "items"}) as principal:
            assert principal.subject == "alice"
            assert client.get("/items").status_code == 200
        assert client.get("/items").status_code == 401
        assert client.get("/me", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_a_scheme_limits_the_alternatives(auth_as: Any) -> None:
    auth_as(POLICY, "svc", scheme="APIKeyHeader")
    with TestClient(make_app()) as client:
        assert client.get("/admin").json()["scheme"] == "APIKeyHeader"
        assert client.get("/me").status_code == 401  # a bearer rule: as if nothing were sent
        assert client.get("/optional").json()["sub"] is None  # anonymous allowed


def test_a_principal_object_is_used_as_it_is(auth_as: Any) -> None:
    class User:
        subject = "erin"
        scopes = frozenset({"admin"})

    user = User()
    assert auth_as(POLICY, user) is user
    with TestClient(make_app()) as client:
        assert client.get("/admin").json()["sub"] == "erin"
        assert client.get("/me").status_code == 403


def test_an_unknown_scheme_is_refused(auth_as: Any) -> None:
    with pytest.raises(ValueError, match="no scheme 'Nope'"):
        auth_as(POLICY, "alice", scheme="Nope")


def test_the_plugin_is_not_loaded_by_installing_the_package() -> None:
    """No pytest11 entry point: the fixtures exist only where a conftest asks for them."""
    from importlib.metadata import entry_points

    assert not [ep for ep in entry_points(group="pytest11") if ep.value.startswith("asgi_auth")]
