"""schemes/api_key.py: a key in a header, a query parameter or a cookie."""

from __future__ import annotations

from typing import Any

import fastapi.security as fs
import pytest

import asgi_auth as aa
from tests.schemes.peer import asgi_auth_reads, fastapi_challenge, fastapi_openapi, fastapi_reads, scope_for

pytestmark = pytest.mark.anyio

REQUESTS: list[dict[str, Any]] = [
    {},
    {"headers": {"X-Key": "k1"}},
    {"headers": {"x-key": ""}},
    {"headers": {"X-Key": " spaced "}},
    {"query": "key=k1"},
    {"query": "key="},
    {"query": "key=a%20b&other=1"},
    {"headers": {"Cookie": "key=k1"}},
    {"headers": {"Cookie": "other=1; key=k2"}},
    {"headers": {"Cookie": "key="}},
]

KINDS = [("APIKeyHeader", "X-Key"), ("APIKeyQuery", "key"), ("APIKeyCookie", "key")]


@pytest.mark.parametrize(("kind", "name"), KINDS)
@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: repr(r))
async def test_extract_gives_what_fastapi_gives(kind: str, name: str, request_: dict[str, Any]) -> None:
    ours = getattr(aa, kind)(name=name, verifier=aa.EXTRACT_ONLY)
    peer = getattr(fs, kind)(name=name, auto_error=False)
    scope = scope_for(**request_)
    assert asgi_auth_reads(ours, scope) == await fastapi_reads(peer, scope)


@pytest.mark.parametrize(("kind", "name"), KINDS)
async def test_challenge_and_openapi_are_fastapis(kind: str, name: str) -> None:
    ours = getattr(aa, kind)(name=name, description="the key", verifier=aa.EXTRACT_ONLY)
    peer = getattr(fs, kind)(name=name, description="the key")
    assert ours.challenge() == await fastapi_challenge(peer)
    assert ours.openapi() == fastapi_openapi(peer)
    assert ours.scheme_name == peer.scheme_name


def test_only_a_header_key_is_one_headers_value() -> None:
    assert aa.APIKeyHeader(name="X-Key", verifier=aa.EXTRACT_ONLY).source_header == b"x-key"
    assert aa.APIKeyQuery(name="key", verifier=aa.EXTRACT_ONLY).source_header is None
    assert aa.APIKeyCookie(name="key", verifier=aa.EXTRACT_ONLY).source_header is None
