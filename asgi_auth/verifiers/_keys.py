"""Verification keys: what a key is (its type, curve, declared `alg`), and which keys a
token may be checked with.

A key is read by its type (`kty`, RFC 7517 §4.1), not by the `alg` it may declare:
`alg` is optional (§4.4), so an RSA key without it verifies RS256 and PS256 alike, and a
name PyJWT does not know (RFC 9864's `Ed25519`) does not make the key unreadable. Which
algorithms a key may verify is decided here, by its type, whatever PyJWT does: an HMAC
algorithm only with an `oct` key, RSA algorithms only with an RSA key, each ES* only
with its own curve, EdDSA only with an Edwards curve. A key published for encryption
(`use` other than `sig`, or `key_ops` without `verify`, §4.2-4.3) never verifies.

An EC key's `x` and `y` must be the curve's full length (RFC 7518 §6.2.1.2), and PyJWT
refuses a shorter one; but authlib.jose drops a coordinate's leading zero bytes, so one
key in about a hundred an authlib-based provider publishes would make its whole key
set unusable here. A short coordinate still names one point, so it is read padded back
to the full length (as jwcrypto, joserfc and authlib read it); a longer one is refused.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.utils import base64url_decode, base64url_encode

__all__ = ["MAX_KEY_TRIES", "KeySet", "UnusableKey", "VerifyingKey", "key_from_jwk", "key_from_object"]

#: How many keys one token may be checked against, when kids do not single one out.
MAX_KEY_TRIES = 4

#: Per algorithm, the key type and curves that may verify it.
FAMILIES: dict[str, tuple[str, frozenset[str] | None]] = {
    **dict.fromkeys(("HS256", "HS384", "HS512"), ("oct", None)),
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), ("RSA", None)),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "ES256K": ("EC", frozenset({"secp256k1"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
    "Ed25519": ("OKP", frozenset({"Ed25519"})),  # RFC 9864's fully specified name
}
#: Per JWK curve name, the length of each coordinate in bytes (RFC 7518 §6.2.1.2).
_COORDINATE_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66, "secp256k1": 32}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521", "secp256k1": "secp256k1"}
_PRIVATE = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)
_READERS: dict[str, Any] = {
    "RSA": RSAAlgorithm.from_jwk,
    "EC": ECAlgorithm.from_jwk,
    "OKP": OKPAlgorithm.from_jwk,
    "oct": HMACAlgorithm.from_jwk,
}


class UnusableKey(ValueError):
    """A key that can't verify a signature here; the message says why, never the key."""


@dataclass(frozen=True, eq=False)
class VerifyingKey:
    """One key, ready for PyJWT: `key` is a `cryptography` public key or HMAC bytes."""

    kid: str | None
    kty: str
    curve: str | None
    alg: str | None
    key: Any

    def fits(self, alg: str) -> bool:
        """Whether this key may verify a token signed with `alg`."""
        family = FAMILIES.get(alg)
        if family is None or family[0] != self.kty or (family[1] is not None and self.curve not in family[1]):
            return False
        if self.alg is None or self.alg == alg:
            return True
        return {self.alg, alg} == {"EdDSA", "Ed25519"}  # one algorithm under two names (RFC 9864)

    def __repr__(self) -> str:
        return f"VerifyingKey(kid={self.kid!r}, kty={self.kty!r}, curve={self.curve!r}, alg={self.alg!r})"


def key_from_object(key: Any, *, kid: str | None = None, alg: str | None = None, min_rsa_bits: int) -> VerifyingKey:
    """A prepared key object (PyJWT `prepare_key`'s answer) as a `VerifyingKey`."""
    if isinstance(key, _PRIVATE):
        key = key.public_key()  # PyJWT verifies with the public half only
    if isinstance(key, bytes):
        return VerifyingKey(kid, "oct", None, alg, key)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < min_rsa_bits:
            raise UnusableKey(f"RSA key of {key.key_size} bits is under {min_rsa_bits} bits")
        return VerifyingKey(kid, "RSA", None, alg, key)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return VerifyingKey(kid, "EC", _EC_CURVES.get(key.curve.name, key.curve.name), alg, key)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return VerifyingKey(kid, "OKP", "Ed25519", alg, key)
    if isinstance(key, ed448.Ed448PublicKey):
        return VerifyingKey(kid, "OKP", "Ed448", alg, key)
    raise UnusableKey(f"a {type(key).__name__} is not a signature key")


