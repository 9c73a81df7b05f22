"""`JWTOrIntrospection`: one bearer scheme for self-contained JWTs and opaque tokens.

A token is sent down the JWT path only when it is shaped like a JWS (RFC 7515 §7.1):
three base64url segments whose first decodes to a JSON object naming an `alg`. Anything
else — an opaque handle, a JWE, a PASETO — is introspected. A JWT-shaped token that
fails verification is refused there and is *not* introspected: otherwise every forged or
expired JWT would cost a round trip to the authorization server, and the JWT checks
(algorithms, issuer, audience) could be stepped around by whatever the server says of
a string it did not issue. `introspect_rejected=True` asks the server about those too,
for servers that issue JWTs the local keys cannot verify.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable
from typing import Any

from ..context import Principal
from .base import Verdict
from .jwt import JWTVerifier
from .rfc7662 import IntrospectionVerifier

__all__ = ["JWTOrIntrospection", "jwt_shaped"]

_JWS = re.compile(r"([A-Za-z0-9_-]{2,})\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
#: A JOSE header is small; one longer is not read to decide the path.
_MAX_HEADER = 2048


def jwt_shaped(token: str) -> bool:
    """Three base64url segments, the first a JSON object with an `alg` member."""
    match = _JWS.fullmatch(token)
    if match is None or len(match.group(1)) > _MAX_HEADER:
        return False
    segment = match.group(1)
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return False
    return isinstance(header, dict) and isinstance(header.get("alg"), str)


class JWTOrIntrospection:
    """Verify JWT-shaped tokens with `jwt`, every other token with `introspection`."""

    def __init__(
        self, *, jwt: JWTVerifier, introspection: IntrospectionVerifier, introspect_rejected: bool = False
    ) -> None:
        self.jwt = jwt
        self.introspection = introspection
        self.introspect_rejected = introspect_rejected

    def __repr__(self) -> str:
        return f"JWTOrIntrospection(jwt={self.jwt!r}, introspection={self.introspection!r})"

    def audiences(self) -> frozenset[str]:
        """The audiences a token is held to on both paths: empty when either path checks
        none, so that an RFC 8707 resource check sees the weaker of the two."""
        jwt_audience = self.jwt.audience if self.jwt.verify_audience else None
        local = frozenset([jwt_audience] if isinstance(jwt_audience, str) else jwt_audience or ())
        remote = self.introspection.audiences or frozenset()
        return local | remote if local and remote else frozenset()

    def verdict_inline(self, credentials: Any) -> Verdict | Principal | Awaitable[Verdict | Principal | None] | None:
        token = credentials if type(credentials) is str else getattr(credentials, "credentials", None)
        if not isinstance(token, str) or not token:
            return None
        if not jwt_shaped(token):
            return self.introspection.verdict_inline(token)
        answer = self.jwt.verdict_inline(token)
        if not self.introspect_rejected:
            return answer
        if answer is None:
            return self.introspection.verdict_inline(token)
        if isinstance(answer, (Verdict, Principal)):
            return answer
        return self._or_introspect(answer, token)

    async def _or_introspect(
        self, pending: Awaitable[Verdict | Principal | None], token: str
    ) -> Verdict | Principal | None:
        answer = await pending
        if answer is not None:
            return answer
        again = self.introspection.verdict_inline(token)
        return again if again is None or isinstance(again, Verdict) else await again

    def verify_inline(self, credentials: Any) -> Principal | Awaitable[Principal | None] | None:
        answer = self.verdict_inline(credentials)
        if answer is None or isinstance(answer, Principal):
            return answer
        if isinstance(answer, Verdict):
            return answer.principal  # type: ignore[return-value]
        return self._principal(answer)

    async def _principal(self, pending: Awaitable[Verdict | Principal | None]) -> Principal | None:
        answer = await pending
        return answer.principal if isinstance(answer, Verdict) else answer  # type: ignore[return-value]

    async def __call__(self, credentials: Any) -> Principal | None:
        answer = self.verify_inline(credentials)
        if answer is None or isinstance(answer, Principal):
            return answer
        return await answer
