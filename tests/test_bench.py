"""The benchmark's contestants do what their names say (no timings asserted here)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

import asgi_auth as aa
import bench.__main__ as harness
from bench import apps, instructions, load
from bench.__main__ import bearer, measure, requests, scope_for, summarise, variants, with_references
from tests.conftest import Recorder, call_asgi

pytestmark = pytest.mark.anyio


async def test_every_variant_answers_as_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "WARM_PASS", 50)  # the rotating rows' pass over their tokens
    vs = variants([10, 1_000])
    await measure(vs, rounds=1, per_round=3, warmup=3)  # exits on an unexpected status
    rows = summarise(vs)
    assert len(rows) == len(vs) and all(r["median_us"] > 0 for r in rows)
    by = {r["name"]: r for r in rows}
    # Each alternative is set against asgi_auth doing the same work in the same framework:
    # decoding against decoding, a cache against a cache.
    for theirs, ours in (
        ("FastAPI Security()", "FastAPI + asgi_auth cache off"),
        ("Litestar JWTAuth", "Litestar + asgi_auth cache off"),
        ("Starlette AuthenticationMiddleware + LRU cache", "Starlette + asgi_auth cache on"),
        ("FastAPI Security() + LRU cache", "FastAPI + asgi_auth cache on"),
    ):
        assert by[theirs]["against"] == ours and by[theirs]["floor"] == by[ours]["floor"]
        assert by[theirs]["overhead_vs_asgi_auth"] == round(by[theirs]["overhead_us"] / by[ours]["overhead_us"], 2)
    assert by["asgi_auth HS256 cache off"]["minimal"] == "minimal middleware, decoding"
    assert by["asgi_auth HS256 cache on"]["minimal"] == "minimal middleware, cache keyed by digest"


async def test_decoding_peers_decode_every_request_and_caching_peers_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """The headline compares decoders with decoders: count PyJWT's decodes per app."""
    decoded: list[str] = []
    original = apps.jwt.PyJWT.decode

    def counting(self: Any, token: Any, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return original(self, token, *args, **kwargs)

    monkeypatch.setattr(apps.jwt.PyJWT, "decode", counting)
    monkeypatch.setattr(
        apps.jwt, "decode", lambda token, *a, **k: counting(apps.jwt.api_jwt._jwt_global_obj, token, *a, **k)
    )
    names = [
        "minimal middleware, decoding",
        "FastAPI Security()",
        "Starlette AuthenticationMiddleware",
        "minimal middleware, cache keyed by digest",
        "minimal middleware, cache keyed by token",
        "FastAPI Security() + LRU cache",
        "Starlette AuthenticationMiddleware + LRU cache",
        "PyJWT decode alone, key prepared once",
        "PyJWT jwt.decode(token, secret)",
    ]
    for variant in variants(only=set(names)):
        decoded.clear()
        template, receive, send, check = harness.exchange(variant)
        for path, raw_path, headers in requests(variant, 4):
            await variant.app({**template, "path": path, "raw_path": raw_path, "headers": headers}, receive, send)
        check()
        assert len(decoded) == (1 if "cache" in variant.name else 4), variant.name


def test_every_request_gets_new_header_bytes() -> None:
    """Fresh bytes per request, as a server makes them: a hash computed for one request
    is not there for the next."""
    (variant,) = variants(only={"asgi_auth HS256 cache on"}, build=False)
    first, second = requests(variant, 2)
    assert first[2] == second[2]
    assert all(a[1] is not b[1] for a, b in zip(first[2], second[2], strict=True))


def test_rotating_rows_send_each_token_once_then_draw_uniformly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "WARM_PASS", 100)
    (variant,) = variants(only={"asgi_auth cache on, 1,000 tokens"}, build=False)
    sent = [dict(headers)[b"authorization"] for _, _, headers in requests(variant, 600)]
    assert sent[:100] == [f"Bearer {apps.rotating_token(i)}".encode() for i in range(100)]
    drawn = {apps.rotating_token(i).encode() for i in range(1_000)}
    assert {value[7:] for value in sent[100:]} <= drawn
    assert len(set(sent[100:])) > 350  # 500 uniform draws from 1,000: about 390 distinct
    assert jwt.decode(apps.rotating_token(999), apps.SECRET, algorithms=["HS256"])["sub"] == "user000999"


