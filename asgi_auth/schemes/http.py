"""HTTP authentication schemes (RFC 9110 §11): Basic (RFC 7617) and Bearer (RFC 6750)."""

from __future__ import annotations

import binascii
from base64 import b64decode
from typing import Any

from pydantic import BaseModel

from .._asgi import RequestView
from ..errors import check_header_value, quote
from .base import MALFORMED, SecurityScheme, VerifierOption, split_authorization

__all__ = ["HTTPAuthorizationCredentials", "HTTPBase", "HTTPBasic", "HTTPBasicCredentials", "HTTPBearer"]

AUTHORIZATION = b"authorization"


class HTTPBasicCredentials(BaseModel):
    """Username and password from a Basic `Authorization` header (FastAPI's model)."""

    username: str
    password: str

    def __repr_args__(self) -> Any:
        yield "username", self.username
        yield "password", "********"


class HTTPAuthorizationCredentials(BaseModel):
    """An `Authorization` header split at its first space (FastAPI's model)."""

    scheme: str
    credentials: str

    def __repr_args__(self) -> Any:
        yield "scheme", self.scheme
        yield "credentials", "********"


class HTTPBase(SecurityScheme):
    """Any `Authorization: <scheme> <credentials>` header (OpenAPI `http`)."""

    source_header: bytes | None = AUTHORIZATION

    def __init__(
        self,
        *,
        scheme: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier)
        self.scheme = check_header_value(scheme, "scheme")

    def extract(self, request: RequestView) -> Any:
        authorization = request.header(AUTHORIZATION)
        scheme, credentials = split_authorization(authorization)
        if not (scheme and credentials):
            return None
        return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)

    def challenge(self) -> str:
        return self.scheme.title()

    def openapi(self) -> dict[str, Any]:
        return self._with_description({"type": "http", "scheme": self.scheme})


class HTTPBasic(HTTPBase):
    """HTTP Basic (RFC 7617): the verifier receives `HTTPBasicCredentials`.

    As in FastAPI, a header of another scheme counts as absent, while a Basic header
    that does not decode to `user:password` is refused with 401 whatever `auto_error`.
    """

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        realm: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
    ) -> None:
        super().__init__(
            scheme="basic", scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier
        )
        self.realm = check_header_value(realm, "realm") if realm else realm

    def extract(self, request: RequestView) -> Any:
        authorization = request.header(AUTHORIZATION)
        scheme, param = split_authorization(authorization)
        if not authorization or scheme.lower() != "basic":
            return None
        try:
            data = b64decode(param).decode("ascii")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return MALFORMED
        username, separator, password = data.partition(":")
        if not separator:
            return MALFORMED
        return HTTPBasicCredentials(username=username, password=password)

    def challenge(self) -> str:
        return f"Basic realm={quote(self.realm)}" if self.realm else "Basic"


class HTTPBearer(HTTPBase):
    """HTTP Bearer (RFC 6750): the verifier receives the token (a `str`).

    `AuthContext.credentials` is the `HTTPAuthorizationCredentials`, as FastAPI's
    `HTTPBearer` returns it.
    """

    bearer = True

    def __init__(
        self,
        *,
        bearerFormat: str | None = None,  # noqa: N803 - FastAPI's (and OpenAPI's) spelling
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
    ) -> None:
        super().__init__(
            scheme="bearer", scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier
        )
        self.bearerFormat = bearerFormat

    def extract(self, request: RequestView) -> Any:
        credentials = super().extract(request)
        if credentials is None or credentials.scheme.lower() != "bearer":
            return None
        return credentials

    def verify(self, credentials: Any) -> Any:
        return super().verify(credentials.credentials)

    def lifetime(self, credentials: Any) -> tuple[float, float] | None:
        return super().lifetime(credentials.credentials)

    def challenge(self) -> str:
        return "Bearer"

    def openapi(self) -> dict[str, Any]:
        model: dict[str, Any] = {"type": "http", "scheme": "bearer"}
        if self.bearerFormat is not None:
            model["bearerFormat"] = self.bearerFormat
        return self._with_description(model)
