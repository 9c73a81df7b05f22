"""Decisions as OpenTelemetry spans and metrics, printed to the console.

Run it:  uvicorn --factory examples.otel_console:main
Try:     curl -H 'Authorization: Bearer alice-token' http://127.0.0.1:8000/me
         (the span, with `enduser.id`, prints at once; metrics every 10 s)

Needs `pip install 'asgi_auth[otel]' opentelemetry-sdk opentelemetry-instrumentation-asgi`.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from fastapi import Depends, FastAPI
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import asgi_auth as aa
import asgi_auth.otel

TOKENS = {"alice-token": aa.Principal("alice", ["me"])}


# --8<-- [start:otel]
def create_app(out: IO[str] = sys.stdout) -> tuple[Any, TracerProvider, MeterProvider]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
    reader = PeriodicExportingMetricReader(ConsoleMetricExporter(out=out), export_interval_millis=10_000)
    meter_provider = MeterProvider(metric_readers=[reader])

    bearer = aa.HTTPBearer(verifier=aa.inline(TOKENS.get))
    policy = aa.AuthPolicy([aa.Rule("/me", require=bearer)], default=bearer)
    asgi_auth.otel.instrument(policy, meter_provider=meter_provider)  # before the first request

    api = FastAPI()

    @api.get("/me")
    def me(auth: aa.AuthContext = Depends(aa.get_auth)) -> dict[str, str]:
        return {"user": auth.principal.subject}

    api.add_middleware(aa.AuthMiddleware, policy=policy)
    # The server span comes from OTel's ASGI middleware, outside the guard: the
    # decision's attributes land on it.
    return OpenTelemetryMiddleware(api, tracer_provider=tracer_provider), tracer_provider, meter_provider


# --8<-- [end:otel]


def main() -> Any:
    """The app alone, for `uvicorn --factory`."""
    return create_app()[0]
