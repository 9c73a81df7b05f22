"""`dpop=` on the bearer schemes: DPoP-bound tokens (RFC 9449) required or allowed.

DPoP is an option of the schemes a FastAPI user already declares, not a scheme of its
own: the token still comes from the same OAuth flows, scopes are still the flows'
scopes, and with `dpop="allowed"` Swagger UI's Bearer tokens keep working while DPoP
clients get their tokens bound. The proof itself is checked in rfc9449.py; here is
what a scheme does around it:

- **extract**: `Authorization: DPoP <token>` with its `DPoP` proof header (sent twice:
  400) becomes a `DPoPCredential`, the scheme's usual credentials value carrying the
  proof and the request it must name. A Bearer header is absent when DPoP is required,
  and extracted as ever when it is allowed.
- **verify**: the scheme's verifier for the token, then the proof's checks, then the
  token's `cnf.jkt` against the proof's key, then the `jti` replay check. The answer
  is never a `Verdict`: the proof changes with every request, so no decision for a
  DPoP request may be remembered and replayed by the header's value. A Bearer token
  that is DPoP-bound (it has `cnf.jkt`) is refused (§7.2).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Literal, Union, cast

from .._asgi import RequestView
from .._headers import split_authorization
from ..errors import ConfigurationError, InvalidCredentials
from ..rfc9449 import DPoP, is_token68, request_uri
from ..verifiers.base import Answer, Answerer, Verdict, is_pending

__all__ = [
    "DPOP_HEADER",
    "DPoPCredential",
    "DPoPOption",
    "dpop_option",
    "extract_dpop",
    "verify_bearer",
    "verify_bound",
]

DPOP_HEADER = b"dpop"
AUTHORIZATION = b"authorization"

DPoPOption = Union[Literal["required", "allowed"], DPoP, None]
"""What `dpop=` takes: `"required"`, `"allowed"`, a configured `aa.DPoP(...)`, or `None` (off)."""


def dpop_option(value: DPoPOption, owner: str) -> DPoP | None:
    if value is None or isinstance(value, DPoP):
        return value
    if value == "required":
        return DPoP(required=True)
    if value == "allowed":
        return DPoP(required=False)
    raise ConfigurationError(f'{owner}: dpop={value!r} must be "required", "allowed" or aa.DPoP(...)')


class DPoPCredential(str):
    """The scheme's credentials for a DPoP request (the token, or the whole header for
    `OAuth2`), as a `str` equal to what it would be for Bearer, carrying the `token`,
    the `proof` (empty when none came), the request's `method` and `uri`, and what
    the request has spent already (`RequestView.used`)."""

    token: str
    proof: str
    method: str
    uri: str
    used: set[tuple[int, str]]

    def __new__(
        cls, value: str, *, token: str, proof: str, method: str, uri: str, used: set[tuple[int, str]] | None = None
    ) -> DPoPCredential:
        self = super().__new__(cls, value)
        self.token, self.proof, self.method, self.uri = token, proof, method, uri
        self.used = used if used is not None else set()
        return self

    def __repr__(self) -> str:
        return "DPoPCredential('********')"


#: `extract_dpop`'s answer for a header that is not DPoP's, when Bearer is allowed too.
NOT_DPOP = object()


def extract_dpop(dpop: DPoP, request: RequestView, whole_header: bool) -> Any:
    """A `DPoPCredential` for `Authorization: DPoP`; `None` when absent (or Bearer,
    DPoP being required); `NOT_DPOP` to extract as a bearer scheme; `False` when the
    header is DPoP's but not a token68 (malformed)."""
    authorization = request.header(AUTHORIZATION)
    word, token = split_authorization(authorization)
    if word.lower() != "dpop":
        return None if dpop.required or not authorization else NOT_DPOP
    if not token or not is_token68(token):
        return False
    proof = request.header(DPOP_HEADER) or ""  # twice: AmbiguousCredentials, a 400
    if request.used is None:
        request.used = set()
    scope = request.scope
    method = "GET" if scope["type"] == "websocket" else scope.get("method", "GET")
    return DPoPCredential(
        cast(str, authorization) if whole_header else token,
        token=token,
        proof=proof,
        method=method,
        uri=request_uri(scope, dpop.public_url),
        used=request.used,
    )


def _principal(answer: Answer) -> object:
    return answer.principal if type(answer) is Verdict else answer


def _claims(principal: object) -> Mapping[str, Any]:
    claims = getattr(principal, "claims", None)
    return claims if isinstance(claims, Mapping) else {}


def _vouches(principal: object) -> bool:
    try:
        return bool(principal)
    except Exception:
        return False


async def verify_bound(dpop: DPoP, credential: DPoPCredential, call: Answerer) -> object:
    """A DPoP request: the token, the proof, the binding, the replay check (§4.3, §7).

    The token comes first: a client whose token is refused gains nothing from a new
    proof (`invalid_token` tells it so), and a forged token costs its own check only,
    not a proof's signature on a key the sender made up.
    """
    if not credential.proof:
        raise dpop.refuse("invalid_request", "DPoP proof missing", status_code=400)
    try:
        answer = call(credential.token)
        if is_pending(answer):
            answer = await cast(Awaitable[Answer], answer)
    except InvalidCredentials as exc:
        if exc.headers:
            raise
        raise exc.with_headers([("WWW-Authenticate", dpop.challenge("invalid_token"))]) from None
    principal = _principal(answer)
    if not _vouches(principal):
        raise InvalidCredentials(headers=[("WWW-Authenticate", dpop.challenge("invalid_token"))])
    checked = dpop.check(credential.proof, method=credential.method, uri=credential.uri, token=credential.token)
    dpop.bound(_claims(principal), checked.jkt)
    await dpop.record(checked, credential.used)
    return principal  # never a Verdict: nothing about this request may be remembered


def verify_bearer(dpop: DPoP, token: str, call: Answerer) -> Answer | Awaitable[Answer]:
    """A Bearer request where DPoP is allowed: as ever, unless the token is DPoP-bound."""
    answer = call(token)
    if is_pending(answer):
        return _bearer_later(dpop, cast(Awaitable[Answer], answer))
    return _unbound(dpop, answer)


async def _bearer_later(dpop: DPoP, pending: Awaitable[Answer]) -> Answer:
    return _unbound(dpop, await pending)


def _unbound(dpop: DPoP, answer: Answer) -> Answer:
    cnf = _claims(_principal(answer)).get("cnf")
    if isinstance(cnf, Mapping) and "jkt" in cnf:
        raise dpop.refuse("invalid_token", "DPoP-bound token sent as Bearer")
    return answer
