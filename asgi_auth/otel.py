"""OpenTelemetry for decisions, built on the `on_decision` hook (extra `otel`).

`instrument(policy)` (or `on_decision=OpenTelemetryHook()`) records, per decision:

- a counter `asgi_auth.decisions` by `asgi_auth.outcome`, `asgi_auth.reason`,
  `asgi_auth.scheme` and `asgi_auth.rule` (the rule's template: as many values as rules);
- a histogram `asgi_auth.decision.duration` (seconds) of the *decision* time: matching,
  extraction, verification and authorization together, which is what a request pays
  (a cached token skips verification; the decision time says so, a verification
  histogram would only count the misses);
- the same attributes on the current span (the server span of an instrumented server
  or framework), and `enduser.id` (the semantic conventions' attribute, marked as
  personal data there: `record_subject=False` leaves it out).

Only `opentelemetry-api` is needed at run time; without an SDK configured its calls do
nothing. Nothing in `asgi_auth` imports this module, so without it installed, or
without the hook set, OpenTelemetry costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from opentelemetry import metrics, trace
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError("asgi_auth.otel needs OpenTelemetry's API: pip install 'asgi_auth[otel]'") from exc

from .events import DecisionEvent, OnDecision
from .policy import AuthPolicy

__all__ = ["DURATION_BUCKETS", "OpenTelemetryHook", "instrument"]

#: Decisions take microseconds when cached and up to a key-set fetch when not: buckets
#: from 10 µs to 10 s (the SDK's defaults are for milliseconds).
DURATION_BUCKETS = (1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
ENDUSER_ID = "enduser.id"


class OpenTelemetryHook:
    """A sync `on_decision` hook recording each decision as metrics and span attributes.

    `meter_provider` defaults to the global one (`metrics.set_meter_provider`); the span
    is always the current one, so a server or framework instrumentation outside the
    middleware (`opentelemetry-instrumentation-asgi`) gets the attributes on its span.
    """

    def __init__(self, *, meter_provider: metrics.MeterProvider | None = None, record_subject: bool = True) -> None:
        from . import __version__

        meter = metrics.get_meter("asgi_auth", __version__, meter_provider=meter_provider)
        self.record_subject = record_subject
        self.decisions = meter.create_counter(
            "asgi_auth.decisions", unit="{decision}", description="Authentication decisions, by outcome"
        )
        self.duration = meter.create_histogram(
            "asgi_auth.decision.duration",
            unit="s",
            description="Time the middleware spent deciding a request",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
        )

    def __call__(self, event: DecisionEvent) -> None:
        attributes: dict[str, str] = {"asgi_auth.outcome": event.outcome, "asgi_auth.reason": event.reason}
        if event.scheme is not None:
            attributes["asgi_auth.scheme"] = event.scheme
        if event.rule is not None:
            attributes["asgi_auth.rule"] = event.rule
        self.decisions.add(1, attributes)
        self.duration.record(event.duration, attributes)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(attributes)
            if self.record_subject and event.subject is not None:
                span.set_attribute(ENDUSER_ID, event.subject)


def instrument(policy: AuthPolicy, **options: Any) -> OpenTelemetryHook:
    """Add an `OpenTelemetryHook` to `policy`'s `on_decision` hooks, and return it.

    Call it before the app serves its first request: a middleware reads the policy's
    hooks when it is built.
    """
    hook = OpenTelemetryHook(**options)
    current = policy.on_decision
    if current is None:
        policy.on_decision = hook
    else:
        existing: Sequence[OnDecision] = (current,) if callable(current) else tuple(current)
        policy.on_decision = [*existing, hook]
    return hook
