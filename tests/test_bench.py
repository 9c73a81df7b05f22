"""The benchmark's contestants do what their names say (no timings asserted here)."""

from __future__ import annotations

from typing import Any

import pytest

import asgi_auth as aa
from bench import apps
from bench.__main__ import bearer, measure, scope_for, summarise, variants
from tests.conftest import Recorder, call_asgi

pytestmark = pytest.mark.anyio


async def test_every_variant_answers_as_expected() -> None:
    vs = variants([10, 1_000])
    await measure(vs, rounds=1, per_round=3, warmup=3)  # exits on an unexpected status
    rows = summarise(vs)
    assert len(rows) == len(vs) and all(r["median_us"] > 0 for r in rows)
    by = {r["name"]: r for r in rows}
    # Each alternative is set against asgi_auth doing the same check in the same framework.
    security, ours = by["FastAPI Security()"], by["FastAPI + asgi_auth"]
    assert security["overhead_vs_asgi_auth"] == round(security["overhead_us"] / ours["overhead_us"], 2)


@pytest.mark.parametrize("cache", [True, False])
async def test_inlined_checks_decide_as_asgi_auth_does(cache: bool) -> None:
    """The reference prices asgi_auth's checks only if it makes the same decision."""
    seen: list[dict[str, Any]] = []
    for app in (apps.InlinedChecks(Recorder(), cache=cache), apps.asgi_auth_app(Recorder(), apps.bearer(cache=cache))):
        for _ in range(3):  # a first request and repeated ones
            await call_asgi(app, scope_for("/users/me/", bearer()))
        inner = app.app
        assert isinstance(inner, Recorder)
        scope = inner.scopes[-1]
        auth: aa.AuthContext = scope["state"]["auth"]
        seen.append(
            {
                "context": (auth.authenticated, auth.scheme, auth.credentials, auth.scopes, auth.rule),
                "required": auth.security_scopes.scopes,
                "principal": (auth.principal.subject, dict(auth.claims), dict(auth.principals).keys()),
                "starlette": (scope["auth"].scopes, scope["user"].display_name),
                "reused": inner.scopes[1]["state"]["auth"] is auth,
            }
        )
    assert seen[0] == seen[1]
    assert seen[0]["reused"] is cache  # a context is reused only for a cached principal
