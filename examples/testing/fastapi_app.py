"""The FastAPI app of "Testing your app": bearer JWTs from a provider's JWKS, scopes per route.

Run it:  uvicorn --factory examples.testing.fastapi_app:create_app   (JWKS_URL set to your provider's key set)
"""

from __future__ import annotations

import os

from fastapi import Depends, FastAPI

import asgi_auth as aa


# --8<-- [start:app]
def create_app(jwks_url: str | None = None) -> FastAPI:
    bearer = aa.OAuth2PasswordBearer(
        tokenUrl="token",
        scopes={"me": "Read your profile", "items": "Read your items"},
        verifier=aa.JWTVerifier(jwks_url=jwks_url or os.environ["JWKS_URL"], algorithms=["RS256"], audience="api"),
    )
    policy = aa.AuthPolicy(
        [
            aa.Rule("/health", require=[]),
            aa.Rule("/users/me", require={bearer: ["me"]}),
            aa.Rule("/users/me/items", require={bearer: ["me", "items"]}),
        ],
        default=bearer,
    )
    app = FastAPI()
    app.state.policy = policy  # where the tests find it

    @app.get("/users/me")
    def me(auth: aa.AuthContext = Depends(aa.get_auth)) -> dict[str, str]:
        return {"user": auth.principal.subject}

    @app.get("/users/me/items")
    def items(auth: aa.AuthContext = Depends(aa.get_auth)) -> dict[str, list[str]]:
        return {"items": [f"{auth.principal.subject}'s book"]}

    app.add_middleware(aa.AuthMiddleware, policy=policy)
    return app


# --8<-- [end:app]
