"""After: the same app, its security declared once in a policy (the guide's right side)."""

from __future__ import annotations

# --8<-- [start:setup]
from typing import Annotated

from fastapi import Depends, FastAPI

import asgi_auth as aa

KEYS = {"k-1": "service"}
TOKENS = {"t-1": ("alice", {"me"})}
PASSWORDS = {"alice": aa.hash_password("wonderland")}
app = FastAPI()
Auth = Annotated[aa.AuthContext, Depends(aa.get_auth)]  # what each endpoint reads
# --8<-- [end:setup]


# --8<-- [start:api_key]
@aa.inline
def check_key(key: str) -> aa.Principal | None:
    return aa.Principal(KEYS[key]) if key in KEYS else None


api_key_header = aa.APIKeyHeader(name="X-API-Key", verifier=check_key)
api_key_query = aa.APIKeyQuery(name="api_key", verifier=check_key)
api_key_cookie = aa.APIKeyCookie(name="session", verifier=check_key)


@app.get("/header")
@app.get("/query")
@app.get("/cookie")
def by_key(auth: Auth) -> dict[str, str]:
    return {"caller": auth.principal.subject}


# --8<-- [end:api_key]


# --8<-- [start:basic]
basic = aa.HTTPBasic(realm="example", verifier=aa.BasicPasswordVerifier(PASSWORDS))


@app.get("/basic")
def by_basic(auth: Auth) -> dict[str, str]:
    return {"caller": auth.principal.subject}


# --8<-- [end:basic]


# --8<-- [start:bearer]
@aa.inline
def check_token(token: str) -> aa.Principal | None:
    if token not in TOKENS:
        return None
    user, scopes = TOKENS[token]
    return aa.Principal(user, scopes)


bearer = aa.HTTPBearer(verifier=check_token)


@app.get("/bearer")
def by_bearer(auth: Auth) -> dict[str, str]:
    return {"caller": auth.principal.subject}


# --8<-- [end:bearer]


# --8<-- [start:oauth2]
password_flow = aa.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Read me"}, verifier=check_token)
code_flow = aa.OAuth2AuthorizationCodeBearer(
    authorizationUrl="authorize", tokenUrl="token", scopes={"me": "Read me"}, verifier=check_token
)


@app.get("/password")
@app.get("/code")
def by_flow(auth: Auth) -> dict[str, str]:
    return {"caller": auth.principal.subject}


# --8<-- [end:oauth2]


# --8<-- [start:oidc]
# With no verifier, OpenIdConnect reads the discovery document and verifies tokens
# against the provider's keys. (verifier=aa.EXTRACT_ONLY keeps FastAPI's extract-only behaviour.)
oidc = aa.OpenIdConnect(
    openIdConnectUrl="https://id.example.com/.well-known/openid-configuration", verifier=aa.EXTRACT_ONLY
)


@app.get("/oidc")
def by_oidc(auth: Auth) -> dict[str, bool]:
    return {"has_token": bool(auth.credentials)}


# --8<-- [end:oidc]


# --8<-- [start:policy]
policy = aa.AuthPolicy(
    rules=[
        aa.Rule("/header", require=api_key_header),
        aa.Rule("/query", require=api_key_query),
        aa.Rule("/cookie", require=api_key_cookie),
        aa.Rule("/basic", require=basic),
        aa.Rule("/bearer", require=bearer),
        aa.Rule("/password", require={password_flow: ["me"]}),
        aa.Rule("/code", require={code_flow: ["me"]}),
        aa.Rule("/oidc", require=oidc),
    ],
    default=[],
)
app.add_middleware(aa.AuthMiddleware, policy=policy)
# --8<-- [end:policy]
