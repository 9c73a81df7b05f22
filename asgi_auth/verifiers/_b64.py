"""PyJWT's check of a compact JWS segment, with its alphabet scan done in C.

PyJWT 2.15 reads each of a token's three segments with `PyJWS._decode_base64url_segment`,
which refuses a segment unless it is canonical base64url: at most two trailing `=`, and
only on a segment whose length is a multiple of four; no length that leaves one
character over; nothing outside `A-Z a-z 0-9 - _`; and unused trailing bits zero (the
segment re-encodes to itself). The alphabet test is a generator over the segment's
bytes, run in the interpreter: most of an uncached HS256 decode, and its cost grows with
the token (hundreds of instructions per byte).

`decode_segment` makes the same checks in the same order, raising the same
`DecodeError` with the same message, and returns the same bytes; only the alphabet test
differs: `bytes.translate` deletes every alphabet byte in C, and anything left over is a
byte outside it. tests/verifiers/test_b64.py holds it to PyJWT's own method.

`JWTVerifier` uses it by shadowing the method on its decoder's own `PyJWS` (`use_fast_segments`), so
PyJWT's module-level functions and other users' decoders keep PyJWT's code.
"""

from __future__ import annotations

import binascii

import jwt
from jwt.utils import base64url_decode, base64url_encode

__all__ = ["decode_segment", "use_fast_segments"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def decode_segment(segment: bytes, name: str) -> bytes:
    """The bytes a compact JWS segment encodes, or `DecodeError` as PyJWT would raise."""
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if padding > 2 or (padding and len(segment) % 4 != 0):
        raise jwt.DecodeError(f"Invalid {name} padding")
    # translate(None, _ALPHABET) deletes the alphabet: what is left is foreign bytes.
    if len(stripped) % 4 == 1 or stripped.translate(None, _ALPHABET):
        raise jwt.DecodeError(f"Invalid {name} padding")
    try:
        decoded = base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:  # pragma: no cover - the checks above rule it out
        raise jwt.DecodeError(f"Invalid {name} padding") from err
    if base64url_encode(decoded) != stripped:
        raise jwt.DecodeError(f"Invalid {name} padding")
    return decoded


def use_fast_segments(jws: jwt.PyJWS) -> bool:
    """Have this `PyJWS` read segments with `decode_segment`; `False` if this PyJWT
    has no such method to stand in for (then it keeps its own code)."""
    if not callable(getattr(type(jws), "_decode_base64url_segment", None)):
        return False
    jws._decode_base64url_segment = decode_segment  # type: ignore[method-assign]
    return True
