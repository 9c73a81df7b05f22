"""OpenID Connect Discovery 1.0: a verifier configured from the provider's metadata.

The discovery document is fetched on first use (not at import or start-up, so an
app can boot while its provider is down); its `issuer` must equal the issuer the URL
names (Discovery §4.3), and tokens are then verified by a `JWTVerifier` on its
`jwks_uri`. Until the document has been read, requests get 503, never a pass.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from typing import Any

import anyio
import httpx

from ..context import Principal
from ..errors import ServiceUnavailable
from .jwks import fetch_json
from .jwt import _ASYMMETRIC, JWTVerifier

__all__ = ["DiscoveryVerifier"]

logger = logging.getLogger("asgi_auth")
_WELL_KNOWN = "/.well-known/openid-configuration"


class DiscoveryVerifier:
    """Verify bearer tokens against the provider described at `url`."""

    def __init__(
        self,
        url: str,
        *,
        audience: str | list[str] | None = None,
        algorithms: list[str] | None = None,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        **jwt_options: Any,
    ) -> None:
        self.url = url
        self.audience = audience
        self.algorithms = algorithms
        self.cooldown = cooldown
        self.timeout = timeout
        self.transport = transport
        self.jwt_options = jwt_options
        self.verifier: JWTVerifier | None = None
        self.metadata: dict[str, Any] = {}
        self._lock: anyio.Lock | None = None
        self._last_attempt = float("-inf")

    def __repr__(self) -> str:
        return f"DiscoveryVerifier({self.url!r})"

    def verify_inline(self, credentials: Any) -> Principal | Awaitable[Principal | None] | None:
        """Once discovered, `JWTVerifier.verify_inline`; before, an awaitable that discovers."""
        if self.verifier is not None:
            return self.verifier.verify_inline(credentials)
        return self(credentials)

    def lifetime(self, credentials: Any) -> tuple[float, float] | None:
        """See `JWTVerifier.lifetime`."""
        return self.verifier.lifetime(credentials) if self.verifier is not None else None

    async def __call__(self, credentials: Any) -> Principal | None:
        verifier = self.verifier or await self._discover()
        return await verifier(credentials)

    async def _discover(self) -> JWTVerifier:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self.verifier is not None:
                return self.verifier
            now = time.monotonic()
            if now - self._last_attempt < self.cooldown:
                raise ServiceUnavailable("OpenID Connect provider is unavailable")
            self._last_attempt = now
            try:
                metadata, _ = await fetch_json(
                    self.url, timeout=self.timeout, max_bytes=256 * 1024, transport=self.transport
                )
                self.verifier = self._configure(metadata)
            except (httpx.HTTPError, ValueError, TypeError, KeyError) as exc:
                logger.warning("OpenID Connect discovery at %s failed: %s", self.url, type(exc).__name__)
                raise ServiceUnavailable("OpenID Connect provider is unavailable") from None
            self.metadata = metadata
            return self.verifier

    def _configure(self, metadata: Any) -> JWTVerifier:
        if not isinstance(metadata, dict):
            raise ValueError("discovery document is not a JSON object")
        issuer, jwks_uri = metadata["issuer"], metadata["jwks_uri"]
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise ValueError("discovery document lacks issuer or jwks_uri")
        if self.url.endswith(_WELL_KNOWN) and issuer.rstrip("/") != self.url[: -len(_WELL_KNOWN)].rstrip("/"):
            raise ValueError("discovery document's issuer does not match its URL")
        algorithms = self.algorithms or [
            alg for alg in metadata.get("id_token_signing_alg_values_supported", ["RS256"]) if alg in _ASYMMETRIC
        ]
        return JWTVerifier(
            jwks_url=jwks_uri,
            algorithms=algorithms or ["RS256"],
            issuer=issuer,
            audience=self.audience,
            jwks_transport=self.transport,
            **self.jwt_options,
        )
