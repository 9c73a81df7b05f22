"""`IntrospectionVerifier`: opaque access tokens, asked of the authorization server (RFC 7662).

Each token the verifier has not seen is POSTed to the introspection endpoint with the
client authentication the server expects (`client_secret_basic`, `client_secret_post`,
or an RFC 7523 `private_key_jwt` assertion). The answer passes only when `active` is
literally `true` and `exp`, `nbf`, `iss`, `aud` and `token_type` agree with what is
configured; `scope` grants the scopes.

Asking costs a round trip, so answers are kept: in a bounded cache keyed by a digest
of the token (never the token), an accepted one until the token's `exp` and at most
`cache_ttl`, a refused one for `negative_ttl`. Requests that bring the same token while
it is being asked wait for that one POST (single flight). Whatever the server does —
down, slow past the deadline, a 5xx, an oversized or unreadable body — the request gets
`ServiceUnavailable` (503): never a pass, and nothing is kept of it; after a failure
the endpoint is left alone for `cooldown` seconds, so an outage is not a flood.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import anyio
import anyio.lowlevel
import jwt

from ..context import Principal
from ..errors import ConfigurationError, ServiceUnavailable
from ..stores import ResultCache
from ._fetch import TooLarge, read_capped, redact
from .base import Verdict

if TYPE_CHECKING:
    import httpx

__all__ = ["IntrospectionVerifier"]

logger = logging.getLogger("asgi_auth")

AuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: How long a client assertion is valid: it is made for one POST.
ASSERTION_LIFETIME = 60
UNAVAILABLE = "Token introspection is unavailable"


class _Failed(Exception):
    pass


class _Flight:
    """One POST under way for one token, and what it found."""

    __slots__ = ("abandoned", "done", "event", "result")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.done = False
        self.abandoned = False
        self.result: Verdict | None = None


def _number(value: Any) -> bool:
    return (type(value) is int or type(value) is float) and math.isfinite(value)


def _scopes(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return frozenset()


class IntrospectionVerifier:
    """Verify an opaque bearer token at an RFC 7662 introspection endpoint.

    `auth_method` is how this resource server authenticates to the endpoint:
    `client_secret_basic` (HTTP Basic, RFC 6749 §2.3.1) or `client_secret_post` with
    `client_secret=`, or `private_key_jwt` with `private_key=` (a PEM or a
    `cryptography` private key) signed with `algorithm` (RFC 7523 §2.2; `aud` is
    `assertion_audience`, by default the endpoint's URL). `issuer` and `audience`
    (one or several; RFC 8707's resource identifier where one is configured) are
    required of the answer when given; `token_types` are the `token_type` values
    accepted when the answer names one.

    `shared_cache` (an `aa.ResultCache`, such as one backed by Redis) lets workers
    share answers; what it returns is judged again as a fresh answer would be.
    """

    def __init__(
        self,
        url: str,
        *,
        client_id: str,
        client_secret: str | None = None,
        auth_method: AuthMethod = "client_secret_basic",
        private_key: Any = None,
        algorithm: str = "RS256",
        key_id: str | None = None,
        assertion_audience: str | None = None,
        issuer: str | Sequence[str] | None = None,
        audience: str | Iterable[str] | None = None,
        token_types: Iterable[str] = ("bearer",),
        require_exp: bool = False,
        leeway: float = 0,
        timeout: float = 5.0,
        max_bytes: int = 64 * 1024,
        max_token_size: int = 8192,
        cache_size: int = 10_000,
        cache_ttl: float = 300.0,
        negative_cache_size: int = 10_000,
        negative_ttl: float = 5.0,
        cooldown: float = 1.0,
        max_inflight: int = 256,
        shared_cache: ResultCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if auth_method not in _AUTH_METHODS:
            raise ConfigurationError(
                f"IntrospectionVerifier: auth_method={auth_method!r}; use one of {', '.join(_AUTH_METHODS)}"
            )
        if not client_id:
            raise ConfigurationError("IntrospectionVerifier needs client_id=: the resource server's client at the AS")
        if auth_method == "private_key_jwt":
            if private_key is None or client_secret is not None:
                raise ConfigurationError(
                    "IntrospectionVerifier: auth_method='private_key_jwt' takes private_key= (and no client_secret=)"
                )
        elif not client_secret or private_key is not None:
            raise ConfigurationError(
                f"IntrospectionVerifier: auth_method={auth_method!r} takes client_secret= (and no private_key=)"
            )
        import httpx  # here, not at the top: see verifiers/_fetch.py

        if httpx.URL(url).userinfo:
            raise ConfigurationError(
                "IntrospectionVerifier: credentials go in client_secret= or private_key=, not in the URL"
            )
        if min(cache_size, negative_cache_size, max_inflight) < 1 or min(timeout, max_bytes) <= 0:
            raise ConfigurationError("IntrospectionVerifier: sizes and timeout must be positive")
        self.url = url
        self.client_id = client_id
        self.auth_method = auth_method
        self._secret = client_secret
        self._private_key = private_key
        self.algorithm = algorithm
        self.key_id = key_id
        self.assertion_audience = assertion_audience or url
        self.issuers = None if issuer is None else frozenset([issuer] if isinstance(issuer, str) else issuer)
        self.audiences = None if audience is None else frozenset([audience] if isinstance(audience, str) else audience)
        self.token_types = frozenset(t.lower() for t in token_types)
        self.require_exp = require_exp
        self.leeway = leeway
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_token_size = max_token_size
        self.cache_size, self.cache_ttl = cache_size, cache_ttl
        self.negative_cache_size, self.negative_ttl = negative_cache_size, negative_ttl
        self.cooldown = cooldown
        self.max_inflight = max_inflight
        self.shared_cache = shared_cache
        self.transport = transport
        #: POSTs made to the endpoint (whatever came of them).
        self.requests = 0
        self._accepted: OrderedDict[bytes, Verdict] = OrderedDict()
        self._refused: OrderedDict[bytes, float] = OrderedDict()
        self._inflight: dict[bytes, _Flight] = {}
        self._down_until = float("-inf")
        self._client: tuple[object, httpx.AsyncClient] | None = None
        # Digests are of this endpoint's answers only: one shared cache may serve several.
        self._salt = hashlib.sha256(f"asgi_auth rfc7662\0{url}\0{client_id}\0".encode()).digest()
        if auth_method == "private_key_jwt":
            try:  # a key PyJWT cannot sign with is a start-up error, not a 503 later
                self._assertion()
            except (jwt.PyJWTError, ValueError, TypeError, NotImplementedError) as exc:
                raise ConfigurationError(
                    f"IntrospectionVerifier: cannot sign a client assertion with {algorithm}: {type(exc).__name__}"
                ) from None

    def __repr__(self) -> str:
        return f"IntrospectionVerifier({redact(self.url)!r}, client_id={self.client_id!r}, {self.auth_method})"

    # -- how a scheme asks (verifiers/base.py) --------------------------------------------

    def verdict_inline(self, credentials: Any) -> Verdict | Awaitable[Verdict | None] | None:
        """A kept answer at once (a `Verdict`, or `None` for a token refused lately),
        else an awaitable of the endpoint's."""
        token = credentials if type(credentials) is str else getattr(credentials, "credentials", None)
        if not isinstance(token, str) or not token:
            return None
        if len(token) > self.max_token_size:
            logger.warning("bearer token of %d bytes refused (cap %d)", len(token), self.max_token_size)
            return None
        digest = self.digest(token)
        now = time.time()
        hit = self._accepted.get(digest)
        if hit is not None:
            if hit.valid_from <= now < hit.valid_until:
                self._accepted.move_to_end(digest)
                return hit
            del self._accepted[digest]
        refused = self._refused.get(digest)
        if refused is not None:
            if now < refused:
                return None
            del self._refused[digest]
        return self._introspect(token, digest)

    def verify_inline(self, credentials: Any) -> Principal | Awaitable[Principal | None] | None:
        answer = self.verdict_inline(credentials)
        if answer is None or isinstance(answer, Verdict):
            return None if answer is None else answer.principal  # type: ignore[return-value]
        return self._principal(answer)

    async def __call__(self, credentials: Any) -> Principal | None:
        answer = self.verdict_inline(credentials)
        if answer is not None and not isinstance(answer, Verdict):
            answer = await answer
        return None if answer is None else answer.principal  # type: ignore[return-value]

    async def _principal(self, pending: Awaitable[Verdict | None]) -> Principal | None:
        answer = await pending
        return None if answer is None else answer.principal  # type: ignore[return-value]

    def digest(self, token: str) -> bytes:
        """The key a token's answer is kept under, here and in a shared cache."""
        return hashlib.sha256(self._salt + token.encode("utf-8", "surrogatepass")).digest()

    # -- single flight ------------------------------------------------------------------

    async def _introspect(self, token: str, digest: bytes, *, retry: bool = True) -> Verdict | None:
        flight = self._inflight.get(digest)
        if flight is not None:  # the same token is being asked: wait for that answer, not longer
            with anyio.move_on_after(self.timeout):
                await flight.event.wait()
            if flight.done:
                return flight.result
            if flight.abandoned and retry:  # its request went away (cancelled): ask anew, once
                return await self._introspect(token, digest, retry=False)
            raise ServiceUnavailable(UNAVAILABLE)
        if len(self._inflight) >= self.max_inflight:
            logger.warning("token introspection: %d requests under way; refusing more", len(self._inflight))
            raise ServiceUnavailable(UNAVAILABLE)
        self._inflight[digest] = flight = _Flight()
        try:
            flight.result = await self._resolve(token, digest)
            flight.done = True
            return flight.result
        except BaseException as exc:
            flight.abandoned = not isinstance(exc, Exception)  # cancelled, not failed
            raise
        finally:
            del self._inflight[digest]
            flight.event.set()

    async def _resolve(self, token: str, digest: bytes) -> Verdict | None:
        if self.shared_cache is not None:
            shared = await self._shared_get(digest)
            if shared is not None:
                answer, until = shared
                return self._keep(digest, self.judge(answer, until=until))
        if time.monotonic() < self._down_until:
            raise ServiceUnavailable(UNAVAILABLE)
        response = await self._post(token)
        verdict = self._keep(digest, self.judge(response))
        if self.shared_cache is not None:
            await self._share(digest, response, verdict)
        return verdict

    # -- the answer -----------------------------------------------------------------------

    def judge(self, response: Mapping[str, Any], *, until: float | None = None) -> Verdict | None:
        """The verdict on one introspection response: `None` unless `active` is `true`
        and every configured check holds; the window ends at `exp` and `cache_ttl`,
        and at `until` for an answer another worker got (its own `cache_ttl` ends then)."""
        if response.get("active") is not True:
            return None
        now = time.time()
        exp, nbf = response.get("exp"), response.get("nbf")
        if exp is not None and (not _number(exp) or exp + self.leeway <= now):
            return None
        if exp is None and self.require_exp:
            return None
        if nbf is not None and (not _number(nbf) or nbf - self.leeway > now):
            return None
        if self.issuers is not None:
            iss = response.get("iss")
            if not isinstance(iss, str) or iss not in self.issuers:  # a list can't even be looked up
                return None
        if self.audiences is not None:
            aud = response.get("aud")
            listed = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if not any(isinstance(a, str) and a in self.audiences for a in listed):
                return None
        token_type = response.get("token_type")
        if token_type is not None and not (isinstance(token_type, str) and token_type.lower() in self.token_types):
            return None
        subject, username = response.get("sub"), response.get("username")
        principal = Principal(
            subject if isinstance(subject, str) else "",
            _scopes(response.get("scope")),
            name=username if isinstance(username, str) else None,
            claims=MappingProxyType(dict(response)),
        )
        ends = now + max(self.cache_ttl, 0.0)
        if exp is not None:
            ends = min(ends, float(exp))  # never beyond the token's life
        if until is not None:
            ends = min(ends, until)  # nor beyond the ceiling of the worker that asked
        return Verdict(principal, now, max(ends, now))

    def _keep(self, digest: bytes, verdict: Verdict | None) -> Verdict | None:
        if verdict is None:
            if self.negative_ttl > 0:
                until = time.time() + self.negative_ttl
                self._refused[digest] = until
                self._refused.move_to_end(digest)
                if len(self._refused) > self.negative_cache_size:
                    self._refused.popitem(last=False)
        elif verdict.lasting:
            self._accepted[digest] = verdict
            self._accepted.move_to_end(digest)
            if len(self._accepted) > self.cache_size:
                self._accepted.popitem(last=False)
        return verdict

    # -- the shared cache: a miss when it cannot answer, never a failure ---------------------

    async def _shared_get(self, digest: bytes) -> tuple[Mapping[str, Any], float | None] | None:
        """The endpoint's answer another worker shared, and when its window ends."""
        assert self.shared_cache is not None  # noqa: S101 - only called with one
        try:
            with anyio.fail_after(self.timeout):
                raw = await self.shared_cache.get(digest)
            if raw is None or len(raw) > self.max_bytes:
                return None
            found = json.loads(raw)
        except Exception as exc:  # a shared cache that fails is a miss, not a pass
            logger.warning("introspection shared cache read failed (%s); asking the endpoint", type(exc).__name__)
            return None
        if not isinstance(found, dict):
            return None
        answer, until = found.get("answer"), found.get("until")
        if isinstance(answer, dict) and isinstance(until, (int, float)) and _number(until):
            return answer, float(until)
        return found, None  # a bare response (written by hand): judged as one, no more

    async def _share(self, digest: bytes, response: Mapping[str, Any], verdict: Verdict | None) -> None:
        """Offer an answer to the other workers for as long as it is kept here, with
        the end of that window: a reader keeps it no longer than this worker would.

        The endpoint's own answer is shared whenever it says `active`, even when this
        verifier refused it: another with other checks (another audience) judges it
        itself, rather than reading a refusal that was not the server's."""
        assert self.shared_cache is not None  # noqa: S101 - only called with one
        until = verdict.valid_until if verdict is not None else time.time() + self.negative_ttl
        if until <= time.time():
            return
        answer = response if response.get("active") is True else {"active": False}
        value = json.dumps({"until": until, "answer": answer}, separators=(",", ":")).encode()
        try:
            with anyio.fail_after(self.timeout):
                await self.shared_cache.set(digest, value, expires_at=until)
        except Exception as exc:  # not shared this time; answered all the same
            logger.warning("introspection shared cache write failed (%s)", type(exc).__name__)

    # -- the POST --------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        """One client (one connection pool) per event loop."""
        import httpx

        loop = anyio.lowlevel.current_token()
        if self._client is None or self._client[0] != loop:  # tokens compare equal, not identical
            client = httpx.AsyncClient(timeout=self.timeout, transport=self.transport, follow_redirects=False)
            self._client = (loop, client)
        return self._client[1]

    def _assertion(self) -> str:
        """An RFC 7523 §3 client assertion: this client, to the server, for one use."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.assertion_audience,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self._private_key, algorithm=self.algorithm, headers=headers)

    def _request(self, token: str) -> tuple[dict[str, str], httpx.Auth | None]:
        import httpx

        form = {"token": token, "token_type_hint": "access_token"}
        if self.auth_method == "client_secret_basic":
            # RFC 6749 §2.3.1: id and secret are form-encoded before Basic's base64.
            assert self._secret is not None  # noqa: S101 - checked in __init__
            return form, httpx.BasicAuth(quote(self.client_id, safe=""), quote(self._secret, safe=""))
        if self.auth_method == "client_secret_post":
            assert self._secret is not None  # noqa: S101 - checked in __init__
            return {**form, "client_id": self.client_id, "client_secret": self._secret}, None
        return {
            **form,
            "client_id": self.client_id,
            "client_assertion_type": _ASSERTION_TYPE,
            "client_assertion": self._assertion(),
        }, None

    async def _post(self, token: str) -> dict[str, Any]:
        """The endpoint's JSON object for `token`, or `ServiceUnavailable`, by the deadline."""
        import httpx

        self.requests += 1
        reason = "deadline"
        with anyio.move_on_after(self.timeout):
            try:
                form, auth = self._request(token)
                async with self._http().stream(
                    "POST", self.url, data=form, auth=auth, headers={"Accept": "application/json"}
                ) as response:
                    if response.status_code != 200:
                        raise _Failed(f"HTTP {response.status_code}")
                    body = await read_capped(response, self.max_bytes)
                found = json.loads(body)
                if not isinstance(found, dict):
                    raise _Failed("not a JSON object")
            except (httpx.HTTPError, TooLarge, _Failed, ValueError, RecursionError) as exc:
                reason = str(exc) if isinstance(exc, (_Failed, TooLarge)) else type(exc).__name__
            else:
                return found
        logger.warning("token introspection at %s failed (%s)", redact(self.url), reason)
        self._down_until = time.monotonic() + self.cooldown
        raise ServiceUnavailable(UNAVAILABLE)

    async def aclose(self) -> None:
        """Close the connection pool (a new one is made on next use)."""
        if self._client is not None:
            client, self._client = self._client[1], None
            await client.aclose()
