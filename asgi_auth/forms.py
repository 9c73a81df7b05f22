"""OAuth 2.0 token-endpoint forms (RFC 6749 §4.3.2), parsed from any ASGI request.

`OAuth2PasswordRequestForm` has FastAPI's fields and rules; bad input raises
`OAuth2FormError`, which is itself the RFC 6749 §5.2 answer (400, JSON, `no-store`):
an ASGI app, and a Starlette `HTTPException` whose detail and headers are that answer,
so Starlette's own handler sends it unchanged and a token endpoint need not catch it
(FastAPI's handler wraps details in `{"detail": ...}`: `install(app, policy)` answers
it as is). `OAuth2PasswordRequestForm.openapi()` documents the form and its 400 for an
endpoint that reads the body itself, which FastAPI cannot see.
"""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException

from ._types import Receive, Scope, Send

__all__ = ["OAuth2FormError", "OAuth2PasswordRequestForm", "OAuth2PasswordRequestFormStrict"]

MAX_FORM_BYTES = 64 * 1024


#: RFC 6749 §5.2's error codes.
ERROR_CODES = (
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
)
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "OAuth2 token error (RFC 6749 §5.2)",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "enum": list(ERROR_CODES)},
        "error_description": {"type": "string"},
        "error_uri": {"type": "string"},
    },
}


class OAuth2FormError(HTTPException):
    """A token request that cannot be processed, and its RFC 6749 §5.2 answer: an ASGI
    app, and an `HTTPException` whose `detail` is the JSON body and whose `headers`
    carry its content type and `Cache-Control: no-store`."""

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description
        self.body = json.dumps({"error": error, "error_description": description}).encode()
        super().__init__(
            400,
            self.body.decode(),
            headers={"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def __str__(self) -> str:
        return self.description

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"cache-control", b"no-store"),
            (b"pragma", b"no-cache"),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class OAuth2PasswordRequestForm:
    """`grant_type` (optional, `password` if given), `username`, `password`, `scope`,
    `client_id`, `client_secret`; `scopes` is `scope` split on spaces."""

    strict = False

    def __init__(
        self,
        *,
        grant_type: str | None = None,
        username: str,
        password: str,
        scope: str = "",
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret

    def __repr__(self) -> str:
        return f"{type(self).__name__}(username={self.username!r}, scopes={self.scopes!r})"

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> OAuth2PasswordRequestForm:
        grant_type = fields.get("grant_type")
        if cls.strict and grant_type is None:
            raise OAuth2FormError("invalid_request", "grant_type is required")
        if grant_type is not None and grant_type != "password":
            raise OAuth2FormError("unsupported_grant_type", "grant_type must be 'password'")
        for name in ("username", "password"):
            if name not in fields:
                raise OAuth2FormError("invalid_request", f"{name} is required")
        return cls(
            grant_type=grant_type,
            username=fields["username"],
            password=fields["password"],
            scope=fields.get("scope", ""),
            client_id=fields.get("client_id"),
            client_secret=fields.get("client_secret"),
        )

    @classmethod
    def from_body(cls, content_type: str | bytes | None, body: bytes) -> OAuth2PasswordRequestForm:
        """From a body some framework already read (Django's `request.body`, Quart's
        `await request.get_data()`, Litestar's `await request.body()`)."""
        if isinstance(content_type, str):
            content_type = content_type.encode("latin-1", "replace")
        _check_content_type(content_type or b"")
        if len(body) > MAX_FORM_BYTES:
            raise OAuth2FormError("invalid_request", "the request body is too large")
        return cls._parse(bytes(body))

    @classmethod
    async def from_asgi(cls, scope: Scope, receive: Receive) -> OAuth2PasswordRequestForm:
        """Read and parse the request body (capped at 64 KiB)."""
        content_type = b""
        for key, value in scope.get("headers", []):
            if key == b"content-type":
                content_type = value
                break
        _check_content_type(content_type)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise OAuth2FormError("invalid_request", "the request body was not received")
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                raise OAuth2FormError("invalid_request", "the request body is too large")
            if not message.get("more_body", False):
                break
        return cls._parse(bytes(body))

    @classmethod
    def _parse(cls, body: bytes) -> OAuth2PasswordRequestForm:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise OAuth2FormError("invalid_request", "the body is not UTF-8") from None
        fields: dict[str, str] = {}
        for key, value in pairs:
            if key in fields:  # RFC 6749 §3.2: parameters must not be repeated
                raise OAuth2FormError("invalid_request", f"{key} is repeated")
            fields[key] = value
        return cls.from_fields(fields)

    @classmethod
    async def from_request(cls, request: Any) -> OAuth2PasswordRequestForm:
        """From a Starlette/FastAPI request (anything with `scope` and `receive`)."""
        return await cls.from_asgi(request.scope, request.receive)

    @classmethod
    def openapi(cls, *, detail_errors: bool = False) -> dict[str, Any]:
        """The operation's `requestBody` (this form) and its 400 (RFC 6749 §5.2), for an
        endpoint that parses the form itself: FastAPI's `openapi_extra=`, or merged
        into any document. `detail_errors=True` documents FastAPI's `{"detail": ...}`
        400 as well, for endpoints that also raise `HTTPException(400)`."""
        required = ["grant_type", "username", "password"] if cls.strict else ["username", "password"]
        grant: dict[str, Any] = {"type": "string", "enum": ["password"], "title": "Grant Type"}
        properties = {
            "grant_type": grant,
            "username": {"type": "string", "title": "Username"},
            "password": {"type": "string", "format": "password", "title": "Password"},
            "scope": {"type": "string", "default": "", "title": "Scope"},
            "client_id": {"type": "string", "title": "Client Id"},
            "client_secret": {"type": "string", "format": "password", "title": "Client Secret"},
        }
        error: dict[str, Any] = copy.deepcopy(ERROR_SCHEMA)
        if detail_errors:
            detail = {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}
            error = {"anyOf": [error, detail]}
        return {
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "title": cls.__name__,
                            "required": required,
                            "properties": properties,
                        }
                    }
                },
            },
            "responses": {
                "400": {
                    "description": "The token request was refused (RFC 6749 §5.2)",
                    "content": {"application/json": {"schema": error}},
                }
            },
        }


def _check_content_type(value: bytes) -> None:
    if value.split(b";")[0].strip().lower() != b"application/x-www-form-urlencoded":
        raise OAuth2FormError("invalid_request", "the body must be application/x-www-form-urlencoded")


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """The same, with `grant_type=password` required (RFC 6749)."""

    strict = True
