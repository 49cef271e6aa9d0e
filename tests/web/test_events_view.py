"""The dashboard's events view in a real headless Chromium, against the live server.

An operator opens the "Événements" view, finds the planned events of the whole data period,
opens a football match and reads its anticipation table (feed × hour offset); the view and its
event survive the switch to English. The page must log no error and stay on its own origin.

It uses conftest's ``live_server``: 14 simulated days, which end on a home match of OM.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from belvedere.web.i18n import strings

READY_TIMEOUT_MS = 30_000


def _wait_ready(page: Any, condition: str = "true") -> None:
    """Wait until ``document.body.dataset.ready`` is settled and ``condition`` holds."""
    page.wait_for_function(
        f"""() => {{
            const ready = document.body.dataset.ready;
            if (ready === 'error') return true;
            const state = window.belvedere && window.belvedere.state;
            return ready === '1' && Boolean(state) && ({condition});
        }}"""
    )
    assert page.evaluate("document.body.dataset.ready") == "1", page.text_content("main")


@pytest.mark.browser
def test_operator_opens_a_match_and_reads_its_anticipation(
    browser: Any, live_server: Any, users: dict[str, tuple[str, str]]
) -> None:
    fr, en = strings("fr"), strings("en")
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(READY_TIMEOUT_MS)
        errors: list[str] = []
        foreign: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((live_server.url, "blob:", "data:"))
                else foreign.append(r.url)
            ),
        )

        page.goto(f"{live_server.url}/")
        page.fill("#login-username", users["operator"][0])
        page.fill("#login-password", users["operator"][1])
        page.click("#login-submit")
        _wait_ready(page, "state.source !== null")

        assert page.text_content("#view-events") == fr["views.events"]
        page.click("#view-events")
        _wait_ready(page, "state.view === 'events' && state.eventsLoaded > 0")
        assert page.is_hidden("#map-view")
        assert page.text_content("#events-view-title") == fr["eventsview.title"]
        listed = page.evaluate("window.belvedere.state.eventsLoaded")
        assert listed >= 1
        assert page.locator("#events-table tr.event-row").count() == listed

        match = page.locator("#events-table tr.event-row[data-kind=match_football]").first
        assert fr["event_kind.match_football"] in match.inner_text()
        match.locator("td").first.click()
        _wait_ready(page, "state.anticipationEvent !== null")

        state = page.evaluate("window.belvedere.state")
        assert state["anticipationFeeds"] >= 4
        assert state["anticipationGranted"] == "cell"
        feed_rows = page.locator("#anticipation-table tbody tr.feed-row")
        assert feed_rows.count() == state["anticipationFeeds"]
        headers = page.eval_on_selector_all(
            "#anticipation-table thead th", "ths => ths.map((th) => th.textContent)"
        )
        assert headers[1:] == [f"{h} h" for h in ("−3", "−2", "−1", "0", "+1", "+2", "+3", "+4")]
        expected = page.eval_on_selector_all(
            "#anticipation-table .expected", "es => es.map((e) => e.textContent)"
        )
        refs = page.eval_on_selector_all(
            "#anticipation-table .ref", "es => es.map((e) => e.textContent)"
        )
        assert expected and all(re.fullmatch(r"-?[\d\u202f\u00a0 ]+(,\d)?", v) for v in expected)
        assert refs and all(r.startswith("réf. ") for r in refs)
        assert "k = " not in page.text_content("#anticipation-granted")  # operators: no k
        assert page.text_content("#anticipation-granted").startswith("Détail accordé")

        # The preparation briefing and the daily report open as PDFs, for this session only.
        event_id = state["anticipationEvent"]
        for lang in ("fr", "en"):
            href = page.get_attribute(f"#anticipation-pdf-{lang}", "href")
            assert href == f"/api/v1/events/{event_id}/briefing.pdf?lang={lang}"
        pdf = page.request.get(f"{live_server.url}{href}")
        assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.body().startswith(b"%PDF-")
        daily = page.get_attribute("#daily-pdf", "href")
        assert re.fullmatch(r"/api/v1/briefings/daily\.pdf\?date=\d{4}-\d\d-\d\d&lang=fr", daily)
        report = page.request.get(f"{live_server.url}{daily}")
        assert report.status == 200 and report.body().startswith(b"%PDF-")
        anonymous = browser.new_context().request.get(f"{live_server.url}{daily}")
        assert anonymous.status == 401

        # English: the view and its event stay selected, the headings are translated.
        page.click("nav.lang a[data-lang=en]")
        page.wait_for_url(re.compile(r"[?&]lang=en"))
        _wait_ready(page, "state.view === 'events' && state.anticipationEvent !== null")
        assert page.text_content("#events-view-title") == en["eventsview.title"]
        assert page.text_content("#view-map") == en["views.map"]
        assert en["event_kind.match_football"] in page.inner_text("#events-table")
        assert page.text_content("#anticipation-table th") == en["anticipation.feed"]
        assert page.text_content("#anticipation-table .ref").startswith("ref. ")

        # Back to the map: it is still there and ready.
        page.click("#view-map")
        _wait_ready(page, "state.view === 'map'")
        assert page.is_visible("#map")
        assert errors == [], f"console errors: {errors}"
        assert foreign == [], f"requests left the app: {foreign}"
    finally:
        context.close()
