from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import asgi_auth as aa
from tests.conftest import call_asgi, http_scope
from tests.loopback import serve

pytestmark = pytest.mark.anyio

FORM = [(b"content-type", b"application/x-www-form-urlencoded")]


async def parse(body: bytes, headers: list[tuple[bytes, bytes]] = FORM, strict: bool = False) -> Any:
    cls = aa.OAuth2PasswordRequestFormStrict if strict else aa.OAuth2PasswordRequestForm
    chunks = [body[:5], body[5:]]
    messages = [{"type": "http.request", "body": c, "more_body": i == 0} for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return await cls.from_asgi(http_scope("/token", "POST", headers), receive)


async def test_fields_like_fastapi() -> None:
    form = await parse(b"grant_type=password&username=johndoe&password=s%26cret&scope=me+items&client_id=c")
    assert (form.username, form.password, form.scopes, form.client_id, form.client_secret) == (
        "johndoe",
        "s&cret",
        ["me", "items"],
        "c",
        None,
    )
    assert "s&cret" not in repr(form)
    loose = await parse(b"username=u&password=p")
    assert (loose.grant_type, loose.scopes) == (None, [])


@pytest.mark.parametrize(
    ("body", "strict", "error"),
    [
        (b"username=u&password=p", True, "invalid_request"),
        (b"grant_type=client_credentials&username=u&password=p", False, "unsupported_grant_type"),
        (b"grant_type=password&password=p", False, "invalid_request"),
        (b"username=u&username=v&password=p", False, "invalid_request"),
        (b"username=\xff&password=p", False, "invalid_request"),
        (b"username=u&password=" + b"x" * 70000, False, "invalid_request"),
    ],
)
async def test_rfc6749_errors(body: bytes, strict: bool, error: str) -> None:
    with pytest.raises(aa.OAuth2FormError) as caught:
        await parse(body, strict=strict)
    assert caught.value.error == error
    sent = await call_asgi(caught.value, http_scope())
    assert sent[0]["status"] == 400
    assert (b"cache-control", b"no-store") in sent[0]["headers"]
    assert b'"error": "' + error.encode() + b'"' in sent[1]["body"]


async def test_wrong_content_type() -> None:
    with pytest.raises(aa.OAuth2FormError, match="x-www-form-urlencoded"):
        await parse(b'{"username": "u"}', headers=[(b"content-type", b"application/json")])


def test_from_body_for_frameworks_that_read_the_body_themselves() -> None:
    form = aa.OAuth2PasswordRequestForm.from_body(
        "application/x-www-form-urlencoded; charset=utf-8", b"username=u&password=p"
    )
    assert (form.username, form.password) == ("u", "p")
    for content_type, body, error in [
        ("application/json", b"{}", "x-www-form-urlencoded"),
        (None, b"username=u&password=p", "x-www-form-urlencoded"),
        ("application/x-www-form-urlencoded", b"username=u&password=" + b"x" * 70000, "too large"),
        ("application/x-www-form-urlencoded", b"username=u&username=v&password=p", "repeated"),
    ]:
        with pytest.raises(aa.OAuth2FormError, match=error):
            aa.OAuth2PasswordRequestForm.from_body(content_type, body)


def test_the_error_is_a_starlette_http_exception_carrying_the_rfc_answer() -> None:
    from starlette.exceptions import HTTPException

    error = aa.OAuth2FormError("invalid_request", "username is required")
    assert isinstance(error, HTTPException) and error.status_code == 400
    assert error.detail == '{"error": "invalid_request", "error_description": "username is required"}'
    assert error.headers == {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}
    assert str(error) == "username is required"


def test_openapi_fragment_follows_the_form_class() -> None:
    loose = aa.OAuth2PasswordRequestForm.openapi()
    strict = aa.OAuth2PasswordRequestFormStrict.openapi(detail_errors=True)
    body = "application/x-www-form-urlencoded"
    assert loose["requestBody"]["content"][body]["schema"]["required"] == ["username", "password"]
    assert strict["requestBody"]["content"][body]["schema"]["required"] == ["grant_type", "username", "password"]
    error = strict["responses"]["400"]["content"]["application/json"]["schema"]
    assert len(error["anyOf"]) == 2 and error["anyOf"][1]["required"] == ["detail"]
    loose["responses"]["400"]["content"]["application/json"]["schema"]["properties"].clear()
    assert aa.OAuth2PasswordRequestForm.openapi() != loose  # each call is a fresh copy


# -- the other frameworks, as docs/policy.md shows them (examples/token_forms.py) ------

BAD = [
    ({"data": {"username": "u"}}, "invalid_request"),
    ({"json": {"username": "u", "password": "p"}}, "invalid_request"),
    ({"data": {"username": "u", "password": "p", "grant_type": "x"}}, "unsupported_grant_type"),
]


def assert_rfc6749(r: httpx.Response, error: str) -> None:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    assert r.json()["error"] == error and set(r.json()) == {"error", "error_description"}


@pytest.mark.parametrize("name", ["litestar_app", "quart_app"])
def test_litestar_and_quart_token_endpoints_over_a_real_server(name: str) -> None:
    from examples import token_forms

    with serve(getattr(token_forms, name)) as base, httpx.Client(base_url=base) as client:
        ok = client.post("/token", data={"username": "u", "password": "p", "scope": "a b"})
        assert ok.json()["access_token"] == "token-for-u" and ok.json()["scope"] == "a b"
        for kwargs, error in BAD:
            assert_rfc6749(client.post("/token", **kwargs), error)


def test_django_token_view() -> None:
    from django.test import RequestFactory

    import examples.django_app  # noqa: F401 -- configures Django's settings
    from examples.token_forms import django_token

    factory = RequestFactory()
    form = "application/x-www-form-urlencoded"
    ok = django_token(factory.post("/token", "username=u&password=p", content_type=form))
    assert json.loads(ok.content)["access_token"] == "token-for-u"
    bad = django_token(factory.post("/token", "username=u", content_type=form))
    assert bad.status_code == 400 and bad["Cache-Control"] == "no-store"
    assert json.loads(bad.content)["error"] == "invalid_request"
    wrong = django_token(factory.post("/token", b"{}", content_type="application/json"))
    assert json.loads(wrong.content)["error_description"].endswith("x-www-form-urlencoded")
