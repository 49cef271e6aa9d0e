"""The event-preparation briefing: a French or English A4 PDF, thresholded and audited."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from belvedere.briefings.event_brief import render_event_brief, suppressed
from belvedere.briefings.i18n import STRINGS
from belvedere.errors import ConfigError
from belvedere.privacy.release import Actor
from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests.backends import discard_store, new_store_url
from tests.tools import need_poppler

ACTOR = Actor("chef-de-salle", "analyst")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, str, str]]:
    """Sixty days of the synthetic city in a store, and one OM match's id and title."""
    from belvedere.simulate import simulate_city
    from belvedere.sources.ingest import ingest_folder

    root = tmp_path_factory.mktemp("brief")
    simulate_city(root / "city", days=60, seed=3)
    url = new_store_url(root, "city")
    store = open_store(url)
    try:
        ingest_folder(store, root / "city")
        period = store.data_period()
        assert period is not None
        events = store.planned_events(*period).to_pylist()
        matches = [e for e in events if e["kind"] == "match_football"]
        # A match in the middle of the period has matched control weeks on both sides.
        match = matches[len(matches) // 2]
        yield store, str(match["source_id"]), str(match["title"])
    finally:
        store.close()
        discard_store(url)


@pytest.fixture(scope="module")
def briefs(city: tuple[Store, str, str], tmp_path_factory: pytest.TempPathFactory
           ) -> dict[str, Path]:
    """The match's briefing in French and in English."""
    store, event_id, _ = city
    out = tmp_path_factory.mktemp("pdf")
    return {lang: render_event_brief(store, event_id=event_id, lang=lang,
                                     out=out / f"brief-{lang}.pdf", actor=ACTOR)
            for lang in ("fr", "en")}


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True,
                          text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines()
                    if line.startswith("Pages:")))


def test_french_briefing_has_french_headings_title_and_threshold(
        briefs: dict[str, Path], city: tuple[Store, str, str]) -> None:
    need_poppler()
    text = " ".join(_text(briefs["fr"]).split())
    for heading in ("Affluence attendue", "Conflits", "Confidentialité", "Quelle fiabilité",
                    "Heure par heure"):
        assert heading in text
    assert city[2] in text
    assert "k = 11" in text
    assert "Privacy" not in text


def test_english_briefing_has_english_headings_title_and_threshold(
        briefs: dict[str, Path], city: tuple[Store, str, str]) -> None:
    need_poppler()
    text = " ".join(_text(briefs["en"]).split())
    for heading in ("Expected attendance", "Conflicts", "Privacy", "How accurate is this",
                    "Hour by hour"):
        assert heading in text
    assert city[2] in text
    assert "k = 11" in text
    assert "Confidentialité" not in text


def test_briefing_states_validated_coverage_and_pending_real_data(
        briefs: dict[str, Path]) -> None:
    need_poppler()
    text = " ".join(_text(briefs["en"]).split())
    assert "99.8 %" in text
    assert "real data is pending" in text


def test_briefing_hides_small_table_values(briefs: dict[str, Path]) -> None:
    need_poppler()
    # The simulated city's ED arrivals around the Vélodrome are a few per hour: hidden.
    assert "< 11" in _text(briefs["fr"])


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_briefing_has_at_least_two_pages(briefs: dict[str, Path], lang: str) -> None:
    need_poppler()
    assert _pages(briefs[lang]) >= 2


def test_briefing_first_page_renders_to_png(briefs: dict[str, Path], tmp_path: Path) -> None:
    need_poppler()
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(briefs["fr"]),
                    str(tmp_path / "page")], check=True)
    pngs = list(tmp_path.glob("page*.png"))
    assert len(pngs) == 1
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_briefing_production_is_audited(briefs: dict[str, Path],
                                        city: tuple[Store, str, str]) -> None:
    store, event_id, _ = city
    lines = [json.loads(row.what) for row in store.audit_rows()]
    briefings = [w for w in lines if w.get("resource") == "briefing"]
    assert {(w["event"], w["lang"]) for w in briefings} == {(event_id, "fr"), (event_id, "en")}


def test_unknown_event_is_a_config_error_naming_it(city: tuple[Store, str, str],
                                                   tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NO-SUCH-EVENT"):
        render_event_brief(city[0], event_id="NO-SUCH-EVENT", lang="fr",
                           out=tmp_path / "x.pdf", actor=ACTOR)
    assert not (tmp_path / "x.pdf").exists()


def test_unknown_language_is_a_config_error(city: tuple[Store, str, str],
                                            tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="de"):
        render_event_brief(city[0], event_id=city[1], lang="de", out=tmp_path / "x.pdf",
                           actor=ACTOR)


def test_suppressed_writes_values_under_k_as_less_than_k() -> None:
    assert suppressed(10.9, 11, "en") == "< 11"
    assert suppressed(11.0, 11, "en") == "11"
    assert suppressed(12345.0, 11, "fr") == "12\u202f345"


def test_french_and_english_wordings_have_the_same_keys() -> None:
    assert STRINGS["fr"].keys() == STRINGS["en"].keys()


def test_curves_of_feeds_with_hourly_values_under_k_are_withheld(
        briefs: dict[str, Path]) -> None:
    french = " ".join(_text(briefs["fr"]).split())
    english = " ".join(_text(briefs["en"]).split())
    # Emergency arrivals near one stadium stay under 11 an hour: no curve would keep them hidden.
    assert "Courbes non montrées" in french and "Curves not shown" in english
    assert "urgences" in french.split("Courbes non montrées", 1)[1][:300].lower()


@pytest.mark.parametrize(("lang", "heading", "zones"), [
    ("fr", "Point de situation quotidien", "Main courante police par arrondissement"),
    ("en", "Daily situation report", "Municipal police log by arrondissement"),
])
def test_daily_report_releases_the_days_figures_with_small_counts_hidden(
        city: tuple[Store, str, str], tmp_path: Path, lang: str, heading: str,
        zones: str) -> None:
    from datetime import date

    from belvedere.briefings.daily_brief import render_daily_brief

    need_poppler()
    store, _, _ = city
    before = len(store.audit_rows())
    pdf = render_daily_brief(store, day=date(2024, 10, 4), lang=lang, out=tmp_path / "d.pdf",
                             actor=ACTOR)
    text = " ".join(_text(pdf).split())
    assert heading.upper() in text.upper() and zones in text and "k = 11" in text
    assert "Olympique de Marseille" in text  # the day's match, in the events box
    # Every figure came through the gate: two situation releases, the calendar, the report.
    resources = [json.loads(r.what).get("resource") for r in store.audit_rows()[before:]]
    assert resources.count("situation") == 2 and "daily_brief" in resources
