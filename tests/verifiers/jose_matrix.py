"""Tokens and key sets made by other JOSE libraries, verified by `JWTVerifier`.

Each library (jwcrypto, joserfc, authlib.jose) makes its own keys, exports its own
public JWKs and signs its own tokens; the key set is then given to `JWTVerifier` as
`key=` and served from a loopback `jwks_url`, in several shapes (with and without
`kid`/`alg`/`use`, with `x5c`, with private-use members, and for EC keys one whose `x`
or `y` starts with a zero byte, which one key in about a hundred does and which a
library may export short). Every accepted case is also checked to refuse the same token
with its signature altered.

`run()` runs the whole matrix and `render()` writes its outcome as the table in
docs/interop-jose.md: `python -m tests.verifiers.jose_matrix` regenerates that page, and
tests/verifiers/test_jose_matrix.py fails when the page and a fresh run disagree.
"""

from __future__ import annotations

import datetime
import json
import time
import warnings
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import anyio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

import asgi_auth as aa

DOC = Path(__file__).resolve().parents[2] / "docs" / "interop-jose.md"
LIBRARIES = ("jwcrypto", "joserfc", "authlib.jose")
ALGORITHMS = ("RS256", "PS256", "ES256", "ES384", "EdDSA", "Ed25519", "HS256")
LEADING_ZERO = "kid, alg, use; x or y with a leading zero byte"
SHAPES = (
    "kid, alg, use",
    "none of kid, alg, use",
    "kid, alg, use + x5c",
    "kid, alg, use + private-use members",
    LEADING_ZERO,
)
SOURCES = ("key=", "jwks_url")
ISSUER, AUDIENCE = "https://issuer.example", "api"
KIND = {
    "RS256": ("RSA", 2048),
    "PS256": ("RSA", 2048),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
    "HS256": ("oct", 256),
}
ACCEPTED = "accepted"


@dataclass(frozen=True)
class Case:
    library: str
    alg: str
    shape: str
    source: str


