"""Event impact model: matched controls, partial pooling, and leave-one-match-out on the
simulator against the planted truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from belvedere.models.event_impact import (
    EventImpactModel,
    ImpactEvent,
    ImpactHistory,
    history_from_store,
    matched_controls,
    pool,
    totals,
    with_zones,
)
from belvedere.simulate import simulate_city
from belvedere.simulate.anomalies import plan_anomalies
from belvedere.simulate.calendar import build_calendar
from belvedere.simulate.clock import Period
from belvedere.simulate.context import SimContext
from belvedere.simulate.expected import expected_load
from belvedere.simulate.geography import build_city
from belvedere.simulate.parameters import Parameters
from belvedere.sources.ingest import ingest_folder
from belvedere.store.factory import open_store
from tests.backends import discard_store, new_store_url

START, DAYS, SEED = date(2024, 9, 1), 120, 5
MATCH = "match_football"


@dataclass(frozen=True)
class Held:
    """One match held out: its event and the model's forecast from the other data."""

    event: ImpactEvent
    forecast: pl.DataFrame


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> ImpactHistory:
    out = tmp_path_factory.mktemp("impact_city")
    simulate_city(out / "city", days=DAYS, seed=SEED, start=START)
    url = new_store_url(out, "city")
    store = open_store(url)
    try:
        ingest_folder(store, out / "city")
        return history_from_store(store, resolution=8)
    finally:
        store.close()
        discard_store(url)


@pytest.fixture(scope="module")
def held_out(history: ImpactHistory) -> list[Held]:
    """Leave one match out: fit without its day, anticipate it."""
    out = []
    for row in history.events.filter(pl.col("kind") == MATCH).iter_rows(named=True):
        event = ImpactEvent(row["kind"], row["venue"], row["cell"], row["start"], row["end"],
                            row["expected_attendance"])
        train = history.without(event.start - timedelta(hours=12),
                                event.end + timedelta(hours=12))
        model = EventImpactModel(resolution=8).fit(train)
        out.append(Held(event, model.anticipate(event)))
    return out


@pytest.fixture(scope="module")
def truth() -> pl.DataFrame:
    """The simulator's expected load per feed (the model's names), UTC hour and resolution-8
    cell, with and without the planned events: the planted truth, cell by cell."""
    params = Parameters()
    period = Period(START, DAYS)
    city = build_city(params.geography)
    events = build_calendar(period, SEED, params.calendar)
    anomalies = plan_anomalies(period, events, city, SEED, params.anomalies, params.cctv)
    frame = expected_load(SimContext(SEED, period, params, city, events, anomalies))
    names = {"mobile_presence": "crowd", "hospital_ed": "ed_arrivals"}
    return frame.with_columns(pl.col("feed").replace(names)).rename(
        {"baseline": "truth_baseline", "expected": "truth"})


# -- unit tests ------------------------------------------------------------------------------


def test_matched_controls_keep_weekday_and_hour_and_skip_event_days() -> None:
    anchor = datetime(2024, 10, 5, 19, tzinfo=UTC)  # a Saturday
    blockers = [(datetime(2024, 10, 12, 18, tzinfo=UTC), datetime(2024, 10, 12, 21, tzinfo=UTC)),
                # ends 11 h before the 26 October anchor: within ±12 h, so that week is out
                (datetime(2024, 10, 25, 6, tzinfo=UTC), datetime(2024, 10, 26, 8, tzinfo=UTC))]
    span = (datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 11, 30, tzinfo=UTC))
    found = matched_controls(anchor, weeks=4, blockers=blockers, span=span)
    assert all(c.weekday() == anchor.weekday() and c.hour == 19 for c in found)
    assert {c.day for c in found} == {28, 21, 14, 19, 7, 2}  # not 12 Oct nor 26 Oct
    assert all(not (s < c + timedelta(hours=12) and e > c - timedelta(hours=12))
               for c in found for s, e in blockers)


