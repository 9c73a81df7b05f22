"""`JWTVerifier`: signed JWT access and ID tokens (RFC 7519), verified with PyJWT.

Algorithms are an explicit allow-list checked against the kind of key: an HMAC
algorithm is never verified with a public key (the classic RS256→HS256 confusion) and
`none` is never accepted. Keys are prepared once, when the verifier is built, so a
misfit key fails at startup and no request pays for parsing or checking it again.
Verified tokens are cached by their SHA-256 until they expire, so a client that sends
the same token again costs a dict lookup, not a signature check.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt import PyJWK, PyJWKSet
from jwt.algorithms import Algorithm, HMACAlgorithm, get_default_algorithms

from ..context import Principal
from ..errors import ConfigurationError
from .jwks import JWKSClient

logger = logging.getLogger("asgi_auth")

__all__ = ["JWTVerifier"]

_HMAC_HASHES = {"HS256": HMACAlgorithm.SHA256, "HS384": HMACAlgorithm.SHA384, "HS512": HMACAlgorithm.SHA512}
_HMAC = frozenset(_HMAC_HASHES)
_ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES256K", "ES384", "ES512", "EdDSA", "Ed25519"}
)
_SCOPE_CLAIMS = ("scope", "scp", "scopes")
_ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()
_PRIVATE_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)


def _scopes(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return frozenset()


class JWTVerifier:
    """Verify a bearer JWT; returns a `Principal` (subject, scopes, claims) or `None`.

    Give `key` (an HMAC secret, a PEM or `cryptography` public key, a JWK / JWKS dict,
    a `PyJWK` or `PyJWKSet`), or `jwks_url` (or a configured `jwks=JWKSClient(...)`).
    Scopes come from `scopes_claim`, else the first of `scope` (space-separated), `scp`,
    `scopes` that the token carries.
    """

    def __init__(
        self,
        key: Any = None,
        *,
        jwks_url: str | None = None,
        algorithms: Sequence[str],
        issuer: str | Sequence[str] | None = None,
        audience: str | Iterable[str] | None = None,
        leeway: float = 0,
        required_claims: Iterable[str] = ("exp",),
        scopes_claim: str | None = None,
        typ: str | None = None,
        max_token_size: int = 8192,
        cache: bool = True,
        cache_size: int = 10_000,
        cache_ttl: float = 300.0,
        jwks_transport: httpx.AsyncBaseTransport | None = None,
        jwks: JWKSClient | None = None,
    ) -> None:
        if isinstance(algorithms, str) or not algorithms:
            raise ConfigurationError('JWTVerifier needs algorithms=[...], an explicit allow-list such as ["RS256"]')
        self.algorithms = list(algorithms)
        unknown = set(self.algorithms) - _HMAC - _ASYMMETRIC
        if unknown:
            raise ConfigurationError(f"JWTVerifier: algorithm(s) {', '.join(sorted(unknown))} are not allowed")
        if jwks is None and jwks_url is not None:
            jwks = JWKSClient(jwks_url, transport=jwks_transport)
        if (key is None) == (jwks is None):
            raise ConfigurationError("JWTVerifier needs exactly one of key=, jwks_url= or jwks=")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.required_claims = list(required_claims)
        self.scopes_claim = scopes_claim
        self.typ = typ.lower().removeprefix("application/") if typ else None
        self.max_token_size = max_token_size
        self.cache_enabled = cache
        self.cache_size = cache_size
        self.cache_ttl = cache_ttl
        self._cache: OrderedDict[bytes, tuple[Principal, float, float]] = OrderedDict()
        self.jwks = jwks
        self._keys: dict[str | None, Any] = {}
        if key is not None:
            self._keys = {kid: self._prepare(k) for kid, k in self._load_keys(key).items()}
        elif _HMAC & set(self.algorithms):
            raise ConfigurationError("JWTVerifier: a JWKS holds public keys; HMAC algorithms make no sense with it")
        # Options given once, here, rather than merged into PyJWT's defaults per token.
        self._jwt = _decoder(
            {"require": self.required_claims},
            [name for name in self.algorithms if name in _HMAC],
            frozenset(k for k in self._keys.values() if type(k) is bytes),
        )
        self._single_key: Any = next(iter(self._keys.values())) if len(self._keys) == 1 and self.typ is None else None

    def _load_keys(self, key: Any) -> dict[str | None, Any]:
        if isinstance(key, Mapping):
            key = PyJWKSet.from_dict(dict(key)) if "keys" in key else PyJWK.from_dict(dict(key))
        if isinstance(key, PyJWKSet):
            keys: dict[str | None, Any] = {k.key_id: k for k in key.keys}
        elif isinstance(key, PyJWK):
            keys = {key.key_id: key}
        else:
            keys = {None: key}
        symmetric = [
            (isinstance(k, (str, bytes)) and not _is_pem(k)) or (isinstance(k, PyJWK) and k.key_type == "oct")
            for k in keys.values()
        ]
        if any(symmetric) and not set(self.algorithms) <= _HMAC:
            raise ConfigurationError("JWTVerifier: an HMAC secret can only verify HS256/HS384/HS512")
        if not all(symmetric) and set(self.algorithms) & _HMAC:
            raise ConfigurationError("JWTVerifier: a public key must never verify HMAC (HS*) algorithms")
        if any(isinstance(k, (str, bytes)) and not _is_pem(k) and len(k) < 32 for k in keys.values()):
            raise ConfigurationError("JWTVerifier: an HMAC secret must be at least 32 bytes (RFC 7518 §3.2)")
        return keys

    def _prepare(self, key: Any) -> Any:
        """The key as PyJWT verifies with it, made once by PyJWT's own `prepare_key`.

        PyJWT prepares the key it is given on every decode: it parses a PEM (about
        10 µs for RS256) and checks an HMAC secret against PEM, SSH, DER and JSON shapes
        (about 6 µs, a quarter of an HS256 decode, in PyJWT 2.15). A private key becomes
        its public half: PyJWT can't verify with a private key object.
        """
        if isinstance(key, PyJWK):
            return key  # parsed already, and bound to its algorithm
        for name in self.algorithms:
            algorithm = _ALGORITHMS.get(name)
            if algorithm is None:
                continue
            try:
                prepared = algorithm.prepare_key(key)
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
            return prepared.public_key() if isinstance(prepared, _PRIVATE_KEYS) else prepared
        raise ConfigurationError(f"JWTVerifier: PyJWT refused key= for each of {', '.join(self.algorithms)}")

    def __repr__(self) -> str:
        source = f"jwks_url={self.jwks.url!r}" if self.jwks else "key=<hidden>"
        return f"JWTVerifier({source}, algorithms={self.algorithms!r})"

    def verify_inline(self, credentials: Any) -> Principal | Awaitable[Principal | None] | None:
        """The answer for a token, on the event loop: the principal, `None` to reject,
        or an awaitable when keys must be fetched first (a JWKS).

        A cached token costs a dict lookup; with a static key the signature is checked
        right here, as `__call__` would; only a JWKS lookup can make it wait. This is
        how the middleware calls a verifier that has it (docs/schemes.md).
        """
        token = credentials if type(credentials) is str else getattr(credentials, "credentials", None)
        if not isinstance(token, str) or not token:
            return None
        if len(token) > self.max_token_size:
            logger.warning("bearer token of %d bytes refused (cap %d)", len(token), self.max_token_size)
            return None
        digest = b""
        if self.cache_enabled:
            digest = _digest(token)
            cached = self._lookup(digest)
            if cached is not None:
                return cached
        if self._single_key is not None:
            # One key and no typ to check: PyJWT reads the header once, checking the
            # algorithm against the allow-list itself.
            return self._remember(digest, *self._verify(token, self._single_key))
        return self._verify_later(token, digest)

    async def __call__(self, credentials: Any) -> Principal | None:
        answer = self.verify_inline(credentials)
        if answer is None or isinstance(answer, Principal):
            return answer
        return await answer

    def lifetime(self, credentials: Any) -> tuple[float, float] | None:
        """`(not_before, expires)` of the cached verification of a token, else `None`.

        Within that window this verifier gives the same principal for the token, so a
        requirement may keep its decision for it as long (and no longer).
        """
        if not self.cache_enabled or type(credentials) is not str:
            return None
        hit = self._cache.get(_digest(credentials))
        return None if hit is None else (hit[1], hit[2])

    def _lookup(self, digest: bytes) -> Principal | None:
        hit = self._cache.get(digest)
        if hit is None:
            return None
        principal, not_before, expires = hit
        if not_before <= time.time() < expires:
            self._cache.move_to_end(digest)
            return principal
        del self._cache[digest]
        return None

    def _remember(
        self, digest: bytes, principal: Principal | None, not_before: float, expires: float
    ) -> Principal | None:
        if principal is not None and self.cache_enabled:
            self._cache[digest] = (principal, not_before, expires)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return principal

    async def _verify_later(self, token: str, digest: bytes) -> Principal | None:
        return self._remember(digest, *(await self._decode(token)))

    async def _decode(self, token: str) -> tuple[Principal | None, float, float]:
        """Choose the key by the token's header (`kid`, `alg`, `typ`), then verify."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None, 0, 0
        if header.get("alg") not in self.algorithms:
            return None, 0, 0
        if self.typ is not None and str(header.get("typ", "")).lower().removeprefix("application/") != self.typ:
            return None, 0, 0
        kid = header.get("kid")
        if self.jwks is not None:
            key: Any = await self.jwks.get_key(kid if isinstance(kid, str) else None)
        else:
            key = self._keys.get(kid, self._keys.get(None))
            if key is None and len(self._keys) == 1:
                key = next(iter(self._keys.values()))
        if key is None:
            return None, 0, 0
        return self._verify(token, key)

    def _verify(self, token: str, key: Any) -> tuple[Principal | None, float, float]:
        """`(principal or None, not_before, expires)`: the window is what the cache keeps."""
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
            )
        except jwt.PyJWTError:
            return None, 0, 0
        subject = claims.get("sub")
        principal = Principal(
            "" if subject is None else str(subject), self._scopes_of(claims), claims=MappingProxyType(claims)
        )
        if not self.cache_enabled:
            return principal, 0, 0
        # How long the answer may be cached: until exp (with leeway), at most cache_ttl.
        expires = time.time() + self.cache_ttl
        exp = claims.get("exp")
        if type(exp) is int or type(exp) is float:
            expires = min(expires, exp + self.leeway)
        nbf = claims.get("nbf")
        not_before = nbf - self.leeway if type(nbf) is int or type(nbf) is float else float("-inf")
        return principal, not_before, expires

    def _scopes_of(self, claims: Mapping[str, Any]) -> frozenset[str]:
        if self.scopes_claim is not None:
            return _scopes(claims.get(self.scopes_claim))
        for name in _SCOPE_CLAIMS:
            if name in claims:
                return _scopes(claims[name])
        return frozenset()


