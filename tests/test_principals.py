"""What a verifier's answer must be to let a request in: a true value."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import asgi_auth as aa
from tests.conftest import client_for

pytestmark = pytest.mark.anyio

FALSE_ANSWERS: list[Any] = [None, False, 0, 0.0, "", b"", [], (), {}, set(), frozenset()]


class Unsure:
    """An answer that cannot say whether it is true (as a NumPy array cannot)."""

    def __bool__(self) -> bool:
        raise ValueError("ambiguous")

    def __repr__(self) -> str:
        return "Unsure()"


def app_for(answer: Any, *, sync_inline: bool, scopes: list[str]) -> aa.AuthMiddleware:
    if sync_inline:
        verifier: Any = aa.inline(lambda key: answer)
    else:

        async def verifier(key: str) -> Any:
            return answer

    scheme = aa.APIKeyHeader(name="X-Key", verifier=verifier)
    other = aa.HTTPBearer(verifier=aa.inline(lambda t: None))
    # One scheme (the single-scheme path) and two alternatives (the general path).
    policy = aa.AuthPolicy([aa.Rule("/two", require=[{scheme: scopes}, other])], default={scheme: scopes})
    return aa.AuthMiddleware(JSONResponse({"ok": True}), policy)


@pytest.mark.parametrize("answer", [*FALSE_ANSWERS, Unsure()], ids=repr)
@pytest.mark.parametrize("sync_inline", [True, False], ids=["inline", "async"])
@pytest.mark.parametrize("path", ["/one", "/two"])
async def test_a_false_answer_never_authenticates(answer: Any, sync_inline: bool, path: str) -> None:
    async with client_for(app_for(answer, sync_inline=sync_inline, scopes=[])) as client:
        response = await client.get(path, headers={"X-Key": "anything"})
    assert (response.status_code, response.json()) == (401, {"detail": "Could not validate credentials"})


@pytest.mark.parametrize("answer", [True, "alice", 1, {"sub": "alice"}, aa.Principal("alice")], ids=repr)
async def test_a_true_answer_is_a_principal(answer: Any) -> None:
    async with client_for(app_for(answer, sync_inline=True, scopes=[])) as client:
        assert (await client.get("/one", headers={"X-Key": "k"})).status_code == 200
        assert (await client.get("/two", headers={"X-Key": "k"})).status_code == 200


async def test_starlettes_requires_authenticated_works() -> None:
    """Starlette's backends grant `authenticated`; `@requires("authenticated")` is its idiom."""

    @requires("authenticated")
    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.user.display_name, "scopes": request.auth.scopes})

    @requires(["authenticated", "admin"])
    async def admin(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    scheme = aa.APIKeyHeader(name="X-Key", verifier=aa.inline(lambda k: aa.Principal(k) if k == "alice" else None))
    app = Starlette(routes=[Route("/me", me), Route("/admin", admin), Route("/open", me)])
    policy = aa.AuthPolicy([aa.Rule("/open", require=[{}, scheme])], default=scheme)
    app.add_middleware(aa.AuthMiddleware, policy=policy)
    async with client_for(app) as client:
        me_response = await client.get("/me", headers={"X-Key": "alice"})
        admin_response = await client.get("/admin", headers={"X-Key": "alice"})
        anonymous = await client.get("/open")
    assert (me_response.status_code, me_response.json()) == (200, {"user": "alice", "scopes": ["authenticated"]})
    assert admin_response.status_code == 403  # `authenticated` is not every scope
    assert anonymous.status_code == 403  # an anonymous pass is not authenticated
