"""Before: `fastapi.security` in each endpoint's dependencies (the migration guide's left side)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Security
from fastapi.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2AuthorizationCodeBearer,
    OAuth2PasswordBearer,
    OpenIdConnect,
    SecurityScopes,
)

KEYS = {"k-1": "service"}
TOKENS = {"t-1": ("alice", {"me"})}
PASSWORDS = {"alice": "wonderland"}
app = FastAPI()


def invalid(challenge: str) -> HTTPException:
    return HTTPException(401, "Could not validate credentials", headers={"WWW-Authenticate": challenge})


# --8<-- [start:api_key]
api_key_header = APIKeyHeader(name="X-API-Key")
api_key_query = APIKeyQuery(name="api_key")
api_key_cookie = APIKeyCookie(name="session")


def check_key(key: str) -> str:
    if key not in KEYS:
        raise invalid("APIKey")
    return KEYS[key]


@app.get("/header")
def by_header(key: Annotated[str, Security(api_key_header)]) -> dict[str, str]:
    return {"caller": check_key(key)}


@app.get("/query")
def by_query(key: Annotated[str, Security(api_key_query)]) -> dict[str, str]:
    return {"caller": check_key(key)}


@app.get("/cookie")
def by_cookie(key: Annotated[str, Security(api_key_cookie)]) -> dict[str, str]:
    return {"caller": check_key(key)}


# --8<-- [end:api_key]


# --8<-- [start:basic]
basic = HTTPBasic(realm="example")


@app.get("/basic")
def by_basic(credentials: Annotated[HTTPBasicCredentials, Security(basic)]) -> dict[str, str]:
    if PASSWORDS.get(credentials.username) != credentials.password:  # (and not in constant time)
        raise invalid('Basic realm="example"')
    return {"caller": credentials.username}


# --8<-- [end:basic]


# --8<-- [start:bearer]
bearer = HTTPBearer()


@app.get("/bearer")
def by_bearer(credentials: Annotated[HTTPAuthorizationCredentials, Security(bearer)]) -> dict[str, str]:
    if credentials.credentials not in TOKENS:
        raise invalid('Bearer error="invalid_token"')
    return {"caller": TOKENS[credentials.credentials][0]}


# --8<-- [end:bearer]


# --8<-- [start:oauth2]
password_flow = OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read me"})
code_flow = OAuth2AuthorizationCodeBearer(authorizationUrl="authorize", tokenUrl="token", scopes={"me": "Read me"})


def current_user(security_scopes: SecurityScopes, token: str) -> str:
    if token not in TOKENS:
        raise invalid('Bearer error="invalid_token"')
    user, granted = TOKENS[token]
    if not set(security_scopes.scopes) <= granted:
        raise HTTPException(
            403,
            "Not enough permissions",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{security_scopes.scope_str}"'},
        )
    return user


def password_user(security_scopes: SecurityScopes, token: Annotated[str, Depends(password_flow)]) -> str:
    return current_user(security_scopes, token)


def code_user(security_scopes: SecurityScopes, token: Annotated[str, Depends(code_flow)]) -> str:
    return current_user(security_scopes, token)


@app.get("/password")
def by_password_flow(user: Annotated[str, Security(password_user, scopes=["me"])]) -> dict[str, str]:
    return {"caller": user}


@app.get("/code")
def by_code_flow(user: Annotated[str, Security(code_user, scopes=["me"])]) -> dict[str, str]:
    return {"caller": user}


# --8<-- [end:oauth2]


# --8<-- [start:oidc]
oidc = OpenIdConnect(openIdConnectUrl="https://id.example.com/.well-known/openid-configuration")


@app.get("/oidc")
def by_oidc(authorization: Annotated[str, Security(oidc)]) -> dict[str, bool]:
    # FastAPI hands over the raw header: fetching the provider's keys and verifying
    # the token is left to you.
    return {"has_token": bool(authorization)}


# --8<-- [end:oidc]
