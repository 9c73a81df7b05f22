"""OpenID Connect: the scheme discovers the issuer and its keys from the provider.

The app also serves a tiny provider (discovery document, keys, a token endpoint) so
that it runs on its own; set `OIDC_BASE_URL` to a real provider's issuer instead. Its
ID tokens are what a real provider issues: for one client (`aud`), with no `scope`
claim (scopes are granted to access tokens, not written into ID tokens), so the
policy asks for a valid token, not for a scope.

Run it:  uvicorn examples.openid_connect:app
"""

from __future__ import annotations

import os
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa

PROVIDER_KEY = ec.generate_private_key(ec.SECP256R1())


def create_app(base_url: str) -> Starlette:
    # --8<-- [start:oidc]
    oidc = aa.OpenIdConnect(
        openIdConnectUrl=f"{base_url}/.well-known/openid-configuration",
        audience="example-client",  # the client ID the ID tokens are issued to
    )
    policy = aa.AuthPolicy(
        rules=[aa.Rule("/.well-known/{doc}", require=[]), aa.Rule("/provider/{rest:path}", require=[])],
        default=oidc,  # a valid ID token for this client: ID tokens carry no scopes
    )
    # --8<-- [end:oidc]

    async def discovery(request: Request) -> JSONResponse:
        if request.path_params["doc"] != "openid-configuration":
            return JSONResponse({}, status_code=404)
        return JSONResponse(
            {
                "issuer": base_url,
                "jwks_uri": f"{base_url}/provider/keys",
                "token_endpoint": f"{base_url}/provider/token",
                "id_token_signing_alg_values_supported": ["ES256"],
            }
        )

    async def keys(request: Request) -> JSONResponse:
        key = ECAlgorithm.to_jwk(PROVIDER_KEY.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**key, "kid": "p1", "alg": "ES256"}]})

    async def token(request: Request) -> JSONResponse:
        claims = {"iss": base_url, "aud": "example-client", "sub": "alice", "email": "alice@example.com"}
        claims["iat"] = int(time.time())
        claims["exp"] = int(time.time()) + 300
        return JSONResponse({"id_token": jwt.encode(claims, PROVIDER_KEY, "ES256", headers={"kid": "p1"})})

    async def profile(request: Request) -> JSONResponse:
        return JSONResponse({"sub": aa.get_auth(request).claims["sub"]})

    app = Starlette(
        routes=[
            Route("/.well-known/{doc}", discovery),
            Route("/provider/keys", keys),
            Route("/provider/token", token),
            Route("/profile", profile),
        ]
    )
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


app = create_app(os.environ.get("OIDC_BASE_URL", "http://127.0.0.1:8000"))
