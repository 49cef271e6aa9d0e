"""The events calendar: OM's real home fixtures when covered, a plausible schedule otherwise."""

from __future__ import annotations

import csv
from datetime import date, time, timedelta
from importlib import resources
from itertools import pairwise

import polars as pl

from belvedere.simulate.calendar import build_calendar, om_home_fixtures
from belvedere.simulate.clock import Period


def _packaged_dates(first: date, end: date) -> list[date]:
    path = resources.files("belvedere.simulate").joinpath("data", "om_home_fixtures.csv")
    rows = csv.DictReader(path.read_text("utf-8").splitlines())
    return [d for d in (date.fromisoformat(r["date"]) for r in rows) if first <= d < end]


def test_packaged_fixtures_are_om_home_league_matches() -> None:
    fixtures = om_home_fixtures()
    assert len(fixtures) == 181
    assert fixtures[0] == (date(2015, 8, 8), "SM Caen")
    assert (date(2024, 10, 27), "Paris Saint-Germain") in fixtures
    assert all(opponent != "Olympique Marseille" for _, opponent in fixtures)


def test_autumn_2024_uses_the_real_home_fixtures(matches: pl.DataFrame) -> None:
    written = sorted(d.date() for d in matches["debut"].to_list())
    assert written == _packaged_dates(date(2024, 9, 1), date(2024, 11, 30))
    assert written == [date(2024, 9, 14), date(2024, 10, 4), date(2024, 10, 27),
                       date(2024, 11, 8)]
    titles = dict(zip(matches["id_evenement"], matches["titre"], strict=True))
    assert titles["OM-2024-10-27"] == "Olympique de Marseille – Paris Saint-Germain"
    assert (matches["lieu"] == "velodrome").all()


def test_kickoff_rule_and_attendance(matches: pl.DataFrame) -> None:
    for kickoff, end, attendance in matches.select("debut", "fin", "affluence_prevue").iter_rows():
        assert kickoff.time() == (time(21, 0) if kickoff.weekday() >= 4 else time(20, 45))
        assert end - kickoff == timedelta(minutes=110)
        assert 55_000 <= attendance <= 65_000


def test_a_plausible_schedule_is_drawn_after_the_real_data_ends() -> None:
    events = build_calendar(Period(date(2025, 9, 1), 120), seed=5)
    matches = [e for e in events if e.kind == "match_football"]
    assert 7 <= len(matches) <= 11  # about one home match every 14 days
    weekend = [m for m in matches if m.start.weekday() >= 5]
    assert len(weekend) >= 0.7 * len(matches)
    for m in matches:
        assert m.start.time() == (time(21, 0) if m.start.weekday() >= 4 else time(20, 45))
        assert 55_000 <= m.attendance <= 65_000
        assert m.title.startswith("Olympique de Marseille – ")
    gaps = [(b.start - a.start).days for a, b in pairwise(matches)]
    assert max(gaps) <= 22


def test_no_synthetic_home_match_in_the_summer_break() -> None:
    events = build_calendar(Period(date(2025, 6, 1), 60), seed=5)
    assert not [e for e in events if e.kind == "match_football"]


def test_events_do_not_depend_on_where_the_period_starts() -> None:
    long = {e.event_id: e for e in build_calendar(Period(date(2025, 9, 1), 120), seed=5)}
    short = build_calendar(Period(date(2025, 10, 10), 30), seed=5)
    assert short and all(long[e.event_id] == e for e in short)


def test_other_planned_events_per_month() -> None:
    events = build_calendar(Period(date(2025, 3, 1), 184), seed=5)
    by_month: dict[tuple[int, str], int] = {}
    for e in events:
        key = (e.start.month, e.kind)
        by_month[key] = by_month.get(key, 0) + 1
    for month in range(3, 9):
        assert 1 <= by_month.get((month, "manifestation"), 0) <= 3
    ids = [e.event_id for e in events]
    assert len(ids) == len(set(ids))
    assert "MANIF-2025-05-01" in ids and "MANIF-2025-03-08" in ids
    festival = [e for e in events if e.kind == "festival"]
    assert len(festival) == 3 and {e.venue for e in festival} == {"plages_prado"}
    assert all(e.start.month == 7 for e in festival)
    concerts = [e for e in events if e.kind == "concert"]
    assert concerts and {e.venue for e in concerts} == {"le_dome"}
    # One event a day at most, but 1 May and 8 March are marched whatever else is on.
    flexible = [e for e in events if (e.start.month, e.start.day) not in ((5, 1), (3, 8))]
    assert len({e.start.date() for e in flexible}) == len(flexible)
