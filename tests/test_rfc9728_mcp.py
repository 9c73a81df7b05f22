"""RFC 9728 as the `mcp` SDK's client reads it: its discovery URLs, its model of the
document and its reading of the challenge, against the app of tests/test_rfc9728.py
behind real uvicorn.

A file of its own because the SDK's floor (anyio, pydantic, Starlette through
sse-starlette) is above asgi_auth's: the oldest-versions session leaves it out.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_resource_metadata_from_www_auth,
)
from mcp.shared.auth import ProtectedResourceMetadata
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url

from tests.loopback import free_port, serve
from tests.test_rfc9728 import ISSUER, make_app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    resource_url = f"{base}/api"
    with serve(make_app(resource_url), port=port):
        yield base, resource_url


def test_the_mcp_clients_model_and_discovery_read_the_document(server: tuple[str, str]) -> None:
    """`mcp`'s client builds the discovery URLs and validates the document with its own model."""
    base, resource_url = server
    urls = build_protected_resource_metadata_discovery_urls(None, resource_url)
    assert urls == [f"{base}/.well-known/oauth-protected-resource/api", f"{base}/.well-known/oauth-protected-resource"]
    with httpx.Client() as client:
        for url in urls:  # both the path form and the root form the client falls back to
            metadata = ProtectedResourceMetadata.model_validate_json(client.get(url).content)
            assert str(metadata.resource) == resource_url
            assert [str(s) for s in metadata.authorization_servers] == [ISSUER]
            assert check_resource_allowed(resource_url_from_server_url(resource_url), str(metadata.resource))


def test_mcp_clients_extractor_finds_the_url_in_the_challenge(server: tuple[str, str]) -> None:
    base, _ = server
    with httpx2.Client(base_url=base) as client:  # the HTTP client the SDK itself uses
        refused = client.get("/api/items")
    assert extract_resource_metadata_from_www_auth(refused) == f"{base}/.well-known/oauth-protected-resource/api"
