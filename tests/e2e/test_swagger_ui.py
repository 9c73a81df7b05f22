"""The demo's docs in a real browser: authorize with the password flow, try two routes.

Debian's Chromium, driven by Playwright with `executable_path` (no browser download).
The screenshot lands in `test-output/` (or $ASGI_AUTH_TEST_OUTPUT).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from examples.oauth2_scopes import app
from tests.browser import chromium, try_it_out
from tests.loopback import serve

OUTPUT = Path(os.environ.get("ASGI_AUTH_TEST_OUTPUT", "test-output"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def test_authorize_and_try_it_out(browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    requests_to_outside: list[str] = []
    with serve(app) as base:
        page.on("request", lambda r: None if r.url.startswith(base) else requests_to_outside.append(r.url))
        page.goto(base + "/docs")
        page.locator("button.authorize").first.click()
        page.fill("#oauth_username", "johndoe")
        page.fill("#oauth_password", "secret")
        page.locator('label[for="me-password-checkbox-OAuth2PasswordBearer"]').click()
        assert page.locator("#me-password-checkbox-OAuth2PasswordBearer").is_checked()
        page.locator(".modal-ux button.modal-btn.authorize").click()
        page.locator(".modal-ux button", has_text="Logout").wait_for(timeout=15_000)  # authorized
        page.locator(".modal-ux button.btn-done").click()

        assert try_it_out(page, "read_users_me_users_me__get") == "200"
        assert try_it_out(page, "read_own_items_users_me_items__get") == "403"
        body = page.locator("#operations-default-read_own_items_users_me_items__get .live-responses-table").inner_text()
        assert "Not enough permissions" in body
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / "swagger-ui.png"), full_page=True)
    assert requests_to_outside == []  # assets came from the package, not a CDN
    page.close()
