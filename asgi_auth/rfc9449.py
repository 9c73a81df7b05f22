"""DPoP (RFC 9449): checking the proof a client sends with a sender-constrained token.

A DPoP proof is a JWT the client signs, for each request, with a key whose thumbprint
the access token carries (`cnf.jkt`): a stolen token is useless without that key. The
checks of §4.3 are here, in one place, each one a refusal of its own: a single
well-formed JWT of `typ` `dpop+jwt`, an asymmetric `alg` from the allow-list, a public
`jwk` that verifies the signature, `htm` and `htu` naming this request, `iat` within a
short window, `ath` the hash of the token sent with it, `jti` seen once (a
`ReplayCache`), and, when the server hands out nonces (§9), one of ours, still fresh.

Nothing here reads a request: the scheme (schemes/dpop.py) hands in the method, the
URI the router serves and the token; this module says yes (the proof's thumbprint) or
raises the `AuthError` that answers. Nonces are stateless, as Digest's are: a
timestamp and random bytes signed with a server secret, so workers sharing the secret
accept each other's.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlsplit

from jwt.algorithms import Algorithm, get_default_algorithms

from ._asgi import strip_root_path
from ._headers import quote as quote_string
from ._types import Scope
from .errors import AuthError, ConfigurationError, InvalidCredentials
from .stores import MemoryReplayCache, ReplayCache
from .verifiers._keys import FAMILIES, UnusableKey, VerifyingKey, key_from_jwk

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "DPoP",
    "DPoPProof",
    "jwk_thumbprint",
    "normalize_uri",
    "request_uri",
]

#: Every signature algorithm a DPoP proof may use: asymmetric only (§4.2), never `none`/HS*.
ASYMMETRIC_ALGORITHMS = frozenset(alg for alg, (kty, _) in FAMILIES.items() if kty != "oct")
#: Offered by default: what the client libraries we know sign with.
DEFAULT_ALGORITHMS = ("ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA")

#: The members a private JWK has and a public one doesn't (RFC 7518 §6, RFC 8037 §2).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
#: RFC 7638 §3.2: the required members whose canonical JSON is hashed, per key type.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
_REQUIRED_CLAIMS = ("jti", "htm", "htu", "iat")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_NQCHAR = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WEB_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
#: What stays as it is when a decoded path is encoded again (RFC 3986 `pchar` and "/").
_PATH_SAFE = "/:@!$&'()*+,;="
_NOT_IN_HOST = frozenset("/?#@\\ \t")
_KEY_CACHE_SIZE = 1024
#: The largest RSA public exponent a proof's key may have (Go's crypto/rsa limit too):
#: clients use 65537; verifying costs in the exponent's length.
MAX_RSA_EXPONENT = 2**31 - 1
_SIGNERS: dict[str, Algorithm] = get_default_algorithms()
_SIGNERS["Ed25519"] = _SIGNERS["EdDSA"]  # RFC 9864's name; the key check keeps it to Ed25519 keys


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url: what `cnf.jkt` holds."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise ValueError("JWK lacks the members its thumbprint needs")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def access_token_hash(token: str) -> str:
    """`ath` (§4.2): base64url of the SHA-256 of the token's ASCII bytes."""
    return b64url(hashlib.sha256(token.encode("ascii", "surrogateescape")).digest())


# -- the request's URI, normalised ---------------------------------------------------------


def _normalize_path(path: str, remove_dots: bool) -> str:
    """RFC 3986 §6.2.2: percent-escapes upper-cased, unreserved ones decoded, dot
    segments removed (§5.2.4) if asked; §6.2.3: an empty path is "/"."""

    def escape(match: re.Match[str]) -> str:
        byte = int(match.group(1), 16)
        return chr(byte) if byte in _UNRESERVED else "%" + match.group(1).upper()

    path = _PCT.sub(escape, path)
    if not remove_dots:
        return path if path.startswith("/") else "/" + path
    out: list[str] = []
    for segment in path.split("/")[1:] if path.startswith("/") else path.split("/"):
        if segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    trailing = path.endswith(("/.", "/..")) and bool(out) and out[-1] != ""
    return "/" + "/".join(out) + ("/" if trailing else "")