class _CheckedHMAC(HMACAlgorithm):
    """PyJWT's HMAC algorithm, told which secrets were checked when the verifier was built.

    `prepare_key` is a pure function of the key, and PyJWT runs it on every decode. For
    a secret that went through it once already the answer can't change, so it is given
    back as it is; any other key gets PyJWT's full check.
    """

    def __init__(self, hash_alg: Any, checked: frozenset[bytes]) -> None:
        super().__init__(hash_alg)
        self.checked = checked

    def prepare_key(self, key: str | bytes) -> bytes:
        if type(key) is bytes and key in self.checked:
            return key
        return super().prepare_key(key)


def _decoder(options: Any, hmac_algorithms: list[str], secrets: frozenset[bytes]) -> jwt.PyJWT:
    """A `PyJWT` whose HMAC algorithms know the verifier's checked secrets.

    PyJWT 2.11+ gives each `PyJWT` its own `PyJWS` (`_jws`, the one private name read
    here), and algorithms are registered on it with PyJWS's public `register_algorithm`.
    Where it is missing (PyJWT 2.10) the secret is checked per decode, as PyJWT does;
    tests/verifiers/test_jwt.py says which path the installed PyJWT takes.
    """
    decoder = jwt.PyJWT(options=options)
    jws = getattr(decoder, "_jws", None)
    if secrets and isinstance(jws, jwt.PyJWS):
        for name in hmac_algorithms:
            jws.unregister_algorithm(name)
            jws.register_algorithm(name, _CheckedHMAC(_HMAC_HASHES[name], secrets))
    return decoder


def _digest(token: str) -> bytes:
    # Cache keys are digests: the cache never holds a token. UTF-8 with surrogates
    # passed through maps distinct strings to distinct bytes, whatever they contain.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _is_pem(key: str | bytes) -> bool:
    return (key if isinstance(key, bytes) else key.encode("latin-1", "replace")).lstrip().startswith(b"-----BEGIN")
