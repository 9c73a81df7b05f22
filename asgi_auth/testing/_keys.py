"""A signing key for tests, the tokens it mints, and the documents that publish it."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from ..errors import ConfigurationError
from ..verifiers.jwt import JWTVerifier

__all__ = ["KeyServer", "TokenFactory", "mock_transport", "serve_keys"]

_UNSET: Any = object()
JWKS_PATH = "/.well-known/jwks.json"
DISCOVERY_PATH = "/.well-known/openid-configuration"


def _new_key(algorithm: str) -> Any:
    if algorithm.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "ES512":
        return ec.generate_private_key(ec.SECP521R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm.startswith("HS"):
        return secrets.token_bytes(64)
    raise ConfigurationError(f"TokenFactory: no key to make for algorithm {algorithm!r}")


def _first(value: str | Iterable[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return next(iter(value), None)


class TokenFactory:
    """A key pair made for tests, and JWTs signed with it.

    `TokenFactory(issuer=..., audience=...)` makes an RS256 key (or one for `algorithm`;
    an HMAC secret for `HS*`); `key=` uses yours (a private key, or the secret).
    `TokenFactory.for_verifier(verifier)` reads the issuer, audience and first algorithm
    of the app's `JWTVerifier`; an HMAC verifier's secret is taken from it, while a
    verifier of public keys needs the private key given, or its `jwks_url` pointed at
    `serve_keys(factory)`.
    """

    def __init__(
        self,
        *,
        algorithm: str = "RS256",
        issuer: str | None = None,
        audience: str | None = None,
        key: Any = None,
        kid: str = "asgi-auth-test-key",
        lifetime: float = 3600,
    ) -> None:
        self.algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.kid = kid
        self.lifetime = lifetime
        self.key = key if key is not None else _new_key(algorithm)
        self.symmetric = algorithm.startswith("HS")

    @classmethod
    def for_verifier(cls, verifier: JWTVerifier, *, key: Any = None, algorithm: str | None = None) -> TokenFactory:
        """Tokens `verifier` accepts: its issuer, audience and (first) algorithm."""
        algorithm = algorithm or verifier.algorithms[0]
        if key is None and algorithm.startswith("HS"):
            held = verifier._keys.keys if verifier._keys is not None else ()
            secrets_held = [k.key for k in held if k.kty == "oct"]
            if not secrets_held:
                raise ConfigurationError("TokenFactory.for_verifier: the verifier holds no HMAC secret; pass key=")
            key = secrets_held[0]
        if key is None and verifier.jwks is None:
            raise ConfigurationError(
                "TokenFactory.for_verifier: the verifier holds public keys only; pass key=<the private key>,"
                " or give it jwks_url= from serve_keys(factory)"
            )
        return cls(algorithm=algorithm, issuer=_first(verifier.issuer), audience=_first(verifier.audience), key=key)

    def mint(
        self,
        sub: str = "alice",
        *,
        scopes: Iterable[str] = (),
        aud: str | list[str] | None = _UNSET,
        iss: str | None = _UNSET,
        exp: float | None = _UNSET,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A signed token for `sub` granting `scopes` (the `scope` claim).

        `aud` and `iss` default to the factory's; `exp` to now plus `lifetime`. Pass
        `None` to leave a claim out, or a past `exp` to test expiry.
        """
        now = int(time.time())
        body: dict[str, Any] = {"sub": sub, "iat": now}
        scopes = list(scopes)
        if scopes:
            body["scope"] = " ".join(scopes)
        for name, value, default in (
            ("aud", aud, self.audience),
            ("iss", iss, self.issuer),
            ("exp", exp, now + int(self.lifetime)),
        ):
            chosen = default if value is _UNSET else value
            if chosen is not None:
                body[name] = chosen
        body.update(claims)
        header = {"kid": self.kid, **(headers or {})}
        return jwt.encode(body, self.key, algorithm=self.algorithm, headers=header)

    @property
    def public_key(self) -> Any:
        """What verifies the tokens: the public key, or the secret for HMAC."""
        return self.key if self.symmetric else self.key.public_key()

    @property
    def jwks(self) -> dict[str, Any]:
        """The public key as a JWK Set (empty for HMAC: a secret is never published)."""
        if self.symmetric:
            return {"keys": []}
        public = self.public_key
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}]}

    def verifier(self, **options: Any) -> JWTVerifier:
        """A `JWTVerifier` holding this key, with the factory's issuer and audience."""
        options.setdefault("issuer", self.issuer)
        options.setdefault("audience", self.audience)
        return JWTVerifier(key=self.public_key, algorithms=[self.algorithm], **options)

    def discovery(self, base_url: str) -> dict[str, Any]:
        """An OpenID Connect discovery document for a provider at `base_url`."""
        return {
            "issuer": self.issuer or base_url,
            "jwks_uri": base_url + JWKS_PATH,
            "id_token_signing_alg_values_supported": [self.algorithm],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "token_endpoint": base_url + "/token",
            "authorization_endpoint": base_url + "/authorize",
        }

    def __repr__(self) -> str:
        return f"TokenFactory(algorithm={self.algorithm!r}, issuer={self.issuer!r}, audience={self.audience!r})"


class KeyServer:
    """A `TokenFactory`'s JWKS and discovery document served on 127.0.0.1.

    `url` is the base (the issuer, unless the factory names one: a factory without an
    issuer is given this one, so the tokens it mints match the discovery document);
    `jwks_url` and `discovery_url` the two documents; `requests` the paths fetched, so a
    test can count what the verifier fetched.
    """

    def __init__(self, factory: TokenFactory) -> None:
        self.factory = factory
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                if self.path == JWKS_PATH:
                    document: Any = server.factory.jwks
                elif self.path == DISCOVERY_PATH:
                    document = server.factory.discovery(server.url)
                else:
                    self.send_error(404)
                    return
                body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "max-age=300")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the test's output is the test's

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self.jwks_url = self.url + JWKS_PATH
        self.discovery_url = self.url + DISCOVERY_PATH
        if factory.issuer is None:
            factory.issuer = self.url
        self._thread = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> KeyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)


@contextmanager
def serve_keys(factory: TokenFactory) -> Iterator[KeyServer]:
    """Serve `factory`'s JWKS and discovery document on loopback while the block runs."""
    server = KeyServer(factory).start()
    try:
        yield server
    finally:
        server.stop()


def mock_transport(factory: TokenFactory, base_url: str = "https://issuer.test") -> httpx.MockTransport:
    """The same documents as `serve_keys`, answered in-process by an `httpx.MockTransport`.

    Give it as `JWTVerifier(jwks_url=base_url + "/.well-known/jwks.json",
    jwks_transport=...)` or `DiscoveryVerifier(..., transport=...)`.
    """
    if factory.issuer is None:
        factory.issuer = base_url

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == JWKS_PATH:
            return httpx.Response(200, json=factory.jwks)
        if request.url.path == DISCOVERY_PATH:
            return httpx.Response(200, json=factory.discovery(base_url))
        return httpx.Response(404)

    return httpx.MockTransport(answer)
