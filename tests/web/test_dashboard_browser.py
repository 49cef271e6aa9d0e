"""The dashboard in a real headless Chromium, against the real app over a simulated store.

The browser tests (marked ``browser``) log in, wait for ``document.body.dataset.ready``, and
read what the page exposes in ``window.belvedere`` (the MapLibre map and a small state). Every
test also checks that the page logged no error and asked nothing from another origin (the
dashboard must work offline). A few fast tests without a browser check the page's languages.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from belvedere.web import pages
from belvedere.web.i18n import SUPPORTED_LANGUAGES, strings

FEEDS = {
    "police_log",
    "cctv",
    "fire_ems",
    "field_reports",
    "mobile_presence",
    "transit",
    "hospital_ed",
    "events",
}
READY_TIMEOUT_MS = 30_000
OWNER_SCREENSHOT = Path("/tmp/belvedere-dashboard.png")


@dataclass
class Watch:
    """What a page did wrong: console errors, uncaught exceptions, requests to other origins."""

    origin: str
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", self._on_request)

    def _on_console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _on_request(self, request: Any) -> None:
        # MapLibre's worker and images are blob:/data: URLs of the page itself.
        if not request.url.startswith((self.origin, "blob:", "data:")):
            self.foreign_requests.append(request.url)

    def assert_clean(self) -> None:
        assert self.errors == [], f"console errors: {self.errors}"
        assert self.foreign_requests == [], f"requests left the app: {self.foreign_requests}"


@dataclass
class Session:
    page: Any
    watch: Watch


@pytest.fixture
def open_session(browser: Any, live_server: Any) -> Iterator[Any]:
    """A factory: a fresh browser context (own cookies) on the dashboard, logged in or not."""
    contexts: list[Any] = []

    def _open(credentials: tuple[str, str] | None, locale: str = "fr-FR") -> Session:
        context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(READY_TIMEOUT_MS)
        watch = Watch(live_server.url)
        watch.attach(page)
        page.goto(f"{live_server.url}/")
        if credentials:
            login(page, *credentials)
            wait_ready(page)
        return Session(page, watch)

    yield _open
    for context in contexts:
        context.close()


def login(page: Any, username: str, password: str) -> None:
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.click("#login-submit")


def wait_ready(page: Any, source: str | None = None) -> None:
    """Wait until the page drew the selection (of ``source``), or failed to."""
    page.wait_for_function(
        """(source) => {
            const ready = document.body.dataset.ready;
            if (ready === 'error') return true;
            return ready === '1' && (source === null || window.belvedere.state.source === source);
        }""",
        arg=source,
    )
    state = page.evaluate("document.body.dataset.ready")
    assert state == "1", f"the page failed to load: {page.text_content('#error')}"


def page_state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("window.belvedere.state")
    return state


def zone_ids_on_map(page: Any) -> tuple[set[str], set[str]]:
    """Distinct zone ids in the map's ``zones`` source data, and among its rendered features."""
    data = page.evaluate(
        """async () => {
            const map = window.belvedere.map;
            const data = await map.getSource('zones').getData();
            return {
                data: data.features.map((f) => f.properties.zone_id),
                rendered: map.querySourceFeatures('zones').map((f) => f.properties.zone_id),
            };
        }"""
    )
    return set(data["data"]), set(data["rendered"])


# ---- browser tests --------------------------------------------------------------------------


