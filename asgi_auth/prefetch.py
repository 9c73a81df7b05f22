"""Key sets and discovery documents loaded at start-up, so the first request doesn't wait.

`AuthMiddleware(prefetch=True)` runs the `prefetch()` of every verifier of the policy's
schemes that has one (`JWTVerifier` on a JWKS, `DiscoveryVerifier`), concurrently, once
the app has completed its own lifespan startup and before the server is told so: a
server serves no request before then. Each fetch keeps its own deadline, so start-up
waits at most that long (discovery then its key set: twice).

A failed prefetch does not stop the app: it is logged, and requests fetch on first
use as they would have (503 while nothing can be loaded), so an app can boot while
its provider is down. `prefetch="required"` fails the start-up instead
(`lifespan.startup.failed`): a server then exits rather than serve 503s.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, Union

import anyio

from ._types import Message, Send
from .schemes.base import SecurityScheme

__all__ = ["Prefetch", "prefetch_all", "prefetching_send"]

logger = logging.getLogger("asgi_auth")

Prefetch = Union[bool, Literal["required"]]
"""`AuthMiddleware(prefetch=)`: off, on (a failure is logged), or required (a failure fails start-up)."""


def prefetchable(schemes: Iterable[SecurityScheme]) -> list[object]:
    """The verifiers among `schemes`' that can load what they need ahead, each once."""
    found: dict[int, object] = {}
    for scheme in schemes:
        verifier = scheme.verifier
        if verifier is not None and callable(getattr(verifier, "prefetch", None)):
            found.setdefault(id(verifier), verifier)
    return list(found.values())


async def prefetch_all(verifiers: Iterable[object]) -> list[str]:
    """Run every verifier's `prefetch()` at once; what failed, as `repr: reason` lines
    (reprs print URLs without their userinfo, and the fetcher logged why already)."""
    failures: list[str] = []

    async def one(verifier: object) -> None:
        load: Callable[[], Awaitable[None]] = getattr(verifier, "prefetch")  # noqa: B009 - checked by prefetchable
        try:
            await load()
        except Exception as exc:
            failures.append(f"{verifier!r}: {type(exc).__name__}")

    async with anyio.create_task_group() as group:
        for verifier in verifiers:
            group.start_soon(one, verifier)
    return failures


def prefetching_send(send: Send, verifiers: list[object], required: bool) -> Send:
    """The lifespan `send` that prefetches before passing on `lifespan.startup.complete`."""

    async def send_after_prefetch(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            failures = await prefetch_all(verifiers)
            if failures and required:
                logger.error("start-up failed: prefetch=%r could not load %s", "required", "; ".join(failures))
                message = {"type": "lifespan.startup.failed", "message": "asgi_auth: prefetch failed"}
            elif failures:
                logger.warning(
                    "prefetch at start-up could not load %s; requests will fetch on first use", "; ".join(failures)
                )
        await send(message)

    return send_after_prefetch
