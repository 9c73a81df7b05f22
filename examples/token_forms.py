"""Token endpoints in Litestar, Quart and Django: the form, and RFC 6749's 400 when it is bad.

FastAPI (with `install`) and Starlette answer an uncaught `OAuth2FormError` themselves;
these frameworks are told how with one handler each. The error carries its answer:
`body` (JSON), `status_code` (400) and `headers` (content type, `Cache-Control: no-store`).

Run them:  uvicorn examples.token_forms:litestar_app   (or quart_app, django_view in a project)
"""

from __future__ import annotations

from typing import Any

import asgi_auth as aa


def issue(form: aa.OAuth2PasswordRequestForm) -> dict[str, str]:
    """Check the user and sign a token here; the example only echoes the form."""
    return {"access_token": f"token-for-{form.username}", "token_type": "bearer", "scope": " ".join(form.scopes)}


# --8<-- [start:litestar]
from litestar import Litestar, Request, Response, post  # noqa: E402


@post("/token", status_code=200)
async def litestar_token(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await aa.OAuth2PasswordRequestForm.from_request(request)  # reads the ASGI body
    return issue(form)


def litestar_form_error(request: Request[Any, Any, Any], exc: aa.OAuth2FormError) -> Response[bytes]:
    return Response(exc.body, status_code=exc.status_code, headers=exc.headers, media_type="application/json")


litestar_app = Litestar([litestar_token], exception_handlers={aa.OAuth2FormError: litestar_form_error})
# --8<-- [end:litestar]

# --8<-- [start:quart]
from quart import Quart, request  # noqa: E402

quart_app = Quart(__name__)


@quart_app.post("/token")
async def quart_token() -> dict[str, str]:
    form = aa.OAuth2PasswordRequestForm.from_body(request.content_type, await request.get_data())
    return issue(form)


@quart_app.errorhandler(aa.OAuth2FormError)
async def quart_form_error(exc: aa.OAuth2FormError) -> tuple[bytes, int, dict[str, str]]:
    return exc.body, exc.status_code, dict(exc.headers)


# --8<-- [end:quart]


# --8<-- [start:django]
def django_token(request: Any) -> Any:  # a Django view (sync or async alike)
    from django.http import HttpResponse, JsonResponse

    try:
        form = aa.OAuth2PasswordRequestForm.from_body(request.content_type, request.body)
    except aa.OAuth2FormError as exc:
        return HttpResponse(exc.body, status=exc.status_code, headers=exc.headers)
    return JsonResponse(issue(form))


# --8<-- [end:django]
