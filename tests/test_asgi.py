from __future__ import annotations

import pytest
import starlette
from starlette.requests import Request

from asgi_auth._asgi import MAX_COOKIE_HEADER, MAX_QUERY_STRING, AmbiguousCredentials, RequestView, route_path
from tests.conftest import http_scope

STARLETTE = tuple(int(part) for part in starlette.__version__.split(".")[:2])


def test_route_path_is_starlettes() -> None:
    from starlette._utils import get_route_path

    cases = [
        ("/api/x", "/api"),
        ("/api", "/api"),
        ("/apix", "/api"),
        ("/x", ""),
        ("/other/x", "/api"),
        ("/api/", "/api"),
    ]
    for path, root in cases:
        scope = http_scope(path, root_path=root)
        assert route_path(scope) == get_route_path(scope), (path, root)


def test_reads_what_starlette_reads() -> None:
    headers = [
        (b"authorization", b"Bearer only"),
        (b"x-key", b"caf\xe9"),
        (b"cookie", b"a=1; session=abc"),
        (b"cookie", b"b=2"),  # split cookie headers are joined, as Starlette >= 0.49 and HTTP/2 do
    ]
    scope = http_scope("/", headers=headers, query_string=b"k=1&e=&x=%20y")
    view, request = RequestView(scope), Request(scope)
    assert view.header(b"authorization") == request.headers["authorization"] == "Bearer only"
    assert view.header(b"x-key") == request.headers["x-key"] == "café"
    assert view.header(b"missing") is None
    assert view.query("k") == request.query_params["k"] == "1"
    assert view.query("e") == ""
    assert view.query("x") == " y"
    assert view.cookie("session") == request.cookies["session"] == "abc"
    assert view.cookie("b") == "2"
    # Starlette >= 0.49 joins every Cookie header as the guard does; older ones read the first.
    assert request.cookies.get("b") == ("2" if STARLETTE >= (0, 49) else None)
    assert view.cookie("nope") is None


@pytest.mark.parametrize(
    ("headers", "query", "read", "what"),
    [
        ([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")], b"", "header", "header 'authorization'"),
        ([], b"k=forged&k=good", "query", "query parameter 'k'"),
        ([], b"k=forged&%6B=good", "query", "query parameter 'k'"),  # the same key, spelled otherwise
        ([(b"cookie", b"s=good"), (b"cookie", b"s=forged")], b"", "cookie", "cookie 's'"),
        ([(b"cookie", b"s=good; s=forged")], b"", "cookie", "cookie 's'"),
        ([(b"cookie", b"s=%41V")], b"", "cookie", "cookie 's'"),  # Litestar reads "AV"
        ([(b"cookie", b's="\\101V"')], b"", "cookie", "cookie 's'"),  # Starlette reads "AV"
    ],
)
def test_a_credential_sent_twice_is_ambiguous(
    headers: list[tuple[bytes, bytes]], query: bytes, read: str, what: str
) -> None:
    """Frameworks disagree on which copy wins (first, last, joined) and on decoding
    escapes in cookies: refused, never picked."""
    view = RequestView(http_scope("/", headers=headers, query_string=query))
    with pytest.raises(AmbiguousCredentials) as refused:
        if read == "header":
            view.header(b"authorization")
        elif read == "query":
            view.query("k")
        else:
            view.cookie("s")
    assert refused.value.what == what
    assert "good" not in str(refused.value) and "forged" not in str(refused.value)


def test_oversized_query_and_cookie_are_not_parsed() -> None:
    scope = http_scope(
        "/",
        headers=[(b"cookie", b"s=" + b"x" * MAX_COOKIE_HEADER)],
        query_string=b"k=v&pad=" + b"x" * MAX_QUERY_STRING,
    )
    view = RequestView(scope)
    assert view.query("k") is None
    assert view.cookie("s") is None
