"""OpenID Connect Discovery 1.0: a verifier configured from the provider's metadata.

The discovery document is fetched on first use (not at import, so an app can boot
while its provider is down; at start-up with `AuthMiddleware(prefetch=True)`, which
then loads the key set too), by the same fetcher as key sets (single
flight, cool-down, total deadline, size cap); its `issuer` must equal the issuer the
URL names (Discovery §4.3), or the `issuer=` given, and tokens are then verified by a
`JWTVerifier` on its `jwks_uri` (or the `jwks_url=` given). Until the document has been
read, requests get 503, never a pass.

An audience is required: ID tokens always carry `aud` (OIDC Core §2), and so do the
access tokens providers issue for an API, so a verifier without one would refuse every
real token. `verify_audience=False` opts out by name.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any

from ..context import Principal
from ..errors import ConfigurationError
from ._fetch import BadDocument, Fetcher, redact
from .base import Verdict
from .jwt import _ASYMMETRIC, JWTVerifier

if TYPE_CHECKING:
    import httpx

__all__ = ["DiscoveryVerifier"]

_WELL_KNOWN = "/.well-known/openid-configuration"
NEEDS_AUDIENCE = (
    "needs audience= (the client ID the ID tokens are for, or your API's audience): "
    "OpenID Connect tokens always carry `aud`, so with none every token would be refused. "
    "Pass verify_audience=False to accept tokens for any audience"
)


class DiscoveryVerifier:
    """Verify bearer tokens against the provider described at `url`.

    `issuer` and `jwks_url` are for a discovery URL that is not the provider's public
    name (an app in Docker reaching `http://keycloak:8080/...` while tokens say
    `http://localhost:8080/...`): `issuer` is then what the document and the tokens
    must say, and `jwks_url` where this app can fetch the keys the document names.
    """

    def __init__(
        self,
        url: str,
        *,
        audience: str | Iterable[str] | None = None,
        verify_audience: bool = True,
        algorithms: list[str] | None = None,
        issuer: str | None = None,
        jwks_url: str | None = None,
        cooldown: float = 30.0,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        **jwt_options: Any,
    ) -> None:
        if audience is None and verify_audience:
            raise ConfigurationError(f"DiscoveryVerifier({redact(url)!r}) {NEEDS_AUDIENCE}")
        self.url = url
        self.audience = audience
        self.verify_audience = verify_audience
        self.algorithms = algorithms
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.transport = transport
        self.jwt_options = jwt_options
        self.verifier: JWTVerifier | None = None
        self.metadata: dict[str, Any] = {}  # the discovery document, once read
        self._fetcher: Fetcher[JWTVerifier] = Fetcher(
            url,
            self._parse,
            what="OpenID Connect discovery",
            unavailable="OpenID Connect provider is unavailable",
            timeout=timeout,
            max_bytes=256 * 1024,
            cooldown=cooldown,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"DiscoveryVerifier({redact(self.url)!r})"

    def verify_inline(self, credentials: Any) -> Principal | Awaitable[Principal | None] | None:
        """Once discovered, `JWTVerifier.verify_inline`; before, an awaitable that discovers."""
        if self.verifier is not None:
            return self.verifier.verify_inline(credentials)
        return self(credentials)

    def verdict_inline(self, credentials: Any) -> Verdict | Principal | Awaitable[Verdict | Principal | None] | None:
        """Once discovered, `JWTVerifier.verdict_inline`; before, an awaitable that discovers."""
        if self.verifier is not None:
            return self.verifier.verdict_inline(credentials)
        return self._discovered_verdict(credentials)

    async def _discovered_verdict(self, credentials: Any) -> Verdict | Principal | None:
        verifier = self.verifier or await self._fetcher.get()
        self.verifier = verifier
        answer = verifier.verdict_inline(credentials)
        if answer is None or isinstance(answer, (Verdict, Principal)):
            return answer
        return await answer

    def lifetime(self, credentials: Any) -> tuple[float, float] | None:
        """See `JWTVerifier.lifetime`."""
        return self.verifier.lifetime(credentials) if self.verifier is not None else None

    async def prefetch(self) -> None:
        """Read the discovery document, then the key set it names, now (at start-up);
        `ServiceUnavailable` when either could not be loaded."""
        self.verifier = self.verifier or await self._fetcher.get()
        await self.verifier.prefetch()

    async def __call__(self, credentials: Any) -> Principal | None:
        verifier = self.verifier or await self._fetcher.get()
        self.verifier = verifier
        return await verifier(credentials)

    def _parse(self, metadata: Any, headers: httpx.Headers) -> tuple[JWTVerifier, float]:
        """The verifier the document describes; read once, kept for the process's life."""
        if not isinstance(metadata, dict):
            raise BadDocument("the discovery document is not a JSON object")
        issuer, jwks_uri = metadata.get("issuer"), metadata.get("jwks_uri")
        if not isinstance(issuer, str) or not isinstance(jwks_uri, str):
            raise BadDocument("the discovery document lacks issuer or jwks_uri")
        if self.issuer is not None:
            if issuer != self.issuer:
                raise BadDocument(f"the document's issuer {issuer!r} is not the issuer= given, {self.issuer!r}")
        elif self.url.endswith(_WELL_KNOWN) and issuer.rstrip("/") != self.url[: -len(_WELL_KNOWN)].rstrip("/"):
            raise BadDocument(
                f"the document's issuer {issuer!r} does not match its URL (Discovery §4.3); "
                "behind another host name, pass issuer="
            )
        advertised = metadata.get("id_token_signing_alg_values_supported", ["RS256"])
        if not isinstance(advertised, list):
            advertised = ["RS256"]
        algorithms = self.algorithms or [alg for alg in advertised if alg in _ASYMMETRIC]
        try:
            verifier = JWTVerifier(
                jwks_url=self.jwks_url or jwks_uri,
                algorithms=algorithms or ["RS256"],
                issuer=issuer,
                audience=self.audience,
                verify_audience=self.verify_audience,
                jwks_transport=self.transport,
                **self.jwt_options,
            )
        except ConfigurationError as exc:
            raise BadDocument(str(exc)) from None
        self.metadata = metadata
        return verifier, math.inf
