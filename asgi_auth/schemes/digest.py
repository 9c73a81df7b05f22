"""HTTP Digest access authentication, RFC 7616.

Nonces are stateless: a timestamp and random bytes signed with a server secret, so any
worker sharing the secret can check them, and an expired one earns `stale=true`
rather than a password prompt. The nonce-count (`nc`) of each nonce must grow, which
defeats replay; counts live in a `NonceCounter` store. Only `qop="auth"` is offered.
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
from ..context import Principal
from ..errors import AuthError, ConfigurationError, InvalidCredentials, check_header_value, quote
from ..stores import MemoryNonceCounter, NonceCounter
from .base import MALFORMED, VerifierOption
from .http import AUTHORIZATION, HTTPBase

__all__ = ["DigestCredentials", "HTTPDigest", "parse_auth_params"]

logger = logging.getLogger("asgi_auth")

_HASHES: dict[str, Callable[[bytes], Any]] = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
ALGORITHMS = ("SHA-256", "SHA-256-sess", "MD5", "MD5-sess")
MAX_PARAMS_LENGTH = 4096
MAX_PARAMS = 20
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_NC = re.compile(r"[0-9a-fA-F]{8}")


def parse_auth_params(text: str) -> dict[str, str] | None:
    """RFC 9110 auth-params (`a=b, c="d"`); `None` for anything malformed or duplicated."""
    if len(text) > MAX_PARAMS_LENGTH:
        return None
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        match = _TOKEN.match(text, i)
        if match is None:
            return None
        key = match.group(0).lower()
        i = match.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            return None
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                return None  # unterminated quoted-string
            i += 1
            value = "".join(chars)
        else:
            match = _TOKEN.match(text, i)
            if match is None:
                return None
            value = match.group(0)
            i = match.end()
        if key in params or len(params) >= MAX_PARAMS:
            return None
        params[key] = value
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            return None
    return params


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


def _request_target(scope: Mapping[str, Any]) -> str:
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    query: bytes = scope.get("query_string", b"")
    target = raw + b"?" + query if query else raw
    return target.decode("latin-1")


class HTTPDigest(HTTPBase):
    """HTTP Digest. With `verifier=EXTRACT_ONLY` it only extracts, like FastAPI's stub.

    With `verifier=get_password` it implements RFC 7616: `get_password(username)`
    returns the password, or a mapping of algorithm (`"SHA-256"`, `"MD5"`) to the
    precomputed HA1 `H(username:realm:password)` hex, or `None` for an unknown user.
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

    @property
    def static_challenge(self) -> bool:  # type: ignore[override]
        return self.verifier is None

    # -- nonces -----------------------------------------------------------------------

    def _sign(self, stamp: str, salt: str) -> str:
        message = f"{stamp}:{salt}:{self.realm}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def make_nonce(self, now: float | None = None) -> str:
        stamp = f"{int(now if now is not None else time.time()):016x}"
        salt = secrets.token_hex(12)
        return stamp + salt + self._sign(stamp, salt)

    def nonce_issued_at(self, nonce: str) -> float | None:
        """When our server issued `nonce`, or `None` if it is not one of ours."""
        if len(nonce) != 72:
            return None
        stamp, salt, mac = nonce[:16], nonce[16:40], nonce[40:]
        if not hmac.compare_digest(mac, self._sign(stamp, salt)):
            return None
        try:
            return float(int(stamp, 16))
        except ValueError:
            return None

    # -- challenges -------------------------------------------------------------------

    def challenge(self) -> str:
        return self.challenges()[0]

    def challenges(self, stale: bool = False) -> list[str]:
        if self.verifier is None:
            return ["Digest"]
        nonce = self.make_nonce()
        out = []
        for algorithm in self.algorithms:
            parts = [
                f"realm={quote(self.realm)}",
                'qop="auth"',
                f"algorithm={algorithm}",
                f"nonce={quote(nonce)}",
                f"opaque={quote(self.opaque)}",
                "charset=UTF-8",
            ]
            if self.userhash:
                parts.append("userhash=true")
            if stale:
                parts.append("stale=true")
            out.append("Digest " + ", ".join(parts))
        return out

    def invalid_challenge(self) -> str:
        return self.challenge()

    def _refuse(self, stale: bool = False) -> InvalidCredentials:
        return InvalidCredentials(headers=[("WWW-Authenticate", c) for c in self.challenges(stale=stale)])

    # -- extraction and verification --------------------------------------------------

    def extract(self, request: RequestView) -> Any:
        if self.verifier is None:
            credentials = super().extract(request)
            if credentials is None or credentials.scheme.lower() != "digest":
                return None
            return credentials
        authorization = request.header(AUTHORIZATION)
        if not authorization:
            return None
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "digest":
            return None
        params = parse_auth_params(rest)
        if params is None:
            if len(rest) > MAX_PARAMS_LENGTH:
                logger.warning("Digest header of %d bytes refused (cap %d)", len(rest), MAX_PARAMS_LENGTH)
            return MALFORMED
        scope = request.scope
        return DigestCredentials(params, scope.get("method", "GET"), _request_target(scope))

    async def verify(self, credentials: Any) -> Any:
        if not isinstance(credentials, DigestCredentials):  # extract-only mode
            return await self.call_verifier(credentials)
        p = dict(credentials.params)
        algorithm = self._canonical.get(p.get("algorithm", "MD5").upper(), "")
        if "username" not in p and p.get("username*", "").lower().startswith("utf-8''"):
            try:
                p["username"] = unquote(p["username*"][7:], errors="strict")  # RFC 8187 ext-value
            except UnicodeDecodeError:
                raise self._refuse() from None
        required = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if (
            any(key not in p for key in required)
            or algorithm not in self.algorithms
            or p["qop"] != "auth"
            or p["realm"] != self.realm
            or not _NC.fullmatch(p["nc"])
            or not hmac.compare_digest(p.get("opaque", ""), self.opaque)
        ):
            raise self._refuse()
        if p["uri"] != credentials.target:
            # RFC 7616 §3.4.6: the digest was computed for another request.
            raise AuthError("Digest uri does not match the request", status_code=400)
        issued = self.nonce_issued_at(p["nonce"])
        if issued is None:
            raise self._refuse()
        username = p["username"]
        if p.get("userhash", "false").lower() == "true":
            resolved = self._userhash_lookup(username.lower()) if self._userhash_lookup else None
            if resolved is None:
                raise self._refuse()
            username = p["username"] = resolved
        secret = await self.call_verifier(username)
        if secret is None:
            raise self._refuse()
        expected = self._expected(p, algorithm, secret, credentials.method)
        if expected is None or not hmac.compare_digest(expected, p["response"].lower()):
            raise self._refuse()
        if time.time() - issued > self.nonce_lifetime:
            raise self._refuse(stale=True)  # right password, old nonce: retry silently
        if not await self.nonce_counter.advance(p["nonce"], int(p["nc"], 16), issued + self.nonce_lifetime):
            raise self._refuse()
        return Principal(username)

    def _expected(self, p: Mapping[str, str], algorithm: str, secret: Any, method: str) -> str | None:
        base = algorithm.removesuffix("-sess")
        hash_ = _HASHES[base]

        def h(text: str) -> str:
            return str(hash_(text.encode("utf-8")).hexdigest())

        if isinstance(secret, Mapping):
            ha1 = str(secret.get(base, "")).lower()
            if not ha1:
                return None
        else:
            ha1 = h(f"{p['username']}:{self.realm}:{secret}")
        if algorithm.endswith("-sess"):
            ha1 = h(f"{ha1}:{p['nonce']}:{p['cnonce']}")
        ha2 = h(f"{method}:{p['uri']}")
        return h(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{p['qop']}:{ha2}")
