"""One remote JSON document (a key set, a discovery document), fetched safely.

Whatever the server does, a fetch ends by its total deadline (a server that drips a
byte at a time, or stalls, is cut off) and reads at most `max_bytes`; one fetch runs at
a time however many requests want it (single flight), and requests waiting for it give
up at the same deadline; a fetch is tried at most once per cool-down, so neither a down
server nor a flood of unknown `kid`s turns into a flood of fetches. A body that `parse`
refuses (not JSON, `null`, `[]`, no usable key) is a failed fetch like a 500: the
document already known is kept. URLs are printed without their userinfo.

A known document is revalidated rather than fetched again, when the fetcher is given
`ttl_of` (what a response's headers say about freshness): the `ETag` and
`Last-Modified` of the last answer go back as `If-None-Match` and `If-Modified-Since`,
and a 304 keeps the document and renews its freshness. A document the server could
not renew is used for `max_stale` seconds past its freshness at most; after that,
requests that need it get 503 until a fetch succeeds.

httpx is imported when the first fetcher is built, not by `import asgi_auth`: an app
whose keys are all given needs none of it, and a server's every full collection walks
the objects a module leaves behind (httpx's, and its command line's, `rich` among them).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio

from ..errors import ServiceUnavailable

if TYPE_CHECKING:
    import httpx

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


_NOT_MODIFIED = object()
#: Validators longer than this are not kept (real ETags are a few dozen characters).
MAX_VALIDATOR = 256
_VALIDATOR = re.compile(r"[\x21-\x7e][\x20-\x7e]*")


def _validator(value: str | None) -> str | None:
    """An `ETag` / `Last-Modified` value worth sending back: short, printable ASCII."""
    if value is None or len(value) > MAX_VALIDATOR or not _VALIDATOR.fullmatch(value):
        return None
    return value


class BadDocument(ValueError):
    """A document `parse` refuses; its message (no secrets in it) is logged."""


class Fetcher(Generic[T]):
    """The document at `url`, as `parse(json, headers) -> (value, ttl_seconds)` reads it.

    `parse` raises `ValueError` (or `TypeError`/`KeyError`) for a body it refuses.
    With `ttl_of(headers) -> ttl_seconds`, a known document is revalidated
    (`If-None-Match` / `If-Modified-Since`), and a 304 renews it for that long.
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
        ttl_of: Callable[[httpx.Headers], float] | None = None,
        max_stale: float = math.inf,
    ) -> None:
        import httpx  # noqa: F401 - loaded now, as the app is built, not by its first fetch

        self.url = url
        self.parse = parse
        self.what = what
        self.unavailable = unavailable
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.cooldown = cooldown
        self.transport = transport
        self.ttl_of = ttl_of
        self.max_stale = max_stale
        self.value: T | None = None
        self.fetches = 0
        self.revalidations = 0  # 304s: the document known was still current
        self.expires_at = 0.0
        #: Past this (monotonic) time the document known is not used: its freshness
        #: ended `max_stale` seconds ago and no fetch could renew it.
        self.usable_until = math.inf
        self._validators: dict[str, str] = {}  # the request headers that revalidate it
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
        if self.value is None or time.monotonic() > self.usable_until:
            raise ServiceUnavailable(self.unavailable)
        return self.value

    def _renewed(self, ttl: float) -> None:
        now = time.monotonic()
        self.expires_at = now + ttl if math.isfinite(ttl) else math.inf
        self.usable_until = self.expires_at + self.max_stale

    async def _fetch(self) -> None:
        import httpx

        reason = "deadline"
        with anyio.move_on_after(self.timeout):
            try:
                data, headers = await self._get()
                if data is _NOT_MODIFIED:
                    assert self.ttl_of is not None  # noqa: S101 - only asked for with ttl_of
                    self.revalidations += 1
                    self._keep_validators(headers)
                    self._renewed(self.ttl_of(headers))
                    return
                value, ttl = self.parse(data, headers)
            except (httpx.HTTPError, _FetchFailed, ValueError, TypeError, KeyError, RecursionError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, BadDocument) else type(exc).__name__
            else:
                self.value = value
                self._validators = {}
                self._keep_validators(headers)
                self._renewed(ttl)
                return
        stale = ""
        if self.value is not None and math.isfinite(self.usable_until):
            left = self.usable_until - time.monotonic()
            stale = f" for {left:.0f} s more (max_stale)" if left > 0 else ", no longer: past max_stale, 503"
        logger.warning(
            "%s from %s failed (%s); %s",
            self.what,
            redact(self.url),
            reason,
            f"keeping the one known{stale}" if self.value is not None else "none known yet",
        )
        if self.value is not None:
            self.expires_at = time.monotonic() + self.cooldown  # serve the stale one, retry later

    def _keep_validators(self, headers: httpx.Headers) -> None:
        """Remember what revalidates the document (RFC 9110 §13.1.1, §13.1.3); a 304's own
        validators replace those of the answer it renews (RFC 9111 §4.3.4)."""
        if self.ttl_of is None:
            return
        etag, modified = _validator(headers.get("etag")), _validator(headers.get("last-modified"))
        if etag is not None:
            self._validators["If-None-Match"] = etag
        if modified is not None:
            self._validators["If-Modified-Since"] = modified

    async def _get(self) -> tuple[Any, httpx.Headers]:
        import httpx

        # Userinfo goes in an Authorization header, not in the URL httpx logs at INFO.
        url = httpx.URL(self.url)
        auth = httpx.BasicAuth(url.username, url.password) if url.userinfo else None
        conditional = self._validators if self.value is not None else {}
        async with (
            httpx.AsyncClient(timeout=self.timeout, transport=self.transport, follow_redirects=False) as client,
            client.stream(
                "GET",
                url.copy_with(userinfo=b""),
                headers={"Accept": "application/json", **conditional},
                auth=auth,
            ) as response,
        ):
            if response.status_code == 304:
                if not conditional:  # nothing was asked to be revalidated
                    raise _FetchFailed("304 to an unconditional request")
                return _NOT_MODIFIED, response.headers
            response.raise_for_status()
            return json.loads(await read_capped(response, self.max_bytes)), response.headers
