from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

import pytest

import asgi_auth as aa
from asgi_auth.errors import ErrorResponse, check_header_value, quote
from tests.conftest import Recorder, call_asgi, client_for, http_scope

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


async def test_a_prepared_answer_is_never_altered_by_a_middleware_outside() -> None:
    """Refusals are encoded once and replayed; an outer middleware that appends to the
    headers it is sent, in place (a common way to add a request id), must change this
    answer only, not every later one."""
    seen = 0

    async def request_id(scope: Any, receive: Any, send: Any) -> None:
        nonlocal seen
        seen += 1
        number = seen

        async def tagged(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"].append((b"x-request-id", str(number).encode()))
            await send(message)

        await guarded(scope, receive, tagged)

    guarded = aa.AuthMiddleware(Recorder(), aa.AuthPolicy([], default=aa.HTTPBearer(verifier=aa.EXTRACT_ONLY)))
    async with client_for(request_id) as client:
        answers = [await client.get("/") for _ in range(3)]
    assert [r.status_code for r in answers] == [401] * 3
    assert [r.headers.get_list("x-request-id") for r in answers] == [["1"], ["2"], ["3"]]
    assert all(r.headers.get_list("www-authenticate") == ["Bearer"] for r in answers)


def test_with_headers_copies_a_subclass_without_calling_it_again() -> None:
    """attack: `with_headers` called `type(self)(detail, status_code=, headers=)`, a
    signature a verifier's own subclass need not have (a 500 instead of its refusal)."""

    class Suspended(aa.AuthError):
        status_code = 403

        def __init__(self, tenant: str) -> None:
            super().__init__(f"tenant {tenant} is suspended")
            self.tenant = tenant

    error = Suspended("acme")
    copied = error.with_headers([("WWW-Authenticate", "Bearer")])
    assert type(copied) is Suspended and copied is not error
    assert (copied.status_code, copied.detail, copied.tenant, copied.args) == (403, error.detail, "acme", error.args)
    assert copied.challenges == ["Bearer"] and error.headers == []
    plain = aa.InvalidCredentials("nope", status_code=401).with_headers([("WWW-Authenticate", "Basic")])
    assert (type(plain), plain.detail, plain.challenges) == (aa.InvalidCredentials, "nope", ["Basic"])
