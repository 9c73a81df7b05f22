"""HTTP Digest access authentication, RFC 7616.

Nonces are stateless: a timestamp and random bytes signed with a server secret, so any
worker sharing the secret can check them, and an expired one earns `stale=true`
rather than a password prompt. Each nonce count (`nc`) is accepted once, in any order,
which defeats replay; counts live in a `NonceCounter` store. Only `qop="auth"` is offered.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .._asgi import RequestView
from .._headers import MAX_PARAMS_LENGTH, parse_auth_params, quote
from ..context import Principal
from ..errors import AuthError, ConfigurationError, InvalidCredentials, check_header_value
from ..stores import MemoryNonceCounter, NonceCounter, NonceUse
from .base import MALFORMED, VerifierOption
from .http import AUTHORIZATION, HTTPBase

__all__ = ["DigestCredentials", "HTTPDigest"]

logger = logging.getLogger("asgi_auth")

_HASHES: dict[str, Callable[[bytes], Any]] = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
ALGORITHMS = ("SHA-256", "SHA-256-sess", "MD5", "MD5-sess")
_NC = re.compile(r"[0-9a-fA-F]{8}")


@dataclass(frozen=True, slots=True, repr=False)
class DigestCredentials:
    """A parsed Digest `Authorization` header, with the request it must match."""

    params: Mapping[str, str]
    method: str
    target: str

    @property
    def username(self) -> str:
        return self.params.get("username", "")

    def __repr__(self) -> str:
        return f"DigestCredentials(username={self.username!r})"


@dataclass(frozen=True, slots=True)
class _Response:
    """The fields of a Digest response that passed their syntax checks (step 1)."""

    username: str  # as the client named the user: decoded, not yet resolved from a userhash
    wire_username: bytes | None  # the bytes it came in, when they were not valid UTF-8
    userhash: bool
    algorithm: str
    nonce: str
    nc: str
    cnonce: str
    uri: str
    response: str


def _request_target(scope: Mapping[str, Any]) -> str:
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    query: bytes = scope.get("query_string", b"")
    target = raw + b"?" + query if query else raw
    return target.decode("latin-1")


def _decode_username(value: str) -> tuple[str, bytes | None]:
    """A `username` as the client meant it, and its bytes when they are not UTF-8.

    Headers reach us decoded as latin-1, byte for byte. The challenge announces
    `charset=UTF-8`, so clients that honour it (httpx, aiohttp, curl, wget, Chromium)
    send the name's UTF-8 bytes (RFC 7616 §4); others (requests, through http.client)
    send latin-1. Bytes that are valid UTF-8 are read as UTF-8, the rest as latin-1.
    """
    raw = value.encode("latin-1")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return value, raw


_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGEST_LENGTH = {"MD5": 32, "SHA-256": 64}
_REQUIRED = ("realm", "nonce", "uri", "response", "qop", "nc", "cnonce")


class _ExtractOnly:
    """`verifier=EXTRACT_ONLY`: FastAPI's stub, which only splits the header."""

    challenges_vary = False

    def __init__(self, scheme: HTTPDigest) -> None:
        self.scheme = scheme

    def extract(self, request: RequestView) -> Any:
        credentials = HTTPBase.extract(self.scheme, request)
        if credentials is None or credentials.scheme.lower() != "digest":
            return None
        return credentials

    def challenges(self, stale: bool) -> list[str]:
        return ["Digest"]


class _Challenger:
    """RFC 7616 proper: challenges with fresh nonces, and parsed responses."""

    challenges_vary = True

    def __init__(self, scheme: HTTPDigest) -> None:
        self.scheme = scheme

    def extract(self, request: RequestView) -> Any:
        authorization = request.header(AUTHORIZATION)
        if not authorization:
            return None
        word, _, rest = authorization.partition(" ")
        if word.lower() != "digest":
            return None
        params = parse_auth_params(rest)
        if params is None:
            if len(rest) > MAX_PARAMS_LENGTH:
                logger.warning("Digest header of %d bytes refused (cap %d)", len(rest), MAX_PARAMS_LENGTH)
            return MALFORMED
        scope = request.scope
        return DigestCredentials(params, scope.get("method", "GET"), _request_target(scope))

    def challenges(self, stale: bool) -> list[str]:
        scheme = self.scheme
        nonce = scheme.make_nonce()
        out = []
        for algorithm in scheme.algorithms:
            parts = [
                f"realm={quote(scheme.realm)}",
                'qop="auth"',
                f"algorithm={algorithm}",
                f"nonce={quote(nonce)}",
                f"opaque={quote(scheme.opaque)}",
                "charset=UTF-8",
            ]
            if scheme.userhash:
                parts.append("userhash=true")
            if stale:
                parts.append("stale=true")
            out.append("Digest " + ", ".join(parts))
        return out


