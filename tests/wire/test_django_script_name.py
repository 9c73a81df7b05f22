"""Django's FORCE_SCRIPT_NAME over a real server: Django strips a prefix the guard is not
told about, unless the app is wrapped with `asgi_auth.integrations.django.guard`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.wire.servers import ServerConfig, running, send_raw


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with running(ServerConfig("uvicorn-h11"), "tests.wire.django_script_name:app") as port:
        yield port


def get(port: int, wiring: str, target: str, *headers: str) -> tuple[int | None, object]:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", f"X-Wire-App: {wiring}", *headers, "Connection: close"]
    answer = send_raw(port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    return answer.status, answer.json()


def test_plain_wiring_decides_on_a_path_django_does_not_route(port: int) -> None:
    """The documented limit: Django runs /admin for /prefix/admin; the plain guard matched
    /prefix/admin, no rule, `default=[]`."""
    assert get(port, "plain", "/prefix/admin") == (200, {"handler": "admin", "authenticated": False, "path": "/admin"})


def test_guard_helper_matches_what_django_routes(port: int) -> None:
    assert get(port, "guarded", "/prefix/admin")[0] == 401
    assert get(port, "guarded", "/prefix/admin", "Authorization: Bearer tok") == (
        200,
        {"handler": "admin", "authenticated": True, "path": "/admin"},
    )
    # Django strips FORCE_SCRIPT_NAME off a segment boundary too (then routes nothing): never served
    assert get(port, "guarded", "/prefixadmin")[0] in (401, 404)
