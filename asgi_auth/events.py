"""Decision events: one immutable record per decision, for an `on_decision` hook.

What an operator needs to see (who was let in, who was refused and why, by which rule
and scheme, how long the decision took) and nothing an attacker could use: an event
holds codes, names and the subject, never a credential, a token, a header or a claim
value other than the subject. It names the rule's template rather than the path,
since paths can carry secrets too (a password-reset token) and personal data.

Events are built only when a hook is set: the middleware's path without one is the
path it always had.

A sync hook is called inline, once the decision is made and before the refusal is
sent or the app runs, so it must be quick (a log line, a counter, a span attribute).
An async hook is awaited once the response is complete (after the app returns, for a
websocket when it closes), so it never delays the response. Either way, an exception
in the hook is logged and swallowed: a broken audit sink must not break the app.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from time import time
from typing import IO, Any, NamedTuple, Union, cast

from ._types import Scope
from .context import AuthContext
from .errors import AuthError, ConfigurationError
from .schemes.base import SecurityScheme

__all__ = ["DecisionEvent", "JSONAuditLog", "OnDecision", "OnDecisions", "reason_code"]

logger = logging.getLogger("asgi_auth")

OnDecision = Callable[["DecisionEvent"], Union[Awaitable[None], None]]
"""`on_decision(event)`: sync (called inline, keep it quick) or async (awaited after the response)."""

OnDecisions = Union[OnDecision, Sequence[OnDecision]]
"""One hook, or several: each is called, the sync ones first."""

#: The reason of a refusal whose error type says none, by its status.
_BY_STATUS = {
    400: "bad_request",
    401: "refused",
    403: "forbidden",
    414: "target_too_long",
    429: "too_many_attempts",
    431: "header_too_large",
    503: "unavailable",
}
_MAX_SUBJECT = 256
_MAX_METHOD = 32


class DecisionEvent(NamedTuple):
    """One decision of the middleware.

    `outcome` is `"allowed"` or the refusal's status as text (`"401"`, `"403"`, ...),
    `reason` a code: when allowed `authenticated`, `anonymous` (an optional requirement,
    nothing sent), `public` or `unverified` (an `EXTRACT_ONLY` scheme); when refused
    `missing`, `malformed`, `invalid_credentials`, `insufficient_scope`, `ambiguous`,
    `bad_request`, `target_too_long`, `header_too_large`, `too_many_attempts`,
    `unavailable`, or `refused` / `forbidden` for an `AuthError` that says no more.
    `scheme` is the scheme that authenticated, or for a refusal the requirement's only
    scheme (`None` when it accepts several); `subject` is known when allowed and
    authenticated. `duration` is the seconds spent deciding (matching, extraction,
    verification, authorization), `timestamp` the Unix time of the decision.

    A named tuple: immutable, and built in one call, which matters on a request path.
    """

    outcome: str
    reason: str
    status: int | None
    rule: str | None
    method: str
    scheme: str | None
    subject: str | None
    connection: str
    client: str | None
    duration: float
    timestamp: float

    @property
    def allowed(self) -> bool:
        return self.status is None

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))


def reason_code(error: AuthError) -> str:
    """The reason code of a refusal: its type's, unless it was given another status."""
    kind = type(error)
    if kind.reason is not None and error.status_code == kind.status_code:
        return kind.reason
    return _BY_STATUS.get(error.status_code, "refused")


def allowed_event(scope: Scope, method: str, context: AuthContext, public: bool, duration: float) -> DecisionEvent:
    subject = None
    if context.authenticated:
        reason = "authenticated"
        subject = getattr(context.principal, "subject", None)
        if type(subject) is not str:
            subject = _identity(context)
        elif len(subject) > _MAX_SUBJECT:
            subject = subject[:_MAX_SUBJECT]
    elif context.credentials is not None:
        reason = "unverified"
    else:
        reason = "public" if public else "anonymous"
    client = scope.get("client")
    return DecisionEvent(
        "allowed",
        reason,
        None,
        context.rule,
        method if len(method) <= _MAX_METHOD else method[:_MAX_METHOD],
        context.scheme,
        subject or None,
        scope["type"],
        client[0] if client and type(client[0]) is str else None,
        duration,
        time(),
    )


def _identity(context: AuthContext) -> str | None:
    """The subject of a principal that is not a `Principal`: Starlette's `identity`."""
    try:
        identity = context.user.identity
    except Exception:  # a BaseUser without `identity` raises NotImplementedError
        return None
    return identity[:_MAX_SUBJECT] if isinstance(identity, str) and identity else None


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client and type(client[0]) is str else None


def refused_event(scope: Scope, method: str, applicable: Any, error: AuthError, duration: float) -> DecisionEvent:
    schemes: tuple[SecurityScheme, ...] = getattr(applicable, "schemes", ())
    return DecisionEvent(
        str(error.status_code),
        reason_code(error),
        error.status_code,
        applicable.rule,
        method[:_MAX_METHOD],
        schemes[0].scheme_name if len(schemes) == 1 else None,
        None,
        scope["type"],
        _client(scope),
        duration,
        time(),
    )


def _is_async(hook: OnDecision) -> bool:
    call = getattr(hook, "__call__", None)  # noqa: B004 - an instance's `async def __call__` counts
    return inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(call)


class Observer:
    """Calls the `on_decision` hooks the way the module docstring says, never raising."""

    __slots__ = ("later_hooks", "now_hooks")

    def __init__(self, hooks: OnDecision | Sequence[OnDecision]) -> None:
        found = (hooks,) if callable(hooks) else tuple(hooks)
        for hook in found:
            if not callable(hook):
                raise ConfigurationError(f"on_decision: {hook!r} is not callable")
        self.now_hooks = tuple(hook for hook in found if not _is_async(hook))
        self.later_hooks = tuple(hook for hook in found if _is_async(hook))

    def now(self, event: DecisionEvent) -> None:
        """The sync hooks, at the decision."""
        for hook in self.now_hooks:
            try:
                result = hook(event)
            except Exception:
                logger.exception("on_decision hook %r raised; the request goes on", hook)
                continue
            if result is not None and inspect.isawaitable(result):  # a sync callable handing back a coroutine
                if inspect.iscoroutine(result):
                    result.close()
                logger.error("on_decision hook %r returned an awaitable: declare it `async def`", hook)

    async def later(self, event: DecisionEvent) -> None:
        """The async hooks, once the response is complete."""
        for hook in self.later_hooks:
            try:
                await cast("Awaitable[None]", hook(event))
            except Exception:
                logger.exception("on_decision hook %r raised; the request goes on", hook)


class JSONAuditLog:
    """An `on_decision` hook writing each event as one JSON line.

    Give a text stream (`sys.stderr`, an open file) or a `logging.Logger` (each event
    is one record at `level`, its message the JSON line). Writing is synchronous, as a
    logging handler's is: to keep slow disks off the request path, give it a logger
    whose handler is a `logging.handlers.QueueHandler`.
    """

    def __init__(self, sink: IO[str] | logging.Logger, *, level: int = logging.INFO) -> None:
        self.sink = sink
        self.level = level
        # Made once: `json.dumps` with options builds a new encoder for every call.
        self._encode = json.JSONEncoder(separators=(",", ":")).encode

    def __call__(self, event: DecisionEvent) -> None:
        line = self._encode(dict(zip(DecisionEvent._fields, event, strict=True)))
        if isinstance(self.sink, logging.Logger):
            self.sink.log(self.level, "%s", line)
        else:
            self.sink.write(line + "\n")
            self.sink.flush()
