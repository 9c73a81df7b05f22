"""FastAPI's "OAuth2 scopes" tutorial, with every security check moved into the policy.

Run it:  uvicorn examples.oauth2_scopes:app   then open http://127.0.0.1:8000/docs
and authorize as johndoe / secret (alice / secret2 is a disabled user).
The docs work offline: Swagger UI's assets are served from an installed package.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import fastapi_offline
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

import asgi_auth as aa
from asgi_auth.integrations.fastapi import docs_rules, install

# openssl rand -hex 32 -- an example secret: use your own, from the environment.
SECRET_KEY = "09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7"
ALGORITHM = "HS256"
ACCESS_TOKEN_EXPIRE_MINUTES = 30

fake_users_db: dict[str, dict[str, Any]] = {
    "johndoe": {
        "username": "johndoe",
        "full_name": "John Doe",
        "email": "johndoe@example.com",
        "hashed_password": aa.hash_password("secret"),
        "disabled": False,
    },
    "alice": {
        "username": "alice",
        "full_name": "Alice Chains",
        "email": "alicechains@example.com",
        "hashed_password": aa.hash_password("secret2"),
        "disabled": True,
    },
}


class Token(BaseModel):
    access_token: str
    token_type: str


class User(BaseModel):
    username: str
    email: str | None = None
    full_name: str | None = None
    disabled: bool | None = None


# --- the declaration: what the middleware enforces and the docs show -----------------
# --8<-- [start:scheme]
oauth2_scheme = aa.OAuth2PasswordBearer(
    tokenUrl="token",
    scopes={"me": "Read information about the current user.", "items": "Read items."},
    verifier=aa.JWTVerifier(key=SECRET_KEY, algorithms=[ALGORITHM]),
)
# --8<-- [end:scheme]

# --8<-- [start:policy]
app = FastAPI(title="asgi_auth demo: OAuth2 scopes", docs_url=None, redoc_url=None)

policy = aa.AuthPolicy(
    rules=[
        aa.Rule("/token", require=[]),
        aa.Rule("/users/me/", require={oauth2_scheme: ["me"]}),
        aa.Rule("/users/me/items/", require={oauth2_scheme: ["me", "items"]}),
        aa.Rule("/status/", require=oauth2_scheme),
        aa.Rule("/docs", methods=["GET"], require=[]),
        aa.Rule("/static/{path:path}", methods=["GET"], require=[]),
        *docs_rules(app),  # /openapi.json and the OAuth2 redirect page
    ],
    default=oauth2_scheme,
)

install(app, policy, responses=True)  # the middleware, and app.openapi() patched to match
# --8<-- [end:policy]

# --- interactive docs from packaged assets (no CDN) ----------------------------------
# --8<-- [start:docs]
app.mount("/static", StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"), name="static")


@app.get("/docs", include_in_schema=False)
def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=str(app.openapi_url),
        title=app.title,
        oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
        swagger_js_url="/static/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger-ui.css",
        swagger_favicon_url="/static/favicon.png",
    )


@app.get(str(app.swagger_ui_oauth2_redirect_url), include_in_schema=False)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


# --8<-- [end:docs]


# --- the app: no security code left, only what it does with the identity -------------
# --8<-- [start:app]
def get_current_active_user(auth: Annotated[aa.AuthContext, Depends(aa.get_auth)]) -> User:
    record = fake_users_db.get(auth.principal.subject)
    if record is None:
        raise HTTPException(status_code=401, detail="Could not validate credentials")
    user = User(**record)
    if user.disabled:
        raise HTTPException(status_code=400, detail="Inactive user")
    return user


# The form is read from the request, so FastAPI cannot see it: `openapi()` documents it,
# and its RFC 6749 400 (an incomplete form; `install` answers the OAuth2FormError).
@app.post("/token", openapi_extra=aa.OAuth2PasswordRequestForm.openapi(detail_errors=True))
async def login_for_access_token(request: Request) -> Token:
    form = await aa.OAuth2PasswordRequestForm.from_request(request)
    record = fake_users_db.get(form.username)
    if record is None or not aa.verify_password(form.password, record["hashed_password"]):
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    claims = {
        "sub": record["username"],
        "scope": " ".join(form.scopes),
        "exp": int(time.time()) + ACCESS_TOKEN_EXPIRE_MINUTES * 60,
    }
    return Token(access_token=jwt.encode(claims, SECRET_KEY, algorithm=ALGORITHM), token_type="bearer")


@app.get("/users/me/")
async def read_users_me(current_user: Annotated[User, Depends(get_current_active_user)]) -> User:
    return current_user


@app.get("/users/me/items/")
async def read_own_items(current_user: Annotated[User, Depends(get_current_active_user)]) -> list[dict[str, str]]:
    return [{"item_id": "Foo", "owner": current_user.username}]


@app.get("/status/")
async def read_system_status(current_user: Annotated[User, Depends(get_current_active_user)]) -> dict[str, str]:
    return {"status": "ok"}


# --8<-- [end:app]
