"""`AuthMiddleware`: the pure ASGI guard in front of an app.

Shaped like Starlette's own middlewares: the policy is compiled before the first
request, `__call__` does only per-request work, and scopes other than `http` and
`websocket` (`lifespan`) pass through untouched (with `prefetch=`, start-up completes
once key sets are loaded, see prefetch.py). The inner app's `receive` and `send`
are never wrapped (but a websocket's `send` when a token came as a subprotocol, see
schemes/websocket.py), so streaming responses and request bodies flow as if it were absent.
"""

from __future__ import annotations

import inspect
from time import perf_counter

from ._types import ASGIApp, Receive, Scope, Send
from .context import AuthContext
from .errors import AuthError, ConfigurationError, ErrorResponse, OnError
from .events import Observer, OnDecisions, allowed_event, refused_event
from .policy import Applicable, AuthPolicy
from .prefetch import Prefetch, prefetchable, prefetching_send
from .schemes.websocket import hand_over, subprotocol_markers

__all__ = ["AuthMiddleware"]


class AuthMiddleware:
    """Authenticate and authorize every request against `policy` before `app` sees it.

    On success the decision is stored as `scope["state"]["auth"]` (an `AuthContext`),
    and Starlette's `scope["auth"]` / `scope["user"]` are set; otherwise the request
    is answered with 401/403 and the challenges, or by `on_error(scope, error)`.
    Each decision is reported to `on_decision(event)` when one is given (see `events`);
    without one, no event is built and no clock is read.
    `prefetch=True` loads the key sets (and discovery documents) of the policy's
    verifiers at lifespan start-up; `prefetch="required"` fails start-up if one can't be.
    """

    def __init__(
        self,
        app: ASGIApp,
        policy: AuthPolicy,
        *,
        on_error: OnError | None = None,
        on_decision: OnDecisions | None = None,
        prefetch: Prefetch = False,
    ) -> None:
        if not isinstance(policy, AuthPolicy):
            raise ConfigurationError(f"AuthMiddleware needs policy=AuthPolicy(...), not {policy!r}")
        self.app = app
        self.policy = policy
        # The policy's memo of what applies, read first: a hit costs no call. Not when a
        # subclass answers `for_request` its own way: then every request asks it.
        overridden = type(policy).for_request is not AuthPolicy.for_request
        self._memo: dict[tuple[str, str, str], Applicable] = {} if overridden else policy._memo
        self.on_error = on_error if on_error is not None else policy.on_error
        self.resource = policy.resource_metadata  # RFC 9728, when declared (rfc9728.py)
        self.on_decision = on_decision if on_decision is not None else policy.on_decision
        observer = None if self.on_decision is None else Observer(self.on_decision)
        #: Who hears of each decision; `None` when no one does (`on_decision=[]` included).
        self._observer = observer if observer is not None and (observer.now_hooks or observer.later_hooks) else None
        #: Subprotocols that carry a token (`WebSocketSubprotocolBearer`): never the app's.
        self._markers = subprotocol_markers(policy.schemes.values())
        if prefetch not in (False, True, "required"):
            raise ConfigurationError(f'AuthMiddleware: prefetch= is True, False or "required", not {prefetch!r}')
        #: Verifiers whose key sets load at lifespan start-up (`prefetch=`, see prefetch.py).
        self._prefetch = prefetchable(policy.schemes.values()) if prefetch else []
        self._prefetch_required = prefetch == "required"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type != "http" and scope_type != "websocket":
            if self._prefetch and scope_type == "lifespan":
                send = prefetching_send(send, self._prefetch, self._prefetch_required)
            await self.app(scope, receive, send)
            return
        resource = self.resource
        if resource is not None and scope_type == "http" and resource.serves(scope["path"]):
            await resource(scope, receive, send)
            return
        observer = self._observer
        started = perf_counter() if observer is not None else 0.0
        # A websocket handshake is an HTTP GET on the wire, and is matched as one.
        method = scope["method"] if scope_type == "http" else "GET"
        path, root_path = scope["path"], scope.get("root_path", "")
        requirement = self._memo.get((path, root_path, method))
        if requirement is None:
            requirement = self.policy.for_request(path, root_path, method)
        context = requirement.public_context
        public = context is not None
        if context is None:
            decision = requirement.decide(scope)
            if not isinstance(decision, (AuthContext, ErrorResponse)):
                decision = await decision  # a verifier had to be awaited
            if isinstance(decision, ErrorResponse):
                if resource is not None:
                    decision = resource.challenged(decision)
                if observer is None:
                    await self.refuse(decision, scope, receive, send)
                    return
                event = refused_event(scope, method, requirement, decision.error, perf_counter() - started)
                observer.now(event)
                try:
                    await self.refuse(decision, scope, receive, send)
                finally:
                    if observer.later_hooks:
                        await observer.later(event)
                return
            context = decision
        state = scope.get("state")
        if state is None:
            scope["state"] = state = {}
        state["auth"] = context
        scope["auth"] = context.auth_credentials
        scope["user"] = context.user
        if scope_type == "websocket" and self._markers:
            send = hand_over(scope, send, self._markers)
        if observer is None:
            await self.app(scope, receive, send)
            return
        # Sync hooks hear of the decision before the app runs; async ones once it is done.
        event = allowed_event(scope, method, context, public, perf_counter() - started)
        observer.now(event)
        try:
            await self.app(scope, receive, send)
        finally:
            if observer.later_hooks:
                await observer.later(event)

    async def refuse(self, decision: ErrorResponse, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a refusal: with its own response, or the one `on_error` makes of it."""
        if self.on_error is None:
            await decision(scope, receive, send)
        else:
            await answer_with(self.on_error, decision.error, scope, receive, send)


async def answer_with(on_error: OnError, error: AuthError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer with the ASGI app that the `on_error` hook makes of `error`."""
    responder = on_error(scope, error)
    if inspect.isawaitable(responder):
        responder = await responder
    await responder(scope, receive, send)
