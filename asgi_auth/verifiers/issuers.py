"""Several trusted issuers behind one bearer scheme, chosen by the token's `iss`.

Spring Security's `JwtIssuerAuthenticationManagerResolver` and Envoy's `jwt_authn`
providers do this: each issuer has its own key source (static keys, a JWKS URL, or
OpenID Connect discovery), audience and algorithms. The token's *unverified* `iss`
only picks which of them verifies it, before any key is looked at; the chosen
verifier then checks the signature with that issuer's keys and the `iss` claim
against that issuer, so a token naming issuer A is never verified with B's keys, and
an `iss` no one trusts is refused without a fetch.

A `resolver(iss)` (sync, async, or `@inline`) adds issuers on demand for multi-tenant
apps: it returns an `Issuer` for a trusted `iss`, or `None`. Its answers are kept in
bounded LRU tables: the trusted for the process's life (until evicted), the untrusted
for `negative_ttl` seconds. The resolver answers before any signature is checked, so a
trusted issuer joins the table of tenants only once it has accepted a token, and waits
in one of its own until then: made-up issuers a pattern lets through cannot push the
real tenants (and their fetched keys) out. Requests for one new `iss` that arrive
together share one resolver call. The resolver
says "my tenant store is down" by raising `aa.ServiceUnavailable` (503), as a verifier
would; any other exception is a refusal.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Union, cast

import anyio

from ..context import Principal
from ..errors import AuthError, ConfigurationError
from .base import Verdict, answerer, is_pending
from .jwt import JWTVerifier, _digest
from .oidc import NEEDS_AUDIENCE, DiscoveryVerifier

if TYPE_CHECKING:
    import httpx

__all__ = ["Issuer", "TrustedIssuers", "unverified_issuer"]

logger = logging.getLogger("asgi_auth")

#: An `iss` longer than this is no issuer anyone configured: refused unread.
MAX_ISSUER_LENGTH = 512
_WELL_KNOWN = "/.well-known/openid-configuration"

Answer = Union[Verdict, Principal, None]
Resolver = Callable[[str], Union["Issuer", Awaitable[Union["Issuer", None]], None]]


def unverified_issuer(token: str) -> str | None:
    """The `iss` claim of a compact JWS, read without verifying anything; `None` when
    the token is not one or names no issuer. Used only to choose the keys."""
    if token.count(".") != 2:
        return None
    payload = token.split(".", 2)[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str) or not issuer or len(issuer) > MAX_ISSUER_LENGTH:
        return None
    return issuer


class Issuer:
    """One trusted issuer: its identifier (what tokens' `iss` says) and where its keys are.

    Exactly one key source: `key=` (a key or key set, as `JWTVerifier` takes),
    `jwks_url=`, or discovery (`discovery=True` reads `<issuer>/.well-known/openid-configuration`;
    `discovery_url=` reads another URL, the Docker case, where the app reaches the provider
    as `http://keycloak:8080` while tokens say `https://id.example.com`: the `iss` checked is
    still `issuer`, and `jwks_url=` beside it says where this app can fetch the keys).
    `audience=` is required, as for `DiscoveryVerifier`, unless `verify_audience=False`.
    Other keywords go to the `JWTVerifier` (`leeway`, `scopes_claim`, `typ`, ...).
    """

    def __init__(
        self,
        issuer: str,
        *,
        key: Any = None,
        jwks_url: str | None = None,
        discovery: bool = False,
        discovery_url: str | None = None,
        audience: str | Iterable[str] | None = None,
        verify_audience: bool = True,
        algorithms: Sequence[str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **jwt_options: Any,
    ) -> None:
        if not isinstance(issuer, str) or not issuer or len(issuer) > MAX_ISSUER_LENGTH:
            raise ConfigurationError(f"Issuer: {issuer!r} is not an issuer identifier (a URL string)")
        if audience is None and verify_audience:
            raise ConfigurationError(f"Issuer({issuer!r}) {NEEDS_AUDIENCE}")
        self.issuer = issuer
        self.audience = audience
        self.verify_audience = verify_audience
        if discovery and discovery_url is None:
            discovery_url = issuer.rstrip("/") + _WELL_KNOWN
        if discovery_url is not None:
            if key is not None:
                raise ConfigurationError(f"Issuer({issuer!r}): key= and discovery are two key sources; give one")
            self.verifier: JWTVerifier | DiscoveryVerifier = DiscoveryVerifier(
                discovery_url,
                issuer=issuer,
                jwks_url=jwks_url,
                audience=audience,
                verify_audience=verify_audience,
                algorithms=None if algorithms is None else list(algorithms),
                transport=transport,
                **jwt_options,
            )
        else:
            if (key is None) == (jwks_url is None):
                raise ConfigurationError(
                    f"Issuer({issuer!r}) needs one key source: key=, jwks_url=, discovery=True or discovery_url="
                )
            if algorithms is None:
                raise ConfigurationError(f'Issuer({issuer!r}) needs algorithms=[...], such as ["RS256"]')
            self.verifier = JWTVerifier(
                key,
                jwks_url=jwks_url,
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                verify_audience=verify_audience,
                jwks_transport=transport,
                **jwt_options,
            )

    def __repr__(self) -> str:
        return f"Issuer({self.issuer!r})"

    def audiences(self) -> frozenset[str]:
        """The audiences accepted (empty: any, with `verify_audience=False`)."""
        if not self.verify_audience or self.audience is None:
            return frozenset()
        return frozenset([self.audience] if isinstance(self.audience, str) else self.audience)


class TrustedIssuers:
    """A verifier for tokens of several issuers: `TrustedIssuers(Issuer(...), Issuer(...))`.

    The token's `iss` picks the `Issuer` (exact string match, as RFC 7519 §4.1.1 compares
    it); an unknown one is asked of `resolver`, when given, and refused otherwise. Issuers
    that `resolver` returns must name the `iss` asked for and, when `audience=` is given
    here, accept that audience only (so a resolver cannot widen what the resource accepts).
    """

    def __init__(
        self,
        *issuers: Issuer,
        resolver: Resolver | None = None,
        audience: str | None = None,
        cache_size: int = 100,
        negative_ttl: float = 60.0,
        max_token_size: int = 8192,
    ) -> None:
        if not issuers and resolver is None:
            raise ConfigurationError("TrustedIssuers needs at least one Issuer(...) or a resolver=")
        self.issuers: dict[str, Issuer] = {}
        for issuer in issuers:
            if not isinstance(issuer, Issuer):
                raise ConfigurationError(f"TrustedIssuers takes Issuer(...) objects, not {issuer!r}")
            if issuer.issuer in self.issuers:
                raise ConfigurationError(f"TrustedIssuers: issuer {issuer.issuer!r} is given twice")
            self.issuers[issuer.issuer] = issuer
        self.audience = audience
        self.resolver = resolver
        self._resolve = None if resolver is None else answerer(resolver)
        self.cache_size = cache_size
        self.negative_ttl = negative_ttl
        self.max_token_size = max_token_size
        self._resolved: OrderedDict[str, Issuer] = OrderedDict()  # tenants that accepted a token
        # Resolved, not yet proven by a token: the resolver answers before any signature is
        # checked, so these must not push proven tenants (and their fetched keys) out.
        self._unproven: OrderedDict[str, Issuer] = OrderedDict()
        self._untrusted: OrderedDict[str, float] = OrderedDict()
        self._pending: dict[str, _Pending] = {}  # one resolver call per iss at a time
        # The `iss` of a token an issuer accepted, by the token's digest: a token seen
        # again is not read again. The name, not the `Issuer`: an issuer evicted from
        # `_resolved` must be freed, and asked of the resolver again, as for any token.
        self._chosen: OrderedDict[bytes, str] = OrderedDict()
        self.chosen_size = 10_000

    def __repr__(self) -> str:
        more = ", resolver=..." if self.resolver is not None else ""
        return f"TrustedIssuers({', '.join(map(repr, self.issuers))}{more})"

    def audiences(self) -> frozenset[str]:
        """Every audience some issuer accepts (empty: one of them accepts any);
        with a resolver, `audience=` stands for the issuers it will return."""
        found: set[str] = set()
        for issuer in self.issuers.values():
            accepted = issuer.audiences()
            if not accepted:
                return frozenset()
            found |= accepted
        if self.resolver is not None:
            if self.audience is None:
                return frozenset()
            found.add(self.audience)
        return frozenset(found)

    # -- choosing the issuer ------------------------------------------------------------

    def issuer_for(self, iss: str) -> Issuer | Awaitable[Issuer | None] | None:
        """The trusted `Issuer` for `iss`, `None`, or an awaitable when the resolver must run."""
        found = self.issuers.get(iss) or self._resolved.get(iss)
        if found is not None:
            if iss in self._resolved:
                self._resolved.move_to_end(iss)
            return found
        found = self._unproven.get(iss)
        if found is not None:
            return found
        if self._resolve is None:
            return None
        refused_until = self._untrusted.get(iss)
        if refused_until is not None:
            if time.monotonic() < refused_until:
                return None
            del self._untrusted[iss]
        return self._resolved_later(iss)

    async def _resolved_later(self, iss: str) -> Issuer | None:
        """The resolver's answer for `iss`; requests that ask while it runs wait for it
        rather than calling it again (each call could build an Issuer, and fetch keys)."""
        pending = self._pending.get(iss)
        if pending is not None:
            await pending.done.wait()
            if pending.error is not None:
                raise pending.error
            if pending.abandoned:  # the request that asked was cancelled: no answer, ask again
                again = self.issuer_for(iss)
                if is_pending(again):
                    return await cast("Awaitable[Issuer | None]", again)
                return cast("Issuer | None", again)
            return pending.issuer
        pending = self._pending[iss] = _Pending()
        try:
            pending.issuer = await self._ask_resolver(iss)
        except AuthError as exc:  # the resolver's own answer (503: its store is down)
            pending.error = exc
            raise
        except BaseException:  # cancelled: those waiting must not take "no answer" for "untrusted"
            pending.abandoned = True
            raise
        finally:
            del self._pending[iss]
            pending.done.set()
        return pending.issuer

    async def _ask_resolver(self, iss: str) -> Issuer | None:
        assert self._resolve is not None  # noqa: S101 - only called with a resolver
        try:
            answer = self._resolve(iss)
            if is_pending(answer):
                answer = await cast(Awaitable[object], answer)
        except AuthError:
            raise  # answered as a verifier's own: not remembered as untrusted
        except Exception as exc:
            logger.error("issuer resolver raised %s for an issuer; token refused", type(exc).__name__)
            return None
        issuer = self._admitted(iss, answer)
        if issuer is None:
            self._untrusted[iss] = time.monotonic() + self.negative_ttl
            if len(self._untrusted) > self.cache_size:
                self._untrusted.popitem(last=False)
            return None
        _keep(self._unproven, iss, issuer, self.cache_size)
        return issuer

    def _admitted(self, iss: str, answer: object) -> Issuer | None:
        if answer is None:
            return None
        if not isinstance(answer, Issuer):
            logger.error("issuer resolver returned %s, not an Issuer or None; token refused", type(answer).__name__)
            return None
        if answer.issuer != iss:
            logger.error("issuer resolver returned an Issuer for another iss; token refused")
            return None
        if self.audience is not None and answer.audiences() != {self.audience}:
            logger.error("issuer resolver returned an Issuer accepting other audiences than %r", self.audience)
            return None
        return answer

    # -- verifying ----------------------------------------------------------------------

    def verdict_inline(self, credentials: Any) -> Answer | Awaitable[Answer]:
        """The chosen issuer's `verdict_inline`; `None` for an untrusted or absent `iss`."""
        token = credentials if type(credentials) is str else getattr(credentials, "credentials", None)
        if not isinstance(token, str) or not token or len(token) > self.max_token_size:
            return None
        digest = _digest(token)
        iss = self._chosen.get(digest) or unverified_issuer(token)
        if iss is None:
            return None
        issuer = self.issuer_for(iss)
        if issuer is None:
            self._chosen.pop(digest, None)
            return None
        if isinstance(issuer, Issuer):
            return self._kept(digest, issuer, issuer.verifier.verdict_inline(token))
        return self._verified_later(issuer, token, digest)

    def _kept(self, digest: bytes, issuer: Issuer, answer: Any) -> Answer | Awaitable[Answer]:
        """`answer`, remembering which issuer gave it when it vouches beyond this request."""
        if is_pending(answer):
            return self._kept_later(digest, issuer, cast("Awaitable[Answer]", answer))
        if answer is None:
            self._chosen.pop(digest, None)
            return None
        if issuer.issuer not in self.issuers and issuer.issuer not in self._resolved:
            self._unproven.pop(issuer.issuer, None)  # it accepted a token: a tenant now
            _keep(self._resolved, issuer.issuer, issuer, self.cache_size)
        if isinstance(answer, Verdict) and answer.lasting:
            self._chosen[digest] = issuer.issuer
            self._chosen.move_to_end(digest)
            if len(self._chosen) > self.chosen_size:
                self._chosen.popitem(last=False)
        return cast(Answer, answer)

    async def _kept_later(self, digest: bytes, issuer: Issuer, pending: Awaitable[Answer]) -> Answer:
        return cast(Answer, self._kept(digest, issuer, await pending))

    async def _verified_later(self, pending: Awaitable[Issuer | None], token: str, digest: bytes) -> Answer:
        issuer = await pending
        if issuer is None:
            return None
        answer = self._kept(digest, issuer, issuer.verifier.verdict_inline(token))
        if is_pending(answer):
            answer = await cast("Awaitable[Answer]", answer)
        return cast(Answer, answer)

    def verify_inline(self, credentials: Any) -> Principal | Awaitable[Principal | None] | None:
        answer = self.verdict_inline(credentials)
        if answer is None or isinstance(answer, (Verdict, Principal)):
            return _principal(answer)
        return self._principal_later(answer)

    async def _principal_later(self, pending: Awaitable[Answer]) -> Principal | None:
        return _principal(await pending)

    async def __call__(self, credentials: Any) -> Principal | None:
        answer = self.verify_inline(credentials)
        if answer is None or isinstance(answer, Principal):
            return answer
        return await answer


class _Pending:
    """A resolver call in progress, and its answer once it is there."""

    __slots__ = ("abandoned", "done", "error", "issuer")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.issuer: Issuer | None = None
        self.error: AuthError | None = None
        self.abandoned = False


def _keep(table: OrderedDict[str, Issuer], iss: str, issuer: Issuer, size: int) -> None:
    table[iss] = issuer
    table.move_to_end(iss)
    if len(table) > size:
        table.popitem(last=False)


def _principal(answer: Answer) -> Principal | None:
    return cast(Principal, answer.principal) if isinstance(answer, Verdict) else answer
