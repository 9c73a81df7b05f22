"""OpenTelemetry: decisions as metrics and span attributes, read back from the SDK's
in-memory exporters, for a FastAPI app served by uvicorn under OTel's ASGI middleware."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import asgi_auth as aa
import asgi_auth.otel
from tests.loopback import serve

SECRET = "otel-test-secret-" + "s" * 32


def token(scope: str = "me") -> str:
    claims = {"sub": "alice", "scope": scope, "exp": int(time.time()) + 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture
def telemetry() -> Any:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield tracer_provider, meter_provider, spans, reader
    tracer_provider.shutdown()
    meter_provider.shutdown()


def instrumented_app(tracer_provider: TracerProvider, meter_provider: MeterProvider, **hook: Any) -> Any:
    bearer = aa.OAuth2PasswordBearer(
        tokenUrl="token", scopes={"me": "", "admin": ""}, verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"])
    )
    policy = aa.AuthPolicy(
        [aa.Rule("/me", require={bearer: ["me"]}), aa.Rule("/admin", require={bearer: ["admin"]})], default=bearer
    )
    asgi_auth.otel.instrument(policy, meter_provider=meter_provider, **hook)
    app = FastAPI()

    @app.get("/me")
    def me() -> dict[str, str]:
        return {"ok": "yes"}

    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return OpenTelemetryMiddleware(app, tracer_provider=tracer_provider, meter_provider=meter_provider)


def server_spans(spans: InMemorySpanExporter) -> list[dict[str, Any]]:
    return [dict(s.attributes or {}) for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]


def our_metrics(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            if scope.scope.name == "asgi_auth":
                for metric in scope.metrics:
                    found[metric.name] = list(metric.data.data_points)
    return found


def test_decisions_counted_timed_and_put_on_the_server_span(telemetry: Any) -> None:
    tracer_provider, meter_provider, spans, reader = telemetry
    with serve(instrumented_app(tracer_provider, meter_provider)) as base, httpx.Client(base_url=base) as client:
        assert client.get("/me", headers={"Authorization": f"Bearer {token()}"}).status_code == 200
        assert client.get("/me", headers={"Authorization": f"Bearer {token()}"}).status_code == 200
        assert client.get("/me").status_code == 401
        assert client.get("/admin", headers={"Authorization": f"Bearer {token()}"}).status_code == 403

    allowed, again, missing, forbidden = server_spans(spans)
    assert allowed["enduser.id"] == again["enduser.id"] == "alice"  # the second one a remembered decision
    assert allowed["asgi_auth.rule"] == "/me"
    assert allowed["asgi_auth.scheme"] == "OAuth2PasswordBearer"
    assert allowed["asgi_auth.outcome"] == "allowed"
    assert allowed["http.response.status_code" if "http.response.status_code" in allowed else "http.status_code"] == 200
    assert (missing["asgi_auth.outcome"], missing["asgi_auth.reason"]) == ("401", "missing")
    assert "enduser.id" not in missing
    assert (forbidden["asgi_auth.outcome"], forbidden["asgi_auth.reason"]) == ("403", "insufficient_scope")

    found = our_metrics(reader)
    counts = {
        (p.attributes["asgi_auth.outcome"], p.attributes["asgi_auth.rule"]): p.value
        for p in found["asgi_auth.decisions"]
    }
    assert counts == {("allowed", "/me"): 2, ("401", "/me"): 1, ("403", "/admin"): 1}
    durations = found["asgi_auth.decision.duration"]
    assert sum(p.count for p in durations) == 4
    assert list(durations[0].explicit_bounds) == list(asgi_auth.otel.DURATION_BUCKETS)
    assert all(p.sum >= 0 for p in durations)


def test_record_subject_false_leaves_enduser_id_out(telemetry: Any) -> None:
    tracer_provider, meter_provider, spans, _ = telemetry
    app = instrumented_app(tracer_provider, meter_provider, record_subject=False)
    with serve(app) as base, httpx.Client(base_url=base) as client:
        assert client.get("/me", headers={"Authorization": f"Bearer {token()}"}).status_code == 200
    (span,) = server_spans(spans)
    assert "enduser.id" not in span
    assert span["asgi_auth.outcome"] == "allowed"


def test_no_token_reaches_telemetry(telemetry: Any) -> None:
    tracer_provider, meter_provider, spans, reader = telemetry
    secret = token()
    with serve(instrumented_app(tracer_provider, meter_provider)) as base, httpx.Client(base_url=base) as client:
        client.get("/me", headers={"Authorization": f"Bearer {secret}"})
        client.get("/me", headers={"Authorization": f"Bearer {secret}x"})
    dumped = json.dumps([s.to_json() for s in spans.get_finished_spans()]) + reader.get_metrics_data().to_json()  # type: ignore[union-attr]
    assert secret not in dumped
    assert secret.split(".")[1] not in dumped  # not even the claims


def test_instrument_keeps_the_hooks_already_there() -> None:
    seen: list[Any] = []
    bearer = aa.HTTPBearer(verifier=aa.inline(lambda t: None))
    policy = aa.AuthPolicy([], default=bearer, on_decision=seen.append)
    hook = asgi_auth.otel.instrument(policy, meter_provider=MeterProvider())
    assert policy.on_decision == [seen.append, hook]


def test_without_the_hook_opentelemetry_is_never_imported() -> None:
    """A guarded app serving requests loads no OpenTelemetry module unless asked to."""
    code = """
import asyncio, sys
import asgi_auth as aa
from asgi_auth import events
bearer = aa.HTTPBearer(verifier=aa.inline(lambda t: aa.Principal("a")))
policy = aa.AuthPolicy([], default=bearer, on_decision=events.JSONAuditLog(sys.stderr))
guard = aa.AuthMiddleware(lambda s, r, se: None, policy)
async def receive(): return {"type": "http.request"}
async def send(m): pass
asyncio.run(guard({"type": "http", "method": "GET", "path": "/", "headers": []}, receive, send))
assert not [m for m in sys.modules if m.startswith("opentelemetry")], "opentelemetry was imported"
assert "asgi_auth.testing" not in sys.modules and "asgi_auth.otel" not in sys.modules
assert aa.otel.instrument and "opentelemetry" in sys.modules  # imported when first named
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


def test_without_the_api_installed_the_module_says_what_to_install() -> None:
    code = """
import sys
sys.modules["opentelemetry"] = None  # as if not installed
try:
    import asgi_auth.otel
except ImportError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=60)
    assert "pip install 'asgi_auth[otel]'" in done.stdout


def test_the_console_example_exports_spans_and_metrics() -> None:
    from examples.otel_console import create_app

    out = io.StringIO()
    app, tracer_provider, meter_provider = create_app(out)
    with serve(app) as base, httpx.Client(base_url=base) as client:
        assert client.get("/me", headers={"Authorization": "Bearer alice-token"}).json() == {"user": "alice"}
        assert client.get("/me").status_code == 401
    tracer_provider.force_flush()
    meter_provider.force_flush()
    text = out.getvalue()
    assert '"enduser.id": "alice"' in text
    assert '"name": "asgi_auth.decisions"' in text
    assert "alice-token" not in text
    tracer_provider.shutdown()
    meter_provider.shutdown()
