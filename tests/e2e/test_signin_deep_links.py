"""With sign-in configured, the very first request to a freshly started server may be a deep link to any
page: each one shows the sign-in form and nothing of the page (the page scripts live in app_pages/, which
Streamlit does not run on their own, so no Streamlit internal is patched for this). Screenshot:
test-artifacts/signin-deep-link-*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.e2e import running_app, shot

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

PAGES = sorted(p.stem for p in (ROOT / "app_pages").glob("*.py"))


def test_every_deep_link_on_a_fresh_server_asks_to_sign_in(browser, tmp_path):
    from textclf_core.store import auth

    assert len(PAGES) >= 8
    home = tmp_path / "home"
    home.mkdir()
    users = home / "users.json"
    auth.add_user("ann", "correct horse", users)
    for name in PAGES:  # a new server for each page: its very first request is the deep link
        with running_app(home, {"TEXTCLF_USERS_FILE": str(users)}) as url:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"{url}/{'' if name == 'upload' else name}")  # Upload is the default page, at the root
            page.get_by_role("heading", name="Sign in to textclf").wait_for(timeout=90_000)
            page.wait_for_timeout(500)  # a page that ran alone would draw its own title by now
            page.get_by_role("textbox", name="Password").wait_for(timeout=30_000)
            headings = [h.strip() for h in page.get_by_role("heading").all_inner_texts()]
            assert all("Sign in" in h for h in headings if h), (name, headings)
            assert page.get_by_text("Page not found").count() == 0
            if name == PAGES[0]:
                shot(page, f"signin-deep-link-{name}")
            if name == "compare":  # signing in on a deep link lands on that page
                page.get_by_role("textbox", name="User name").fill("ann")
                page.get_by_role("textbox", name="Password").fill("correct horse")
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("heading", name="Compare runs").wait_for(timeout=60_000)
                shot(page, "signin-deep-link-after-sign-in")
            page.close()
