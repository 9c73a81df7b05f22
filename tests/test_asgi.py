from __future__ import annotations

from starlette.requests import Request

from asgi_auth._asgi import MAX_COOKIE_HEADER, MAX_QUERY_STRING, RequestView, route_path
from tests.conftest import http_scope


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
        (b"authorization", b"Bearer first"),
        (b"authorization", b"Bearer second"),
        (b"x-key", b"caf\xe9"),
        (b"cookie", b"a=1; session=abc; b=2"),
    ]
    scope = http_scope("/", headers=headers, query_string=b"k=1&k=2&e=&x=%20y")
    view, request = RequestView(scope), Request(scope)
    assert view.header(b"authorization") == request.headers["authorization"] == "Bearer first"
    assert view.header(b"x-key") == request.headers["x-key"] == "café"
    assert view.header(b"missing") is None
    assert view.query("k") == request.query_params["k"] == "2"
    assert view.query("e") == ""
    assert view.query("x") == " y"
    assert view.cookie("session") == request.cookies["session"] == "abc"
    assert view.cookie("nope") is None


def test_oversized_query_and_cookie_are_not_parsed() -> None:
    scope = http_scope(
        "/",
        headers=[(b"cookie", b"s=" + b"x" * MAX_COOKIE_HEADER)],
        query_string=b"k=v&pad=" + b"x" * MAX_QUERY_STRING,
    )
    view = RequestView(scope)
    assert view.query("k") is None
    assert view.cookie("s") is None