class Library:
    """One JOSE library's own way to make a key, export its public JWK and sign."""

    name = ""

    def key(self, alg: str) -> Any:
        raise NotImplementedError

    def from_pem(self, pem: bytes) -> Any:
        """A private key made elsewhere, read by the library's own import."""
        raise NotImplementedError

    def public_jwk(self, key: Any) -> dict[str, Any]:
        raise NotImplementedError

    def private_pem(self, key: Any) -> bytes:
        raise NotImplementedError

    def sign(self, key: Any, alg: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
        raise NotImplementedError


class JWCrypto(Library):
    name = "jwcrypto"

    def key(self, alg: str) -> Any:
        from jwcrypto import jwk

        kty, size = KIND[alg]
        return jwk.JWK.generate(kty=kty, **({"size": size} if isinstance(size, int) else {"crv": size}))

    def from_pem(self, pem: bytes) -> Any:
        from jwcrypto import jwk

        return jwk.JWK.from_pem(pem)

    def public_jwk(self, key: Any) -> dict[str, Any]:
        return dict(key.export(as_dict=True) if key.key_type == "oct" else key.export_public(as_dict=True))

    def private_pem(self, key: Any) -> bytes:
        return bytes(key.export_to_pem(private_key=True, password=None))

    def sign(self, key: Any, alg: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
        from jwcrypto import jwt

        token = jwt.JWT(header={"alg": alg, **header}, claims=claims)
        token.make_signed_token(key)
        return str(token.serialize())


class JoseRFC(Library):
    name = "joserfc"

    def key(self, alg: str) -> Any:
        from joserfc import jwk

        kty, size = KIND[alg]
        return {"RSA": jwk.RSAKey, "EC": jwk.ECKey, "OKP": jwk.OKPKey, "oct": jwk.OctKey}[kty].generate_key(size)

    def from_pem(self, pem: bytes) -> Any:
        from joserfc import jwk

        return jwk.ECKey.import_key(pem)

    def public_jwk(self, key: Any) -> dict[str, Any]:
        return dict(key.as_dict(private=key.key_type == "oct"))

    def private_pem(self, key: Any) -> bytes:
        return bytes(key.as_pem(private=True))

    def sign(self, key: Any, alg: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
        from joserfc import jwt

        return jwt.encode({"alg": alg, **header}, claims, key, algorithms=[alg])


class AuthlibJose(Library):
    name = "authlib.jose"

    def key(self, alg: str) -> Any:
        from authlib.jose import JsonWebKey

        return JsonWebKey.generate_key(*KIND[alg], is_private=True)

    def from_pem(self, pem: bytes) -> Any:
        from authlib.jose import JsonWebKey

        return JsonWebKey.import_key(pem, {"kty": "EC"})

    def public_jwk(self, key: Any) -> dict[str, Any]:
        return dict(key.as_dict(is_private=key.kty == "oct"))

    def private_pem(self, key: Any) -> bytes:
        return bytes(key.as_pem(is_private=True))

    def sign(self, key: Any, alg: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
        from authlib.jose import jwt

        return bytes(jwt.encode({"alg": alg, **header}, claims, key)).decode()


PEERS: dict[str, Library] = {lib.name: lib for lib in (JWCrypto(), JoseRFC(), AuthlibJose())}
#: What a library itself can't do, asserted as its known behaviour (an upgrade that
#: fixes it makes the test fail, and the table gains a cell).
PEER_LIMITS = {("authlib.jose", "Ed25519"): "authlib.jose can't sign RFC 9864 `Ed25519`"}
#: Refusals by design, with the reason the docs give.
BY_DESIGN = {
    ("HS256", "none of kid, alg, use", "jwks_url"): (
        "refused by design: a fetched `oct` key is trusted only when its `kid` is named in `symmetric_kids`"
    )
}


@cache
def material(library: str, alg: str, shape: str = "") -> Any:
    if shape == LEADING_ZERO:
        return PEERS[library].from_pem(leading_zero_pem(KIND[alg][1]))
    return PEERS[library].key(alg)


@cache
def leading_zero_pem(curve: str) -> bytes:
    """A fresh private EC key whose public `x` or `y` has a zero first byte, as PEM."""
    make = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1}[curve]
    for _ in range(10_000):  # one key in 128 qualifies: a miss here is a 1e-34 chance
        key = ec.generate_private_key(make())
        point = key.public_key().public_numbers()
        if min(point.x, point.y).bit_length() <= key.curve.key_size - 8:
            pkcs8 = serialization.PrivateFormat.PKCS8
            return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())
    raise AssertionError("no key with a leading zero byte in 10,000")


def x5c(library: str, alg: str) -> list[str]:
    """A self-signed certificate for the key, as `x5c` carries it (RFC 7517 §4.7)."""
    private: Any = serialization.load_pem_private_key(PEERS[library].private_pem(material(library, alg)), None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
    )
    digest = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = builder.sign(private, digest)
    return [b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]


def shaped(library: str, alg: str, shape: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the public JWK in this shape, the token header that goes with it)."""
    exported = PEERS[library].public_jwk(material(library, alg, shape))
    data = {k: v for k, v in exported.items() if k not in ("kid", "alg", "use")}
    if shape == "none of kid, alg, use":
        return data, {}
    data.update(kid="k1", alg=alg, use="sig")
    if shape.endswith("x5c"):
        data["x5c"] = x5c(library, alg)
    elif shape.endswith("private-use members"):
        data.update({"x-tenant": "t-42", "ext": True, "issuer_hint": {"nested": [1, 2]}})
    return data, {"kid": "k1"}


def cases() -> list[Case]:
    return [
        Case(library, alg, shape, source)
        for library in LIBRARIES
        for alg in ALGORITHMS
        for shape in SHAPES
        for source in SOURCES
        if not (shape.endswith("x5c") and alg == "HS256")  # no certificate for a shared secret
        and not (shape == LEADING_ZERO and KIND[alg][0] != "EC")  # only EC keys have coordinates
    ]


def expected(case: Case) -> str:
    return PEER_LIMITS.get((case.library, case.alg)) or BY_DESIGN.get((case.alg, case.shape, case.source)) or ACCEPTED


class KeySets:
    """The loopback `jwks_url` server: each case's key set at its own path."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = self.bodies.get(scope["path"])
        status = 200 if body is not None else 404
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body or b"{}"})


def _altered(token: str) -> str:
    head, payload, signature = token.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"


