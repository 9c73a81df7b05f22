"""A Django project with `FORCE_SCRIPT_NAME = "/prefix"`, in its own server process
(Django's settings are per process): wired plainly and through `integrations.django.guard`.

`X-Wire-App: plain` reaches `AuthMiddleware(get_asgi_application())`, `guarded` the helper.
"""

from __future__ import annotations

import types
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import path

import asgi_auth as aa
from asgi_auth.integrations.django import guard
from tests.wire.dispatch import configure_django


async def admin(request: HttpRequest) -> JsonResponse:
    context = aa.get_auth(request)
    return JsonResponse({"handler": "admin", "authenticated": context.authenticated, "path": request.path_info})


urls = types.ModuleType("tests_wire_django_script_name_urls")
urls.urlpatterns = [path("admin", admin)]  # type: ignore[attr-defined]
configure_django(urls, FORCE_SCRIPT_NAME="/prefix")

from django.core.asgi import get_asgi_application  # noqa: E402

bearer = aa.HTTPBearer(verifier=aa.inline({"tok": aa.Principal("alice")}.get))
policy = aa.AuthPolicy([aa.Rule("/admin", require=bearer)], default=[])
WIRINGS = {
    "plain": aa.AuthMiddleware(get_asgi_application(), policy=policy),
    "guarded": guard(get_asgi_application(), policy),
}


async def app(scope: Any, receive: Any, send: Any) -> None:
    name = next((value.decode() for key, value in scope["headers"] if key == b"x-wire-app"), "")
    wiring = WIRINGS.get(name)
    if wiring is None:
        await send({"type": "http.response.start", "status": 421, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    await wiring(scope, receive, send)
