"""`_b64.decode_segment` decides every segment as PyJWT's own check does."""

from __future__ import annotations

import base64

import jwt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asgi_auth.verifiers._b64 import decode_segment, use_fast_segments

SECRET = "b64-secret-" + "s" * 40
#: PyJWT's own segment check, which `decode_segment` stands in for; PyJWT releases before
#: 2.15 (2.13, the floor) have none, and there the fast path must stay out of the way.
PYJWT_CHECK = getattr(jwt.PyJWS, "_decode_base64url_segment", None)
comparable = pytest.mark.skipif(PYJWT_CHECK is None, reason="this PyJWT has no segment check to compare with")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The alphabet, padding, standard base64's own two, whitespace and other near misses.
NEAR = ALPHABET + "=+/. \t\n\r!\x00\x7f\x80\xff"


def outcome(check: object, segment: bytes) -> tuple[str, object]:
    try:
        return "ok", check(segment, "payload")  # type: ignore[operator]
    except jwt.DecodeError as exc:
        return "refused", str(exc)


def pyjwt(segment: bytes, name: str) -> bytes:
    assert PYJWT_CHECK is not None
    return PYJWT_CHECK(segment, name)  # type: ignore[no-any-return]


def encoded(data: bytes, padded: bool) -> bytes:
    text = base64.urlsafe_b64encode(data)
    return text if padded else text.rstrip(b"=")


@comparable
@settings(max_examples=3000)
@given(st.text(alphabet=NEAR, max_size=40).map(lambda s: s.encode("latin-1")))
@example(b"!!!!")  # GHSA-hxm8-2xgr-2p9m
@example(b"QQ==")
@example(b"QR==")  # trailing bits set: not canonical
@example(b"QQ===")
@example(b"Q===")
@example(b"QQ=")
@example(b"Q")
@example(b"")
@example(b"====")
@example(b"QUJD\n")
def test_any_segment_is_decided_as_pyjwt_does(segment: bytes) -> None:
    assert outcome(decode_segment, segment) == outcome(pyjwt, segment)


@comparable
@settings(max_examples=1000)
@given(st.binary(max_size=64), st.booleans(), st.integers(0, 3), st.sampled_from(["", "=", "+", "/", "\xff"]))
def test_encodings_and_their_near_misses_are_decided_as_pyjwt_does(
    data: bytes, padded: bool, where: int, extra: str
) -> None:
    segment = encoded(data, padded)
    at = min(where, len(segment))
    mutated = segment[:at] + extra.encode("latin-1") + segment[at:]
    for candidate in (segment, mutated):
        assert outcome(decode_segment, candidate) == outcome(pyjwt, candidate)
    assert decode_segment(segment, "payload") == data


@comparable
@pytest.mark.parametrize("size", [300, 2_000, 8_000])
def test_a_decoder_with_fast_segments_decodes_and_refuses_as_pyjwt(size: int) -> None:
    claims = {"sub": "x", "pad": "p" * size}
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    fast = jwt.PyJWT()
    assert use_fast_segments(fast._jws)
    assert fast.decode(token, SECRET, algorithms=["HS256"]) == claims
    head, body, signature = token.split(".")
    for bad in (f"{head}.{body}!.{signature}", f"{head}.{body}.{signature}==", f"{head}.{body[:-1]}+.{signature}"):
        with pytest.raises(jwt.DecodeError) as theirs:
            jwt.decode(bad, SECRET, algorithms=["HS256"])
        with pytest.raises(jwt.DecodeError) as ours:
            fast.decode(bad, SECRET, algorithms=["HS256"])
        assert str(ours.value) == str(theirs.value)


def test_without_pyjwts_segment_check_nothing_is_replaced() -> None:
    """On a PyJWT with no segment check (2.13) the decoder keeps PyJWT's own code."""
    fast = jwt.PyJWT()
    replaced = use_fast_segments(fast._jws)
    assert replaced is (PYJWT_CHECK is not None)
    token = jwt.encode({"sub": "x"}, SECRET, algorithm="HS256")
    assert fast.decode(token, SECRET, algorithms=["HS256"]) == {"sub": "x"}
    if not replaced:
        assert "_decode_base64url_segment" not in vars(fast._jws)


@comparable
def test_only_the_decoder_given_changes() -> None:
    """PyJWT's module functions and other decoders keep PyJWT's own method."""
    fast = jwt.PyJWT()
    use_fast_segments(fast._jws)
    assert fast._jws._decode_base64url_segment is decode_segment
    assert jwt.PyJWT()._jws._decode_base64url_segment is not decode_segment
    assert jwt.PyJWS._decode_base64url_segment is not decode_segment
