"""Verifiers that ship with asgi_auth: JWT (static keys or JWKS) and OIDC discovery."""

from .jwks import JWKSClient
from .jwt import JWTVerifier
from .oidc import DiscoveryVerifier

__all__ = ["DiscoveryVerifier", "JWKSClient", "JWTVerifier"]
