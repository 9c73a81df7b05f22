"""The security schemes: one small class per scheme, FastAPI's signatures plus `verifier=`."""

from .api_key import APIKeyBase, APIKeyCookie, APIKeyHeader, APIKeyQuery
from .base import EXTRACT_ONLY, SecurityScheme, inline
from .digest import HTTPDigest
from .http import HTTPAuthorizationCredentials, HTTPBase, HTTPBasic, HTTPBasicCredentials, HTTPBearer
from .oauth2 import OAuth2, OAuth2AuthorizationCodeBearer, OAuth2ClientCredentials, OAuth2PasswordBearer
from .openid_connect import OpenIdConnect
from .websocket import WebSocketSubprotocolBearer

__all__ = [
    "EXTRACT_ONLY",
    "APIKeyBase",
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBase",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "HTTPDigest",
    "OAuth2",
    "OAuth2AuthorizationCodeBearer",
    "OAuth2ClientCredentials",
    "OAuth2PasswordBearer",
    "OpenIdConnect",
    "SecurityScheme",
    "WebSocketSubprotocolBearer",
    "inline",
]
