"""Debian's Chromium for the browser tests, started as this workplace requires, and
what the Swagger UI tests share: the offline docs pages and "try it out"."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

# At module level: FastAPI resolves the routes' return annotations in this module's
# globals (with FastAPI 0.123 and pydantic 2.7, a name imported inside the function is
# not found there).
from fastapi.responses import HTMLResponse

if TYPE_CHECKING:
    from fastapi import FastAPI
    from playwright.sync_api import Browser, Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # .ci/run installs Debian's package
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    """Chromium under Playwright, closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def offline_swagger_ui(app: FastAPI) -> None:
    """Serve Swagger UI at /docs (and its OAuth2 redirect page) from fastapi_offline's
    packaged assets, so that a browser test needs no CDN."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"), name="static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=str(app.openapi_url),
            title=app.title,
            oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
            swagger_js_url="/static/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui.css",
        )

    @app.get(str(app.swagger_ui_oauth2_redirect_url), include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def try_it_out(page: Page, operation_id: str) -> str:
    """Expand an operation, execute it, and return the live response's status code."""
    block = page.locator(f"#operations-default-{operation_id}")
    block.locator(".opblock-summary").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=15_000)
    return status.inner_text().split()[0]
