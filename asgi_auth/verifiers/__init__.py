"""Verifiers that ship with asgi_auth: JWT (static keys or JWKS), OIDC discovery, several
issuers, and RFC 7662 introspection of opaque tokens."""

from .either import JWTOrIntrospection
from .issuers import Issuer, TrustedIssuers
from .jwks import JWKSClient
from .jwt import JWTVerifier
from .oidc import DiscoveryVerifier
from .rfc7662 import IntrospectionVerifier

__all__ = [
    "DiscoveryVerifier",
    "IntrospectionVerifier",
    "Issuer",
    "JWKSClient",
    "JWTOrIntrospection",
    "JWTVerifier",
    "TrustedIssuers",
]