def test_matched_controls_stay_within_the_data() -> None:
    anchor = datetime(2024, 9, 7, 12, tzinfo=UTC)
    span = (datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 9, 30, tzinfo=UTC))
    found = matched_controls(anchor, weeks=6, blockers=[], span=span)
    assert [c.day for c in found] == [14, 21, 28]


def test_pooling_shrinks_a_one_off_toward_the_kinds_mean() -> None:
    one = np.array([1])
    mean, var = pool(np.array([10.0]), np.array([4.0]), one, np.array([2.0]), np.array([0.2]),
                     np.array([0.3]))
    assert 2.0 < float(mean[0]) < 6.0  # pulled most of the way toward the kind's mean
    assert float(var[0]) < 4.0
    # Many consistent past events at the venue keep the venue's own effect.
    many_mean, _ = pool(np.array([10.0]), np.array([0.01]), np.array([12]), np.array([2.0]),
                        np.array([0.2]), np.array([0.3]))
    assert float(many_mean[0]) == pytest.approx(10.0, abs=0.2)
    # No past event at the venue: the kind's mean, with its uncertainty and heterogeneity.
    new_mean, new_var = pool(np.array([0.0]), np.array([0.0]), np.array([0]), np.array([2.0]),
                             np.array([0.2]), np.array([0.3]))
    assert float(new_mean[0]) == 2.0 and float(new_var[0]) == pytest.approx(0.5)


def test_unfitted_model_refuses_to_anticipate() -> None:
    from belvedere.errors import ConfigError

    event = ImpactEvent(MATCH, "velodrome", 0, datetime(2024, 1, 1, tzinfo=UTC),
                        datetime(2024, 1, 1, 2, tzinfo=UTC), 1.0)
    with pytest.raises(ConfigError):
        EventImpactModel().anticipate(event)


# -- on the simulator ------------------------------------------------------------------------


def test_forecast_covers_every_cell_hour_and_feed(held_out: list[Held]) -> None:
    assert len(held_out) >= 5  # the real OM home fixtures of autumn 2024
    frame = held_out[0].forecast
    assert set(frame["feed"]) == {"police_log", "fire_ems", "crowd", "transit", "ed_arrivals"}
    police = frame.filter(pl.col("feed") == "police_log")
    assert police["cell"].n_unique() == 127 and police["offset_h"].n_unique() == 13
    assert (frame["lo95"] <= frame["lo80"]).all() and (frame["lo80"] <= frame["hi80"]).all()
    assert (frame["hi80"] <= frame["hi95"]).all()


