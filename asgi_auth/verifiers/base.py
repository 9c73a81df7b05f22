"""What a verifier is, declared: what it takes, what it answers, how it is called.

A verifier takes the credentials a scheme extracted and answers with one of:

- a principal: any true value (`aa.Principal`, a user object, ...);
- a refusal: `None` or any other false value, or raising `aa.AuthError`;
- a `Verdict`: a principal plus the wall-clock window in which the verifier vouches
  that it would give the same answer, so the decision may be remembered that long;
- an awaitable of any of these, when it has to wait (a key fetch, a database).

It is called in one of three ways, chosen once when the scheme is built (`answerer`):
an object with `verify_inline(credentials)` (`InlineVerifier`) answers on the event
loop and returns an awaitable only when it must wait; an async callable is awaited;
a sync callable runs in a worker thread unless marked `@inline`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol, TypeVar, Union, cast, runtime_checkable

import anyio.to_thread

__all__ = [
    "Answer",
    "Answerer",
    "InlineVerifier",
    "KeyedVerifier",
    "LifetimeVerifier",
    "Verdict",
    "VerdictVerifier",
    "Verifier",
    "answerer",
    "inline",
    "is_verifier",
]


class Verdict(NamedTuple):
    """A principal, and the window `valid_from <= time.time() < valid_until` in which
    the verifier vouches for it (a cached JWT: from `nbf` to `exp`, with leeway).

    Returned instead of the bare principal, it lets the decision for the same header
    value be remembered for that long without asking the verifier again. An empty
    window (`valid_until <= valid_from`) vouches for this request only: nothing about
    it is kept (`JWTVerifier(cache=False)` answers so).

    A named tuple, immutable as a frozen dataclass would be, because one is made for
    every verification and a tuple is made in a fraction of a frozen dataclass's time.
    """

    principal: object
    valid_from: float
    valid_until: float
    still_valid: Callable[[], bool] | None = None
    """Asked each time a remembered decision for this verdict would be reused: false
    refuses it as rejected credentials (a revoked token); raising `aa.ServiceUnavailable`
    answers 503. `None`: nothing to ask."""

    @property
    def lasting(self) -> bool:
        """Whether the window holds beyond this instant."""
        return self.valid_until > self.valid_from


Answer = Union[object, Verdict, None]
"""A verifier's answer, once it is there: a principal (any true value), a `Verdict`, or a
refusal (`None` or another false value)."""

Answerer = Callable[[Any], Union[Answer, Awaitable[Answer]]]
"""How a scheme asks its verifier: the answer at once, or an awaitable of it."""


class Verifier(Protocol):
    """A callable taking the credentials; sync (run in a thread unless `@inline`) or async."""

    def __call__(self, credentials: Any, /) -> Answer | Awaitable[Answer]: ...


@runtime_checkable
class InlineVerifier(Protocol):
    """A verifier asked on the event loop: it answers at once when it can (a cache hit,
    a static key) and returns an awaitable only when it has to wait."""

    def verify_inline(self, credentials: Any, /) -> Answer | Awaitable[Answer]: ...


@runtime_checkable
class VerdictVerifier(Protocol):
    """An inline verifier that vouches through `Verdict`s (`JWTVerifier`): its answer
    and its window come from one look at its cache."""

    def verdict_inline(self, credentials: Any, /) -> Answer | Awaitable[Answer]: ...


@runtime_checkable
class KeyedVerifier(Protocol):
    """A verdict verifier that can find its cached answer by a key the caller already
    made: a digest of the header the credentials came from, unique to that header's
    value and the scheme reading it (so one hash serves the decision and the verifier).
    The key is never empty: a caller without one asks the verifier as any other."""

    def verdict_keyed(self, credentials: Any, key: bytes, /) -> Answer | Awaitable[Answer]: ...


@runtime_checkable
class LifetimeVerifier(Protocol):
    """An inline verifier that says separately how long its answer holds:
    `(valid_from, valid_until)`, or `None` when it must be asked every time."""

    def verify_inline(self, credentials: Any, /) -> Answer | Awaitable[Answer]: ...

    def lifetime(self, credentials: Any, /) -> tuple[float, float] | None: ...


F = TypeVar("F", bound=Callable[..., Any])


def inline(verifier: F) -> F:
    """Mark a *sync* verifier as fast enough to run on the event loop.

    By default a sync verifier runs in a worker thread (as FastAPI runs sync
    dependencies) so that a database call cannot stall every other request. A verifier
    that only looks in a dict or checks a hash in a few microseconds is better called
    directly: decorate it with `@inline` to skip the thread hop. Built-ins such as
    `TOKENS.get` work too.
    """
    try:
        verifier.__asgi_auth_inline__ = True  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # a built-in or slotted callable: wrap it
        return cast(F, _Inline(verifier))
    return verifier


class _Inline:
    __slots__ = ("function",)
    __asgi_auth_inline__ = True

    def __init__(self, function: Callable[[Any], Answer]) -> None:
        self.function = function

    def __call__(self, argument: Any) -> Answer:
        return self.function(argument)


def is_verifier(value: object) -> bool:
    """A callable, or an object answering through `verify_inline`."""
    return callable(value) or isinstance(value, InlineVerifier)


def is_pending(answer: object) -> bool:
    """Whether an answer is still to come (an awaitable), rather than the answer."""
    return hasattr(answer, "__await__")


def answerer(verifier: Verifier | InlineVerifier) -> Answerer:
    """How to ask `verifier` so that it runs as it asks to (see the module's docstring).

    One with `lifetime()` has its answers wrapped in a `Verdict` here, so the decision
    reads a window in one way whatever the verifier.
    """
    if isinstance(verifier, VerdictVerifier):
        return verifier.verdict_inline
    if isinstance(verifier, LifetimeVerifier):
        return _with_lifetime(verifier)
    if isinstance(verifier, InlineVerifier):
        return verifier.verify_inline
    if inspect.iscoroutinefunction(verifier) or inspect.iscoroutinefunction(type(verifier).__call__):
        return verifier
    if getattr(verifier, "__asgi_auth_inline__", False):
        return verifier

    async def in_thread(argument: Any) -> Answer:
        result = await anyio.to_thread.run_sync(verifier, argument)
        if is_pending(result):  # a sync callable that returned an awaitable
            result = await cast(Awaitable[Answer], result)
        return result

    return in_thread


def _with_lifetime(verifier: LifetimeVerifier) -> Answerer:
    def vouched(principal: Answer, credentials: Any) -> Answer:
        if principal is None or type(principal) is Verdict:
            return principal
        window = verifier.lifetime(credentials)
        return principal if window is None else Verdict(principal, *window)

    async def later(pending: Awaitable[Answer], credentials: Any) -> Answer:
        return vouched(await pending, credentials)

    def ask(credentials: Any) -> Answer | Awaitable[Answer]:
        answer = verifier.verify_inline(credentials)
        if is_pending(answer):
            return later(cast(Awaitable[Answer], answer), credentials)
        return vouched(answer, credentials)

    return ask
