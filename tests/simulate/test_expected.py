"""The planted truth cell by cell agrees with the generators' own totals."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from belvedere.simulate.anomalies import plan_anomalies
from belvedere.simulate.calendar import build_calendar
from belvedere.simulate.clock import Period
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import effects_on
from belvedere.simulate.expected import expected_load, offspring_kernel
from belvedere.simulate.geography import build_city
from belvedere.simulate.intensity import intensity_table
from belvedere.simulate.parameters import Parameters

START, DAYS, SEED = date(2024, 9, 10), 21, 3  # two OM home matches, 14 and 28 September


@pytest.fixture(scope="module")
def ctx() -> SimContext:
    params = Parameters()
    period = Period(START, DAYS)
    city = build_city(params.geography)
    events = build_calendar(period, SEED, params.calendar)
    return SimContext(SEED, period, params, city, events,
                      plan_anomalies(period, events, city, SEED, params.anomalies, params.cctv))


@pytest.fixture(scope="module")
def load(ctx: SimContext) -> pl.DataFrame:
    return expected_load(ctx, samples=5_000)


def test_every_feed_has_a_truth_per_hour(load: pl.DataFrame) -> None:
    assert set(load["feed"]) == {"police_log", "fire_ems", "mobile_presence", "transit",
                                 "hospital_ed"}
    hours = load.group_by("feed").agg(pl.col("hour").n_unique())
    # 21 local days; the autumn change is later, so every feed has 21 × 24 UTC hours.
    assert hours["hour"].to_list() == [DAYS * 24] * 5
    assert (load["expected"] >= load["baseline"] - 1e-9).all()


def test_police_baseline_matches_the_intensity_table(ctx: SimContext,
                                                     load: pl.DataFrame) -> None:
    police = load.filter(pl.col("feed") == "police_log")
    per_day = float(police["baseline"].sum()) / DAYS
    table = intensity_table(ctx.period, ctx.city, ctx.params.police)
    weekly = float(table["expected_incidents"].sum())
    # Offspring falling after the period are cut: a little less than the table's steady state.
    assert per_day == pytest.approx(weekly / 7, rel=0.03)


def test_planted_police_extra_is_the_effects_amount_with_its_offspring(
        ctx: SimContext, load: pl.DataFrame) -> None:
    police = load.filter(pl.col("feed") == "police_log")
    planted = float((police["expected"] - police["baseline"]).sum())
    amounts = sum(effect.amount(event) for event, effect in effects_on(ctx.events, "police_log"))
    assert amounts > 0
    assert planted == pytest.approx(amounts / (1 - ctx.params.police.branching_ratio), rel=0.02)


def test_offspring_kernel_is_the_exponential_delay() -> None:
    kernel = offspring_kernel(4.0, 200)
    hours = np.arange(200) + 0.5  # a bin's mid-point: the parent sits mid-hour on average
    assert float(kernel @ hours) == pytest.approx(4.0 + 0.5, abs=0.1)
