"""OAuth 2.0 bearer-token schemes (RFC 6749, tokens per RFC 6750)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._asgi import RequestView
from .base import SecurityScheme, VerifierOption, clean, split_authorization
from .http import AUTHORIZATION

__all__ = ["OAuth2", "OAuth2AuthorizationCodeBearer", "OAuth2PasswordBearer"]


def bearer_token(request: RequestView) -> str | None:
    """The token of an `Authorization: Bearer …` header, else the whole header.

    FastAPI's `OAuth2` and `OpenIdConnect` hand the app the raw header; stripping the
    `Bearer ` word here means a verifier always receives the token itself.
    """
    authorization = request.header(AUTHORIZATION)
    if not authorization:
        return None
    scheme, param = split_authorization(authorization)
    return param if scheme.lower() == "bearer" else authorization


class OAuth2(SecurityScheme):
    """OAuth 2.0 with arbitrary `flows`; any `Authorization` header is taken."""

    bearer = True
    source_header = AUTHORIZATION

    def __init__(
        self,
        *,
        flows: Mapping[str, Any] | Any = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier)
        if flows is None:
            flows = {}
        elif hasattr(flows, "model_dump"):  # FastAPI's OAuthFlows model
            flows = flows.model_dump(by_alias=True, exclude_none=True)
        self.flows: dict[str, Any] = clean(flows)

    def extract(self, request: RequestView) -> Any:
        return bearer_token(request)

    def challenge(self) -> str:
        return "Bearer"

    @property
    def declared_scopes(self) -> frozenset[str] | None:
        if not self.flows:
            return None
        return frozenset(scope for flow in self.flows.values() for scope in flow.get("scopes", {}))

    def openapi(self) -> dict[str, Any]:
        return self._with_description({"type": "oauth2", "flows": self.flows})


class _OAuth2Bearer(OAuth2):
    def extract(self, request: RequestView) -> Any:
        authorization = request.header(AUTHORIZATION)
        scheme, param = split_authorization(authorization)
        if not authorization or scheme.lower() != "bearer":
            return None
        return param


class OAuth2PasswordBearer(_OAuth2Bearer):
    """OAuth 2.0 password flow; the verifier receives the bearer token (a `str`)."""

    def __init__(
        self,
        tokenUrl: str,  # noqa: N803 - FastAPI's (and OpenAPI's) spelling
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
        refreshUrl: str | None = None,  # noqa: N803
        *,
        verifier: VerifierOption = None,
    ) -> None:
        flows = {"password": {"tokenUrl": tokenUrl, "refreshUrl": refreshUrl, "scopes": dict(scopes or {})}}
        super().__init__(
            flows=flows, scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier
        )


class OAuth2AuthorizationCodeBearer(_OAuth2Bearer):
    """OAuth 2.0 authorization-code flow; the verifier receives the bearer token."""

    def __init__(
        self,
        authorizationUrl: str,  # noqa: N803
        tokenUrl: str,  # noqa: N803
        refreshUrl: str | None = None,  # noqa: N803
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
        *,
        verifier: VerifierOption = None,
    ) -> None:
        flows = {
            "authorizationCode": {
                "authorizationUrl": authorizationUrl,
                "tokenUrl": tokenUrl,
                "refreshUrl": refreshUrl,
                "scopes": dict(scopes or {}),
            }
        }
        super().__init__(
            flows=flows, scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier
        )