@pytest.mark.browser
def test_operator_sees_the_arrondissements_and_every_feed(
    open_session: Any, users: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    session = open_session(users["operator"])
    page = session.page

    data_ids, rendered_ids = zone_ids_on_map(page)
    assert len(data_ids) == 16
    assert rendered_ids == data_ids
    state = page_state(page)
    assert state["zonesLoaded"] == 16
    assert state["source"] == "police_log"
    assert state["nonNullCount"] > 0, "the police-log choropleth is empty"
    assert page.text_content("#user-name") == users["operator"][0]
    assert page.text_content("#user-role") == strings("fr")["role.operator"]

    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    shutil.copyfile(tmp_path / "dashboard.png", OWNER_SCREENSHOT)

    options = page.eval_on_selector_all("#ctl-source option", "os => os.map((o) => o.value)")
    assert set(options) == FEEDS
    for source in options:
        page.select_option("#ctl-source", source)
        wait_ready(page, source)
        state = page_state(page)
        assert isinstance(state["featureCount"], int), source
        assert state["nonNullCount"] <= state["featureCount"], source
        assert not page.is_visible("#error"), f"{source}: {page.text_content('#error')}"

    # Arrondissements instead of cells: one feature per zone at most, granted as asked.
    page.select_option("#ctl-source", "police_log")
    wait_ready(page, "police_log")
    page.select_option("#ctl-level", "zone")
    page.wait_for_function("() => window.belvedere.state.level === 'zone'")
    wait_ready(page, "police_log")
    state = page_state(page)
    assert state["granted"]["level"] == "zone"
    assert 0 < state["nonNullCount"] <= state["featureCount"] <= 16
    assert page.is_disabled("#ctl-resolution")

    # Reference places: venues and hospitals drawn by default, cameras on demand by keyboard.
    assert page_state(page)["layers"] == ["venue", "hospital"]
    rendered = ("() => window.belvedere.map.queryRenderedFeatures({ layers: ['place-camera'] })"
                ".length")
    assert page.evaluate(rendered) == 0
    page.focus("#layer-camera")
    page.keyboard.press("Space")
    page.wait_for_function(f"() => ({rendered})() > 0")
    assert page_state(page)["layers"] == ["venue", "hospital", "camera"]
    assert page.evaluate(rendered) >= 10
    session.watch.assert_clean()


@pytest.mark.browser
def test_scrubber_shows_an_observed_hour_and_a_forecast_hour_by_keyboard(
    open_session: Any, users: dict[str, tuple[str, str]]
) -> None:
    session = open_session(users["operator"])
    page = session.page
    fr = strings("fr")
    assert page.text_content("#scrubber-out") == fr["scrubber.off"]
    page.focus("#scrubber")
    page.keyboard.press("End")  # the last forecast hour
    page.wait_for_function("() => window.belvedere.state.scrubMode === 'forecast'")
    wait_ready(page)
    state = page_state(page)
    assert state["scrub"] == 23
    assert state["nonNullCount"] == state["featureCount"] > 100  # every city cell has a forecast
    assert sum(state["values"]) > 0
    assert page.text_content("#scrubber-out").startswith("prévision, ")
    page.keyboard.press("Home")  # 7 days ago, observed
    page.wait_for_function("() => window.belvedere.state.scrubMode === 'observed'")
    wait_ready(page)
    state = page_state(page)
    assert state["scrub"] == -168
    assert state["featureCount"] < 100  # one hour of incidents: a few cells only
    assert page.text_content("#scrubber-out").startswith("observé, ")
    # Back to the whole period.
    page.click("#scrubber-reset")
    page.wait_for_function("() => window.belvedere.state.scrub === null")
    wait_ready(page)
    assert page.is_hidden("#scrubber-reset")
    # A measurement feed has no forecast: the scrubber stops at the last observed hour.
    page.select_option("#ctl-source", "mobile_presence")
    wait_ready(page, "mobile_presence")
    assert page.get_attribute("#scrubber", "max") == "-1"
    session.watch.assert_clean()


@pytest.mark.browser
def test_an_operators_basemap_is_drawn_under_the_figures_from_the_app_itself(
    open_session: Any, live_server: Any, users: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    from belvedere.grid.basemap import build_basemap

    tiles = tmp_path / "city.pmtiles"
    build_basemap(Path(__file__).parent.parent / "grid" / "data" / "tiny.osm", tiles)
    live_server.app.state.basemap = tiles
    try:
        session = open_session(users["operator"])
        page = session.page
        assert page_state(page).get("basemap") is True
        drawn = """() => window.belvedere.map.queryRenderedFeatures({ layers: [
            'basemap-water', 'basemap-building', 'basemap-major'] }).map((f) => f.layer.id)"""
        page.wait_for_function(f"() => ({drawn})().length >= 3")
        assert set(page.evaluate(drawn)) == {"basemap-water", "basemap-building", "basemap-major"}
        # The tiles came from the app (range requests), nothing from another origin.
        session.watch.assert_clean()
    finally:
        live_server.app.state.basemap = None
    # Without a basemap the route says so, and the page draws the clean map.
    assert page.request.get(f"{live_server.url}/basemap.pmtiles").status == 404


@pytest.mark.browser
def test_zone_drill_down_charts_every_feed_observed_against_expected(
    open_session: Any, users: dict[str, tuple[str, str]]
) -> None:
    session = open_session(users["operator"])
    page = session.page
    page.select_option("#drill-zone", "13201")
    page.wait_for_function("() => window.belvedere.state.drillZone === '13201'")
    charts = page.locator("#drill-charts figure.drill-chart")
    assert charts.count() >= 5
    sources = page.eval_on_selector_all("#drill-charts figure",
                                        "fs => fs.map((f) => f.dataset.source)")
    assert "police_log" in sources and "mobile_presence" in sources
    label = page.get_attribute("#drill-charts figure[data-source=police_log] svg", "aria-label")
    assert label and "observés" in label and "attendus" in label
    # The dashed expected line and the observed line are both drawn.
    assert page.locator("figure[data-source=police_log] polyline.drill-observed").count() == 1
    assert page.locator("figure[data-source=police_log] polyline.drill-expected").count() == 1
    session.watch.assert_clean()


@pytest.mark.browser
def test_language_switch_keeps_the_session_and_translates_the_page(
    open_session: Any, users: dict[str, tuple[str, str]]
) -> None:
    session = open_session(users["operator"])
    page = session.page
    en = strings("en")

    page.click("nav.lang a[data-lang=en]")
    page.wait_for_url(re.compile(r"[?&]lang=en"))
    wait_ready(page)

    assert page.get_attribute("html", "lang") == "en"
    assert page.text_content("label[for=ctl-days]") == en["controls.duration"]
    assert page.text_content("#logout") == en["auth.logout"]
    selected = page.eval_on_selector("#ctl-source", "s => s.selectedOptions[0].textContent")
    assert selected == "Municipal police log"
    assert page.text_content("#granted").startswith("Detail granted:")

    page.click("#logout")
    page.wait_for_selector("#login-form", state="visible")
    assert page.text_content("#login-title") == en["login.title"]
    assert page.is_hidden("#dashboard")
    session.watch.assert_clean()


@pytest.mark.browser
def test_analyst_is_granted_arrondissement_by_day_and_sees_no_count_below_k(
    open_session: Any, users: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    session = open_session(users["analyst"])
    page = session.page
    fr = strings("fr")

    state = page_state(page)
    assert state["granted"]["level"] == "zone"
    assert state["timeBin"] == "day"
    k = state["k"]
    assert isinstance(k, int) and k > 1
    granted = page.text_content("#granted")
    assert f"{fr['granted.level.zone']} × {fr['granted.bin.day']}" in granted
    assert f"k = {k}" in granted
    assert fr["legend.suppressed"].format(k=k) in page.inner_text("#legend")

    # Nothing under k on the map or the timeline: the values drawn are those of the page's data.
    drawn = page.evaluate(
        """async () => (await window.belvedere.map.getSource('choropleth').getData())
            .features.map((f) => f.properties.value)"""
    )
    assert [v for v in drawn if v is not None and v < k] == []
    assert [v for v in state["values"] if v < k] == []
    assert [v for v in state["timelineValues"] if v < k] == []
    assert state["nonNullCount"] > 0, "the analyst sees no released value at all"
    page.screenshot(path=str(tmp_path / "dashboard-analyst.png"), full_page=True)
    session.watch.assert_clean()


@pytest.mark.browser
def test_wrong_password_is_refused_in_the_chosen_language(
    open_session: Any, users: dict[str, tuple[str, str]]
) -> None:
    session = open_session(None, locale="en-GB")
    page = session.page
    assert page.get_attribute("html", "lang") == "en"
    login(page, users["operator"][0], "not-the-password")
    page.wait_for_function("() => document.getElementById('login-error').textContent !== ''")
    assert page.text_content("#login-error") == strings("en")["login.error.bad_credentials"]
    assert page.is_hidden("#dashboard")
    # The refused login is an expected 401: the only console error allowed here.
    assert all("401" in e for e in session.watch.errors), session.watch.errors
    assert session.watch.foreign_requests == []


# ---- without a browser ----------------------------------------------------------------------

APP_JS = Path(pages.STATIC_DIR, "app.js").read_text("utf-8")
AGENT_JS = Path(pages.STATIC_DIR, "agent.js").read_text("utf-8")


def test_dictionaries_have_the_same_keys_and_cover_app_js() -> None:
    fr, en = (strings(lang) for lang in SUPPORTED_LANGUAGES)
    assert set(fr) == set(en)
    for script in (APP_JS, AGENT_JS):
        used = set(re.findall(r"\bt\(\s*'([\w.]+)'", script))
        assert used, "the scripts translate through t('key')"
        assert sorted(used - set(fr)) == []
    # label('prefix', value) looks up 'prefix.value' for the API's enumerations.
    for prefix in set(re.findall(r"\blabel\(\s*'([\w.]+)'", APP_JS)):
        assert any(key.startswith(f"{prefix}.") for key in fr), prefix


@pytest.fixture(scope="module")
def page_client() -> TestClient:
    app = FastAPI()
    app.include_router(pages.router)
    pages.mount_static(app)
    return TestClient(app)


@pytest.mark.parametrize(
    ("query", "accept_language", "expected"),
    [
        ("", None, "fr"),
        ("", "en-US,en;q=0.9", "en"),
        ("", "de-DE,en;q=0.5,fr;q=0.8", "fr"),
        ("?lang=en", "fr-FR", "en"),
        ("?lang=de", "en-GB", "en"),
    ],
)
def test_page_language_is_the_query_then_accept_language_then_french(
    page_client: TestClient, query: str, accept_language: str | None, expected: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = page_client.get(f"/{query}", headers=headers)
    assert response.status_code == 200
    assert f'<html lang="{expected}">' in response.text
    assert response.headers["content-language"] == expected
    embedded = re.search(
        r'<script id="i18n" type="application/json">(.*?)</script>', response.text, re.S
    )
    assert embedded and json.loads(embedded.group(1)) == strings(expected)


def test_page_loads_nothing_from_another_origin(page_client: TestClient) -> None:
    html = page_client.get("/").text
    assert re.findall(r'(?:src|href)="(?:https?:)?//', html) == []
    policy = page_client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
