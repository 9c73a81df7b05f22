"""`OpenIdConnect(openIdConnectUrl=...)` with no verifier, against a real OpenID Connect
provider (`oidc-provider-mock`, authlib underneath) served on loopback: its discovery
document, its keys, and ID tokens it issues through the authorization-code flow."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa
from tests.loopback import serve, serve_wsgi

# The provider's own authlib warns of its deprecated API: the peer's, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
CLIENT = "my-client"
REDIRECT = "http://127.0.0.1/callback"


@contextmanager
def provider(max_age: timedelta = timedelta(hours=1)) -> Iterator[str]:
    """The provider on 127.0.0.1 (a free port), in a thread; yields its base URL."""
    app = oidc_provider_mock.app(access_token_max_age=max_age, issue_refresh_token=False)
    with serve_wsgi(app) as base:
        yield base


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """authlib refuses OAuth over plain http unless told; loopback is plain http."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def id_token(base: str, client: str = CLIENT, sub: str = "alice") -> str:
    """An ID token, the way an app's login gets one: authorize, consent, code, token."""
    with httpx.Client(base_url=base, timeout=10) as http:
        query = {"client_id": client, "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid email"}
        consent = http.post("/oauth2/authorize", params=query, data={"sub": sub})
        assert consent.status_code == 302, consent.text
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        answer = http.post(
            "/oauth2/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
            auth=(client, "any-secret"),
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id_token"])


def app_for(base: str, **options: Any) -> Starlette:
    oidc = aa.OpenIdConnect(openIdConnectUrl=f"{base}/.well-known/openid-configuration", **options)

    async def me(request: Request) -> JSONResponse:
        auth = aa.get_auth(request)
        return JSONResponse({"sub": auth.claims["sub"], "aud": auth.claims["aud"], "scopes": sorted(auth.scopes)})

    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=oidc))
    return app


def tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def test_real_id_tokens_accepted_and_forged_ones_refused() -> None:
    with provider() as base, provider(max_age=timedelta(seconds=1)) as short_lived:
        good, other_client = id_token(base), id_token(base, client="another-client")
        expiring = id_token(short_lived)
        with serve(app_for(base, audience=CLIENT)) as url, httpx.Client(base_url=url) as c:
            me = c.get("/me", headers={"Authorization": f"Bearer {good}"})
            assert me.status_code == 200
            assert me.json() == {"sub": "alice", "aud": [CLIENT], "scopes": []}  # no `openid` scope in an ID token
            for bad in (tamper(good), other_client, good[:-4] + "AAAA", "not.a.jwt"):
                r = c.get("/me", headers={"Authorization": f"Bearer {bad}"})
                assert (r.status_code, r.headers["www-authenticate"]) == (401, 'Bearer error="invalid_token"')
        time.sleep(1.5)  # the short-lived token's lifetime passes (waiting longer only makes it older)
        with serve(app_for(short_lived, audience=CLIENT)) as url, httpx.Client(base_url=url) as c:
            assert c.get("/me", headers={"Authorization": f"Bearer {expiring}"}).status_code == 401


def test_no_audience_is_a_start_up_error_that_says_what_to_do() -> None:
    with pytest.raises(aa.ConfigurationError) as refused:
        aa.OpenIdConnect(openIdConnectUrl="https://id.example/.well-known/openid-configuration")
    assert "audience=" in str(refused.value) and "verify_audience=False" in str(refused.value)


def test_verify_audience_false_accepts_a_real_token_for_any_client() -> None:
    with provider() as base:
        token = id_token(base, client="whoever")
        with serve(app_for(base, verify_audience=False)) as url, httpx.Client(base_url=url) as c:
            me = c.get("/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200 and me.json()["aud"] == ["whoever"]
            assert c.get("/me", headers={"Authorization": f"Bearer {tamper(token)}"}).status_code == 401
