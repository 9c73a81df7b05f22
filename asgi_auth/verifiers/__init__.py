"""Verifiers that ship with asgi_auth: JWT (static keys or JWKS), OIDC discovery, several issuers."""

from .issuers import Issuer, TrustedIssuers
from .jwks import JWKSClient
from .jwt import JWTVerifier
from .oidc import DiscoveryVerifier

__all__ = ["DiscoveryVerifier", "Issuer", "JWKSClient", "JWTVerifier", "TrustedIssuers"]
