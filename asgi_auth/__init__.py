"""asgi_auth: FastAPI's security schemes as one pure ASGI middleware, for any framework."""

from .claims import Claim
from .context import AuthContext, Principal, SecurityScopes
from .dependencies import get_auth, get_security_scopes, require_scopes
from .errors import (
    AuthError,
    ConfigurationError,
    InsufficientScope,
    InvalidCredentials,
    NotAuthenticated,
    ServiceUnavailable,
)
from .events import DecisionEvent, JSONAuditLog
from .forms import OAuth2FormError, OAuth2PasswordRequestForm, OAuth2PasswordRequestFormStrict
from .middleware import AuthMiddleware
from .openapi import patch_openapi
from .passwords import BasicPasswordVerifier, HashingBusy, HashingPool, hash_password, verify_password
from .policy import AuthPolicy, Rule
from .rfc9449 import DPoP
from .rfc9728 import ProtectedResource
from .schemes import (
    EXTRACT_ONLY,
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBase,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    HTTPDigest,
    OAuth2,
    OAuth2AuthorizationCodeBearer,
    OAuth2ClientCredentials,
    OAuth2PasswordBearer,
    OpenIdConnect,
    SecurityScheme,
    WebSocketSubprotocolBearer,
    inline,
)
from .stores import (
    MemoryNonceCounter,
    MemoryReplayCache,
    MemoryRevocationList,
    NonceCounter,
    NonceUse,
    ReplayCache,
    ResultCache,
    RevocationList,
)
from .throttle import FailureCounter, FailureLimit, MemoryFailureCounter, TooManyFailures
from .verifiers import (
    DiscoveryVerifier,
    IntrospectionVerifier,
    Issuer,
    JWKSClient,
    JWTOrIntrospection,
    JWTVerifier,
    TrustedIssuers,
)
from .verifiers.base import Verdict

__version__ = "0.1.0"

__all__ = [
    "EXTRACT_ONLY",
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "AuthContext",
    "AuthError",
    "AuthMiddleware",
    "AuthPolicy",
    "BasicPasswordVerifier",
    "Claim",
    "ConfigurationError",
    "DPoP",
    "DecisionEvent",
    "DiscoveryVerifier",
    "FailureCounter",
    "FailureLimit",
    "HTTPAuthorizationCredentials",
    "HTTPBase",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "HTTPDigest",
    "HashingBusy",
    "HashingPool",
    "InsufficientScope",
    "IntrospectionVerifier",
    "InvalidCredentials",
    "Issuer",
    "JSONAuditLog",
    "JWKSClient",
    "JWTOrIntrospection",
    "JWTVerifier",
    "MemoryFailureCounter",
    "MemoryNonceCounter",
    "MemoryReplayCache",
    "MemoryRevocationList",
    "NonceCounter",
    "NonceUse",
    "NotAuthenticated",
    "OAuth2",
    "OAuth2AuthorizationCodeBearer",
    "OAuth2ClientCredentials",
    "OAuth2FormError",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "OAuth2PasswordRequestFormStrict",
    "OpenIdConnect",
    "Principal",
    "ProtectedResource",
    "ReplayCache",
    "ResultCache",
    "RevocationList",
    "Rule",
    "SecurityScheme",
    "SecurityScopes",
    "ServiceUnavailable",
    "TooManyFailures",
    "TrustedIssuers",
    "Verdict",
    "WebSocketSubprotocolBearer",
    "get_auth",
    "get_security_scopes",
    "hash_password",
    "inline",
    "patch_openapi",
    "require_scopes",
    "verify_password",
]


def __getattr__(name: str) -> object:
    """`aa.otel` and `aa.testing`, imported when first used: neither loads otherwise."""
    if name in ("otel", "testing"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
