"""One request, read by an asgi_auth scheme and by FastAPI's own class of the same
arguments: the real `fastapi.security` class called on a real Starlette `Request`."""

from __future__ import annotations

from typing import Any

import fastapi.security as fs
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel
from starlette.exceptions import HTTPException  # FastAPI raises it, or its subclass
from starlette.requests import Request

from asgi_auth._asgi import RequestView
from asgi_auth.schemes.base import MALFORMED, SecurityScheme
from tests.conftest import http_scope

REFUSED = "refused"  # FastAPI raised a 401 although auto_error=False: a malformed header


def scope_for(headers: dict[str, str] | None = None, query: str = "") -> dict[str, Any]:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    return http_scope(headers=raw, query_string=query.encode("latin-1"))


def plain(value: Any) -> Any:
    """Credentials as data: a pydantic model's fields, anything else as it is."""
    return value.model_dump() if isinstance(value, BaseModel) else value


async def fastapi_reads(peer: Any, scope: dict[str, Any]) -> Any:
    """What FastAPI's class hands the app for `scope` (`auto_error=False`), as the newest
    FastAPI reads it (see `FASTAPI_STRIPS`)."""
    try:
        read = plain(await peer(Request(scope)))
    except HTTPException as exc:
        assert exc.status_code == 401
        return REFUSED
    if FASTAPI_STRIPS:
        return read
    # The token alone is stripped; OAuth2 and OpenIdConnect hand over the whole header.
    if isinstance(peer, (fs.OAuth2PasswordBearer, fs.OAuth2AuthorizationCodeBearer)) and isinstance(read, str):
        return read.strip()
    if isinstance(read, dict) and isinstance(read.get("credentials"), str):
        return {**read, "credentials": read["credentials"].strip()}
    return read


#: FastAPI strips the padding around a token in releases after 0.123.0 (`Bearer  tok `
#: is `tok`), as asgi_auth always has; an older FastAPI's reading (the oldest-versions
#: session runs 0.123.0) is compared as the newer one gives it.
FASTAPI_STRIPS = get_authorization_scheme_param("Bearer  tok ")[1] == "tok"


def asgi_auth_reads(scheme: SecurityScheme, scope: dict[str, Any]) -> Any:
    """What the asgi_auth scheme extracts for `scope`: its credentials, `None`, or a
    refusal (`MALFORMED` is the 401 FastAPI raises)."""
    credentials = scheme.extract(RequestView(scope))
    return REFUSED if credentials is MALFORMED else plain(credentials)


async def fastapi_challenge(peer: Any) -> str | None:
    """The `WWW-Authenticate` FastAPI's class (`auto_error=True`) answers a bare request."""
    try:
        await peer(Request(scope_for()))
    except HTTPException as exc:
        return (exc.headers or {}).get("WWW-Authenticate")
    raise AssertionError("FastAPI's class let a request without credentials through")


def fastapi_openapi(peer: Any) -> dict[str, Any]:
    model: dict[str, Any] = peer.model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return model
