"""A field agent files a report from a phone; it shows at once on an operator's live map.

Real headless Chromium against the live server (conftest's ``live_server``), the phone's
position given by the browser's geolocation.
"""

from __future__ import annotations

from typing import Any

import pytest

from belvedere.web.i18n import strings

READY_TIMEOUT_MS = 30_000
VIEUX_PORT = {"latitude": 43.2951, "longitude": 5.3740}


@pytest.mark.browser
def test_agent_reports_by_phone_and_the_operator_sees_it_live(
    browser: Any, live_server: Any, users: dict[str, tuple[str, str]]
) -> None:
    fr = strings("fr")
    phone = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844},
                                geolocation=VIEUX_PORT, permissions=["geolocation"])
    desk = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 900})
    try:
        page = phone.new_page()
        page.set_default_timeout(READY_TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{live_server.url}/agent")
        page.fill("#login-username", users["agent"][0])
        page.fill("#login-password", users["agent"][1])
        page.click("#login-submit")
        page.wait_for_selector("#report:not([hidden])")
        assert page.text_content("#report-title") == fr["agent.title"]
        assert page.locator("input[type=file]").count() == 0  # no photo, ever

        # Sending without a place is refused in the page, before any request.
        page.check("input[name=category][value=eclairage]")
        page.click("#report-submit")
        assert page.text_content("#report-error") == fr["agent.need_place"]

        page.click("#locate")
        page.wait_for_function(
            "() => document.getElementById('place').textContent.startsWith('Position')")
        page.fill("#comment", "Lampadaire éteint devant le 12.")
        page.click("#report-submit")
        page.wait_for_function("() => document.body.dataset.sent === '1'")
        assert page.text_content("#report-done") == fr["agent.sent"].format(zone="13201")
        assert errors == [], errors

        # The operator's screen: the report is in the live last hour and outlined on the map.
        screen = desk.new_page()
        screen.set_default_timeout(READY_TIMEOUT_MS)
        screen.goto(f"{live_server.url}/")
        screen.fill("#login-username", users["operator"][0])
        screen.fill("#login-password", users["operator"][1])
        screen.click("#login-submit")
        screen.wait_for_function(
            "() => (window.belvedere.state.liveOverlayFeeds || []).includes('field_reports')")
        counts = screen.inner_text("#live-counts")
        assert "Signalements des agents de terrain : 1" in counts
    finally:
        phone.close()
        desk.close()
