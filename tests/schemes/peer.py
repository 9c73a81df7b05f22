"""One request, read by an asgi_auth scheme and by FastAPI's own class of the same
arguments: the real `fastapi.security` class called on a real Starlette `Request`."""

from __future__ import annotations

from typing import Any

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
    """What FastAPI's class hands the app for `scope` (`auto_error=False`)."""
    try:
        return plain(await peer(Request(scope)))
    except HTTPException as exc:
        assert exc.status_code == 401
        return REFUSED


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
