"""Django (ASGI): wrap the ASGI handler in `asgi.py`.

Run it:  uvicorn examples.django_app:application
"""

from __future__ import annotations

import json
import sys

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

import asgi_auth as aa


def me(request: HttpRequest) -> HttpResponse:
    auth = aa.get_auth(request)  # Django's request carries the ASGI scope
    return HttpResponse(json.dumps({"user": auth.principal.subject}), content_type="application/json")


urlpatterns = [path("api/me", me)]

if not settings.configured:  # a one-file project; a real one has settings.py
    settings.configure(
        SECRET_KEY="dev-only-not-secret-" + "x" * 32,
        ROOT_URLCONF=sys.modules[__name__],
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )
    django.setup()

# --8<-- [start:django]
# asgi.py
from django.core.asgi import get_asgi_application  # noqa: E402

from asgi_auth.integrations.django import guard  # noqa: E402

bearer = aa.HTTPBearer(verifier=aa.inline({"t-alice": aa.Principal("alice")}.get))
policy = aa.AuthPolicy([aa.Rule("/api/{rest:path}", require=bearer)], default=[])

application = guard(get_asgi_application(), policy)  # AuthMiddleware, told Django's FORCE_SCRIPT_NAME
# --8<-- [end:django]