def test_distinct_path_rows_never_repeat_a_path() -> None:
    for name in ("asgi_auth 1,000 rules, distinct paths", "asgi_auth 1,000 mixed templates, distinct paths"):
        (variant,) = variants(only={name}, build=False)
        paths = [path for path, _, _ in requests(variant, 500)]
        assert len(set(paths)) == 500
        assert len({path.rsplit(".v", 1)[-1] if "mixed" in name else path.split("/")[1] for path in paths}) > 100


def test_with_references_adds_what_a_row_is_set_against() -> None:
    assert with_references(["FastAPI Security() + LRU cache"]) == {
        "FastAPI Security() + LRU cache",
        "FastAPI plain",
        "FastAPI + asgi_auth cache on",
        "minimal middleware, cache keyed by digest",
        "asgi_auth HS256 cache on",  # what the minimal middleware is set against
        "raw ASGI app",
    }
    with pytest.raises(SystemExit, match="no variant named nope"):
        with_references(["nope"])


def test_the_hand_written_lru_is_bounded_and_drops_expired_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    lru = apps.TokenLRU(size=2)
    lru.put("a", {"exp": 100})
    lru.put("b", {"exp": 100})
    monkeypatch.setattr(apps.time, "time", lambda: 50.0)
    assert lru.get("a") == {"exp": 100}  # a is now the most recent
    lru.put("c", {"exp": 100})
    assert lru.get("b") is None and lru.get("a") is not None
    monkeypatch.setattr(apps.time, "time", lambda: 100.0)
    assert lru.get("a") is None and "a" not in lru.entries


def test_the_prepared_decoder_refuses_what_pyjwt_refuses() -> None:
    decoder, key = apps.prepared_decoder({"require": ["exp"]})
    token = apps.TOKENS["HS256"]
    assert decoder.decode(token, key, algorithms=["HS256"]) == jwt.decode(token, apps.SECRET, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):
        decoder.decode(token[:-2] + "AA", key, algorithms=["HS256"])
    with pytest.raises(jwt.InvalidSignatureError):  # another key gets PyJWT's own preparation
        decoder.decode(token, b"another-secret-" + b"x" * 32, algorithms=["HS256"])
    with pytest.raises(jwt.MissingRequiredClaimError):
        decoder.decode(jwt.encode({"sub": "x"}, apps.SECRET, algorithm="HS256"), key, algorithms=["HS256"])


WRK_REPORT = """Running 2s test @ http://127.0.0.1:36701/
  2 threads and 16 connections
  Latency Distribution
     50%  812.00us
     75%   35.99ms
     90%   49.99ms
     99%    1.20s
  1439 requests in 2.04s, 206.70KB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:    704.62
"""


def test_load_reads_wrks_report() -> None:
    assert load.read(WRK_REPORT) == {
        "rps": 704.62,
        "requests": 1439,
        "p50_ms": 0.812,
        "p99_ms": 1200.0,
        "errors": 3,
        "non_2xx": 5,
    }


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
    vs = variants([10, 1_000], only={"asgi_auth 1,000 rules, one path", "Litestar JWTAuth"})
    assert [v.name for v in vs] == ["Litestar JWTAuth", "asgi_auth 1,000 rules, one path"]
    assert vs[0].floor == "Litestar plain"


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


def test_distinct_path_rows_first_reach_every_rule_once() -> None:
    """A rule remembers its own decisions, so the measured requests of a distinct-paths
    row must meet rules its token was already decided for: else at 10,000 rules they
    count each rule's first decision, not the router."""
    for name in ("asgi_auth 1,000 rules, distinct paths", "asgi_auth 1,000 mixed templates, distinct paths"):
        (variant,) = variants(only={name})
        assert variant.warmup_pass >= 1_000
        router = variant.app.policy.router
        reached = {router.match(path, "GET").rule for path, _, _ in requests(variant, variant.warmup_pass)}
        assert reached >= {rule.path for rule in variant.app.policy.rules if "{" in rule.path}


