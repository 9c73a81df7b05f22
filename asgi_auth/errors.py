"""What goes wrong, as values: the errors a request can meet and the answers they make.

Errors are plain objects rather than exceptions on the request path so that a 401 or
a 403 costs no more than a 200; verifiers may still *raise* `InvalidCredentials`
(or any `AuthError`), which is the natural way to say no from deep inside user code.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence

from ._headers import quote as quote  # its home is _headers; kept importable here
from ._types import ASGIApp, Receive, Scope, Send

__all__ = [
    "AmbiguousRequest",
    "AuthError",
    "ConfigurationError",
    "InsufficientScope",
    "InvalidCredentials",
    "MalformedCredentials",
    "NotAuthenticated",
    "ServiceUnavailable",
]

NOT_AUTHENTICATED = "Not authenticated"
INVALID_CREDENTIALS = "Could not validate credentials"
NOT_ENOUGH_PERMISSIONS = "Not enough permissions"


class ConfigurationError(ValueError):
    """A policy that cannot be enforced as written; raised at start-up, never per request."""


class AuthError(Exception):
    """A refusal: `status_code`, `detail` and the `headers` (challenges) that go with it.

    An `on_error(scope, error)` hook receives one of these and returns the ASGI app that
    answers instead of the default JSON response.
    """

    status_code: int = 401
    default_detail: str = NOT_AUTHENTICATED
    #: Why, as a code for decision events (`events.reason_code`); `None`: read from the status.
    reason: str | None = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        status_code: int | None = None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.detail = self.default_detail if detail is None else detail
        if status_code is not None:
            self.status_code = status_code
        self.headers: list[tuple[str, str]] = list(headers)
        super().__init__(self.detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code}, detail={self.detail!r})"

    def with_headers(self, headers: Sequence[tuple[str, str]]) -> AuthError:
        """A copy carrying `headers` (the challenges the middleware computed).

        Made without calling the class again: a verifier's own subclass may take other
        arguments (`Suspended(tenant)`), and its refusal must stay that refusal, not a 500.
        """
        copied = type(self).__new__(type(self))
        copied.__dict__.update(self.__dict__)
        copied.args = self.args
        copied.headers = list(headers)
        return copied

    @property
    def challenges(self) -> list[str]:
        """The `WWW-Authenticate` values, in order."""
        return [value for name, value in self.headers if name.lower() == "www-authenticate"]


class NotAuthenticated(AuthError):
    """No usable credentials for any acceptable scheme (or a malformed header)."""

    reason = "missing"


class MalformedCredentials(NotAuthenticated):
    """Credentials sent for a scheme that do not parse (bad base64, another auth word)."""

    reason = "malformed"


class InvalidCredentials(AuthError):
    """Credentials were sent and rejected. Verifiers raise it (or return `None`)."""

    default_detail = INVALID_CREDENTIALS
    reason = "invalid_credentials"


class InsufficientScope(AuthError):
    """Authenticated, but without every scope the route requires."""

    status_code = 403
    default_detail = NOT_ENOUGH_PERMISSIONS
    reason = "insufficient_scope"


class ServiceUnavailable(AuthError):
    """Credentials could not be checked at all (e.g. no signing key was ever loaded).

    Distinct from 401 so that clients retry instead of discarding a good token.
    """

    status_code = 503
    default_detail = "Authentication service unavailable"
    reason = "unavailable"


class AmbiguousRequest(AuthError):
    """400: a credential frameworks would read differently (sent twice, or escaped)."""

    status_code = 400
    default_detail = "Ambiguous credentials"
    reason = "ambiguous"


OnError = Callable[[Scope, AuthError], "ASGIApp | Awaitable[ASGIApp]"]
"""`on_error(scope, error)`: returns the ASGI app (a Starlette `Response` is one) that answers."""


class ErrorResponse:
    """A minimal ASGI responder for an `AuthError`, built once and replayed.

    Encoding the body and headers ahead of time keeps refusals as cheap as passes.
    For a websocket scope it uses the `websocket.http.response` extension when the
    server offers it and otherwise closes with 1008 (policy violation).
    """

    __slots__ = ("body", "error", "raw_headers", "status")

    def __init__(self, error: AuthError) -> None:
        self.error = error
        self.status = error.status_code
        self.body = json.dumps({"detail": error.detail}, separators=(",", ":")).encode()
        raw = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode("latin-1")),
        ]
        raw.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers)
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await websocket_deny(scope, receive, send, self)
            return
        # A copy: a middleware outside may edit the list it is sent (CORS adds to it).
        await send({"type": "http.response.start", "status": self.status, "headers": list(self.raw_headers)})
        await send({"type": "http.response.body", "body": self.body})


async def websocket_deny(scope: Scope, receive: Receive, send: Send, response: ErrorResponse) -> None:
    """Refuse a websocket handshake with the HTTP answer if possible, else close 1008."""
    message = await receive()
    if message["type"] != "websocket.connect":  # client already went away
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send(
            {
                "type": "websocket.http.response.start",
                "status": response.status,
                "headers": list(response.raw_headers),
            }
        )
        await send({"type": "websocket.http.response.body", "body": response.body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": response.error.detail})


def check_header_value(value: str, what: str) -> str:
    """Refuse configuration text that would break a header (CR, LF, NUL, non-latin-1)."""
    if any(c in value for c in "\r\n\x00"):
        raise ConfigurationError(f"{what} must not contain CR, LF or NUL: {value!r}")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(f"{what} must be latin-1 text: {value!r}") from exc
    return value
