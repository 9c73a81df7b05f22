"""`AuthMiddleware`: the pure ASGI guard in front of an app.

Shaped like Starlette's own middlewares: the policy is compiled before the first
request, `__call__` does only per-request work, and scopes other than `http` and
`websocket` (`lifespan`) pass through untouched. The inner app's `receive` and `send`
are never wrapped, so streaming responses and request bodies flow as if it were absent.
"""

from __future__ import annotations

import inspect
from time import perf_counter

from ._asgi import RequestView
from ._types import ASGIApp, Receive, Scope, Send
from .context import AuthContext
from .errors import AuthError, ConfigurationError, ErrorResponse, OnError
from .events import Observer, OnDecisions, allowed_event, refused_event
from .policy import AuthPolicy

__all__ = ["AuthMiddleware", "ReportingAuthMiddleware"]


class AuthMiddleware:
    """Authenticate and authorize every request against `policy` before `app` sees it.

    On success the decision is stored as `scope["state"]["auth"]` (an `AuthContext`),
    and Starlette's `scope["auth"]` / `scope["user"]` are set; otherwise the request
    is answered with 401/403 and the challenges, or by `on_error(scope, error)`.
    Each decision is reported to `on_decision(event)` when one is given (see `events`):
    such a middleware is a `ReportingAuthMiddleware`, so that the one without a hook
    does not even ask, per request, whether it has one.
    """

    def __init__(
        self,
        app: ASGIApp,
        policy: AuthPolicy,
        *,
        on_error: OnError | None = None,
        on_decision: OnDecisions | None = None,
    ) -> None:
        if not isinstance(policy, AuthPolicy):
            raise ConfigurationError(f"AuthMiddleware needs policy=AuthPolicy(...), not {policy!r}")
        self.app = app
        self.policy = policy
        self.on_error = on_error if on_error is not None else policy.on_error
        self.resource = policy.resource_metadata  # RFC 9728, when declared (rfc9728.py)
        self.on_decision = on_decision if on_decision is not None else policy.on_decision
        self._observer: Observer | None = None
        if self.on_decision is not None:
            observer = Observer(self.on_decision)
            if observer.now_hooks or observer.later_hooks:  # `on_decision=[]` reports to no one
                self._observer = observer
                self.__class__ = ReportingAuthMiddleware

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            await self.app(scope, receive, send)
            return
        resource = self.resource
        if resource is not None and scope_type == "http" and resource.serves(scope["path"]):
            await resource(scope, receive, send)
            return
        # A websocket handshake is an HTTP GET on the wire, and is matched as one.
        method = scope["method"] if scope_type == "http" else "GET"
        requirement = self.policy.for_request(scope["path"], scope.get("root_path", ""), method)
        context = requirement.public_context
        if context is None:
            decision = requirement.decide(RequestView(scope))
            if not isinstance(decision, (AuthContext, ErrorResponse)):
                decision = await decision  # a verifier had to be awaited
            if isinstance(decision, ErrorResponse):
                if resource is not None:
                    decision = resource.challenged(decision)
                if self.on_error is None:
                    await decision(scope, receive, send)
                else:
                    await answer_with(self.on_error, decision.error, scope, receive, send)
                return
            context = decision
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["auth"] = context
        scope["auth"] = context.auth_credentials
        scope["user"] = context.user
        await self.app(scope, receive, send)


class ReportingAuthMiddleware(AuthMiddleware):
    """`AuthMiddleware` with an `on_decision` hook: the same steps, each decision reported.

    Kept apart so that without a hook the request path builds no event and reads no
    clock. Sync hooks are called at the decision, async ones once the response is done.
    """

    _observer: Observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            await self.app(scope, receive, send)
            return
        resource = self.resource
        if resource is not None and scope_type == "http" and resource.serves(scope["path"]):
            await resource(scope, receive, send)
            return
        observer = self._observer
        started = perf_counter()
        method = scope["method"] if scope_type == "http" else "GET"
        requirement = self.policy.for_request(scope["path"], scope.get("root_path", ""), method)
        context = requirement.public_context
        public = context is not None
        if context is None:
            decision = requirement.decide(RequestView(scope))
            if not isinstance(decision, (AuthContext, ErrorResponse)):
                decision = await decision
            if isinstance(decision, ErrorResponse):
                if resource is not None:
                    decision = resource.challenged(decision)
                event = refused_event(scope, method, requirement, decision.error, perf_counter() - started)
                observer.now(event)
                try:
                    if self.on_error is None:
                        await decision(scope, receive, send)
                    else:
                        await answer_with(self.on_error, decision.error, scope, receive, send)
                finally:
                    if observer.later_hooks:
                        await observer.later(event)
                return
            context = decision
        event = allowed_event(scope, method, context, public, perf_counter() - started)
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["auth"] = context
        scope["auth"] = context.auth_credentials
        scope["user"] = context.user
        observer.now(event)
        if not observer.later_hooks:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            await observer.later(event)


async def answer_with(on_error: OnError, error: AuthError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the ASGI app that the `on_error` hook makes of `error`."""
    responder = on_error(scope, error)
    if inspect.isawaitable(responder):
        responder = await responder
    await responder(scope, receive, send)
