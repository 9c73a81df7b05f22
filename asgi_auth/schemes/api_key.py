"""API keys in a header, a query parameter or a cookie (OpenAPI `apiKey`)."""

from __future__ import annotations

from typing import Any

from .._asgi import RequestView
from .base import SecurityScheme, VerifierOption, header_name

__all__ = ["APIKeyBase", "APIKeyCookie", "APIKeyHeader", "APIKeyQuery"]


class APIKeyBase(SecurityScheme):
    """An API key named `name` in `location`; empty values count as absent (as FastAPI)."""

    location: str

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier)
        self.name = name
        self._raw_name = header_name(name) if self.location == "header" else b""
        if self.location == "header":
            self.source_header = self._raw_name

    def challenge(self) -> str:
        return "APIKey"

    def openapi(self) -> dict[str, Any]:
        return self._with_description({"type": "apiKey", "in": self.location, "name": self.name})


class APIKeyHeader(APIKeyBase):
    """An API key in the header `name` (case-insensitive); the verifier receives the `str`."""

    location = "header"

    def extract(self, request: RequestView) -> Any:
        return request.header(self._raw_name) or None


class APIKeyQuery(APIKeyBase):
    """An API key in the query parameter `name`; the verifier receives the `str`."""

    location = "query"

    def extract(self, request: RequestView) -> Any:
        return request.query(self.name) or None


class APIKeyCookie(APIKeyBase):
    """An API key in the cookie `name`; the verifier receives the `str`."""

    location = "cookie"

    def extract(self, request: RequestView) -> Any:
        return request.cookie(self.name) or None
