"""Header text in one module (asgi_auth/_headers.py): each piece is written once."""

from __future__ import annotations

import pytest
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException

import asgi_auth as aa
from asgi_auth import _headers, errors
from asgi_auth.dependencies import check_granted
from asgi_auth.schemes import digest
from tests.schemes.peer import FASTAPI_STRIPS


def test_each_helper_has_one_home() -> None:
    assert errors.quote is _headers.quote
    assert digest.parse_auth_params is _headers.parse_auth_params  # type: ignore[attr-defined]
    assert "parse_auth_params" not in digest.__all__


@pytest.mark.parametrize(
    "value", [None, "", "Bearer", "Bearer abc", "bearer  abc ", "Basic dTpw", "Bearer a b", " Bearer abc", "x\tb"]
)
def test_split_authorization_is_fastapis(value: str | None) -> None:
    scheme, param = get_authorization_scheme_param(value)
    expected = (scheme, param if FASTAPI_STRIPS else param.strip())  # as FastAPI after 0.123 reads it
    assert _headers.split_authorization(value) == expected


def test_the_rfc_6750_challenges_are_the_same_from_the_middleware_and_the_dependency() -> None:
    scheme = aa.HTTPBearer(verifier=aa.EXTRACT_ONLY)
    assert scheme.invalid_challenge() == _headers.BEARER_INVALID_TOKEN == 'Bearer error="invalid_token"'
    expected = 'Bearer error="insufficient_scope", scope="a \\"b\\""'
    assert scheme.insufficient_challenges(("a", '"b"')) == [_headers.insufficient_scope(["a", '"b"'])] == [expected]
    context = aa.AuthContext(True, "HTTPBearer", aa.Principal("u", ["a"]), "t", frozenset({"a"}))
    with pytest.raises(HTTPException) as raised:
        check_granted(context, ["a", '"b"'])
    assert raised.value.status_code == 403 and raised.value.headers == {"WWW-Authenticate": expected}


def test_auth_params_are_capped() -> None:
    assert _headers.parse_auth_params("a=" + "x" * _headers.MAX_PARAMS_LENGTH) is None
    many = ", ".join(f"k{i}=v" for i in range(_headers.MAX_PARAMS + 1))
    assert _headers.parse_auth_params(many) is None
    assert _headers.parse_auth_params('a=b, c="d\\"e"') == {"a": "b", "c": 'd"e'}