async def _outcome(case: Case, keysets: KeySets, base: str) -> str:
    peer = PEERS[case.library]
    data, header = shaped(case.library, case.alg, case.shape)
    now = int(time.time())
    claims = {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "scope": "read"}
    try:
        token = peer.sign(material(case.library, case.alg, case.shape), case.alg, header, claims)
    except Exception as exc:  # a peer's refusal, whatever it raises, is recorded
        return PEER_LIMITS.get((case.library, case.alg), f"{case.library} raised {type(exc).__name__}")
    options: dict[str, Any] = {"algorithms": [case.alg], "issuer": ISSUER, "audience": AUDIENCE, "cache": False}
    keyset = {"keys": [data]}
    if case.source == "key=":
        verifier = aa.JWTVerifier(key=keyset, **options)
    else:
        path = "/" + "/".join((case.library, case.alg, case.shape)).replace(" ", "_").replace(",", "")
        keysets.bodies[path] = json.dumps(keyset).encode()
        symmetric = ["k1"] if case.alg == "HS256" else []
        verifier = aa.JWTVerifier(jwks=aa.JWKSClient(base + path, symmetric_kids=symmetric), **options)
    try:
        principal = await verifier(token)
    except aa.ServiceUnavailable:
        return BY_DESIGN.get((case.alg, case.shape, case.source), "refused: key set unusable (503)")
    if principal is None or principal.subject != "alice" or principal.scopes != {"read"}:
        return BY_DESIGN.get((case.alg, case.shape, case.source), "refused (401)")
    if await verifier(_altered(token)) is not None:
        return "ACCEPTED AN ALTERED SIGNATURE"
    return ACCEPTED


def run() -> dict[Case, str]:
    """Every case's outcome, verified for real (keys served on loopback)."""
    from tests.loopback import serve

    keysets = KeySets()
    found: dict[Case, str] = {}

    async def main(base: str) -> None:
        for case in cases():
            found[case] = await _outcome(case, keysets, base)

    with warnings.catch_warnings(), serve(keysets) as base:
        warnings.simplefilter("ignore")  # the peers' deprecation and security notices
        anyio.run(main, base)
    return found


def render(found: dict[Case, str]) -> str:
    """The docs page: libraries by algorithms, one row per key-set shape."""
    notes: dict[str, int] = {}

    def cell(library: str, alg: str, shape: str) -> str:
        marks = []
        for source in SOURCES:
            outcome = found.get(Case(library, alg, shape, source))
            if outcome is None:
                marks.append("—")
            elif outcome == ACCEPTED:
                marks.append("✓")
            else:
                marks.append(f"✗ ({notes.setdefault(outcome, len(notes) + 1)})")
        return " / ".join(marks)

    lines = [
        "# Interoperability: other JOSE libraries",
        "",
        "<!-- Generated by `python -m tests.verifiers.jose_matrix` from a real run; do not edit. -->",
        "",
        "Tokens signed and key sets exported by each library itself, verified by `aa.JWTVerifier`",
        "with the key set given as `key=` and fetched from a loopback `jwks_url` (each cell:",
        "`key=` / `jwks_url`). ✓ means the token was accepted with its claims and the same",
        "token with an altered signature was refused; — means the case does not apply",
        "(no certificate for a shared secret, no coordinates outside EC keys). The last row",
        "is an EC key whose `x` or `y` starts with a zero byte, as the library exports it",
        "(authlib.jose drops that byte; RFC 7518 §6.2.1.2 asks for the full length, and",
        "`JWTVerifier` reads a short coordinate padded back, as all three libraries do).",
        "tests/verifiers/test_jose_matrix.py reruns the matrix and fails when this page",
        "and the run disagree.",
        "",
    ]
    for library in LIBRARIES:
        lines += [f"## {library}", "", "| key set | " + " | ".join(ALGORITHMS) + " |"]
        lines.append("| --- |" + " --- |" * len(ALGORITHMS))
        for shape in SHAPES:
            lines.append(f"| {shape} | " + " | ".join(cell(library, alg, shape) for alg in ALGORITHMS) + " |")
        lines.append("")
    lines += ["Refusals:", ""] + [f"{number}. {outcome}" for outcome, number in notes.items()]
    return "\n".join(lines) + "\n"


def main(write: Callable[[str], object] = DOC.write_text) -> None:
    write(render(run()))


if __name__ == "__main__":
    main()
