"""The planted event effects are visible in the written files, with the documented strength."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import h3
import numpy as np
import polars as pl
import pytest

from belvedere.grid.places import HOSPITALS, STATIONS, VENUES

VELODROME = VENUES["velodrome"]
Distance = Callable[..., np.ndarray]  # the ``haversine_m`` fixture


def _quiet_days(frame: pl.DataFrame, busy: set[date]) -> list[date]:
    """Local days of ``frame`` with no match that day or the day before."""
    days = frame.select(pl.col("ts").dt.date().unique().sort()).to_series().to_list()
    return [d for d in days if d not in busy and d - timedelta(days=1) not in busy]


def _busy(matches: pl.DataFrame) -> set[date]:
    return {d.date() for d in matches["debut"].to_list()}


def _sum_in(frame: pl.DataFrame, column: str, start: datetime, end: datetime) -> float:
    window = frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    return float(window[column].fill_null(0).sum())


def _reference(frame: pl.DataFrame, column: str, start: datetime, end: datetime,
               days: list[date], same_weekday: bool = True) -> float:
    """Mean of the same clock window on reference days (same weekday when asked)."""
    ref = [d for d in days if not same_weekday or d.weekday() == start.weekday()]
    totals = []
    for day in ref:
        shift = datetime.combine(day, start.time()) - start
        totals.append(_sum_in(frame, column, start + shift, end + shift))
    return float(np.mean(totals))


@pytest.fixture(scope="module")
def cells_near_velodrome(presence: pl.DataFrame, haversine_m: Distance) -> list[str]:
    cells = presence["zone_id"].unique().sort().to_list()
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    near = haversine_m(centres[:, 0], centres[:, 1], VELODROME.lat, VELODROME.lon) <= 500
    return [c for c, keep in zip(cells, near, strict=True) if keep]


def test_there_are_real_om_matches_to_measure(matches: pl.DataFrame) -> None:
    assert matches.height == 4


def test_crowd_near_the_velodrome_triples_in_the_hour_before_kickoff(
        presence: pl.DataFrame, matches: pl.DataFrame, cells_near_velodrome: list[str]) -> None:
    assert cells_near_velodrome, "some res-8 cell centre lies within 500 m of the stadium"
    near = presence.filter(pl.col("zone_id").is_in(cells_near_velodrome))
    days = _quiet_days(presence, _busy(matches))
    for kickoff in matches["debut"].to_list():
        hour = (kickoff - timedelta(minutes=30)).replace(minute=0)
        observed = _sum_in(near, "nb_presents", hour, hour + timedelta(hours=1))
        usual = _reference(near, "nb_presents", hour, hour + timedelta(hours=1), days,
                           same_weekday=False)
        assert observed >= 3 * usual, (kickoff, observed, usual)


def test_crowd_effect_decays_with_distance_from_the_velodrome(
        presence: pl.DataFrame, matches: pl.DataFrame, haversine_m: Distance) -> None:
    kickoff = matches["debut"][0]
    cells = presence.filter(pl.col("ts") == kickoff).select("zone_id", "nb_presents")
    usual = presence.filter(pl.col("ts").dt.hour() == kickoff.hour,
                            ~pl.col("ts").dt.date().is_in(list(_busy(matches))))
    usual = usual.group_by("zone_id").agg(pl.col("nb_presents").fill_null(0).mean())
    joined = cells.join(usual, on="zone_id", suffix="_usual")
    centres = np.array([h3.cell_to_latlng(c) for c in joined["zone_id"].to_list()])
    distance = haversine_m(centres[:, 0], centres[:, 1], VELODROME.lat, VELODROME.lon)
    ratio = (joined["nb_presents"].fill_null(0).to_numpy()
             / np.maximum(joined["nb_presents_usual"].to_numpy(), 1))
    assert ratio[distance <= 500].mean() > ratio[(distance > 1000) & (distance <= 1500)].mean()
    assert np.median(ratio[distance > 3000]) == pytest.approx(1.0, abs=0.15)


def test_incidents_within_1km_rise_during_the_match_window(
        police: pl.DataFrame, matches: pl.DataFrame, haversine_m: Distance) -> None:
    distance = haversine_m(police["lat"].to_numpy(), police["lon"].to_numpy(),
                           VELODROME.lat, VELODROME.lon)
    near = police.filter(pl.Series(distance <= 1000)).with_columns(one=pl.lit(1))
    days = _quiet_days(police, _busy(matches))
    observed = usual = 0.0
    for kickoff, end in matches.select("debut", "fin").iter_rows():
        start, stop = kickoff - timedelta(hours=3), end + timedelta(hours=2)
        observed += _sum_in(near, "one", start, stop)
        usual += _reference(near, "one", start, stop, days)
    assert observed >= 1.3 * usual, (observed, usual)


def _ed_after_matches(ed: pl.DataFrame, matches: pl.DataFrame,
                      site: str) -> tuple[float, float]:
    arrivals = ed.filter(pl.col("finess") == HOSPITALS[site].code)
    days = _quiet_days(ed, _busy(matches))
    observed = usual = 0.0
    for end in matches["fin"].to_list():
        # Hourly bins from the first full hour after the final whistle, four of them.
        first = end.replace(minute=0) + timedelta(hours=1)
        observed += _sum_in(arrivals, "nb_passages", first, first + timedelta(hours=4))
        usual += _reference(arrivals, "nb_passages", first, first + timedelta(hours=4), days)
    return observed, usual


def test_la_timone_ed_arrivals_rise_in_the_hours_after_the_match(
        ed: pl.DataFrame, matches: pl.DataFrame) -> None:
    observed, usual = _ed_after_matches(ed, matches, "timone")
    assert observed >= 1.5 * usual, (observed, usual)


def test_la_conception_ed_arrivals_rise_a_little_after_the_match(
        ed: pl.DataFrame, matches: pl.DataFrame) -> None:
    timone_observed, timone_usual = _ed_after_matches(ed, matches, "timone")
    observed, usual = _ed_after_matches(ed, matches, "conception")
    assert observed > 1.1 * usual
    assert observed - usual < timone_observed - timone_usual


def test_hospital_nord_is_not_affected_by_matches(ed: pl.DataFrame, matches: pl.DataFrame) -> None:
    timone_observed, timone_usual = _ed_after_matches(ed, matches, "timone")
    observed, usual = _ed_after_matches(ed, matches, "nord")
    assert observed - usual < 0.5 * (timone_observed - timone_usual)


def test_boardings_rise_at_the_stadium_stations_after_the_match_and_along_m2_before(
        validations: pl.DataFrame, matches: pl.DataFrame) -> None:
    stadium = [STATIONS[s].code for s in ("rond_point_prado", "sainte_marguerite", "perier")]
    centre_m2 = [STATIONS[s].code for s in ("saint_charles_m", "castellane", "noailles")]
    days = _quiet_days(validations, _busy(matches))
    after = validations.filter(pl.col("stop_id").is_in(stadium))
    before = validations.filter(pl.col("stop_id").is_in(centre_m2))
    for kickoff, end in matches.select("debut", "fin").iter_rows():
        first = end.replace(minute=0)
        observed = _sum_in(after, "validations", first, first + timedelta(hours=2))
        usual = _reference(after, "validations", first, first + timedelta(hours=2), days)
        assert observed >= 3 * usual, ("after", kickoff, observed, usual)
        start = kickoff.replace(minute=0) - timedelta(hours=2)
        observed = _sum_in(before, "validations", start, start + timedelta(hours=2))
        usual = _reference(before, "validations", start, start + timedelta(hours=2), days)
        assert observed >= 1.5 * usual, ("before", kickoff, observed, usual)


def test_cctv_people_counts_rise_near_the_velodrome(
        cctv: pl.DataFrame, matches: pl.DataFrame) -> None:
    counts = cctv.filter(pl.col("type") == "people_count",
                         pl.col("camera_id").str.starts_with("cam-velodrome"))
    days = _quiet_days(counts, _busy(matches))
    for kickoff in matches["debut"].to_list():
        start = kickoff - timedelta(hours=1)
        observed = _sum_in(counts, "value", start, kickoff)
        usual = _reference(counts, "value", start, kickoff, days, same_weekday=False)
        assert observed >= 5 * usual, (kickoff, observed, usual)


def test_demonstrations_bring_crowds_and_public_order_incidents_along_the_route(
        events: pl.DataFrame, police: pl.DataFrame, cctv: pl.DataFrame) -> None:
    demos = events.filter(pl.col("type") == "manifestation")
    assert demos.height >= 3
    route = [tuple(map(float, p.split())) for p in demos["parcours"][0].split("|")]
    assert route[0] == (VENUES["vieux_port"].lat, VENUES["vieux_port"].lon)
    cameras = ("cam-vieux-port-quai", "cam-canebiere-bas", "cam-canebiere-haut")
    counts = cctv.filter(pl.col("type") == "people_count", pl.col("camera_id").is_in(cameras))
    order = police.filter(pl.col("code_nature").is_in(["TROUBLE_OTP", "DEGRADATION"]))
    order = order.with_columns(one=pl.lit(1))
    busy = {d.date() for d in events["debut"].to_list()}
    days = _quiet_days(police, busy)
    seen_crowd = usual_crowd = seen_order = usual_order = 0.0
    for start, end in demos.select("debut", "fin").iter_rows():
        seen_crowd += _sum_in(counts, "value", start, end)
        usual_crowd += _reference(counts, "value", start, end, days)
        seen_order += _sum_in(order, "one", start, end)
        usual_order += _reference(order, "one", start, end, days)
    assert seen_crowd >= 1.5 * usual_crowd
    assert seen_order >= 1.3 * usual_order
