"""Schemathesis against the examples' patched documents: every check, `ignored_auth` included.

Each example app runs in-process behind its middleware; its document is the one
`patch_openapi` writes from the same policy (Starlette examples have no generator of
their own, so their routes are written down here and patched the same way).
Schemathesis sends what the document allows — with the credentials it declares, and
then without them or with wrong ones (`ignored_auth`) — and every response must be
what the document says, a refusal where it says credentials are needed. Examples are
kept few per operation so the whole file costs seconds.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import anyio
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

import asgi_auth as aa
from examples import api_keys, digest, http_basic, oauth2_scopes, optional_auth, several_schemes
from tests.conftest import client_for
from tests.loopback import free_port, serve

MAX_EXAMPLES = 8


def documented(app: Any, policy: aa.AuthPolicy, spec: dict[str, Any] | None = None) -> Any:
    """The Schemathesis schema of `app`'s document as `policy` patches it."""
    document = copy.deepcopy(spec if spec is not None else app.openapi())
    schema = schemathesis.openapi.from_dict(aa.patch_openapi(document, policy, app=app, responses=True))
    schema.app = app
    return schema


def static(paths: dict[str, Any]) -> dict[str, Any]:
    ok = {"200": {"description": "OK"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "example", "version": "1"},
        "paths": {path: {method: {"responses": ok} for method in methods} for path, methods in paths.items()},
    }


def demo_token(scope: str) -> str:
    async def fetch() -> str:
        async with client_for(oauth2_scopes.app) as client:
            r = await client.post("/token", data={"username": "johndoe", "password": "secret", "scope": scope})
        return str(r.json()["access_token"])

    return anyio.run(fetch)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def checked(name: str, schema: Any, headers: dict[str, str] | None) -> Any:
    """A test of every operation of `schema`, sending `headers` as the caller's credentials."""

    @schema.parametrize()
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def test(case: Any) -> None:
        case.call_and_validate(headers=headers)

    test.__name__ = f"test_{name}"
    return test


test_oauth2_scopes = checked(
    "oauth2_scopes",
    documented(oauth2_scopes.app, oauth2_scopes.policy),
    {"Authorization": "Bearer " + demo_token("me items")},
)
test_http_basic = checked(
    "http_basic", documented(http_basic.app, http_basic.policy), {"Authorization": basic("alice", "wonderland")}
)
test_optional_auth = checked(
    "optional_auth", documented(optional_auth.app, optional_auth.policy), {"Authorization": "Bearer t-alice"}
)
test_several_schemes = checked(
    "several_schemes",
    documented(several_schemes.app, several_schemes.policy),
    {"Authorization": "Bearer t-admin", "X-Device-Key": "device-42"},
)
test_api_keys = checked(
    "api_keys",
    documented(api_keys.app, api_keys.policy, static({"/reports": ["get", "post"]})),
    {"X-API-Key": "key-admin"},
)
# Digest needs a fresh nonce per request, so no fixed header can stand for a caller:
# every request goes without credentials, and ignored_auth sees each one refused.
test_digest = checked("digest", documented(digest.app, digest.policy, static({"/": ["get"]})), None)


def test_jwks_bearer_with_its_key_set_served_on_loopback() -> None:
    """The JWKS example verifies against a key set fetched over HTTP: the app is served on
    loopback so its verifier can fetch it, and checked in-process like the others."""
    from examples import jwks_bearer

    port = free_port()
    app = jwks_bearer.create_app(f"http://127.0.0.1:{port}/.well-known/jwks.json")
    policy = next(m.kwargs["policy"] for m in app.user_middleware)
    paths = {"/.well-known/jwks.json": ["get"], "/token": ["get"], "/read": ["get"], "/write": ["post"]}
    schema = documented(app, policy, static(paths))
    with serve(app, port) as url:
        token = httpx.get(f"{url}/token", params={"scope": "read write"}).json()["access_token"]
        tried = 0
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy())
            @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def run(case: Any) -> None:
                case.call_and_validate(headers={"Authorization": f"Bearer {token}"})

            run()
            tried += 1
    assert tried == len(paths)


def test_the_checks_do_catch_a_document_that_claims_more_than_is_enforced() -> None:
    """The same machinery on a route documented as needing a token and served without
    one (the policy that wrote the document is not the one enforced): ignored_auth fails."""
    from fastapi import FastAPI
    from schemathesis.core.failures import FailureGroup

    bearer = aa.HTTPBearer(verifier=aa.inline(lambda token: aa.Principal("u") if token == "ok" else None))
    app = FastAPI()

    @app.get("/claimed")
    def claimed() -> dict[str, str]:
        return {"ok": "served"}

    app.add_middleware(aa.AuthMiddleware, policy=aa.AuthPolicy([], default=[]))
    schema = documented(app, aa.AuthPolicy([], default=bearer))
    failures: list[str] = []

    @given(case=schema["/claimed"]["GET"].as_strategy())
    @settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def probe(case: Any) -> None:
        try:
            case.call_and_validate(headers={"Authorization": "Bearer ok"})
        except FailureGroup as group:
            failures.extend(type(e).__name__ for e in group.exceptions)
            raise

    with pytest.raises(FailureGroup):
        probe()
    assert "IgnoredAuth" in failures
