"""OpenID Connect (OpenAPI `openIdConnect`): bearer ID/access tokens.

With no verifier of its own, the scheme verifies tokens against the provider's
discovery document at `openIdConnectUrl` (its `issuer` and `jwks_uri`), for the
`audience` given: OpenID Connect tokens always carry `aud`, so one is required
(or `verify_audience=False`, by name). For a discovery URL that is not the provider's
public name (Docker), pass `verifier=aa.DiscoveryVerifier(url, issuer=..., ...)`.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigurationError
from .base import VerifierOption
from .dpop import DPoPOption
from .oauth2 import AuthorizationValue

__all__ = ["OpenIdConnect"]


class OpenIdConnect(AuthorizationValue):
    """OpenID Connect; the verifier receives the bearer token (a `str`), while
    `AuthContext.credentials` is the whole `Authorization` value, as FastAPI returns it."""

    def __init__(
        self,
        *,
        openIdConnectUrl: str,  # noqa: N803 - FastAPI's (and OpenAPI's) spelling
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
        audience: str | list[str] | None = None,
        verify_audience: bool = True,
        algorithms: list[str] | None = None,
        discover: bool = True,
        dpop: DPoPOption = None,
    ) -> None:
        if not openIdConnectUrl:
            raise ConfigurationError("OpenIdConnect needs openIdConnectUrl")
        if verifier is None and discover:
            from ..verifiers._fetch import redact
            from ..verifiers.oidc import NEEDS_AUDIENCE, DiscoveryVerifier

            if audience is None and verify_audience:
                url = redact(openIdConnectUrl)
                raise ConfigurationError(f"OpenIdConnect(openIdConnectUrl={url!r}) {NEEDS_AUDIENCE}")
            verifier = DiscoveryVerifier(
                openIdConnectUrl, audience=audience, verify_audience=verify_audience, algorithms=algorithms
            )
        super().__init__(
            scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier, dpop=dpop
        )
        self.openIdConnectUrl = openIdConnectUrl

    def openapi(self) -> dict[str, Any]:
        return self._with_description({"type": "openIdConnect", "openIdConnectUrl": self.openIdConnectUrl})
