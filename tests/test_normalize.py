"""`require=` as written, checked at start-up: scopes, schemes, verifiers."""

from __future__ import annotations

import warnings
from typing import Any

import fastapi.security as fs
import pytest

import asgi_auth as aa


def key() -> aa.APIKeyHeader:
    return aa.APIKeyHeader(name="X-Key", verifier=aa.inline(lambda k: aa.Principal(k)))


def test_a_scheme_that_declares_no_scopes_accepts_any_as_fastapi_does() -> None:
    for scheme in (
        aa.OAuth2PasswordBearer(tokenUrl="token", verifier=key().verifier),
        aa.OAuth2AuthorizationCodeBearer(authorizationUrl="a", tokenUrl="t", verifier=key().verifier),
        aa.OAuth2(flows={"password": {"tokenUrl": "t", "scopes": {}}}, verifier=key().verifier),
        aa.OAuth2(verifier=key().verifier),
    ):
        policy = aa.AuthPolicy([aa.Rule("/a", require={scheme: ["a", "b"]})], default=[])
        assert policy.match("/a", "GET").openapi() == [{scheme.scheme_name: ["a", "b"]}]


def test_a_scope_the_scheme_does_not_declare_is_a_typo() -> None:
    scheme = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"read": ""}, verifier=key().verifier)
    with pytest.raises(aa.ConfigurationError, match=r"scope\(s\) raed are not declared .*declared: read"):
        aa.AuthPolicy([aa.Rule("/a", require={scheme: ["raed"]})], default=[])


@pytest.mark.parametrize("scope", ["a\r\nX-Injected: 1", "a\nb", "tab\there", "nul\x00", 'quo"te', "back\\slash", "é"])
def test_a_scope_outside_rfc_6749_is_refused_at_start_up(scope: str) -> None:
    """Scopes end up in the 403 challenge: a CR/LF there would split the header."""
    with pytest.raises(aa.ConfigurationError, match="is not a scope: RFC 6749"):
        aa.AuthPolicy([aa.Rule("/a", require={key(): [scope]})], default=[])


def test_ordinary_scopes_are_fine() -> None:
    policy = aa.AuthPolicy(
        [aa.Rule("/a", require={key(): ["read:users", "https://api.example/x", "a!#$%&'()*+,-./"]})], default=[]
    )
    assert policy.match("/a", "GET").alternatives[0].scopes[0] == "read:users"


def test_scopes_on_an_extract_only_scheme_are_said_to_be_the_apps_job() -> None:
    scheme = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": ""}, verifier=aa.EXTRACT_ONLY)
    with pytest.warns(UserWarning, match=r"rule '/a' requires scope\(s\) me .*EXTRACT_ONLY.*the app must") as caught:
        aa.AuthPolicy([aa.Rule("/a", require={scheme: ["me"]})], default=[])
    assert caught[0].filename == __file__  # points at the policy, not into asgi_auth
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aa.AuthPolicy([aa.Rule("/a", require=scheme)], default=[])  # no scopes: nothing to say


@pytest.mark.parametrize("verifier", ["lookup", 42, {"k": "v"}])
def test_a_verifier_that_cannot_be_called_is_refused_at_construction(verifier: Any) -> None:
    with pytest.raises(aa.ConfigurationError, match=r"APIKeyHeader: verifier=.* is not callable"):
        aa.APIKeyHeader(name="X-Key", verifier=verifier)


def test_a_verifier_object_with_verify_inline_is_a_verifier() -> None:
    aa.OAuth2PasswordBearer(tokenUrl="t", verifier=aa.JWTVerifier(key="k" * 32, algorithms=["HS256"]))


@pytest.mark.parametrize(
    "require",
    [
        lambda s: s,
        lambda s: [s],
        lambda s: {s: ["me"]},
        lambda s: [{}, {s: []}],
    ],
    ids=["scheme", "list", "mapping", "optional"],
)
def test_fastapis_own_class_is_named_with_the_class_to_use(require: Any) -> None:
    theirs = fs.OAuth2PasswordBearer(tokenUrl="token")
    with pytest.raises(
        aa.ConfigurationError, match=r"fastapi\.security\.OAuth2PasswordBearer.*use aa\.OAuth2PasswordBearer"
    ):
        aa.AuthPolicy([aa.Rule("/a", require=require(theirs))], default=[])
    with pytest.raises(aa.ConfigurationError, match=r"use aa\.OAuth2PasswordBearer"):
        aa.AuthPolicy([], default=require(theirs))


def test_fastapis_class_in_schemes_is_named_too() -> None:
    with pytest.raises(aa.ConfigurationError, match=r"use aa\.APIKeyHeader"):
        aa.AuthPolicy([], default=[], schemes=[fs.APIKeyHeader(name="k")])  # type: ignore[list-item]
