"""OAuth 2.0 token-endpoint forms (RFC 6749 §4.3.2), parsed from any ASGI request.

`OAuth2PasswordRequestForm` has FastAPI's fields and rules; bad input raises
`OAuth2FormError`, whose `response` is the RFC 6749 §5.2 JSON answer (400).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from ._types import Receive, Scope, Send

__all__ = ["OAuth2FormError", "OAuth2PasswordRequestForm", "OAuth2PasswordRequestFormStrict"]

MAX_FORM_BYTES = 64 * 1024


class OAuth2FormError(Exception):
    """A token request that cannot be processed; an ASGI app answering it per RFC 6749."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = 400

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = json.dumps({"error": self.error, "error_description": self.description}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
            (b"pragma", b"no-cache"),
        ]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})


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
    async def from_asgi(cls, scope: Scope, receive: Receive) -> OAuth2PasswordRequestForm:
        """Read and parse the request body (capped at 64 KiB)."""
        content_type = b""
        for key, value in scope.get("headers", []):
            if key == b"content-type":
                content_type = value.split(b";")[0].strip().lower()
                break
        if content_type != b"application/x-www-form-urlencoded":
            raise OAuth2FormError("invalid_request", "the body must be application/x-www-form-urlencoded")
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


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """The same, with `grant_type=password` required (RFC 6749)."""

    strict = True
