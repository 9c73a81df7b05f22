"""pytest fixtures for apps guarded by asgi_auth.

Enable them in your `conftest.py` with `pytest_plugins = ["asgi_auth.testing.pytest_plugin"]`.
They are not registered as an entry point on purpose: overriding verification is
something a test suite asks for, never something installing the package turns on.

- `auth_as(policy, "alice", scopes={"me"})`: requests pass as alice until the test ends
  (sets `ASGI_AUTH_TESTING=1` for that test alone).
- `token_factory`: a fresh RS256 key and its tokens (`token_factory.mint(sub=..., scopes=...)`).
- `key_server`: that key's JWKS and discovery document on a loopback server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from . import ENABLE_VARIABLE, KeyServer, TokenFactory, authenticated_as, serve_keys

__all__ = ["auth_as", "key_server", "token_factory"]


@pytest.fixture
def auth_as(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """`auth_as(policy, subject, scopes=..., claims=..., scheme=...)`: `authenticated_as`
    for the rest of the test, undone at its end; returns the principal."""
    monkeypatch.setenv(ENABLE_VARIABLE, "1")
    with ExitStack() as stack:

        def override(policy: Any, subject: Any, **options: Any) -> Any:
            return stack.enter_context(authenticated_as(policy, subject, **options))

        yield override


@pytest.fixture
def token_factory() -> TokenFactory:
    """An RS256 key made for this test, issuer and audience unset (a `key_server` sets the issuer)."""
    return TokenFactory(audience="api")


@pytest.fixture
def key_server(token_factory: TokenFactory) -> Iterator[KeyServer]:
    """`token_factory`'s JWKS and discovery document, served on 127.0.0.1 for this test."""
    with serve_keys(token_factory) as server:
        yield server
