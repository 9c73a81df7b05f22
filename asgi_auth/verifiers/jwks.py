"""JSON Web Key Sets (RFC 7517) fetched over HTTPS, cached, and rotated safely.

The cache honours `Cache-Control: max-age` between a floor and a ceiling. A token whose
`kid` is unknown, or that no key fits, triggers a refresh at most once per cool-down;
one fetch runs at a time, within a total deadline, and a failed one keeps the keys
already known (see `_fetch.Fetcher`). A fetched set never supplies a symmetric (`oct`)
key unless its `kid` is named in `symmetric_kids`: anyone who can publish to the set
could otherwise mint HMAC tokens with it. RSA keys under `min_rsa_bits` are dropped.

An expired set is revalidated (`If-None-Match` / `If-Modified-Since`; a 304 renews
it). While the provider is down, the set known is used for at most `max_stale`
seconds past its freshness (a day by default), then requests get 503: keys that old
may have been revoked. `prefetch()` (what `AuthMiddleware(prefetch=True)` runs at
start-up) loads the set before the first request needs it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._fetch import BadDocument, Fetcher, redact
from ._keys import FAMILIES, KeySet, UnusableKey, VerifyingKey, key_from_jwk

if TYPE_CHECKING:
    import httpx

__all__ = ["JWKSClient"]

logger = logging.getLogger("asgi_auth")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)
#: Entries read from one key set; real sets hold a handful.
MAX_KEYS = 100


class JWKSClient:
    """The signature keys published at `url`."""

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
        min_rsa_bits: int = 2048,
        symmetric_kids: Iterable[str] = (),
        max_stale: float = 86_400.0,
    ) -> None:
        if isinstance(symmetric_kids, str):
            symmetric_kids = (symmetric_kids,)
        self.url = url
        self.min_ttl, self.max_ttl, self.default_ttl = min_ttl, max_ttl, default_ttl
        self.min_rsa_bits = min_rsa_bits
        self.symmetric_kids = frozenset(symmetric_kids)
        if not max_stale >= 0:
            raise ConfigurationError(
                f"JWKSClient: max_stale must be 0 or more seconds (math.inf: no bound), not {max_stale!r}"
            )
        self.max_stale = max_stale
        self._fetcher: Fetcher[KeySet] = Fetcher(
            url,
            self._parse,
            what="JWKS refresh",
            unavailable="Signing keys are unavailable",
            timeout=timeout,
            max_bytes=max_bytes,
            cooldown=cooldown,
            transport=transport,
            ttl_of=self._ttl,
            max_stale=max_stale,
        )

    def __repr__(self) -> str:
        return f"JWKSClient({redact(self.url)!r})"

    @property
    def keys(self) -> tuple[VerifyingKey, ...]:
        """The keys known now (empty before the first successful fetch)."""
        known = self._fetcher.value
        return () if known is None else known.keys

    @property
    def loaded(self) -> bool:
        return self._fetcher.value is not None

    @property
    def fetches(self) -> int:
        return self._fetcher.fetches

    @property
    def revalidations(self) -> int:
        """Fetches answered 304 Not Modified: the set known was renewed as it is."""
        return self._fetcher.revalidations

    async def prefetch(self) -> None:
        """Load the set now (at start-up), unless a fetch was tried within the cool-down;
        `ServiceUnavailable` when none could be loaded."""
        await self._fetcher.refresh()

    async def candidates(self, alg: str, kid: str | None) -> tuple[VerifyingKey, ...]:
        """The keys that may verify a token with this `alg` and `kid` (see `KeySet`).

        Raises `ServiceUnavailable` while no key set was ever fetched.
        """
        keys = await self._fetcher.get()
        found = keys.candidates(alg, kid)
        if not found or (kid is not None and kid not in keys.kids):
            keys = await self._fetcher.refresh()  # rotated? at most once per cool-down
            found = keys.candidates(alg, kid)
        return found

    async def get_key(self, kid: str | None) -> VerifyingKey | None:
        """The first key with this `kid` (any key, when `kid` is `None`), fetching as needed."""
        keys = await self._fetcher.get()
        if kid is not None and kid not in keys.kids:
            keys = await self._fetcher.refresh()
        return next((key for key in keys.keys if kid is None or key.kid == kid), None)

    async def refresh(self) -> None:
        """Fetch the set again now, unless a fetch was tried within the cool-down."""
        await self._fetcher.refresh()

    def _ttl(self, headers: httpx.Headers) -> float:
        match = _MAX_AGE.search(headers.get("cache-control", ""))
        ttl = float(match.group(1)) if match else self.default_ttl
        return min(max(ttl, self.min_ttl), self.max_ttl)

    def _parse(self, data: Any, headers: httpx.Headers) -> tuple[KeySet, float]:
        """The usable keys of a JWK Set; a body with none is refused, like a 500.

        Entries that aren't usable signature keys are skipped, as RFC 7517 §5 asks.
        """
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise BadDocument("not a JWK Set")
        keys, skipped = [], []
        for entry in data["keys"][:MAX_KEYS]:
            try:
                keys.append(key_from_jwk(entry, min_rsa_bits=self.min_rsa_bits, symmetric=self.symmetric_kids))
            except UnusableKey as exc:
                skipped.append(str(exc))
        if skipped:
            logger.info("JWKS at %s: skipped %d key(s): %s", redact(self.url), len(skipped), "; ".join(skipped))
        if not keys:
            raise BadDocument("no usable signature key in the set")
        return KeySet(keys, FAMILIES), self._ttl(headers)
