"""JSON Web Key Sets (RFC 7517) fetched over HTTPS, cached, and rotated safely.

The cache honours `Cache-Control: max-age` between a floor and a ceiling. An unknown
`kid` triggers a refresh at most once per cool-down, so a flood of forged `kid`s cannot
turn into a flood of fetches; one fetch runs at a time however many requests wait for
it (single flight); a failed refresh keeps the keys already known.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import anyio
import httpx
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError

from ..errors import ServiceUnavailable

__all__ = ["JWKSClient", "fetch_json"]

logger = logging.getLogger("asgi_auth")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)


async def fetch_json(
    url: str, *, timeout: float, max_bytes: int, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[Any, httpx.Headers]:
    """GET `url` as JSON with a time and size cap; raises on any failure."""
    async with (
        httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False) as client,
        client.stream("GET", url, headers={"Accept": "application/json"}) as response,
    ):
        response.raise_for_status()
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise ValueError(f"response from {url} is larger than {max_bytes} bytes")
        return json.loads(body), response.headers


class JWKSClient:
    """The keys published at `url`, by `kid`."""

    def __init__(
        self,
        url: str,
        *,
        min_ttl: float = 60.0,
        max_ttl: float = 86_400.0,
        default_ttl: float = 300.0,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        max_bytes: int = 512 * 1024,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.min_ttl, self.max_ttl, self.default_ttl = min_ttl, max_ttl, default_ttl
        self.cooldown = cooldown
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.transport = transport
        self.keys: dict[str | None, PyJWK] = {}
        self.loaded = False
        self.fetches = 0
        self._expires_at = 0.0
        self._last_attempt = float("-inf")
        self._generation = 0
        self._lock: anyio.Lock | None = None

    def _ttl(self, headers: httpx.Headers) -> float:
        match = _MAX_AGE.search(headers.get("cache-control", ""))
        ttl = float(match.group(1)) if match else self.default_ttl
        return min(max(ttl, self.min_ttl), self.max_ttl)

    async def get_key(self, kid: str | None) -> PyJWK | None:
        """The key for `kid` (or the only key, when the token names none)."""
        if not self.loaded or time.monotonic() >= self._expires_at:
            await self.refresh(scheduled=True)
        elif kid not in self.keys and (kid is not None or len(self.keys) != 1):
            await self.refresh(scheduled=False)
        if kid is None and len(self.keys) == 1:
            return next(iter(self.keys.values()))
        return self.keys.get(kid)

    async def refresh(self, *, scheduled: bool = True) -> None:
        """Fetch the set, once for all waiting tasks (single flight).

        A scheduled refresh (nothing loaded, or the set expired) always runs; one
        prompted by an unknown `kid` runs at most once per cool-down. While nothing has
        ever loaded, failures are retried at most once per cool-down too, answering 503
        in between, so a down provider is not hammered.
        """
        generation = self._generation
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._generation != generation:
                return  # another task fetched while this one waited
            now = time.monotonic()
            recent = now - self._last_attempt < self.cooldown
            if not self.loaded and recent:
                raise ServiceUnavailable("Signing keys are unavailable")
            if not scheduled and recent:
                return
            self._last_attempt = now
            self.fetches += 1
            try:
                data, headers = await fetch_json(
                    self.url, timeout=self.timeout, max_bytes=self.max_bytes, transport=self.transport
                )
                keys = {key.key_id: key for key in PyJWKSet.from_dict(data).keys}
            except (httpx.HTTPError, ValueError, TypeError, KeyError, PyJWKSetError) as exc:
                logger.warning(
                    "JWKS refresh from %s failed (%s); keeping %d known key(s)",
                    self.url,
                    type(exc).__name__,
                    len(self.keys),
                )
                if not self.loaded:
                    raise ServiceUnavailable("Signing keys are unavailable") from None
                self._expires_at = time.monotonic() + self.cooldown  # serve stale keys, retry later
                return
            finally:
                self._generation += 1
            self.keys = keys
            self.loaded = True
            self._expires_at = time.monotonic() + self._ttl(headers)
