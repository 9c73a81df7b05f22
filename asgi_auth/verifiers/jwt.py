"""`JWTVerifier`: signed JWT access and ID tokens (RFC 7519), verified with PyJWT.

Algorithms are an explicit allow-list checked against the kind of key: an HMAC
algorithm is never verified with a public key (the classic RS256→HS256 confusion) and
`none` is never accepted. Keys are prepared once, when the verifier is built, so a
misfit key fails at startup and no request pays for parsing or checking it again.
Verified tokens are cached by their BLAKE2b digest until they expire (`_cache.Cache`:
bounded in entries and bytes, CLOCK eviction, admission on second sighting once full), so a client
that sends the same token again costs a dict lookup, not a signature check; a rejected
token sent again is remembered as rejected for `negative_ttl`, so an OR of verifiers
does not re-check the signatures that failed. A rejection that may turn into a pass
(a token not valid yet, a `kid` no key has yet) and an outage are never remembered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import jwt
from jwt import PyJWK, PyJWKSet
from jwt.algorithms import Algorithm, HMACAlgorithm, OKPAlgorithm, get_default_algorithms

from .._cache import Cache, digest
from ..context import Principal
from ..errors import ConfigurationError
from ..stores import RevocationList
from ._b64 import use_fast_segments
from ._keys import FAMILIES, KeySet, UnusableKey, VerifyingKey, key_from_jwk, key_from_object
from .base import Verdict
from .jwks import JWKSClient

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("asgi_auth")

__all__ = ["JWTVerifier"]

_HMAC_HASHES = {"HS256": HMACAlgorithm.SHA256, "HS384": HMACAlgorithm.SHA384, "HS512": HMACAlgorithm.SHA512}
_HMAC = frozenset(_HMAC_HASHES)
_ASYMMETRIC = frozenset(FAMILIES) - _HMAC
_SCOPE_CLAIMS = ("scope", "scp", "scopes")
_ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()
#: How far in the future `iat` may be by default: an issuer's clock running ahead (Envoy
#: and Spring Security allow 60 s of skew).
CLOCK_SKEW = 60.0


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
    `scopes` that the token carries. `leeway` widens `exp` and `nbf`; `clock_skew` is how
    far in the future `iat` may be. RSA keys under `min_rsa_bits` are refused.
    """

    def __init__(
        self,
        key: Any = None,
        *,
        jwks_url: str | None = None,
        algorithms: Sequence[str],
        issuer: str | Sequence[str] | None = None,
        audience: str | Iterable[str] | None = None,
        verify_audience: bool = True,
        leeway: float = 0,
        clock_skew: float = CLOCK_SKEW,
        required_claims: Iterable[str] = ("exp",),
        scopes_claim: str | None = None,
        typ: str | None = None,
        max_token_size: int = 8192,
        cache: bool = True,
        cache_size: int = 10_000,
        cache_ttl: float = 300.0,
        cache_bytes: int = 32 * 1024 * 1024,
        negative_ttl: float = 10.0,
        min_rsa_bits: int = 2048,
        jwks_transport: httpx.AsyncBaseTransport | None = None,
        jwks: JWKSClient | None = None,
        revocations: RevocationList | None = None,
    ) -> None:
        if isinstance(algorithms, str) or not algorithms:
            raise ConfigurationError('JWTVerifier needs algorithms=[...], an explicit allow-list such as ["RS256"]')
        self.algorithms = list(algorithms)
        unknown = set(self.algorithms) - _HMAC - _ASYMMETRIC
        if unknown:
            raise ConfigurationError(f"JWTVerifier: algorithm(s) {', '.join(sorted(unknown))} are not allowed")
        if jwks is None and jwks_url is not None:
            jwks = JWKSClient(jwks_url, transport=jwks_transport, min_rsa_bits=min_rsa_bits)
        if (key is None) == (jwks is None):
            raise ConfigurationError("JWTVerifier needs exactly one of key=, jwks_url= or jwks=")
        self.issuer = issuer
        self.audience = audience
        self.verify_audience = verify_audience
        self.leeway = leeway
        self.clock_skew = max(clock_skew, leeway)
        self.required_claims = list(required_claims)
        self.scopes_claim = scopes_claim
        self.typ = typ.lower().removeprefix("application/") if typ else None
        self.max_token_size = max_token_size
        self.min_rsa_bits = min_rsa_bits
        self._cache_enabled = cache
        self.cache_size = cache_size
        self.cache_ttl = cache_ttl
        #: A rejection is remembered this long, never longer than a pass would be.
        self.negative_ttl = max(0.0, min(negative_ttl, cache_ttl))
        self._cache: Cache[Verdict] = Cache(cache_size, cache_bytes, on_rest=self._rested)
        #: Whether a token is looked up at all: not with `cache=False`, nor while the cache rests.
        self._live = cache
        self.jwks = jwks
        #: Consulted on every verification and before a cached verdict is reused.
        self.revocations = revocations
        self._keys: KeySet | None = None
        if key is not None:
            self._keys = KeySet(self._load_keys(key), self.algorithms)
            if not self._keys.fitting(self.algorithms):
                raise ConfigurationError(f"JWTVerifier: no key given can verify any of {', '.join(self.algorithms)}")
        elif _HMAC & set(self.algorithms) and not (jwks is not None and jwks.symmetric_kids):
            raise ConfigurationError(
                "JWTVerifier: a JWKS holds public keys; HMAC algorithms need "
                "jwks=JWKSClient(url, symmetric_kids=[...]) naming the oct keys to trust"
            )
        # Options given once, here, rather than merged into PyJWT's defaults per token.
        # `iat` is checked here, against clock_skew; PyJWT would hold it to `leeway`.
        secrets = frozenset(k.key for k in self._keys.keys if k.kty == "oct") if self._keys else frozenset()
        self._jwt = _decoder(
            {"require": self.required_claims, "verify_iat": False, "verify_aud": verify_audience},
            [name for name in self.algorithms if name in _HMAC],
            secrets,
        )
        #: The decoder's own JWS reads the header: PyJWT's module-level function would
        #: scan every segment again with its slower segment check (see _b64.py).
        self._unverified_header = self._jwt._jws.get_unverified_header
        # One key and no typ to check: PyJWT reads the header once, its allow-list
        # narrowed to the algorithms this key's type can verify.
        self._single_key: Any = None
        self._single_algorithms: list[str] = []
        if self._keys is not None and len(self._keys) == 1 and self.typ is None:
            only = self._keys.keys[0]
            self._single_key = only.key
            self._single_algorithms = [name for name in self.algorithms if only.fits(name)]

    def _load_keys(self, key: Any) -> list[VerifyingKey]:
        """The keys given, each read by its type; a misfit is a start-up error."""
        try:
            if isinstance(key, Mapping):
                data = dict(key)
                if "keys" in data:
                    if not isinstance(data["keys"], list):
                        raise UnusableKey("a JWK Set's keys must be a list")
                    return self._usable([self._jwk(entry) for entry in data["keys"]])
                return [self._checked(key_from_jwk(data, min_rsa_bits=self.min_rsa_bits))]
            if isinstance(key, PyJWKSet):
                return self._usable([self._pyjwk(k) for k in key.keys])
            if isinstance(key, PyJWK):
                return [self._checked(self._pyjwk(key))]
            symmetric = isinstance(key, (str, bytes)) and not _is_pem(key)
            if symmetric and not set(self.algorithms) <= _HMAC:
                raise ConfigurationError("JWTVerifier: an HMAC secret can only verify HS256/HS384/HS512")
            if not symmetric and set(self.algorithms) & _HMAC:
                raise ConfigurationError("JWTVerifier: a public key must never verify HMAC (HS*) algorithms")
            if symmetric and len(key) < 32:
                raise ConfigurationError("JWTVerifier: an HMAC secret must be at least 32 bytes (RFC 7518 §3.2)")
            return [self._checked(key_from_object(self._prepare(key), min_rsa_bits=self.min_rsa_bits))]
        except UnusableKey as exc:
            raise ConfigurationError(f"JWTVerifier: {exc}{self._hint(exc)}") from None

    def _hint(self, exc: UnusableKey) -> str:
        return " (pass min_rsa_bits= to accept it)" if "bits" in str(exc) else ""

    def _jwk(self, entry: Any) -> VerifyingKey | UnusableKey:
        try:
            return key_from_jwk(entry, min_rsa_bits=self.min_rsa_bits)
        except UnusableKey as exc:
            return exc

    def _pyjwk(self, key: PyJWK) -> VerifyingKey:
        # A PyJWK is bound to one algorithm (PyJWK guesses one when the JWK has none).
        return key_from_object(key.key, kid=key.key_id, alg=key.algorithm_name, min_rsa_bits=self.min_rsa_bits)

    def _usable(self, found: list[VerifyingKey | UnusableKey]) -> list[VerifyingKey]:
        """The keys of a set that fit an allowed algorithm; none at all is an error."""
        read = [k for k in found if isinstance(k, VerifyingKey)]
        self._check_mix(read)
        keys = [k for k in read if any(k.fits(a) for a in self.algorithms)]
        if keys:
            return keys
        reasons = "; ".join(str(k) for k in found if isinstance(k, UnusableKey))
        raise UnusableKey(
            f"no key in the set can verify any of {', '.join(self.algorithms)}" + (f" ({reasons})" if reasons else "")
        )

    def _checked(self, key: VerifyingKey) -> VerifyingKey:
        if not any(key.fits(name) for name in self.algorithms):
            raise UnusableKey(f"a {key.kty} key {key.curve or ''} can verify none of {', '.join(self.algorithms)}")
        self._check_mix([key])
        return key

    def _check_mix(self, keys: list[VerifyingKey]) -> None:
        symmetric = [k.kty == "oct" for k in keys]
        if any(symmetric) and not set(self.algorithms) <= _HMAC:
            raise ConfigurationError("JWTVerifier: an HMAC secret can only verify HS256/HS384/HS512")
        if not all(symmetric) and set(self.algorithms) & _HMAC:
            raise ConfigurationError("JWTVerifier: a public key must never verify HMAC (HS*) algorithms")

    def _prepare(self, key: Any) -> Any:
        """The key as PyJWT verifies with it, made once by PyJWT's own `prepare_key`.

        PyJWT prepares the key it is given on every decode: it parses a PEM (about
        10 µs for RS256) and checks an HMAC secret against PEM, SSH, DER and JSON shapes
        (about 6 µs, a quarter of an HS256 decode, in PyJWT 2.15). A private key becomes
        its public half: PyJWT can't verify with a private key object.
        """
        for name in self.algorithms:
            algorithm = _ALGORITHMS.get("EdDSA" if name == "Ed25519" else name)
            if algorithm is None:
                continue
            try:
                return algorithm.prepare_key(key)
            except (jwt.PyJWTError, ValueError, TypeError):
                continue
        raise ConfigurationError(f"JWTVerifier: PyJWT refused key= for each of {', '.join(self.algorithms)}")

    def __repr__(self) -> str:
        source = f"jwks_url={self.jwks!r}" if self.jwks else "key=<hidden>"
        return f"JWTVerifier({source}, algorithms={self.algorithms!r})"

    def verify_inline(self, credentials: Any) -> Principal | Awaitable[Principal | None] | None:
        """The answer for a token, on the event loop: the principal, `None` to reject,
        or an awaitable when keys must be fetched first (a JWKS).

        A cached token costs a dict lookup; with a static key the signature is checked
        right here, as `__call__` would; only a JWKS lookup can make it wait.
        """
        answer = self.verdict_inline(credentials)
        if isinstance(answer, Verdict):
            return cast(Principal, answer.principal)
        if answer is None or isinstance(answer, Principal):
            return answer
        return self._principal_later(answer)

    def verdict_inline(self, credentials: Any) -> Verdict | Principal | Awaitable[Verdict | Principal | None] | None:
        """As `verify_inline`, with the window the answer holds for: a `Verdict` when
        the token is (now) cached; with `cache=False`, one whose window is empty (this
        request only). A rejection is `None` (remembered all the same: see `verdict_keyed`).

        The token is hashed once: the digest finds the cached verdict and keys the new
        one. This is how a scheme asks this verifier (verifiers/base.py).
        """
        token = credentials if type(credentials) is str else getattr(credentials, "credentials", None)
        if not isinstance(token, str) or not token:
            return None
        if not self._live:  # `cache=False`, or the cache resting: the same branch (_cache.py)
            return self._verdict(token, b"", False)
        cache = self._cache
        if cache.bypassing:  # cold (_cache.py): left alone, counted
            cache.skip(token)
            return self._verdict(token, b"", False)
        return self._verdict(token, _digest(token), False)

    def verdict_keyed(
        self, credentials: Any, key: bytes
    ) -> Verdict | Principal | Awaitable[Verdict | Principal | None] | None:
        """`verdict_inline`, the cache entry found by `key`, a digest the caller made of
        the header these credentials came from (`KeyedVerifier`): no second hash. A
        rejection that is final comes back as a `Verdict` whose principal is `None`,
        for `negative_ttl`, so the decision may remember it too."""
        token = credentials if type(credentials) is str else getattr(credentials, "credentials", None)
        if not isinstance(token, str) or not token:
            return None
        if not key:  # never handed one (`KeyedVerifier`); refused rather than shared
            return None
        # Cold, the cache is counted, not used (`skip`), and resting not even counted (its
        # lookup and put below answer at once); the key still bounds the verdict's window,
        # so the caller may remember the decision.
        if self._live and self._cache.bypassing:
            self._cache.skip(token)
        return self._verdict(token, key if self._cache_enabled else b"", True)

    @property
    def cache_enabled(self) -> bool:
        """Whether verified tokens are remembered (`cache=`); may be switched at run time."""
        return self._cache_enabled

    @cache_enabled.setter
    def cache_enabled(self, enabled: bool) -> None:
        self._cache_enabled = enabled
        self._live = enabled and not self._cache.resting

    def _rested(self, resting: bool) -> None:
        """The cache's `on_rest`: resting, it is not even asked (see `verdict_inline`)."""
        self._live = self._cache_enabled and not resting

    def _verdict(
        self, token: str, key: bytes, refusals: bool
    ) -> Verdict | Principal | Awaitable[Verdict | Principal | None] | None:
        if len(token) > self.max_token_size:
            logger.warning("bearer token of %d bytes refused (cap %d)", len(token), self.max_token_size)
            return None
        if key:  # the cache is used (`b""`: disabled, or cold and left alone)
            entry = self._cache.get(key, time.time())
            if entry is not None:
                verdict = entry.value
                principal = verdict.principal
                if (
                    principal is not None
                    and self.revocations is not None
                    and self.revocations.revoked(cast(Principal, principal).claims)
                ):
                    return None
                return verdict if principal is not None or refusals else None
        if self._single_key is not None:
            # One key without a kid, and no typ to check: PyJWT reads the header once,
            # checking its alg against the algorithms this key's type can verify.
            answer = self._remember(key, len(token), *self._verify(token, self._single_key, self._single_algorithms))
            return answer if refusals or answer is None or answer.principal is not None else None
        return self._verify_later(token, key, refusals)

    async def prefetch(self) -> None:
        """Load the JWKS now (`AuthMiddleware(prefetch=True)` at start-up); a static key
        has nothing to load. `ServiceUnavailable` when the set could not be loaded."""
        if self.jwks is not None:
            await self.jwks.prefetch()

    async def __call__(self, credentials: Any) -> Principal | None:
        answer = self.verify_inline(credentials)
        if answer is None or isinstance(answer, Principal):
            return answer
        return await answer

    def lifetime(self, credentials: Any) -> tuple[float, float] | None:
        """`(not_before, expires)` of the cached verification of a token, else `None`.

        Within that window this verifier gives the same principal for the token. The
        middleware reads it from `verdict_inline`'s `Verdict` instead, without hashing
        the token again; this stays for callers who ask separately.
        """
        if not self._cache_enabled or type(credentials) is not str:
            return None
        hit = self._cache.get(_digest(credentials), time.time())
        if hit is None or hit.value.principal is None:
            return None
        return (hit.valid_from, hit.valid_until)

    def _remember(
        self, key: bytes, length: int, principal: Principal | None, not_before: float, expires: float
    ) -> Verdict | None:
        """The verdict for a verification just made, kept under `key`. Without a key (the
        cache disabled, or cold and left alone) it vouches for this request only, as the
        decision then keeps nothing either. A rejection's window is `_refused`'s; an
        acceptance's is the token's, reckoned here."""
        if not key:
            return None if principal is None else Verdict(principal, 0.0, 0.0)
        if principal is None:  # a rejection: remembered (briefly) only when it is final
            if expires <= not_before:
                return None
            refused = Verdict(None, not_before, expires)
            self._cache.put(key, refused, not_before, expires, time.time(), cost=0, doubtful=True)
            return refused
        not_before, expires = self._window(principal.claims)
        still_valid = None if self.revocations is None else partial(_not_revoked, self.revocations, principal.claims)
        verdict = Verdict(principal, not_before, expires, still_valid)
        self._cache.put(
            key, verdict, not_before, expires, time.time(), cost=state_cost(length), still_valid=still_valid
        )
        return verdict

    def _window(self, claims: Mapping[str, Any]) -> tuple[float, float]:
        """How long an accepted token's answer may be kept: from `nbf` until `exp` (with
        leeway), at most `cache_ttl` from now."""
        expires = time.time() + self.cache_ttl
        exp = claims.get("exp")
        if type(exp) is int or type(exp) is float:
            expires = min(expires, exp + self.leeway)
        nbf = claims.get("nbf")
        not_before = nbf - self.leeway if type(nbf) is int or type(nbf) is float else float("-inf")
        return not_before, expires

    async def _verify_later(self, token: str, key: bytes, refusals: bool) -> Verdict | Principal | None:
        answer = self._remember(key, len(token), *(await self._decode(token)))
        return answer if refusals or answer is None or answer.principal is not None else None

    async def _principal_later(self, pending: Awaitable[Verdict | Principal | None]) -> Principal | None:
        answer = await pending
        return cast(Principal, answer.principal) if isinstance(answer, Verdict) else answer

    async def _decode(self, token: str) -> tuple[Principal | None, float, float]:
        """Choose the keys by the token's header (`alg`, `kid`, `typ`), then verify.

        Each candidate key fits the token's `alg` by its type (see `KeySet`); a key
        whose signature doesn't match gives way to the next, any other refusal (a
        matching signature, wrong claims) is final.
        """
        try:
            header = self._unverified_header(token)
        except jwt.PyJWTError:
            return self._refused()
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms or not (kid is None or isinstance(kid, str)):
            return self._refused()
        if self.typ is not None and str(header.get("typ", "")).lower().removeprefix("application/") != self.typ:
            return self._refused()
        if self.jwks is not None:
            candidates = await self.jwks.candidates(alg, kid)
        else:
            assert self._keys is not None  # noqa: S101 - one of key= or jwks= is always set
            candidates = self._keys.candidates(alg, kid)
        for candidate in candidates:
            try:
                return self._accept(self._check(token, candidate.key, [alg]))
            except jwt.InvalidSignatureError:
                continue
            except (jwt.PyJWTError, ValueError, TypeError) as exc:
                logger.debug("JWT refused: %s", type(exc).__name__)
                return self._refused(exc)
        # No key, or none whose signature matches: final for static keys; a key set
        # may yet gain the key (a rotation), so that refusal is not remembered.
        return self._refused() if candidates and self.jwks is None else (None, 0, 0)

    def _verify(self, token: str, key: Any, algorithms: list[str]) -> tuple[Principal | None, float, float]:
        """`(principal or None, not_before, expires)`: a rejection's window is how long it
        may be remembered (`_refused`)."""
        try:
            claims = self._check(token, key, algorithms)
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            # ValueError/TypeError: PyJWT refusing a key for an algorithm (it can't
            # happen after the checks above; refused all the same, quietly).
            logger.debug("JWT refused: %s", type(exc).__name__)
            return self._refused(exc)
        return self._accept(claims)

    def _refused(self, exc: Exception | None = None) -> tuple[None, float, float]:
        """A rejection, and the window it may be remembered for: `negative_ttl`, or
        none for a token that is merely not valid *yet* (`nbf`, `iat`), which would pass
        later, and for PyJWT refusing a key (ValueError/TypeError, never expected)."""
        if not self.negative_ttl or isinstance(exc, (jwt.ImmatureSignatureError, ValueError, TypeError)):
            return None, 0, 0
        now = time.time()
        return None, now, now + self.negative_ttl

    def _check(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        """The verified claims; `iat` may be up to `clock_skew` in the future."""
        claims: dict[str, Any] = self._jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway,
        )
        iat = claims.get("iat")
        if iat is not None:
            if type(iat) is not int and type(iat) is not float:
                raise jwt.InvalidIssuedAtError("Issued At claim (iat) must be a number")
            if iat > time.time() + self.clock_skew:
                raise jwt.ImmatureSignatureError("The token is not yet valid (iat)")
        return claims

    def _accept(self, claims: dict[str, Any]) -> tuple[Principal | None, float, float]:
        if self.revocations is not None and self.revocations.revoked(claims):
            # Not remembered: the list is asked every time, so its outage is a 503 then too.
            logger.debug("JWT refused: revoked")
            return None, 0, 0
        subject = claims.get("sub")
        principal = Principal(
            "" if subject is None else str(subject), self._scopes_of(claims), claims=MappingProxyType(claims)
        )
        return principal, 0, 0  # the window, if it is kept, is `_window`'s

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
    """A `PyJWT` that knows RFC 9864's `Ed25519` and the verifier's checked HMAC secrets.

    Each `PyJWT` has its own `PyJWS` (`_jws`, the one private name read here, there
    since PyJWT 2.11); algorithms are registered on it with PyJWS's public
    `register_algorithm`, so nothing global changes. `Ed25519` is EdDSA under its
    fully specified name: the key check (`VerifyingKey.fits`) keeps it to Ed25519 keys.
    """
    decoder = jwt.PyJWT(options=options)
    jws = getattr(decoder, "_jws", None)
    if not isinstance(jws, jwt.PyJWS):  # pragma: no cover - PyJWT < 2.11, below the floor
        raise ConfigurationError("asgi_auth needs PyJWT 2.13 or later")
    use_fast_segments(jws)  # the same checks, the alphabet scan in C (_b64.py)
    if "Ed25519" not in jws.get_algorithms():
        jws.register_algorithm("Ed25519", OKPAlgorithm())
    if secrets:
        for name in hmac_algorithms:
            jws.unregister_algorithm(name)
            jws.register_algorithm(name, _CheckedHMAC(_HMAC_HASHES[name], secrets))
    return decoder


def _not_revoked(revocations: RevocationList, claims: Mapping[str, Any]) -> bool:
    return not revocations.revoked(claims)


def _digest(token: str) -> bytes:
    # Cache keys are digests: the cache never holds a token. UTF-8 with surrogates
    # passed through maps distinct strings to distinct bytes, whatever they contain.
    # 64 bytes: a decision's keys (verdict_keyed, with a cache tag) are longer, so the two never meet.
    return digest(token.encode("utf-8", "surrogatepass"))


def state_cost(length: int) -> int:
    """Bytes a verified token of `length` characters keeps beyond the cache's own
    (claims dict and values, principal, context): measured, see _cache.py."""
    return 1024 + length + length // 2


def _is_pem(key: str | bytes) -> bool:
    return (key if isinstance(key, bytes) else key.encode("latin-1", "replace")).lstrip().startswith(b"-----BEGIN")
