"""examples/mcp_server.py end to end: the MCP SDK's streamable-HTTP client against the
MCP SDK's server guarded by asgi_auth, over loopback uvicorn.

Tokens come from a local key (an `Issuer` with `key=`, carrying scopes) and from a real
OpenID provider (`oidc-provider-mock`, ID tokens whose `aud` is the server's URL).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import anyio
import httpx
import httpx2
import jwt
import pytest
from mcp import ClientSession
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
    handle_protected_resource_response,
)
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url

import asgi_auth as aa
from examples.mcp_server import create_app
from tests.loopback import free_port, serve
from tests.verifiers.keys import public_pem, rsa_key
from tests.verifiers.test_oidc_provider import REDIRECT, provider

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the provider's authlib
ISSUER = "https://id.example.com"


def local_token(resource: str, scope: str = "mcp:tools", sub: str = "alice") -> str:
    claims = {"iss": ISSUER, "sub": sub, "aud": resource, "scope": scope, "exp": int(time.time()) + 300}
    return jwt.encode(claims, rsa_key(), "RS256")


@contextmanager
def mcp_server(issuers: Any = None, scopes: tuple[str, ...] = ("mcp:tools",)) -> Iterator[str]:
    """The example on a free port; yields its resource URL (`http://127.0.0.1:port/mcp`)."""
    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    if issuers is None:
        issuers = [aa.Issuer(ISSUER, key=public_pem(rsa_key()), algorithms=["RS256"], audience=resource)]
    elif callable(issuers):
        issuers = issuers(resource)
    with serve(create_app(resource, issuers, scopes), port=port, lifespan="on"):
        yield resource


@asynccontextmanager
async def session_to(resource: str, http: httpx2.AsyncClient) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with `resource` over `http`, all of it bounded to 20 s."""
    with anyio.fail_after(20):
        async with (
            streamable_http_client(resource, http_client=http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session


async def call(resource: str, token: str | None, tool: str, arguments: dict[str, Any]) -> tuple[Any, list[Any]]:
    """Initialize an MCP session with the SDK's client and call one tool; also the
    responses the client received."""
    seen: list[httpx2.Response] = []

    async def record(response: httpx2.Response) -> None:
        seen.append(response)

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, event_hooks={"response": [record]}, timeout=10) as http:
        try:
            async with session_to(resource, http) as session:
                return await session.call_tool(tool, arguments), seen
        except Exception as exc:
            return exc, seen


def test_a_tool_call_with_a_valid_token() -> None:
    with mcp_server() as resource:
        result, _ = anyio.run(call, resource, local_token(resource), "add", {"a": 2, "b": 3})
        assert not isinstance(result, BaseException), result
        assert not result.is_error and result.content[0].text == "5"
        result, _ = anyio.run(call, resource, local_token(resource, sub="bob"), "whoami", {})
        assert result.content[0].text == "bob"  # the app read what the middleware decided


def test_without_a_token_the_client_meets_401_naming_the_metadata_which_it_can_read() -> None:
    with mcp_server() as resource:
        failed, seen = anyio.run(call, resource, None, "add", {"a": 1, "b": 1})
        assert isinstance(failed, BaseException)  # no session without a token
        refused = seen[0]
        assert refused.status_code == 401
        metadata_url = extract_resource_metadata_from_www_auth(refused)
        base = resource.removesuffix("/mcp")
        assert metadata_url == f"{base}/.well-known/oauth-protected-resource/mcp"
        urls = build_protected_resource_metadata_discovery_urls(metadata_url, resource)

        async def discover() -> Any:
            async with httpx2.AsyncClient() as http:
                return await handle_protected_resource_response(await http.get(urls[0]))

        metadata = anyio.run(discover)
        assert metadata is not None and str(metadata.resource) == resource
        assert metadata.scopes_supported == ["mcp:tools"]
        assert [str(s) for s in metadata.authorization_servers] == [ISSUER]
        assert check_resource_allowed(resource_url_from_server_url(resource), str(metadata.resource))


@pytest.mark.parametrize(
    "audience",
    ["https://other-mcp.example.com/mcp", "{resource}/", "{base}"],
)
def test_a_token_for_another_resource_is_refused(audience: str) -> None:
    with mcp_server() as resource:
        aud = audience.format(resource=resource, base=resource.removesuffix("/mcp"))
        failed, seen = anyio.run(call, resource, local_token(aud), "add", {"a": 1, "b": 1})
        assert isinstance(failed, BaseException)
        assert seen[0].status_code == 401
        assert seen[0].headers["www-authenticate"].startswith('Bearer error="invalid_token", resource_metadata=')


def test_a_token_without_the_scope_is_403_with_the_scope_to_ask_for() -> None:
    with mcp_server() as resource:
        failed, seen = anyio.run(call, resource, local_token(resource, scope="other"), "add", {"a": 1, "b": 1})
        assert isinstance(failed, BaseException)
        assert seen[0].status_code == 403
        challenge = seen[0].headers["www-authenticate"]
        assert 'error="insufficient_scope", scope="mcp:tools", resource_metadata=' in challenge


def id_token(base: str, client: str, sub: str) -> str:
    """An ID token for `client` from the provider: authorize, consent, code, token.

    The client ID is a URL (the resource's), so it is form-encoded in Basic as
    RFC 6749 §2.3.1 asks (a raw colon would end the user name).
    """
    with httpx.Client(base_url=base, timeout=10) as http:
        query = {"client_id": client, "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid"}
        consent = http.post("/oauth2/authorize", params=query, data={"sub": sub})
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
        answer = http.post("/oauth2/token", data=grant, auth=(quote(client, safe=""), "any-secret"))
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id_token"])


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def test_tokens_from_a_real_openid_provider() -> None:
    with provider() as idp:

        def issuers(resource: str) -> list[aa.Issuer]:
            return [aa.Issuer(idp, discovery=True, audience=resource)]

        with mcp_server(issuers, scopes=()) as resource:
            # The provider's client ID is the resource URL, so its ID tokens say aud=resource.
            token = id_token(idp, client=resource, sub="carol")
            result, _ = anyio.run(call, resource, token, "whoami", {})
            assert not isinstance(result, BaseException), result
            assert result.content[0].text == "carol"
            other = id_token(idp, client="http://127.0.0.1:1/mcp", sub="carol")
            failed, seen = anyio.run(call, resource, other, "whoami", {})
            assert isinstance(failed, BaseException) and seen[0].status_code == 401
            with httpx.Client() as client:
                document = client.get(resource.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")).json()
            assert document["authorization_servers"] == [idp] and "scopes_supported" in document


class _Memory:
    """The SDK's `TokenStorage`, in memory."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client

    async def set_client_info(self, client_info: Any) -> None:
        self.client = client_info


class _Redirected(Exception):
    """Where the SDK's OAuth client sent the user: the test stops there."""


def test_the_sdks_oauth_client_follows_the_metadata_to_the_provider_for_this_resource() -> None:
    """`mcp`'s `OAuthClientProvider` meets the 401, reads the metadata the challenge names,
    discovers and registers with the authorization server it lists, and sends the user
    there asking for a token for this resource (RFC 8707 `resource=`)."""
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import OAuthClientMetadata

    from tests.verifiers.test_issuers import provider as counting_provider

    with counting_provider() as idp:

        def issuers(resource: str) -> list[aa.Issuer]:
            return [aa.Issuer(idp.base, discovery=True, audience=resource)]

        with mcp_server(issuers) as resource:
            sent_to: list[str] = []

            async def redirect(url: str) -> None:
                sent_to.append(url)
                raise _Redirected(url)

            async def callback() -> Any:
                raise AssertionError("the test stops at the redirect")

            oauth = OAuthClientProvider(
                server_url=resource,
                client_metadata=OAuthClientMetadata(redirect_uris=[REDIRECT], client_name="asgi_auth test"),
                storage=_Memory(),
                redirect_handler=redirect,
                callback_handler=callback,
            )

            async def connect() -> Any:
                async with httpx2.AsyncClient(auth=oauth, timeout=10) as http:
                    try:
                        async with session_to(resource, http):
                            pass
                    except Exception as exc:
                        return exc
                return None

            failed = anyio.run(connect)
            assert failed is not None
            assert len(sent_to) == 1, failed
            query = parse_qs(urlsplit(sent_to[0]).query)
            assert sent_to[0].startswith(f"{idp.base}/oauth2/authorize")
            assert query["resource"] == [resource]  # RFC 8707, from the metadata's `resource`
            assert query["scope"] == ["mcp:tools"]  # from scopes_supported: the 401 names no scope
            paths = [path for _, path in idp.hits]
            assert "/.well-known/openid-configuration" in paths and "/oauth2/clients" in paths
