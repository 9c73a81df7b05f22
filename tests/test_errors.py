from __future__ import annotations

import json

import pytest

import asgi_auth as aa
from asgi_auth.errors import ErrorResponse, check_header_value, quote
from tests.conftest import call_asgi, http_scope

pytestmark = pytest.mark.anyio


def test_error_types_carry_fastapi_details() -> None:
    assert (aa.NotAuthenticated().status_code, aa.NotAuthenticated().detail) == (401, "Not authenticated")
    assert (aa.InvalidCredentials().status_code, aa.InvalidCredentials().detail) == (
        401,
        "Could not validate credentials",
    )
    assert (aa.InsufficientScope().status_code, aa.InsufficientScope().detail) == (403, "Not enough permissions")
    assert aa.ServiceUnavailable().status_code == 503
    error = aa.InvalidCredentials("nope", headers=[("WWW-Authenticate", "Bearer"), ("X-Other", "1")])
    assert error.challenges == ["Bearer"]
    assert repr(error) == "InvalidCredentials(status_code=401, detail='nope')"


async def test_error_response_bytes() -> None:
    response = ErrorResponse(aa.InsufficientScope(headers=[("WWW-Authenticate", 'Bearer error="insufficient_scope"')]))
    sent = await call_asgi(response, http_scope())
    assert sent[0]["status"] == 403
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(sent[1]["body"])
    assert headers[b"www-authenticate"] == b'Bearer error="insufficient_scope"'
    assert json.loads(sent[1]["body"]) == {"detail": "Not enough permissions"}


def test_quote_and_header_checks() -> None:
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    for bad in ("a\r\nX: y", "a\x00", "snow☃"):
        with pytest.raises(aa.ConfigurationError):
            check_header_value(bad, "realm")
    with pytest.raises(aa.ConfigurationError):
        aa.HTTPBasic(realm="evil\r\nSet-Cookie: x=1")
