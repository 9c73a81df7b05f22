"""One remote JSON document (a key set, a discovery document), fetched safely.

Whatever the server does, a fetch ends by its total deadline (a server that drips a
byte at a time, or stalls, is cut off) and reads at most `max_bytes`; one fetch runs at
a time however many requests want it (single flight), and requests waiting for it give
up at the same deadline; a fetch is tried at most once per cool-down, so neither a down
server nor a flood of unknown `kid`s turns into a flood of fetches. A body that `parse`
refuses (not JSON, `null`, `[]`, no usable key) is a failed fetch like a 500: the
document already known is kept. URLs are printed without their userinfo.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import httpx

from ..errors import ServiceUnavailable

__all__ = ["BadDocument", "Fetcher", "read_capped", "redact"]

logger = logging.getLogger("asgi_auth")
T = TypeVar("T")


def redact(url: str) -> str:
    """`url` without its userinfo (`https://user:secret@host/` → `https://***@host/`)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


class _FetchFailed(Exception):
    pass


class TooLarge(_FetchFailed):
    """A body over the size cap: read no further."""


async def read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The body of a streamed `response`, refused (`TooLarge`) past `max_bytes`.

    Read chunk by chunk so that an endless or huge body costs at most the cap; the
    caller's deadline bounds how long a dripping one can take.
    """
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise TooLarge("body over the size cap")
    return bytes(body)


class BadDocument(ValueError):
    """A document `parse` refuses; its message (no secrets in it) is logged."""


class Fetcher(Generic[T]):
    """The document at `url`, as `parse(json, headers) -> (value, ttl_seconds)` reads it.

    `parse` raises `ValueError` (or `TypeError`/`KeyError`) for a body it refuses.
    """

    def __init__(
        self,
        url: str,
        parse: Callable[[Any, httpx.Headers], tuple[T, float]],
        *,
        what: str,
        unavailable: str,
        timeout: float,
        max_bytes: int,
        cooldown: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.parse = parse
        self.what = what
        self.unavailable = unavailable
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.cooldown = cooldown
        self.transport = transport
        self.value: T | None = None
        self.fetches = 0
        self.expires_at = 0.0
        self._last_attempt = float("-inf")
        self._inflight: anyio.Event | None = None

    def __repr__(self) -> str:
        return f"Fetcher({redact(self.url)!r})"

    @property
    def fresh(self) -> bool:
        return self.value is not None and time.monotonic() < self.expires_at

    async def get(self) -> T:
        """The document, fetched first when none is known or it expired."""
        if not self.fresh:
            await self.refresh(scheduled=True)
        return self._known()

    async def refresh(self, *, scheduled: bool = False) -> T:
        """Fetch again; the document known afterwards (perhaps the old one), or
        `ServiceUnavailable` when none ever was.

        A scheduled fetch (the document expired) runs; any other, and any retry while
        no document was ever read, at most once per cool-down. A failed fetch keeps
        the old document for a cool-down before the next scheduled one.
        """
        inflight = self._inflight
        if inflight is not None:  # another request is fetching: wait for it, not longer
            with anyio.move_on_after(self.timeout):
                await inflight.wait()
            return self._known()
        recent = time.monotonic() - self._last_attempt < self.cooldown
        if recent and (self.value is None or not scheduled):
            return self._known()
        self._inflight = event = anyio.Event()
        self._last_attempt = time.monotonic()
        self.fetches += 1
        try:
            await self._fetch()
        finally:
            self._inflight = None
            event.set()
        return self._known()

    def _known(self) -> T:
        if self.value is None:
            raise ServiceUnavailable(self.unavailable)
        return self.value

    async def _fetch(self) -> None:
        reason = "deadline"
        with anyio.move_on_after(self.timeout):
            try:
                data, headers = await self._get()
                value, ttl = self.parse(data, headers)
            except (httpx.HTTPError, _FetchFailed, ValueError, TypeError, KeyError, RecursionError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, BadDocument) else type(exc).__name__
            else:
                self.value = value
                self.expires_at = time.monotonic() + ttl if math.isfinite(ttl) else math.inf
                return
        logger.warning(
            "%s from %s failed (%s); %s",
            self.what,
            redact(self.url),
            reason,
            "keeping the one known" if self.value is not None else "none known yet",
        )
        if self.value is not None:
            self.expires_at = time.monotonic() + self.cooldown  # serve the stale one, retry later

    async def _get(self) -> tuple[Any, httpx.Headers]:
        # Userinfo goes in an Authorization header, not in the URL httpx logs at INFO.
        url = httpx.URL(self.url)
        auth = httpx.BasicAuth(url.username, url.password) if url.userinfo else None
        async with (
            httpx.AsyncClient(timeout=self.timeout, transport=self.transport, follow_redirects=False) as client,
            client.stream(
                "GET", url.copy_with(userinfo=b""), headers={"Accept": "application/json"}, auth=auth
            ) as response,
        ):
            response.raise_for_status()
            return json.loads(await read_capped(response, self.max_bytes)), response.headers
