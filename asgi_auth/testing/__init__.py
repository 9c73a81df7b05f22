"""Helpers for testing an app guarded by asgi_auth, without a real identity provider.

- `TokenFactory`: a key pair made for the tests and tokens signed with it, shaped as
  the app's `JWTVerifier` expects (issuer, audience, algorithm).
- `serve_keys(factory)`: its JWKS and an OpenID Connect discovery document on a real
  loopback server (the verifiers fetch with httpx, so they fetch for real); or
  `mock_transport(factory)` for an `httpx.MockTransport` instead.
- `authenticated_as(policy, "alice", scopes={"me"})`: every request passes as that
  principal, with no credentials at all, as FastAPI's `dependency_overrides` would;
  the rules' scope checks still apply, so 403 tests keep working.

Overriding verification is a hole if left on, so it is refused unless the environment
says `ASGI_AUTH_TESTING=1` (the pytest plugin, `asgi_auth.testing.pytest_plugin`, sets
it for the test that asks), and every time it is turned on a WARNING is logged.
"""

from __future__ import annotations

from ._keys import KeyServer, TokenFactory, mock_transport, serve_keys
from ._override import ENABLE_VARIABLE, TestingNotEnabled, authenticated_as

__all__ = [
    "ENABLE_VARIABLE",
    "KeyServer",
    "TestingNotEnabled",
    "TokenFactory",
    "authenticated_as",
    "mock_transport",
    "serve_keys",
]
