"""Roles and groups from the token's claims, required beside scopes.

Keycloak puts realm roles in `realm_access.roles` and client roles in
`resource_access.<client>.roles`; the rules below require them with `aa.Claim`. The app
issues its own HS256 tokens at `/token?roles=admin` so it runs on its own.

Run it:  uvicorn examples.roles:app
"""

from __future__ import annotations

import os
import time

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa

SECRET = os.environ.get("ROLES_DEMO_SECRET", "roles-demo-secret-change-me-0123456789")

# --8<-- [start:roles]
bearer = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"reports": "Read reports"},
    verifier=aa.JWTVerifier(key=SECRET, algorithms=["HS256"]),
)
admin = aa.Claim("realm_access", "roles", contains="admin")
viewer = aa.Claim("resource_access", "reports-api", "roles", contains_any=["viewer", "editor"])

policy = aa.AuthPolicy(
    rules=[
        aa.Rule("/token", require=[]),
        aa.Rule("/admin", require={bearer: [admin]}),
        aa.Rule("/reports", require={bearer: ["reports", viewer]}),
    ],
    default=bearer,
)
# --8<-- [end:roles]


async def token(request: Request) -> JSONResponse:
    roles = request.query_params.get("roles", "").split(",")
    claims = {
        "sub": "alice",
        "scope": request.query_params.get("scope", "reports"),
        "realm_access": {"roles": [r for r in roles if r]},
        "resource_access": {"reports-api": {"roles": [r for r in roles if r in ("viewer", "editor")]}},
        "exp": int(time.time()) + 300,
    }
    return JSONResponse({"access_token": jwt.encode(claims, SECRET, "HS256"), "token_type": "bearer"})


async def whoami(request: Request) -> JSONResponse:
    auth = aa.get_auth(request)
    return JSONResponse({"sub": auth.claims["sub"], "roles": auth.claims["realm_access"]["roles"]})


app = Starlette(routes=[Route("/token", token), Route("/admin", whoami), Route("/reports", whoami)])
app.add_middleware(aa.AuthMiddleware, policy=policy)