class HTTPDigest(HTTPBase):
    """HTTP Digest. With `verifier=EXTRACT_ONLY` it only extracts, like FastAPI's stub.

    With `verifier=get_password` it implements RFC 7616: `get_password(username)`
    returns the password, or a mapping of algorithm (`"SHA-256"`, `"MD5"`) to the
    precomputed HA1 `H(username:realm:password)` hex, or `None` for an unknown user.
    `verify` reads as the RFC's steps: parse the response, check the nonce, compute
    the expected response, check the nonce count.
    """

    # A response is good once (nonce count) and for one request line: never remembered.
    source_header = None

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
        verifier: VerifierOption = None,
        realm: str | None = None,
        algorithms: Iterable[str] = ("SHA-256", "MD5"),
        secret: bytes | None = None,
        nonce_lifetime: float = 300.0,
        nonce_counter: NonceCounter | None = None,
        userhash: bool = False,
        usernames: Iterable[str] | Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__(
            scheme="digest", scheme_name=scheme_name, description=description, auto_error=auto_error, verifier=verifier
        )
        self.realm = check_header_value(realm or "asgi_auth", "realm")
        canonical = {a.upper(): a for a in ALGORITHMS}
        self.algorithms = tuple(canonical.get(a.upper(), a) for a in algorithms)
        for algorithm in self.algorithms:
            if algorithm not in ALGORITHMS:
                raise ConfigurationError(
                    f"HTTPDigest: unknown algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})"
                )
        self._canonical = {a.upper(): a for a in self.algorithms}
        if not self.algorithms:
            raise ConfigurationError("HTTPDigest: algorithms must name at least one algorithm")
        if secret is not None and len(secret) < 16:
            raise ConfigurationError("HTTPDigest: secret must be at least 16 bytes")
        # A random secret is right for one process; several workers must share one.
        self._secret = secret if secret is not None else os.urandom(32)
        self.nonce_lifetime = nonce_lifetime
        self.nonce_counter: NonceCounter = nonce_counter if nonce_counter is not None else MemoryNonceCounter()
        self.userhash = userhash
        # RFC 7616 §3.4.4: with userhash the client sends H(username:realm); finding
        # the user again needs the list of usernames (or a lookup of the caller's own).
        self._userhash_lookup: Callable[[str], str | None] | None
        if usernames is None or callable(usernames):
            self._userhash_lookup = usernames
        else:
            table = {
                _HASHES[base](f"{name}:{self.realm}".encode()).hexdigest(): name
                for name in usernames
                for base in _HASHES
            }
            self._userhash_lookup = table.get
        if userhash and self._userhash_lookup is None:
            raise ConfigurationError("HTTPDigest(userhash=True) needs usernames= to resolve hashed usernames")
        self.opaque = hmac.new(self._secret, b"opaque:" + self.realm.encode(), hashlib.sha256).hexdigest()[:32]
        # Extract-only is its own path: it never sees a nonce or a parsed response.
        self._mode: _ExtractOnly | _Challenger = _ExtractOnly(self) if self.verifier is None else _Challenger(self)
        self.challenges_vary = self._mode.challenges_vary

    # -- nonces -----------------------------------------------------------------------

    def _sign(self, stamp: str, salt: str) -> str:
        message = f"{stamp}:{salt}:{self.realm}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def make_nonce(self, now: float | None = None) -> str:
        # Microseconds, so that a nonce store can tell apart nonces of the same second.
        stamp = f"{int((now if now is not None else time.time()) * 1_000_000):016x}"
        salt = secrets.token_hex(12)
        return stamp + salt + self._sign(stamp, salt)

    def nonce_issued_at(self, nonce: str) -> float | None:
        """When our server issued `nonce`, or `None` if it is not one of ours."""
        if len(nonce) != 72 or not nonce.isascii():
            return None
        stamp, salt, mac = nonce[:16], nonce[16:40], nonce[40:]
        if not hmac.compare_digest(mac, self._sign(stamp, salt)):
            return None
        try:
            return int(stamp, 16) / 1_000_000
        except ValueError:
            return None

    # -- challenges -------------------------------------------------------------------

    def challenge(self) -> str:
        return self.challenges()[0]

    def challenges(self, stale: bool = False) -> list[str]:
        return self._mode.challenges(stale)

    def invalid_challenge(self) -> str:
        return self.challenge()

    def _refuse(self, stale: bool = False) -> InvalidCredentials:
        return InvalidCredentials(headers=[("WWW-Authenticate", c) for c in self.challenges(stale=stale)])

    # -- extraction and verification --------------------------------------------------

    def extract(self, request: RequestView) -> Any:
        return self._mode.extract(request)

    async def verify(self, credentials: Any) -> Principal:
        """RFC 7616 §3.4: a principal for a response that proves the password, once."""
        response = self._parse(credentials)
        issued = self._check_nonce(response.nonce)
        username = self._resolve(response)
        secret = await self.call_verifier(username)
        if secret is None:
            raise self._refuse()
        expected = self._expected(response, username, secret, credentials.method)
        if not any(hmac.compare_digest(e.encode(), response.response.encode()) for e in expected):
            raise self._refuse()
        if time.time() - issued > self.nonce_lifetime:
            raise self._refuse(stale=True)  # right password, old nonce: retry silently
        await self._check_count(response, username, issued)
        return Principal(username)

    def _parse(self, credentials: DigestCredentials) -> _Response:
        """Step 1: every field present and well formed, and for this realm and request."""
        p = credentials.params
        algorithm = self._canonical.get(p.get("algorithm", "MD5").upper(), "")
        if "username" in p:
            username, wire = _decode_username(p["username"])
        elif p.get("username*", "").lower().startswith("utf-8''"):
            try:
                username, wire = unquote(p["username*"][7:], errors="strict"), None  # RFC 8187 ext-value
            except UnicodeDecodeError:
                raise self._refuse() from None
        else:
            raise self._refuse()
        response = p.get("response", "").lower()
        if (
            any(key not in p for key in _REQUIRED)
            or not algorithm
            or p["qop"] != "auth"
            or p["realm"] != self.realm
            or not _NC.fullmatch(p["nc"])
            or not hmac.compare_digest(p.get("opaque", "").encode(), self.opaque.encode())
            or len(response) != _DIGEST_LENGTH[algorithm.removesuffix("-sess")]
            or not _HEX.fullmatch(response)
            or not p["cnonce"].isascii()
        ):
            raise self._refuse()
        if p["uri"] != credentials.target:
            # RFC 7616 §3.4.6: the digest was computed for another request.
            raise AuthError("Digest uri does not match the request", status_code=400)
        return _Response(
            username=username,
            wire_username=wire,
            userhash=p.get("userhash", "false").lower() == "true",
            algorithm=algorithm,
            nonce=p["nonce"],
            nc=p["nc"],
            cnonce=p["cnonce"],
            uri=p["uri"],
            response=response,
        )

    def _check_nonce(self, nonce: str) -> float:
        """Step 2: the nonce is one we issued (its age is judged once the password is)."""
        issued = self.nonce_issued_at(nonce)
        if issued is None:
            raise self._refuse()
        return issued

    def _resolve(self, response: _Response) -> str:
        """The user a response names, found again from a `userhash` (RFC 7616 §3.4.4)."""
        if not response.userhash:
            return response.username
        resolved = self._userhash_lookup(response.username.lower()) if self._userhash_lookup else None
        if resolved is None:
            raise self._refuse()
        return resolved

    def _expected(self, response: _Response, username: str, secret: Any, method: str) -> list[str]:
        """Step 3: the responses that prove the password (RFC 7616 §3.4.1-3.4.3).

        A username that came as latin-1 bytes may have been hashed in either charset
        (requests hashes UTF-8 but sends latin-1), so both are tried; each candidate
        is a full response, compared in constant time.
        """
        algorithm = response.algorithm
        base = algorithm.removesuffix("-sess")
        hash_ = _HASHES[base]

        def h(data: bytes) -> str:
            return str(hash_(data).hexdigest())

        if isinstance(secret, Mapping):
            ha1 = secret.get(base)
            if not isinstance(ha1, str) or len(ha1) != _DIGEST_LENGTH[base] or not _HEX.fullmatch(ha1):
                if ha1 is not None:
                    logger.warning("Digest verifier of %r gave no usable %s HA1", self.scheme_name, base)
                return []
            ha1s = [ha1.lower()]
        elif isinstance(secret, str):
            ha1s = []
            for charset in ("utf-8", "latin-1") if response.wire_username is not None else ("utf-8",):
                try:
                    ha1s.append(h(f"{username}:{self.realm}:{secret}".encode(charset)))
                except UnicodeEncodeError:
                    continue
        else:
            logger.warning(
                "Digest verifier of %r returned %s, not a password or an HA1 mapping",
                self.scheme_name,
                type(secret).__name__,
            )
            return []
        nonce, cnonce, nc = response.nonce.encode(), response.cnonce.encode(), response.nc.encode()
        ha2 = h(method.encode("latin-1") + b":" + response.uri.encode("latin-1"))
        out = []
        for ha1 in ha1s:
            if algorithm.endswith("-sess"):
                ha1 = h(f"{ha1}:".encode() + nonce + b":" + cnonce)
            out.append(h(f"{ha1}:".encode() + nonce + b":" + nc + b":" + cnonce + f":auth:{ha2}".encode()))
        return out

    async def _check_count(self, response: _Response, username: str, issued: float) -> None:
        """Step 4: this nonce count was not used before (RFC 7616 §3.4, replay)."""
        use = await self.nonce_counter.use(
            response.nonce,
            int(response.nc, 16),
            username=username,
            issued_at=issued,
            expires_at=issued + self.nonce_lifetime,
        )
        if use is NonceUse.STALE:
            raise self._refuse(stale=True)
        if use is not NonceUse.ACCEPTED:
            raise self._refuse()