async def test_every_feature_row_answers_as_expected() -> None:
    """`bench.features`' rows, against its real peers (authlib's introspection endpoint,
    a `redis-server`), each answer the status it should: a DPoP proof, a Digest count or
    a never-seen token made per request is accepted, and the Redis rows are there."""
    from bench import features
    from tests.stores.servers import redis_server

    with features.introspection_peer() as peer, redis_server() as redis:
        rows = await features.build(None, peer.introspection_url, redis.url)
        try:
            await measure(
                rows.chosen, rounds=1, per_round=3, warmup=3, pause=features.PAUSE
            )  # exits on an unexpected status
        finally:
            for close in rows.closers:
                await close()
    names = {v.name for v in rows.chosen}
    assert {
        "DPoP ES256 proof, dpop=required",
        "introspection, answer kept",
        "16 issuers RS256, first sight",
        "Digest, Redis nonce store",
        "JWT HS256 remembered, Redis revocations",
    } <= names
    assert set(features.BASELINES.values()) <= names
    out = summarise(rows.chosen)
    features.ratios(out)
    by = {r["name"]: r for r in out}
    for r in out:
        base = features.BASELINES.get(r["group"])
        if base is not None:
            assert r["baseline"] == base and r["x_baseline"] == round(r["median_us"] / by[base]["median_us"], 2)
            assert r["against"] == (None if r["name"] == base else base)


async def test_feature_rows_fail_on_a_wrong_answer() -> None:
    """A DPoP-bound token sent without its proof is refused, and the harness stops
    rather than time a refusal."""
    from bench import features

    rows = await features.build({"DPoP ES256 proof, dpop=required"}, None, None)
    (dpop,) = [v for v in rows.chosen if v.name.startswith("DPoP")]
    own = dpop.own_headers
    assert own is not None
    dpop.own_headers = lambda i: [(k, v) for k, v in own(i) if k != b"dpop"]
    with pytest.raises(SystemExit, match="expected 200, got 400"):  # RFC 9449 §7.1: invalid_request
        await measure([dpop], rounds=1, per_round=2, warmup=1)


async def test_feature_rows_only_keeps_the_named_rows_baselines() -> None:
    from bench import features

    rows = await features.build({"Digest, memory nonce store"}, None, None)
    assert [v.name for v in rows.chosen] == ["raw ASGI app", "Digest, no nonce state", "Digest, memory nonce store"]
    with pytest.raises(SystemExit, match="no row named nothing"):
        await features.build({"nothing"}, None, None)


async def test_the_like_for_like_minimal_cache_keeps_digests_not_tokens() -> None:
    """The cached rows' reference keeps what asgi_auth's cache keeps: 64-byte digests of
    the header, never the token (the token-keyed row is the other one)."""
    (variant,) = variants(only={"minimal middleware, cache keyed by digest"})
    template, receive, send, check = harness.exchange(variant)
    for path, raw_path, headers in requests(variant, 3):
        await variant.app({**template, "path": path, "raw_path": raw_path, "headers": headers}, receive, send)
    check()
    keys = list(variant.app.cache.entries)
    assert len(keys) == 1 and isinstance(keys[0], bytes) and len(keys[0]) == 64
    token = dict(headers)[b"authorization"]
    assert keys[0] == hashlib.blake2b(token).digest()


def test_load_reads_a_processs_cpu_time_as_the_kernel_counts_it() -> None:
    """/proc's ticks for this process agree with what `os.times` reports for it."""
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn some CPU, so both are well above a tick
        pass
    times = os.times()
    assert load.cpu_seconds(os.getpid()) == pytest.approx(times.user + times.system, abs=0.05)


def test_load_pairs_each_rounds_runs() -> None:
    """Each ratio is on over off within one round, whichever order the round ran them in."""
    rows = [
        {"cache": True, "rps": 110.0, "p99_ms": 9.0, "cpu_us": 90.0},
        {"cache": False, "rps": 100.0, "p99_ms": 10.0, "cpu_us": 100.0},
        {"cache": False, "rps": 200.0, "p99_ms": 5.0, "cpu_us": 50.0},
        {"cache": True, "rps": 180.0, "p99_ms": 6.0, "cpu_us": 60.0},
    ]
    assert load.paired(rows) == (
        "Cache on / off within each round (2 rounds), median (lowest to highest):"
        " requests/s 1.000 (0.900 to 1.100); p99 1.050 (0.900 to 1.200);"
        " server CPU per request 1.050 (0.900 to 1.200)."
    )
