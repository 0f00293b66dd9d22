"""The page at ``/`` in a real browser (Debian's chromium via Playwright) against a served
Ostiary: signed out it links to sign-in; signing in at /login with no ``next`` lands back
on it showing who is signed in; its Sign out button ends the session through /logout's
CSRF-checked POST. Every state passes axe-core and raises no CSP violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.console_support import (
    PASSWORD,
    assert_accessible,
    console_site,
    prepare,
    shots_dir,
)
from tests.support.browser import chromium_page

pytestmark = pytest.mark.browser


def test_sign_in_lands_on_home_and_signs_out_from_it(tmp_path: Path):
    with console_site(tmp_path) as site, chromium_page() as page:
        site.user("ada@example.com")
        prepare(page, site)
        page.goto(f"{site.base}/")
        assert page.get_by_role("heading", name="Ostiary").is_visible()
        assert_accessible(page)
        page.screenshot(path=str(shots_dir(tmp_path) / "home.png"))
        page.get_by_role("link", name="Sign in").click()
        page.wait_for_url(f"{site.base}/login")
        page.get_by_label("Username").fill("ada@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{site.base}/")
        assert "Signed in as ada@example.com" in page.get_by_role("status").inner_text()
        assert_accessible(page)
        page.screenshot(path=str(shots_dir(tmp_path) / "home-signed-in.png"))
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{site.base}/logout")
        assert "You are signed out" in page.content()
        assert "ostiary_session" not in {c["name"] for c in page.context.cookies()}
        page.goto(f"{site.base}/")
        assert page.get_by_role("link", name="Sign in").is_visible()
        assert site.csp_errors == []
