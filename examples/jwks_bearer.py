"""Bearer JWTs verified against a JSON Web Key Set fetched over HTTP.

The app plays both roles so it runs on its own: it publishes a JWKS at
`/.well-known/jwks.json` and issues tokens at `/token`; the middleware fetches that key
set like it would fetch an identity provider's.

Run it:  uvicorn examples.jwks_bearer:app
"""

from __future__ import annotations

import os
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa

SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "demo-1"


def create_app(jwks_url: str) -> Starlette:
    # --8<-- [start:jwks]
    bearer = aa.HTTPBearer(
        bearerFormat="JWT",
        verifier=aa.JWTVerifier(jwks_url=jwks_url, algorithms=["RS256"], audience="example-api"),
    )
    policy = aa.AuthPolicy(
        rules=[
            aa.Rule("/.well-known/jwks.json", require=[]),
            aa.Rule("/token", require=[]),
            aa.Rule("/write", require={bearer: ["write"]}),
        ],
        default=bearer,
    )
    # --8<-- [end:jwks]

    async def jwks(request: Request) -> JSONResponse:
        key = RSAAlgorithm.to_jwk(SIGNING_KEY.public_key(), as_dict=True)
        return JSONResponse({"keys": [{**key, "kid": KID, "alg": "RS256", "use": "sig"}]})

    async def token(request: Request) -> JSONResponse:
        claims = {"sub": "alice", "aud": "example-api", "scope": request.query_params.get("scope", "read")}
        claims["exp"] = int(time.time()) + 300
        return JSONResponse({"access_token": jwt.encode(claims, SIGNING_KEY, "RS256", headers={"kid": KID})})

    async def read(request: Request) -> JSONResponse:
        auth = aa.get_auth(request)
        return JSONResponse({"sub": auth.claims["sub"], "scopes": sorted(auth.scopes)})

    app = Starlette(
        routes=[
            Route("/.well-known/jwks.json", jwks),
            Route("/token", token),
            Route("/read", read),
            Route("/write", read, methods=["POST"]),
        ]
    )
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


app = create_app(os.environ.get("JWKS_URL", "http://127.0.0.1:8000/.well-known/jwks.json"))
