"""The benchmark's contestants do what their names say (no timings asserted here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import asgi_auth as aa
from bench import apps, instructions
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


def test_variants_builds_only_the_chosen() -> None:
    vs = variants([10, 1_000], only={"asgi_auth 1000 rules", "Litestar JWTAuth"})
    assert [v.name for v in vs] == ["asgi_auth 1000 rules", "Litestar JWTAuth"]
    assert vs[1].floor == "Litestar plain"


@pytest.mark.parametrize("status", [401, 200])
async def test_instruction_child_sends_the_requests_and_checks_the_answer(status: int) -> None:
    """The child process of `bench.instructions`, run here without Valgrind."""
    (variant,) = variants([10], only={"asgi_auth 401 (no token)"})
    calls: list[int] = []
    inner = variant.app

    async def counting(scope: Any, receive: Any, send: Any) -> None:
        calls.append(1)
        await inner(scope, receive, send)

    variant.app, variant.status = counting, status
    if status == 401:
        await instructions._requests(variant, 7)
    else:  # a contestant answering wrongly is not counted
        with pytest.raises(SystemExit, match="expected 200, got 401"):
            await instructions._requests(variant, 7)
    assert len(calls) == instructions.WARMUP + 7


def _dump(path: Path, total: int) -> None:
    path.write_text(
        f"# callgrind format\nversion: 1\npart: 2\n\nevents: Ir\nsummary: {total}\n\nfn=(1) main\n0 {total}\n"
    )


def test_per_request_reads_the_requests_dump(tmp_path: Path) -> None:
    _dump(tmp_path / "callgrind.out.1", 123_456_789)  # start-up
    _dump(tmp_path / "callgrind.out.2", 30_000)  # the requests
    assert instructions.per_request(tmp_path, 1_000) == 30.0
    _dump(tmp_path / "callgrind.out.10", 5)  # getppid() called among the requests
    with pytest.raises(SystemExit, match="expected 2 callgrind dumps, found 3"):
        instructions.per_request(tmp_path, 1_000)