def key_from_jwk(data: Any, *, min_rsa_bits: int, symmetric: bool | Iterable[str] = True) -> VerifyingKey:
    """A JWK (a JSON object) as a `VerifyingKey`, or `UnusableKey` saying why not.

    `symmetric` says which `oct` keys are welcome: all (a key the app itself gave), none,
    or those whose `kid` is named (a key set fetched from elsewhere).
    """
    if not isinstance(data, Mapping):
        raise UnusableKey("a JWK must be a JSON object")
    kty, kid, alg, use, ops = (data.get(name) for name in ("kty", "kid", "alg", "use", "key_ops"))
    if not isinstance(kty, str) or kty not in _READERS:
        raise UnusableKey(f"key type {kty!r} is not a signature key type")
    if kid is not None and not isinstance(kid, str):
        raise UnusableKey("kid must be a string")
    if alg is not None and not isinstance(alg, str):
        raise UnusableKey("alg must be a string")
    if use is not None and use != "sig":
        raise UnusableKey(f"key {kid!r} is for use {use!r}, not signatures")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise UnusableKey(f"key {kid!r} has key_ops without 'verify'")
    if alg is not None and alg not in FAMILIES:
        raise UnusableKey(f"key {kid!r} declares alg {alg!r}, not a signature algorithm verified here")
    if kty == "oct" and not (symmetric is True or (symmetric is not False and kid in set(symmetric))):
        raise UnusableKey(f"key {kid!r} is a symmetric (oct) key, which a fetched key set may not supply")
    try:
        material = _READERS[kty](_full_length_coordinates(data) if kty == "EC" else dict(data))
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, NotImplementedError) as exc:
        raise UnusableKey(f"key {kid!r} ({kty}) could not be read: {type(exc).__name__}") from None
    if kty == "oct" and len(material) < 32:
        raise UnusableKey(f"key {kid!r}: an HMAC key must be at least 32 bytes (RFC 7518 §3.2)")
    found = key_from_object(material, kid=kid, alg=alg, min_rsa_bits=min_rsa_bits)
    if alg is not None and not found.fits(alg):
        raise UnusableKey(f"key {kid!r} declares alg {alg!r}, which its type ({kty} {found.curve or ''}) can't verify")
    return found


def _full_length_coordinates(data: Mapping[str, Any]) -> dict[str, Any]:
    """The EC JWK with a short `x`, `y` or `d` left-padded with zero bytes to its curve's length.

    Anything else (an unknown curve, a member that is not base64url) is left for PyJWT to refuse.
    """
    padded = dict(data)
    size = _COORDINATE_BYTES.get(str(data.get("crv")))
    for name in ("x", "y", "d"):
        value = data.get(name)
        if size is None or not isinstance(value, str) or len(value) >= (size * 8 + 5) // 6:
            continue
        if not _BASE64URL.fullmatch(value):
            continue
        try:
            raw = base64url_decode(value)
        except (binascii.Error, ValueError):
            continue
        padded[name] = base64url_encode(raw.rjust(size, b"\0")).decode()
    return padded


class KeySet:
    """Keys, indexed for the question a token asks: which keys may verify `alg` for `kid`?

    A token that names a `kid` is checked with the keys of that `kid`; when no key has
    it, with the keys that have no `kid` (a key without one may be any key, RFC 7517
    §4.5). A token without a `kid` is checked with every key that fits its `alg`. Keys
    with another `kid` are never tried, and never more than `MAX_KEY_TRIES` per token.
    The answers are computed once, here, for the algorithms the verifier allows.
    """

    def __init__(self, keys: Iterable[VerifyingKey], algorithms: Iterable[str]) -> None:
        self.keys = tuple(keys)
        self.kids = frozenset(key.kid for key in self.keys if key.kid is not None)
        self._table: dict[tuple[str, str | None], tuple[VerifyingKey, ...]] = {}
        self._kidless: dict[str, tuple[VerifyingKey, ...]] = {}
        for alg in algorithms:
            fitting = [key for key in self.keys if key.fits(alg)]
            self._table[alg, None] = tuple(fitting[:MAX_KEY_TRIES])
            self._kidless[alg] = tuple([key for key in fitting if key.kid is None][:MAX_KEY_TRIES])
            for kid in self.kids:
                self._table[alg, kid] = tuple([key for key in fitting if key.kid == kid][:MAX_KEY_TRIES])

    def candidates(self, alg: str, kid: str | None) -> tuple[VerifyingKey, ...]:
        """The keys to try, in the set's order (an empty tuple when none may)."""
        if kid is None or kid in self.kids:
            return self._table.get((alg, kid), ())
        return self._kidless.get(alg, ())

    def fitting(self, algorithms: Iterable[str]) -> list[str]:
        """The algorithms at least one key here can verify."""
        return [alg for alg in algorithms if self._table.get((alg, None))]

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"KeySet({list(self.keys)!r})"
