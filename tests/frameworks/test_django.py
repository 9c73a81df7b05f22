"""Django through its own ASGI handler (Django has no websockets without Channels)."""

from __future__ import annotations

import json
import sys
import types
from typing import Any

import django
from django.conf import settings

import asgi_auth as aa
from tests.frameworks.common import check_framework, payload, policy


def view(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse(json.dumps(payload(aa.get_auth(request))), content_type="application/json")


def make_app() -> Any:
    from django.urls import include, path

    urls = types.ModuleType("asgi_auth_test_urls")
    api = [path("items", view), path("open", view)]
    urls.urlpatterns = [path("private", view), path("public", view), path("api/", include(api))]  # type: ignore[attr-defined]
    sys.modules[urls.__name__] = urls
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only-" + "x" * 40,
            ROOT_URLCONF=urls.__name__,
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
        )
        django.setup()
    else:  # another test configured Django first: point it at these URLs
        settings.ROOT_URLCONF = urls.__name__
    from django.core.asgi import get_asgi_application
    from django.urls import clear_url_caches

    clear_url_caches()

    return aa.AuthMiddleware(get_asgi_application(), policy=policy)


def test_django() -> None:
    check_framework(make_app(), websocket=False)