def test_planted_loads_fall_inside_the_95_percent_intervals(
        held_out: list[Held], truth: pl.DataFrame) -> None:
    """Every feed, per arrondissement and hour, leave-one-match-out: the simulator's expected
    load (baseline + planted event effect) over the forecast cells of each arrondissement lies
    inside the 95 % interval of the forecast total for ≥ 90 % of the (feed, zone, hour) cells
    within 6 rings of the Vélodrome, and for ≥ 90 % of those where the planted effect is
    material (≥ 10 % of the baseline and ≥ 0.5 records)."""
    forecast = with_zones(pl.concat([h.forecast for h in held_out]).with_columns(
        cell_id=pl.col("cell"))).filter(pl.col("zone").is_not_null())  # cells in the sea
    joined = forecast.join(truth, left_on=["feed", "hour", "cell_id"],
                           right_on=["feed", "hour", "cell"], how="left")
    # Measurement feeds are forecast where a station, hospital or operator cell reports: each
    # has its truth. Incident cells no simulated position ever reaches (the sea) expect none.
    points = pl.col("feed").is_in(["police_log", "fire_ems"])
    assert joined.filter(~points)["truth"].null_count() == 0
    joined = joined.with_columns(pl.col("truth", "truth_baseline").fill_null(0.0))
    keys = ["zone", "feed", "hour"]
    planted = joined.group_by(keys).agg(pl.col("truth", "truth_baseline").sum())
    zones = totals(forecast, by=("zone",)).join(planted, on=keys, how="left")
    assert zones["truth"].null_count() == 0
    # The intervals are for whole counts: the expected count is rounded to one (a perfect model
    # of a cell expecting 0.02 records has 0 as its 97.5 % quantile).
    whole = pl.col("truth").round()
    zones = zones.with_columns(
        inside=(whole >= pl.col("lo95")) & (whole <= pl.col("hi95")),
        planted=pl.col("truth") - pl.col("truth_baseline"))
    material = (pl.col("planted") >= 0.5) & (pl.col("planted") >= 0.1 * pl.col("truth_baseline"))
    summary = zones.group_by("feed").agg(
        tested=pl.len(), coverage=pl.col("inside").mean(),
        material=material.sum(), coverage_material=pl.col("inside").filter(material).mean())
    assert set(summary["feed"]) == {"police_log", "fire_ems", "crowd", "transit", "ed_arrivals"}
    assert summary["coverage"].min() >= 0.90, summary
    tested = zones.filter(material)
    assert set(tested["feed"]) >= {"police_log", "crowd", "transit", "ed_arrivals"}
    assert float(tested["inside"].mean()) >= 0.90  # type: ignore[arg-type]
    # Not wide enough to hold anything: where crowds and boardings change, the no-event load
    # falls outside the interval (a few incidents more an hour stay within the noise).
    quiet = pl.col("truth_baseline").round()
    excluded = tested.filter(pl.col("feed").is_in(["crowd", "transit"])).select(
        ((quiet < pl.col("lo95")) | (quiet > pl.col("hi95"))).mean())
    assert excluded.item() >= 0.90


def test_crowd_near_the_velodrome_doubles_before_kick_off(held_out: list[Held]) -> None:
    for held in held_out:
        hour = held.forecast.filter(pl.col("feed") == "crowd", pl.col("ring") == 0,
                                    pl.col("offset_h") == -1)
        assert hour.height == 1
        assert hour["expected"][0] >= 2 * hour["baseline"][0]


def test_observed_counts_fall_inside_the_95_percent_intervals(
        held_out: list[Held], history: ImpactHistory) -> None:
    """Calibration against what was actually recorded, every feed: the held-out match's counts
    are inside the predictive 95 % intervals for ≥ 90 % of the (feed, cell, hour) cells."""
    rates = []
    for feed, observed in history.feeds.items():
        frames = [h.forecast.filter(pl.col("feed") == feed) for h in held_out]
        forecast = pl.concat(frames)
        joined = forecast.join(observed.rename({"hour_start": "hour"}), on=["hour", "cell"],
                               how="left")
        if feed in history.zero_filled:
            joined = joined.with_columns(pl.col("value").fill_null(0.0))
        joined = joined.drop_nulls("value")
        inside = (joined["value"] >= joined["lo95"]) & (joined["value"] <= joined["hi95"])
        rates.append(float(inside.mean()))  # type: ignore[arg-type]
    assert min(rates) >= 0.90, rates


def test_planted_police_extra_near_the_venue_is_recovered(held_out: list[Held]) -> None:
    """The simulator plants 0.25 police incidents per 1,000 attendees (Gaussian σ = 500 m
    around the venue): the forecast effect summed over the event's cells and hours is of that
    order (at resolution 8, six rings reach about 5 km)."""
    for held in held_out:
        extra = float(held.forecast.filter(pl.col("feed") == "police_log")["effect"].sum())
        planted = 0.25 * held.event.expected_attendance / 1000
        assert 0.3 * planted < extra < 2.5 * planted, (extra, planted)


def test_history_without_drops_the_held_out_hours(history: ImpactHistory) -> None:
    start = datetime(2024, 10, 1, tzinfo=UTC)
    cut = history.without(start, start + timedelta(days=1))
    police = cut.feeds["police_log"]
    assert police.filter((pl.col("hour_start") >= start)
                         & (pl.col("hour_start") < start + timedelta(days=1))).height == 0
    assert police.height < history.feeds["police_log"].height
