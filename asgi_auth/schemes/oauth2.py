"""OAuth 2.0 bearer-token schemes (RFC 6749, tokens per RFC 6750)."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from .._asgi import RequestView
from .._headers import split_authorization
from ..verifiers.base import Answer
from .base import MALFORMED, SecurityScheme, VerifierOption, clean
from .dpop import NOT_DPOP, DPoPCredential, DPoPOption, extract_dpop
from .http import AUTHORIZATION

__all__ = [
    "AuthorizationValue",
    "OAuth2",
    "OAuth2AuthorizationCodeBearer",
    "OAuth2ClientCredentials",
    "OAuth2PasswordBearer",
]


class AuthorizationValue(SecurityScheme):
    """Credentials that are the whole `Authorization` header value, as FastAPI's `OAuth2`
    and `OpenIdConnect` return it (`"Bearer abc"`), while the verifier gets the token.

    With a verifier only a bearer token is taken: a header of another auth scheme is no
    credential for it (`Other abc` is not a token). Extract-only, any value is handed
    on, as FastAPI does.
    """

    bearer = True
    source_header = AUTHORIZATION

    def extract(self, request: RequestView) -> Any:
        if self.dpop is not None:
            found = extract_dpop(self.dpop, request, whole_header=self._whole_header)
            if found is not NOT_DPOP:
                return MALFORMED if found is False else found
        authorization = request.header(AUTHORIZATION)
        if not authorization:
            return None
        if self.verifier is not None:
            scheme, token = split_authorization(authorization)
            if scheme.lower() != "bearer" or not token:
                return None
        return authorization

    #: Whether the credentials are the whole header (`OAuth2`) or the token alone.
    _whole_header = True

    def verify(self, credentials: str) -> Answer | Awaitable[Answer]:
        if type(credentials) is DPoPCredential:
            return super().verify(credentials)  # it carries its token
        return super().verify(split_authorization(credentials)[1])

    def verifier_argument(self, credentials: str) -> Any:
        return split_authorization(credentials)[1]

    def challenge(self) -> str:
        return "Bearer"


class OAuth2(AuthorizationValue):
    """OAuth 2.0 with arbitrary `flows`; the verifier receives the bearer token.

    `AuthContext.credentials` is the whole `Authorization` value, as FastAPI's `OAuth2`
    returns it.
    """

    def __init__(
        self,
        *,
        flows: Mapping[str, Any] | Any = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
        dpop: DPoPOption = None,
    ) -> None:
        super().__init__(
            scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier, dpop=dpop
        )
        if flows is None:
            flows = {}
        elif hasattr(flows, "model_dump"):  # FastAPI's OAuthFlows model
            flows = flows.model_dump(by_alias=True, exclude_none=True)
        self.flows: dict[str, Any] = clean(flows)

    @property
    def declared_scopes(self) -> frozenset[str] | None:
        """The flows' scopes; `None` (any scope) when they declare none, as FastAPI takes any."""
        declared = frozenset(scope for flow in self.flows.values() for scope in flow.get("scopes", {}))
        return declared or None

    def openapi(self) -> dict[str, Any]:
        return self._with_description({"type": "oauth2", "flows": self.flows})


class _OAuth2Bearer(OAuth2):
    """The password and authorization-code flows: FastAPI's classes return the token
    alone, and so `credentials` is the token here too."""

    verify = SecurityScheme.verify  # the credentials are the token: nothing to adapt
    _whole_header = False
    verifier_argument = SecurityScheme.verifier_argument

    def extract(self, request: RequestView) -> Any:
        if self.dpop is not None:
            found = extract_dpop(self.dpop, request, whole_header=False)
            if found is not NOT_DPOP:
                return MALFORMED if found is False else found
        authorization = request.header(AUTHORIZATION)
        scheme, param = split_authorization(authorization)
        if not authorization or scheme.lower() != "bearer":
            return None
        return param


class _TokenUrlBearer(_OAuth2Bearer):
    """A flow that takes a token from `tokenUrl` alone (password, client credentials):
    one signature, FastAPI's `OAuth2PasswordBearer`'s, with the flow's name in `_flow`."""

    _flow: str

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
        dpop: DPoPOption = None,
    ) -> None:
        flows = {self._flow: {"tokenUrl": tokenUrl, "refreshUrl": refreshUrl, "scopes": dict(scopes or {})}}
        super().__init__(
            flows=flows,
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
            verifier=verifier,
            dpop=dpop,
        )


class OAuth2PasswordBearer(_TokenUrlBearer):
    """OAuth 2.0 password flow; the verifier receives the bearer token (a `str`)."""

    _flow = "password"


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
        dpop: DPoPOption = None,
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
            flows=flows,
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
            verifier=verifier,
            dpop=dpop,
        )


class OAuth2ClientCredentials(_TokenUrlBearer):
    """OAuth 2.0 client-credentials flow (RFC 6749 §4.4): machine clients get a token
    from `tokenUrl` with their own credentials; the verifier receives the bearer token.

    FastAPI has no class for it (its `OAuth2` takes `flows=` by hand); this one writes
    OpenAPI's `flows.clientCredentials`, which Swagger UI offers as a client ID and
    secret form. `credentials` is the token alone, as for the password flow.
    """

    _flow = "clientCredentials"