def normalize_uri(uri: str, *, remove_dots: bool = True) -> str | None:
    """`uri` without query and fragment, normalised as §4.3 asks (RFC 3986 §6.2.2 and
    §6.2.3: case, percent-encoding, dot segments, default port, empty path); `None`
    for anything that is not an absolute http(s) URI (ws/wss count as http/https, the
    handshake's own URI). User information is refused: a request URI carries none.

    The request's own URI keeps its dot segments (`remove_dots=False`): routers serve
    `/a/..` as a path of its own, not as `/`, so a proof for `/` must not pass there."""
    if len(uri) > 4096 or not uri.isascii() or any(c in uri for c in " \t\r\n\\"):
        return None
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = _WEB_SCHEMES.get(parts.scheme.lower())
    host = parts.hostname
    if scheme is None or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return f"{scheme}://{netloc}{_normalize_path(parts.path, remove_dots)}"


def _encoded_path(scope: Scope, path: str) -> str:
    """`path` (decoded, as the router sees it) percent-encoded again: as the client
    sent it (`raw_path`) when that decodes to the same, else re-encoded."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw.isascii() and b"?" not in raw:
        try:
            if unquote_to_bytes(raw) == path.encode("utf-8"):
                return raw.decode("ascii")
        except UnicodeEncodeError:
            pass
    return quote(path, safe=_PATH_SAFE)


def request_uri(scope: Scope, public_url: str | None = None) -> str:
    """The URI a request was made to, as the router serves it, normalised.

    From the scope it is Starlette's `request.url` less the query: the scheme, the
    `Host` header (else the server's address) and `root_path` + the route path. Behind
    a proxy those are what the proxy sent, not what the client signed: `public_url`,
    the URL at which the app's root is reached (`https://api.example.com/v1`), then
    replaces scheme, host and `root_path`.
    """
    root_path: str = scope.get("root_path", "")
    route = strip_root_path(scope["path"], root_path)
    if public_url is not None:
        return normalize_uri(public_url + _encoded_path(scope, route), remove_dots=False) or ""
    scheme = _WEB_SCHEMES.get(str(scope.get("scheme", "http")).lower(), "http")
    host = None
    for key, value in scope["headers"]:
        if key == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        server = scope.get("server")
        if server is None:
            host = "localhost"
        else:
            name, port = server
            name = f"[{name}]" if ":" in name else name
            host = name if port is None else f"{name}:{port}"
    if any(c in host for c in _NOT_IN_HOST):
        return ""  # a Host header that would move the path or add userinfo matches no proof
    uri = f"{scheme}://{host}{_encoded_path(scope, root_path + route)}"
    # One that doesn't parse gives "" too, which no proof's htu normalises to.
    return normalize_uri(uri, remove_dots=False) or ""


# -- the proof -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A proof that passed every check that needs no store: who signed it (`jkt`), and
    what the replay check keys and keeps it by."""

    jkt: str
    jti: str
    iat: float
    htu: str


class DPoP:
    """How a scheme checks DPoP (`dpop=aa.DPoP(...)`; `"required"` and `"allowed"` are
    this with its defaults).

    `required=True` accepts only DPoP-bound tokens (`Authorization: DPoP`); `False`
    accepts Bearer tokens as well, but never a DPoP-bound one sent as Bearer (§7.2).
    `algorithms` is the asymmetric allow-list (offered in `algs=`); a proof is good
    from `leeway` seconds before its `iat` to `max_age` seconds after, and its `jti`
    is kept in `replay_cache` that long. `public_url` is the URL clients reach the
    app's root at, when a proxy stands between (see `request_uri`). `nonces=True`
    makes clients include a nonce of ours (§9), valid `nonce_lifetime` seconds and
    signed with `nonce_secret` (random per process unless given: workers must share one).
    An RSA `jwk` has `min_rsa_bits` to `max_rsa_bits` and a public exponent of at most
    `MAX_RSA_EXPONENT`: the sender picks the key, and a 16384-bit modulus or an exponent
    as long as the modulus makes each signature check cost what 40 to 70 ES256 ones do.
    """

    def __init__(
        self,
        *,
        required: bool = True,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        max_age: float = 60.0,
        leeway: float = 5.0,
        replay_cache: ReplayCache | None = None,
        public_url: str | None = None,
        nonces: bool = False,
        nonce_lifetime: float = 300.0,
        nonce_secret: bytes | None = None,
        max_jti_length: int = 256,
        min_rsa_bits: int = 2048,
        max_rsa_bits: int = 4096,
    ) -> None:
        self.required = required
        self.algorithms = tuple(dict.fromkeys(algorithms))
        if not self.algorithms:
            raise ConfigurationError("DPoP: algorithms must name at least one algorithm")
        for alg in self.algorithms:
            if alg not in ASYMMETRIC_ALGORITHMS:
                raise ConfigurationError(
                    f"DPoP: {alg!r} is not an asymmetric signature algorithm (RFC 9449 §4.2 forbids none and MACs);"
                    f" known: {', '.join(sorted(ASYMMETRIC_ALGORITHMS))}"
                )
        if max_age <= 0 or leeway < 0:
            raise ConfigurationError("DPoP: max_age must be positive and leeway not negative")
        self.max_age = max_age
        self.leeway = leeway
        self.replay_cache: ReplayCache = replay_cache if replay_cache is not None else MemoryReplayCache()
        if public_url is not None:
            normalized = normalize_uri(public_url)
            if normalized is None or urlsplit(public_url).query or urlsplit(public_url).fragment:
                raise ConfigurationError(f"DPoP: public_url={public_url!r} is not an absolute http(s) URL")
            public_url = normalized.rstrip("/")
        self.public_url = public_url
        self.nonces = nonces
        self.nonce_lifetime = nonce_lifetime
        if nonce_secret is not None and len(nonce_secret) < 16:
            raise ConfigurationError("DPoP: nonce_secret must be at least 16 bytes")
        self._secret = nonce_secret if nonce_secret is not None else os.urandom(32)
        self.max_jti_length = max_jti_length
        if max_rsa_bits < min_rsa_bits:
            raise ConfigurationError("DPoP: max_rsa_bits must be at least min_rsa_bits")
        self.min_rsa_bits = min_rsa_bits
        self.max_rsa_bits = max_rsa_bits
        self._headers: OrderedDict[str, tuple[str, str, VerifyingKey]] = OrderedDict()
        self.algs = quote_string(" ".join(self.algorithms))

    def __repr__(self) -> str:
        return f"aa.DPoP(required={self.required!r}, algorithms={list(self.algorithms)!r})"

    # -- challenges ---------------------------------------------------------------------

    def challenge(self, error: str | None = None, description: str | None = None, scope: str | None = None) -> str:
        """A `WWW-Authenticate: DPoP` value (§7.1), always with `algs`."""
        params = []
        if error is not None:
            params.append(f"error={quote_string(error)}")
        if description is not None:
            params.append(f"error_description={quote_string(description)}")
        if scope is not None:
            params.append(f"scope={quote_string(scope)}")
        params.append(f"algs={self.algs}")
        return "DPoP " + ", ".join(params)

    def refuse(self, error: str, description: str | None = None, *, status_code: int = 401) -> AuthError:
        """The answer for one failed check (`invalid_dpop_proof`, `invalid_token`, ...)."""
        headers = [("WWW-Authenticate", self.challenge(error, description))]
        if status_code == 401:
            return InvalidCredentials(headers=headers)
        return AuthError(description, status_code=status_code, headers=headers)

    def bad_proof(self, description: str) -> AuthError:
        return self.refuse("invalid_dpop_proof", description)

    # -- nonces (§8, §9) ----------------------------------------------------------------

    def make_nonce(self, now: float | None = None) -> str:
        stamp = int((time.time() if now is None else now) * 1000).to_bytes(8, "big")
        salt = secrets.token_bytes(8)
        return b64url(stamp + salt + self._sign(stamp + salt))

    def _sign(self, data: bytes) -> bytes:
        return hmac.new(self._secret, b"dpop-nonce:" + data, hashlib.sha256).digest()[:16]

    def nonce_fresh(self, nonce: object, now: float) -> bool:
        """Whether `nonce` is one we issued within `nonce_lifetime`."""
        if not isinstance(nonce, str) or len(nonce) != 43 or not _NQCHAR.fullmatch(nonce):
            return False
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except (binascii.Error, ValueError):
            return False
        body, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, self._sign(body)):
            return False
        issued = int.from_bytes(body[:8], "big") / 1000
        return issued - self.leeway <= now <= issued + self.nonce_lifetime

    def use_nonce(self, description: str) -> AuthError:
        """§9: 401 `use_dpop_nonce` with a fresh `DPoP-Nonce` to sign into the next proof."""
        return InvalidCredentials(
            headers=[
                ("WWW-Authenticate", self.challenge("use_dpop_nonce", description)),
                ("DPoP-Nonce", self.make_nonce()),
                ("Cache-Control", "no-store"),  # §8.2: a stale nonce must not be served from a cache
            ]
        )

    # -- the checks of §4.3 -------------------------------------------------------------

    def check(self, proof: str, *, method: str, uri: str, token: str, now: float | None = None) -> DPoPProof:
        """Every §4.3 check that needs no store, for a proof sent with `token` on a
        `method` request to `uri` (normalised, as `request_uri` makes it). Raises the
        refusal; returns what the replay check needs."""
        now = time.time() if now is None else now
        # 2. one compact JWS.
        parts = proof.split(".")
        if len(parts) != 3 or not all(parts) or not proof.isascii():
            raise self.bad_proof("not a compact JWT")
        alg, jkt, key = self._header(parts[0])
        # 6. the signature verifies with the header's key.
        try:
            verified = _SIGNERS[alg].verify(f"{parts[0]}.{parts[1]}".encode("ascii"), key.key, _unb64(parts[2]))
        except Exception:  # a signature that doesn't even decode is as good as a wrong one
            verified = False
        if not verified:
            raise self.bad_proof("signature does not verify")
        claims = _json_object(parts[1])
        if claims is None:
            raise self.bad_proof("not a compact JWT")
        # 3. the claims, with their types.
        jti, htm, htu, iat = (claims.get(name) for name in _REQUIRED_CLAIMS)
        if not (isinstance(jti, str) and isinstance(htm, str) and isinstance(htu, str)):
            raise self.bad_proof("jti, htm and htu must be strings")
        if not jti or len(jti) > self.max_jti_length:
            raise self.bad_proof("jti is empty or too long")
        # Not NaN, which json reads and every comparison below would let by: a proof good
        # forever, its jti kept "until NaN", that is not at all. (Infinities are refused
        # as any time too far off; an int is compared exactly, however long.)
        if isinstance(iat, bool) or not isinstance(iat, (int, float)) or (type(iat) is float and math.isnan(iat)):
            raise self.bad_proof("iat must be a number")
        # 8. htm; 9. htu (most clients send it normalised already: compared as it is first).
        if htm != method:
            raise self.bad_proof("htm does not match the request method")
        if not uri or (htu != uri and normalize_uri(htu) != uri):
            raise self.bad_proof("htu does not match the request URI")
        # 11. iat within the window (the jti is recorded by the caller, once all else holds).
        if iat > now + self.leeway:
            raise self.bad_proof("iat is in the future")
        if iat < now - self.max_age:
            raise self.bad_proof("iat is too old")
        # 12. ath: the proof is for this token.
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(ath.encode("ascii", "replace"), _ath(token)):
            raise self.bad_proof("ath does not match the access token")
        # 10. a nonce of ours, when we hand them out.
        if self.nonces:
            if "nonce" not in claims:
                raise self.use_nonce("Resource server requires nonce in DPoP proof")
            if not self.nonce_fresh(claims["nonce"], now):
                raise self.use_nonce("DPoP nonce is not one of ours or has expired")
        # Kept under the target with its dot segments resolved: a proof for `/a/../b`
        # passes at `/a/../b` and at `/b`, and must be used once, not once at each.
        return DPoPProof(jkt, jti, float(iat), normalize_uri(uri) or uri)

    def _header(self, encoded: str) -> tuple[str, str, VerifyingKey]:
        """Checks 4, 5 and 7, on the protected header: `alg`, the key's thumbprint and
        the key. A client sends the same header with every proof, so a header that
        passed is kept (bounded) and the next proof skips its parsing and key reading."""
        found = self._headers.get(encoded)
        if found is not None:
            return found
        header = _json_object(encoded)
        if header is None:
            raise self.bad_proof("not a compact JWT")
        if "crit" in header:
            raise self.bad_proof("crit header parameters are not understood")
        # 4. typ; 5. alg, asymmetric and allowed.
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() != "dpop+jwt":
            raise self.bad_proof("typ is not dpop+jwt")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise self.bad_proof("alg is not one of algs")
        # 7. a public key, checked before it is read.
        jwk = header.get("jwk")
        if not isinstance(jwk, dict):
            raise self.bad_proof("no jwk in the header")
        if _PRIVATE_MEMBERS & jwk.keys():
            raise self.bad_proof("jwk holds a private key")
        try:
            jkt = jwk_thumbprint(jwk)
            key = key_from_jwk(jwk, min_rsa_bits=self.min_rsa_bits, symmetric=False)
        except (ValueError, UnusableKey):
            raise self.bad_proof("jwk is not a public key of a known type") from None
        if not key.fits(alg):
            raise self.bad_proof("jwk can't verify alg")
        if key.kty == "RSA" and (key.key.key_size > self.max_rsa_bits or key.key.public_numbers().e > MAX_RSA_EXPONENT):
            raise self.bad_proof("jwk is an RSA key larger than this server checks")
        if len(self._headers) >= _KEY_CACHE_SIZE:
            self._headers.popitem(last=False)
        found = self._headers[encoded] = (alg, jkt, key)
        return found

    async def record(self, proof: DPoPProof, used: set[tuple[int, str]] | None = None) -> None:
        """§11.1: the `jti` once per key and resource while the proof could be accepted.

        `used` is what this request spent already (`RequestView.used`): a request that
        several rules or schemes check with one store records its proof there once,
        and is not refused as its own replay."""
        digest = hashlib.sha256(f"{proof.jkt}\x00{proof.htu}\x00{proof.jti}".encode()).digest()
        key = "dpop:" + b64url(digest)
        spent = (id(self.replay_cache), key)
        if used is not None and spent in used:
            return
        if not await self.replay_cache.first_use(key, expires_at=proof.iat + self.max_age + 1):
            raise self.bad_proof("jti was used already")
        if used is not None:
            used.add(spent)

    def bound(self, claims: Mapping[str, Any], jkt: str) -> None:
        """§6: the token is bound (`cnf.jkt`) to the key that signed the proof."""
        cnf = claims.get("cnf")
        bound = cnf.get("jkt") if isinstance(cnf, Mapping) else None
        if not isinstance(bound, str) or not hmac.compare_digest(bound.encode("ascii", "replace"), jkt.encode()):
            raise self.refuse("invalid_token", "Invalid DPoP key binding")


def _json_object(part: str) -> dict[str, Any] | None:
    """A base64url JSON object, or `None`."""
    try:
        value = json.loads(_unb64(part))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _unb64(part: str) -> bytes:
    if not _TOKEN68.fullmatch(part) or "=" in part or "+" in part or "/" in part:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _ath(token: str) -> bytes:
    return access_token_hash(token).encode("ascii")


def is_token68(value: str) -> bool:
    """RFC 9110 `token68`: what `Authorization: DPoP <token>` carries (§7.1)."""
    return _TOKEN68.fullmatch(value) is not None
