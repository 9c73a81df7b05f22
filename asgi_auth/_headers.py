"""Header text, written and read in one place: quoted-strings, the `Authorization`
header's split, RFC 6750's challenges, and RFC 9110 auth-params.

Nothing here knows a scheme or a request: these are the grammar's pieces, shared by the
schemes, the decision's answers and the app-side dependencies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "BEARER_INVALID_REQUEST",
    "BEARER_INVALID_TOKEN",
    "MAX_PARAMS",
    "MAX_PARAMS_LENGTH",
    "insufficient_scope",
    "parse_auth_params",
    "quote",
    "split_authorization",
]

#: Auth-params longer than this, or more of them than `MAX_PARAMS`, are refused unread.
MAX_PARAMS_LENGTH = 4096
MAX_PARAMS = 20
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# RFC 6750 §3: the challenges a bearer scheme answers with.
BEARER_INVALID_TOKEN = 'Bearer error="invalid_token"'  # noqa: S105 - a challenge, not a secret
BEARER_INVALID_REQUEST = 'Bearer error="invalid_request"'


def quote(value: str) -> str:
    """An RFC 9110 quoted-string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def insufficient_scope(scopes: Iterable[str]) -> str:
    """RFC 6750 §3.1's challenge for a token without the `scopes` a resource needs."""
    return f'Bearer error="insufficient_scope", scope={quote(" ".join(scopes))}'


def split_authorization(value: str | None) -> tuple[str, str]:
    """FastAPI's `get_authorization_scheme_param`: ("Bearer", "token")."""
    if not value:
        return "", ""
    scheme, _, param = value.partition(" ")
    return scheme, param.strip()


def parse_auth_params(text: str) -> dict[str, str] | None:
    """RFC 9110 auth-params (`a=b, c="d"`); `None` for anything malformed or duplicated."""
    if len(text) > MAX_PARAMS_LENGTH:
        return None
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        match = _TOKEN.match(text, i)
        if match is None:
            return None
        key = match.group(0).lower()
        i = match.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n or text[i] != "=":
            return None
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            chars: list[str] = []
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                return None  # unterminated quoted-string
            i += 1
            value = "".join(chars)
        else:
            match = _TOKEN.match(text, i)
            if match is None:
                return None
            value = match.group(0)
            i = match.end()
        if key in params or len(params) >= MAX_PARAMS:
            return None
        params[key] = value
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            return None
    return params
