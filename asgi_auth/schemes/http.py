"""HTTP authentication schemes (RFC 9110 §11): Basic (RFC 7617) and Bearer (RFC 6750)."""

from __future__ import annotations

import binascii
from base64 import b64decode
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from .._asgi import RequestView
from .._headers import quote, split_authorization
from ..errors import ConfigurationError, check_header_value
from ..verifiers.base import Answer
from .base import MALFORMED, SecurityScheme, VerifierOption
from .dpop import NOT_DPOP, DPoPOption, extract_dpop

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
        dpop: DPoPOption = None,
    ) -> None:
        super().__init__(
            scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier, dpop=dpop
        )
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


def _decode_ascii(data: bytes) -> str:
    return data.decode("ascii")


def _decode_basic(data: bytes) -> str:
    """`user-id:password` bytes as text: UTF-8, which every client we know sends for
    non-ASCII (RFC 7617 §2.1), else latin-1, which requests sends for a `str` it can
    encode so. Either way the password is then checked: a spelling is not a pass."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


class HTTPBasic(HTTPBase):
    """HTTP Basic (RFC 7617): the verifier receives `HTTPBasicCredentials`.

    As in FastAPI, a header of another scheme counts as absent, while a Basic header
    that does not decode to `user:password` is refused with 401 whatever `auto_error`.
    With a verifier, the pair is decoded as UTF-8 (latin-1 where the bytes are not
    UTF-8); extract-only, as FastAPI does, ASCII only, since the app's own check reads
    it so. `charset="UTF-8"` adds RFC 7617's `charset` to the challenge (off by default,
    so that the challenge stays FastAPI's).
    """

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        realm: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
        charset: str | None = None,
    ) -> None:
        super().__init__(
            scheme="basic", scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier
        )
        self.realm = check_header_value(realm, "realm") if realm else realm
        if charset is not None and charset.upper() != "UTF-8":
            raise ConfigurationError(f'HTTPBasic: charset may only be "UTF-8" (RFC 7617 §2.1), not {charset!r}')
        self.charset = "UTF-8" if charset is not None else None
        self._decode: Callable[[bytes], str] = _decode_basic if self.verifier is not None else _decode_ascii

    def extract(self, request: RequestView) -> Any:
        authorization = request.header(AUTHORIZATION)
        scheme, param = split_authorization(authorization)
        if not authorization or scheme.lower() != "basic":
            return None
        try:
            data = self._decode(b64decode(param))
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return MALFORMED
        username, separator, password = data.partition(":")
        if not separator:
            return MALFORMED
        return HTTPBasicCredentials(username=username, password=password)

    def challenge(self) -> str:
        params = [f"realm={quote(self.realm)}"] if self.realm else []
        if self.charset:
            params.append('charset="UTF-8"')
        return "Basic " + ", ".join(params) if params else "Basic"


class HTTPBearer(HTTPBase):
    """HTTP Bearer (RFC 6750): the verifier receives the token (a `str`).

    `AuthContext.credentials` is the `HTTPAuthorizationCredentials`, as FastAPI's
    `HTTPBearer` returns it (`scheme="DPoP"` for a DPoP request). `dpop="required"` or
    `"allowed"` (or `aa.DPoP(...)`) takes DPoP-bound tokens (RFC 9449, schemes/dpop.py).
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
        dpop: DPoPOption = None,
    ) -> None:
        super().__init__(
            scheme="bearer",
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
            verifier=verifier,
            dpop=dpop,
        )
        self.bearerFormat = bearerFormat

    def extract(self, request: RequestView) -> Any:
        if self.dpop is not None:
            found = extract_dpop(self.dpop, request, whole_header=False)
            if found is False:
                return MALFORMED
            if found is not NOT_DPOP:
                # Not validated: pydantic would make the credential a plain `str`.
                return (
                    None
                    if found is None
                    else HTTPAuthorizationCredentials.model_construct(scheme="DPoP", credentials=found)
                )
        credentials = super().extract(request)
        if credentials is None or credentials.scheme.lower() != "bearer":
            return None
        return credentials

    def verify(self, credentials: HTTPAuthorizationCredentials) -> Answer | Awaitable[Answer]:
        return super().verify(credentials.credentials)

    def verifier_argument(self, credentials: HTTPAuthorizationCredentials) -> Any:
        return credentials.credentials

    def challenge(self) -> str:
        return "Bearer"

    def openapi(self) -> dict[str, Any]:
        # "DPoP" is a registered HTTP authentication scheme (RFC 9449 §12.1), which is
        # what OpenAPI's `http` type names.
        required = self.dpop is not None and self.dpop.required
        model: dict[str, Any] = {"type": "http", "scheme": "dpop" if required else "bearer"}
        if self.bearerFormat is not None:
            model["bearerFormat"] = self.bearerFormat
        return self._with_description(model)
