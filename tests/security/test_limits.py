"""Caps on what is parsed: each excess gets a definite 4xx."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import pytest

import asgi_auth as aa
from asgi_auth._asgi import MAX_HEADER_VALUE
from asgi_auth.requirement import MAX_SCHEMES_PER_REQUIREMENT
from tests.conftest import Recorder, call_asgi, http_scope

key = aa.APIKeyHeader(name="X-Key", verifier=aa.inline({"k": aa.Principal("k")}.get))
qkey = aa.APIKeyQuery(name="key", verifier=aa.inline({"k": aa.Principal("k")}.get))
bearer = aa.HTTPBearer(verifier=aa.JWTVerifier(key="s" * 40, algorithms=["HS256"], max_token_size=4096))


def status(policy: aa.AuthPolicy, headers: list[tuple[bytes, bytes]], query: bytes = b"") -> int:
    app = aa.AuthMiddleware(Recorder(), policy)
    sent: Any = anyio.run(call_asgi, app, http_scope("/", headers=headers, query_string=query))
    return int(sent[0]["status"])


def test_oversize_credential_header_is_431_even_where_anonymous_is_allowed() -> None:
    big = b"k" * (MAX_HEADER_VALUE + 1)
    assert status(aa.AuthPolicy([], default=key), [(b"x-key", big)]) == 431
    assert status(aa.AuthPolicy([], default=[{}, key]), [(b"x-key", big)]) == 431
    assert status(aa.AuthPolicy([], default=key), [(b"x-key", b"k")]) == 200


def test_oversize_token_is_401_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="asgi_auth"):
        assert status(aa.AuthPolicy([], default=bearer), [(b"authorization", b"Bearer " + b"a" * 5000)]) == 401
    assert "bearer token of 5000 bytes refused" in caplog.text
    assert "aaaa" not in caplog.text


def test_oversize_query_string_and_cookies_are_not_searched_for_credentials(caplog: pytest.LogCaptureFixture) -> None:
    ckey = aa.APIKeyCookie(name="s", verifier=aa.inline({"k": aa.Principal("k")}.get))
    with caplog.at_level(logging.WARNING, logger="asgi_auth"):
        assert status(aa.AuthPolicy([], default=qkey), [], b"key=k") == 200
        assert status(aa.AuthPolicy([], default=qkey), [], b"key=k&pad=" + b"x" * 9000) == 401
        assert status(aa.AuthPolicy([], default=ckey), [(b"cookie", b"s=k")]) == 200
        assert status(aa.AuthPolicy([], default=ckey), [(b"cookie", b"s=k; pad=" + b"x" * 20000)]) == 401
    assert "query string of 9010 bytes not searched" in caplog.text
    assert "cookie header over 8192 bytes not searched" in caplog.text


def test_number_of_schemes_per_requirement_is_capped() -> None:
    many = [
        aa.APIKeyHeader(name=f"k{i}", scheme_name=f"k{i}", verifier=aa.EXTRACT_ONLY)
        for i in range(MAX_SCHEMES_PER_REQUIREMENT + 1)
    ]
    with pytest.raises(aa.ConfigurationError, match="at most 16"):
        aa.AuthPolicy([aa.Rule("/x", require=many)], default=[])
