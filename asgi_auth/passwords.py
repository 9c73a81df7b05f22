"""Password hashes for HTTP Basic and token endpoints: stdlib scrypt, constant-time.

`hash_password` / `verify_password` use `hashlib.scrypt` (RFC 7914) so no extra
dependency is needed; `BasicPasswordVerifier` turns a mapping of usernames to such
hashes into an `HTTPBasic` verifier that takes the same time for unknown users.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from typing import Any

from .context import Principal

__all__ = ["BasicPasswordVerifier", "hash_password", "verify_password"]

_N, _R, _P, _LEN = 2**14, 8, 1, 32
_PREFIX = "scrypt"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """`scrypt$n$r$p$salt$hash`, safe to store."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_LEN, maxmem=2**26)
    return f"{_PREFIX}${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`, compared in constant time."""
    try:
        prefix, n, r, p, salt, expected = stored.split("$")
        if prefix != _PREFIX:
            return False
        digest = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=_LEN, maxmem=2**26
        )
        return hmac.compare_digest(digest, _unb64(expected))
    except (ValueError, TypeError):
        return False


class BasicPasswordVerifier:
    """An `HTTPBasic` verifier over `{username: hash_password(...)}`.

    Unknown users are checked against a dummy hash so that response time does not
    reveal which usernames exist. `scopes` maps usernames to the scopes they get.
    Runs in a worker thread (scrypt is deliberately slow).
    """

    def __init__(
        self,
        users: Mapping[str, str] | Callable[[str], str | None],
        *,
        scopes: Mapping[str, list[str]] | None = None,
    ) -> None:
        self._lookup: Callable[[str], str | None] = users.get if isinstance(users, Mapping) else users
        self._scopes = scopes or {}
        self._dummy = hash_password(os.urandom(16).hex())

    def __call__(self, credentials: Any) -> Principal | None:
        stored = self._lookup(credentials.username)
        ok = verify_password(credentials.password, stored if stored is not None else self._dummy)
        if not ok or stored is None:
            return None
        return Principal(credentials.username, self._scopes.get(credentials.username, ()))
