from __future__ import annotations

import pytest
from starlette.authentication import UnauthenticatedUser

import asgi_auth as aa
from asgi_auth.context import AuthenticatedUser, granted_scopes


def test_repr_never_shows_credentials_or_claims() -> None:
    principal = aa.Principal("alice", ["me"], claims={"email": "a@example.com"})
    context = aa.AuthContext(
        authenticated=True,
        scheme="HTTPBearer",
        principal=principal,
        credentials=aa.HTTPAuthorizationCredentials(scheme="Bearer", credentials="tok-SECRET"),
        scopes=frozenset({"me"}),
    )
    text = repr(context) + repr(context.credentials) + repr(aa.HTTPBasicCredentials(username="u", password="pw-SECRET"))
    assert "SECRET" not in text
    assert "a@example.com" not in text
    assert "alice" in text


def test_starlette_shapes() -> None:
    anonymous = aa.AuthContext()
    assert isinstance(anonymous.user, UnauthenticatedUser)
    assert anonymous.auth_credentials.scopes == []
    principal = aa.Principal("bob", ["b", "a"], name="Bob")
    context = aa.AuthContext(authenticated=True, principal=principal, scopes=principal.scopes)
    assert context.user is principal
    assert (principal.display_name, principal.identity, principal.is_authenticated) == ("Bob", "bob", True)
    assert context.auth_credentials.scopes == ["authenticated", "a", "b"]  # Starlette's convention
    wrapped = aa.AuthContext(authenticated=True, principal={"not": "a user"}).user
    assert isinstance(wrapped, AuthenticatedUser)
    assert wrapped.is_authenticated


def test_granted_scopes() -> None:
    assert granted_scopes(None) == frozenset()
    assert granted_scopes(aa.Principal("x", ["a"])) == {"a"}
    assert granted_scopes(type("P", (), {"scopes": "a b"})()) == {"a", "b"}


def test_context_is_read_only_and_whole_from_the_start() -> None:
    principal = aa.Principal("alice", ["read"])
    source = {"bearer": principal}
    context = aa.AuthContext(True, "bearer", principal, "token", principal.scopes, principals=source)
    assert type(context) is aa.AuthContext and isinstance(context, aa.AuthContext)
    assert context.user is principal and context.auth_credentials.scopes == ["authenticated", "read"]
    assert context.security_scopes == aa.SecurityScopes() and context.claims == {}
    source["other"] = principal  # the caller's dict was copied
    assert dict(context.principals) == {"bearer": principal}
    for name in ("scopes", "user", "anything"):
        with pytest.raises(AttributeError, match="read-only"):
            setattr(context, name, None)
    with pytest.raises(AttributeError, match="read-only"):
        del context.principal
    with pytest.raises(TypeError):
        context.principals["other"] = principal  # type: ignore[index]
    anonymous = aa.AuthContext()
    assert anonymous.authenticated is False and not anonymous.user.is_authenticated
    assert anonymous.scopes == frozenset() and anonymous.principals == {}
