"""RFC 9728, OAuth 2.0 Protected Resource Metadata: the resource server says who it is.

`ProtectedResource(...)` is declared on the policy (`AuthPolicy(..., resource=...)`),
not on the middleware, because what it publishes is read off the policy: the scopes
listed are those the policy's rules require of bearer schemes, so the document cannot
disagree with what is enforced, and every integration that runs `AuthMiddleware` with
the policy publishes the same document. The middleware then

- answers `GET`/`HEAD` at the §3.1 location, `/.well-known/oauth-protected-resource`
  with the resource's path appended (and at the bare well-known path too, where MCP
  clients look last), before any rule is consulted: the document is public;
- adds `resource_metadata="<that URL>"` (§5.1) to every `Bearer` (and `DPoP`) challenge
  it sends, 401 and 403 alike, so a client that was refused learns where to get a token.

The document is encoded once; its answers carry an `ETag` and `Cache-Control`, and
`Access-Control-Allow-Origin: *` since it is public and browser-based clients (the MCP
inspector) fetch it cross-origin.

With a resource declared, every bearer scheme's verifier must accept only tokens whose
`aud` names this resource (RFC 8707 §2, RFC 9068 §4): a verifier that would accept
tokens for any other audience, or for none, is a start-up error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ._headers import quote
from ._types import Receive, Scope, Send
from .errors import ConfigurationError, ErrorResponse

if TYPE_CHECKING:
    from .policy import AuthPolicy

__all__ = ["WELL_KNOWN", "ProtectedResource", "ResourceMetadata", "accepted_audiences", "with_resource_metadata"]

logger = logging.getLogger("asgi_auth")

#: RFC 9728 §3's well-known URI suffix.
WELL_KNOWN = "/.well-known/oauth-protected-resource"
_OAUTH_SCHEMES = frozenset({"bearer", "dpop"})  # the challenges `resource_metadata` goes in
_BEARER_METHODS = frozenset({"header"})  # what asgi_auth's bearer schemes read
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_KEPT = 1024  # decorated refusals remembered (the policy's tables are small and fixed)
_URL_CHARS = re.compile(r"[!#-\[\]-~]+")  # printable ASCII but '"' and '\\': what a URL is made of


def _url(value: str, what: str, *, https: bool = True) -> str:
    """An absolute URL; https unless the host is loopback (a development server).

    It goes in a header (`resource_metadata`) and in a public document, so it is held to
    RFC 3986's characters: printable ASCII, no quote or backslash (non-ASCII would make
    every refusal a 500, and `urlsplit` silently drops tabs), and no `user:password@`.
    """
    if not isinstance(value, str):
        raise ConfigurationError(f"ProtectedResource: {what} must be a URL string, not {value!r}")
    if not _URL_CHARS.fullmatch(value):
        raise ConfigurationError(
            f"ProtectedResource: {what}={value!r} holds characters a URL cannot (percent-encode them; "
            "an international host name in its xn-- form)"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise ConfigurationError(f"ProtectedResource: {what}={value!r} must be an absolute https URL without fragment")
    if "@" in parts.netloc:  # not echoed: it may be a password
        raise ConfigurationError(f"ProtectedResource: {what} must not carry user:password@ (RFC 9110 §4.2.4)")
    if https and parts.scheme == "http" and (parts.hostname or "") not in _LOOPBACK:
        raise ConfigurationError(f"ProtectedResource: {what}={value!r} must use https (http only on loopback)")
    return value


class ProtectedResource:
    """The RFC 9728 §2 metadata of this resource server, declared once.

    `resource` is the resource identifier (an https URL without query or fragment:
    `https://api.example.com/mcp`), which is also the audience tokens must carry.
    `authorization_servers` are the issuer identifiers of the servers whose tokens are
    accepted. `scopes_supported` is not taken: it is read from the policy. The other
    keywords are the RFC's optional fields, published as given.
    """

    def __init__(
        self,
        resource: str,
        *,
        authorization_servers: Sequence[str] = (),
        bearer_methods_supported: Sequence[str] = ("header",),
        resource_signing_alg_values_supported: Sequence[str] | None = None,
        resource_name: str | None = None,
        resource_documentation: str | None = None,
        resource_policy_uri: str | None = None,
        resource_tos_uri: str | None = None,
        jwks_uri: str | None = None,
        tls_client_certificate_bound_access_tokens: bool | None = None,
        authorization_details_types_supported: Sequence[str] | None = None,
        dpop_signing_alg_values_supported: Sequence[str] | None = None,
        dpop_bound_access_tokens_required: bool | None = None,
        serve_root: bool = True,
        max_age: int = 3600,
    ) -> None:
        self.resource = _url(resource, "resource")
        parts = urlsplit(resource)
        if parts.query:
            raise ConfigurationError(f"ProtectedResource: resource={resource!r} must not have a query (RFC 9728 §1.2)")
        if isinstance(authorization_servers, str):
            authorization_servers = [authorization_servers]
        self.authorization_servers = [_url(s, "authorization_servers entry") for s in authorization_servers]
        methods = list(bearer_methods_supported)
        if not set(methods) <= _BEARER_METHODS:
            raise ConfigurationError(
                f"ProtectedResource: bearer_methods_supported={methods!r}: asgi_auth's bearer schemes read the "
                'Authorization header only, so ["header"] (or []) is what is true'
            )
        self.serve_root = serve_root
        self.max_age = int(max_age)
        fields: dict[str, Any] = {
            "jwks_uri": None if jwks_uri is None else _url(jwks_uri, "jwks_uri"),
            "bearer_methods_supported": methods,
            "resource_signing_alg_values_supported": _strings(resource_signing_alg_values_supported),
            "resource_name": resource_name,
            "resource_documentation": _optional_url(resource_documentation, "resource_documentation"),
            "resource_policy_uri": _optional_url(resource_policy_uri, "resource_policy_uri"),
            "resource_tos_uri": _optional_url(resource_tos_uri, "resource_tos_uri"),
            "tls_client_certificate_bound_access_tokens": tls_client_certificate_bound_access_tokens,
            "authorization_details_types_supported": _strings(authorization_details_types_supported),
            "dpop_signing_alg_values_supported": _strings(dpop_signing_alg_values_supported),
            "dpop_bound_access_tokens_required": dpop_bound_access_tokens_required,
        }
        self.fields = {k: v for k, v in fields.items() if v is not None}
        # §3.1: the well-known suffix goes between the host and the path, with the
        # path's terminating slash removed.
        path = parts.path.rstrip("/")
        self.metadata_path = WELL_KNOWN + path
        self.metadata_url = f"{parts.scheme}://{parts.netloc}{self.metadata_path}"

    def __repr__(self) -> str:
        return f"ProtectedResource({self.resource!r})"

    def document(self, scopes_supported: Iterable[str]) -> dict[str, Any]:
        """The §2 JSON object, with the scopes the policy requires."""
        document: dict[str, Any] = {"resource": self.resource}
        if self.authorization_servers:
            document["authorization_servers"] = list(self.authorization_servers)
        document["scopes_supported"] = sorted(set(scopes_supported))
        document.update(self.fields)
        return document


def _strings(values: Sequence[str] | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise ConfigurationError(f"ProtectedResource: {values!r} must be a list of strings")
    return list(values)


def _optional_url(value: str | None, what: str) -> str | None:
    return None if value is None else _url(value, what)


def accepted_audiences(verifier: Any) -> frozenset[str] | None:
    """The audiences a verifier accepts tokens for; `None` when it cannot say (a user's
    callable). An empty set means it checks none (`verify_audience=False`, no audience)."""
    if hasattr(verifier, "audiences"):  # a method (TrustedIssuers) or a set (`None`: no check)
        audiences = verifier.audiences
        found = audiences() if callable(audiences) else audiences
        return frozenset() if found is None else frozenset(found)
    if not hasattr(verifier, "audience"):
        return None
    if getattr(verifier, "verify_audience", True) is False:
        return frozenset()
    audience = verifier.audience
    if audience is None:
        return frozenset()
    return frozenset([audience] if isinstance(audience, str) else audience)


def with_resource_metadata(challenge: str, url: str) -> str:
    """A challenge of an OAuth scheme (`Bearer`, and RFC 9449's `DPoP`) with §5.1's
    `resource_metadata` parameter; others (`Basic`, `Digest`, `APIKey`) unchanged."""
    scheme, _, params = challenge.partition(" ")
    if scheme.lower() not in _OAUTH_SCHEMES or "resource_metadata=" in params:
        return challenge
    parameter = f"resource_metadata={quote(url)}"
    return f"{scheme} {params}, {parameter}" if params.strip() else f"{scheme} {parameter}"


class ResourceMetadata:
    """A `ProtectedResource` bound to its policy: the encoded document, the paths it is
    served at, and the refusals with `resource_metadata` added. Built with the policy."""

    def __init__(self, resource: ProtectedResource, policy: AuthPolicy) -> None:
        self.resource = resource
        bearer = [s for s in policy.schemes.values() if s.bearer]
        self._check_audiences(policy)
        scopes = {
            scope
            for alternative in policy.alternatives()
            for scheme, needed in alternative.items
            if scheme.bearer
            for scope in needed
        }
        if not bearer:
            raise ConfigurationError(
                f"{resource!r}: the policy has no bearer scheme, so there is no protected resource to describe"
            )
        self.document = resource.document(scopes)
        self.body = json.dumps(self.document, separators=(",", ":")).encode()
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        self._etag = self.etag.encode("latin-1")
        # Compared with `scope["path"]`, which servers give percent-decoded.
        served = unquote(resource.metadata_path)
        self.paths = frozenset({served} | ({WELL_KNOWN} if resource.serve_root else set()))
        self.url = resource.metadata_url
        self._headers = [
            (b"content-type", b"application/json"),
            (b"cache-control", f"public, max-age={resource.max_age}".encode("latin-1")),
            (b"etag", self.etag.encode("latin-1")),
            (b"access-control-allow-origin", b"*"),
        ]
        self._decorated: dict[int, tuple[ErrorResponse, ErrorResponse]] = {}

    def _check_audiences(self, policy: AuthPolicy) -> None:
        """RFC 8707: a token for another resource must not be accepted here."""
        wanted = self.resource.resource
        for scheme in policy.schemes.values():
            if not scheme.bearer:
                continue
            # Extract-only, the app verifies the token: as unknown as a user's callable.
            audiences = None if scheme.verifier is None else accepted_audiences(scheme.verifier)
            if audiences is None:
                logger.warning(
                    "scheme %r: %s cannot say which audience it accepts; RFC 8707 asks that it accept "
                    "only tokens whose aud contains %r",
                    scheme.scheme_name,
                    "its verifier" if scheme.verifier is not None else "the app, verifying its tokens (EXTRACT_ONLY),",
                    wanted,
                )
            elif audiences != {wanted}:
                raise ConfigurationError(
                    f"scheme {scheme.scheme_name!r}: the resource is {wanted!r}, so its verifier must accept only "
                    f"tokens whose aud contains it (RFC 8707), but it "
                    f"{f'accepts {sorted(audiences)}' if audiences else 'checks no audience'}; pass audience={wanted!r}"
                )

    def serves(self, path: str) -> bool:
        return path in self.paths

    def challenged(self, refusal: ErrorResponse) -> ErrorResponse:
        """`refusal` with `resource_metadata` in its Bearer challenges, made once per refusal.

        The policy's refusals are kept and replayed, so each is decorated once; one made
        afresh (a verifier's own `AuthError`) is decorated afresh.
        """
        kept = self._decorated.get(id(refusal))
        if kept is not None and kept[0] is refusal:
            return kept[1]
        error = refusal.error
        headers = [
            (name, with_resource_metadata(value, self.url) if name.lower() == "www-authenticate" else value)
            for name, value in error.headers
        ]
        decorated = refusal if headers == error.headers else ErrorResponse(error.with_headers(headers))
        if len(self._decorated) >= _KEPT:
            self._decorated.clear()
        self._decorated[id(refusal)] = (refusal, decorated)  # holding it keeps its id unique
        return decorated

    def _matches(self, value: bytes) -> bool:
        """RFC 9110 §13.1.2: `If-None-Match` compares weakly; `*` matches any."""
        tags = [tag.strip().removeprefix(b"W/") for tag in value[:1024].split(b",")]
        return b"*" in tags or self._etag in tags

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request for the document (§3.2): 200 JSON, 304, or 405."""
        method = scope["method"]
        status, body, headers = 200, self.body, list(self._headers)
        if method in ("GET", "HEAD"):
            if any(name == b"if-none-match" and self._matches(value) for name, value in scope.get("headers", ())):
                status, body = 304, b""
        elif method == "OPTIONS":  # a CORS preflight: the document is public
            status, body = 204, b""
            headers.append((b"access-control-allow-methods", b"GET, HEAD, OPTIONS"))
            headers.append((b"access-control-allow-headers", b"*"))
            headers.append((b"allow", b"GET, HEAD, OPTIONS"))
        else:
            status, body = 405, b'{"detail":"Method Not Allowed"}'
            headers = [(b"content-type", b"application/json"), (b"allow", b"GET, HEAD, OPTIONS")]
        if status in (200, 405):
            headers.append((b"content-length", str(len(body)).encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
