"""Grid ETAS: recovers what it was simulated from, degrades gracefully, keeps the contract."""

from __future__ import annotations

import doctest
import itertools
import warnings
from datetime import UTC, datetime, timedelta

import h3
import numpy as np
import polars as pl
import pytest

import belvedere.models.etas as etas_module
from belvedere.errors import ConfigError
from belvedere.models.base import EventData
from belvedere.models.etas import GridETAS

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CENTRE = h3.latlng_to_cell(43.2965, 5.3698, 9)


def area_of(n: int) -> np.ndarray:
    """``n`` real neighbouring H3 cells (sorted int64)."""
    k = 1
    while 1 + 3 * k * (k + 1) < n:
        k += 1
    cells = sorted(h3.str_to_int(c) for c in h3.grid_disk(CENTRE, k))
    return np.array(cells[:n], dtype=np.int64)


def simulate(mu: np.ndarray, theta: float, omega: float, start: float, end: float,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Grid Hawkes process by its branching structure: background Poisson incidents per cell,
    then generation after generation of Poisson(θ) offspring at Exp(ω) delays, same cell."""
    n = rng.poisson(mu * (end - start))
    cells = np.repeat(np.arange(len(mu)), n)
    times = rng.uniform(start, end, size=cells.size)
    all_t, all_c = [times], [cells]
    while times.size:
        k = rng.poisson(theta, size=times.size)
        times = np.repeat(times, k) + rng.exponential(1.0 / omega, size=int(k.sum()))
        cells = np.repeat(cells, k)
        keep = times < end
        times, cells = times[keep], cells[keep]
        all_t.append(times)
        all_c.append(cells)
    return np.concatenate(all_t), np.concatenate(all_c)


def to_data(days: np.ndarray, index: np.ndarray, area: np.ndarray,
            weight: np.ndarray | None = None) -> EventData:
    us = np.round(np.asarray(days, dtype=np.float64) * 86_400e6).astype(np.int64)
    ts = pl.Series("ts", us + (T0 - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1))
    frame = pl.DataFrame({"cell": area[np.asarray(index, dtype=np.int64)],
                          "ts": ts.cast(pl.Datetime("us", "UTC"))},
                         schema={"cell": pl.Int64, "ts": pl.Datetime("us", "UTC")})
    if weight is not None:
        frame = frame.with_columns(weight=pl.Series(np.asarray(weight, dtype=np.float64)))
    return EventData.from_frame(frame, resolution=9, area=area)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def test_docstring_example_runs() -> None:
    result = doctest.testmod(etas_module)
    assert result.attempted > 0 and result.failed == 0


def test_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(2011)
    area = area_of(30)
    mu = rng.uniform(0.05, 0.5, size=30)
    days, index = simulate(mu, 0.3, 0.5, -100.0, 400.0, rng)
    data = to_data(days, index, area)
    model = GridETAS(training_days=400, background_smoothing_rings=0).fit(data, until=at(400))
    assert abs(model.theta_ - 0.3) <= 0.08, model.theta_
    assert abs(model.omega_ / 0.5 - 1.0) <= 0.35, model.omega_
    assert np.corrcoef(model.background_raw_, mu)[0, 1] > 0.8
    assert model.mean_delay_days_ == pytest.approx(1.0 / model.omega_)
    assert model.converged_


def test_no_self_excitation_gives_small_theta() -> None:
    rng = np.random.default_rng(7)
    area = area_of(30)
    mu = rng.uniform(0.05, 0.5, size=30)
    days, index = simulate(mu, 0.0, 1.0, -100.0, 400.0, rng)
    model = GridETAS(training_days=400, background_smoothing_rings=0)
    model.fit(to_data(days, index, area), until=at(400))
    assert model.theta_ < 0.05
    assert model.background_share_ > 0.95


def test_time_unit_does_not_change_the_estimates() -> None:
    rng = np.random.default_rng(3)
    area = area_of(10)
    days, index = simulate(rng.uniform(0.1, 0.4, size=10), 0.4, 0.3, -60.0, 200.0, rng)
    data = to_data(days, index, area)
    by_day = GridETAS(training_days=200).fit(data, until=at(200))
    by_hour = GridETAS(training_days=200, time_unit="hour").fit(data, until=at(200))
    assert by_hour.theta_ == pytest.approx(by_day.theta_, rel=1e-6)
    assert by_hour.omega_ == pytest.approx(by_day.omega_, rel=1e-6)
    assert by_hour.log_likelihood_ == pytest.approx(by_day.log_likelihood_, rel=1e-6)
    np.testing.assert_allclose(by_hour.predict(at(200), timedelta(days=7)),
                               by_day.predict(at(200), timedelta(days=7)), rtol=1e-6)


def test_a_weight_counts_as_that_many_incidents() -> None:
    rng = np.random.default_rng(5)
    area = area_of(5)
    days, index = simulate(rng.uniform(0.1, 0.4, size=5), 0.4, 0.5, -30.0, 100.0, rng)
    twice = np.repeat(np.arange(days.size), 2)
    doubled = to_data(days[twice], index[twice], area)
    weighted = to_data(days, index, area, weight=np.full(days.size, 2.0))
    a = GridETAS(training_days=100).fit(doubled, until=at(100))
    b = GridETAS(training_days=100).fit(weighted, until=at(100))
    assert b.theta_ == pytest.approx(a.theta_, rel=1e-9)
    assert b.omega_ == pytest.approx(a.omega_, rel=1e-9)
    np.testing.assert_allclose(b.background_, a.background_, rtol=1e-9)


DEGENERATE = {
    "no events": (np.array([]), np.array([], dtype=np.int64)),
    "one event": (np.array([50.0]), np.array([2])),
    "all in one cell": (np.linspace(1, 99, 40), np.zeros(40, dtype=np.int64)),
    "no pairs within the lag": (np.array([1.0, 70.0, 1.0, 80.0]), np.array([0, 0, 1, 1])),
    "identical timestamps": (np.full(12, 42.0), np.array([0] * 6 + [3] * 6)),
    "only old history": (np.array([-20.0, -10.0, -5.0]), np.array([1, 1, 1])),
}


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("rings", [0, 1])
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_inputs_give_finite_non_negative_forecasts(case: str, rings: int) -> None:
    days, index = DEGENERATE[case]
    area = area_of(7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GridETAS(training_days=100, background_smoothing_rings=rings)
        model.fit(to_data(days, index, area), until=at(100))
        for start in (0, 1, 30):
            out = model.predict(at(100 + start), timedelta(days=7))
            assert out.shape == (len(area),)
            assert np.isfinite(out).all() and (out >= 0).all()
        report = model.explain()
    assert 0 <= model.theta_ < 1 and np.isfinite(model.omega_)
    assert np.isfinite(model.log_likelihood_)
    assert report["cells"] is not None and report["cells"].height == len(area)
    if case in ("no events", "only old history"):
        assert not out.any()
    if case in ("no pairs within the lag", "identical timestamps", "one event"):
        assert model.theta_ == 0.0 and model.n_pairs_ == 0
        # Pure background: each cell's rate is its count over the span (no smoothing).
        if rings == 0:
            expected = np.bincount(index, minlength=len(area)) / model.span_days_ * 7
            np.testing.assert_allclose(out, expected)


def burst_data() -> tuple[EventData, np.ndarray, int]:
    rng = np.random.default_rng(11)
    area = area_of(20)
    days, index = simulate(np.full(20, 0.05), 0.0, 1.0, 0.0, 200.0, rng)
    hot = 4
    burst = 200.0 + np.linspace(0.1, 2.9, 10)
    days = np.concatenate([days, burst, np.linspace(5, 195, 20)])
    index = np.concatenate([index, np.full(10, hot), np.full(20, hot)])
    # A background of repeats elsewhere, so that the model learns some excitation.
    for c in (1, 9, 15):
        for t0 in (30.0, 90.0, 150.0):
            days = np.concatenate([days, t0 + np.array([0.0, 0.5, 1.2, 2.0, 3.5])])
            index = np.concatenate([index, np.full(5, c)])
    return to_data(days, index, area), area, hot


def test_a_burst_raises_the_forecast_there_and_it_decays() -> None:
    data, _area, hot = burst_data()
    before = GridETAS(training_days=200).fit(data, until=at(200))
    after = GridETAS(training_days=200).fit(data, until=at(203))
    assert after.theta_ > 0.1
    week = timedelta(days=7)
    assert after.predict(at(203), week)[hot] > 1.5 * before.predict(at(203), week)[hot]
    later = [after.predict(at(203 + d), week)[hot] for d in (0, 3, 10, 30, 90)]
    assert all(x > y for x, y in itertools.pairwise(later))
    # Far enough, only the background is left.
    far = after.predict(at(203 + 90), week)
    np.testing.assert_allclose(far, after.background_ * 7)
    report = after.explain(at(203), week)
    top = report["cells"]
    assert top["cell"][0] == int(data.area[hot])
    assert top["triggered"][0] > 0
    np.testing.assert_allclose((top["background"] + top["triggered"]).to_numpy(),
                               top["expected"].to_numpy())


def test_explain_reports_the_parameters_and_the_parts_of_a_forecast() -> None:
    data, area, _hot = burst_data()
    model = GridETAS(training_days=200).fit(data, until=at(203))
    assert model.explain()["cells"] is None  # no forecast yet
    expected = model.predict(at(203), timedelta(days=7))
    report = model.explain()
    assert set(report) >= {"theta", "omega_per_day", "mean_delay_days", "background_share",
                           "triggered_share", "cells"}
    assert report["mean_delay_days"] == pytest.approx(1.0 / report["omega_per_day"])
    assert report["background_share"] + report["triggered_share"] == pytest.approx(1.0)
    cells = report["cells"]
    assert cells.height == 20 == len(area)
    assert cells["expected"].to_list() == sorted(cells["expected"].to_list(), reverse=True)
    assert cells["expected"].sum() == pytest.approx(expected.sum())
    other = model.explain(at(210), timedelta(days=1), top=3)
    assert other["cells"].height == 3
    with pytest.raises(ConfigError):
        model.explain(at(100), timedelta(days=1))


def test_fit_uses_nothing_at_or_after_until() -> None:
    data, area, _hot = burst_data()
    extra = pl.DataFrame({"cell": [int(area[0]), int(area[1])], "ts": [at(203), at(900)]},
                         schema={"cell": pl.Int64, "ts": pl.Datetime("us", "UTC")})
    leaked = EventData.from_frame(pl.concat([data.events.select("cell", "ts"), extra]),
                                  resolution=9, area=area)
    a = GridETAS(training_days=200).fit(data, until=at(203))
    b = GridETAS(training_days=200).fit(leaked, until=at(203))
    assert (a.theta_, a.omega_, a.n_events_) == (b.theta_, b.omega_, b.n_events_)
    np.testing.assert_array_equal(a.background_, b.background_)
    np.testing.assert_array_equal(a.predict(at(203), timedelta(days=7)),
                                  b.predict(at(203), timedelta(days=7)))
    with pytest.raises(ConfigError):
        a.predict(at(202), timedelta(days=7))
    with pytest.raises(ConfigError):
        GridETAS().predict(at(203), timedelta(days=7))


def test_init_only_stores_parameters_and_bad_ones_are_refused_at_fit() -> None:
    model = GridETAS(max_lag_days=30, random_state=0)
    assert model.get_params() == {"training_days": 365, "max_lag_days": 30, "max_iter": 100,
                                  "tol": 1e-6, "time_unit": "day",
                                  "background_smoothing_rings": 1, "random_state": 0}
    assert not [k for k in vars(model) if k.endswith("_")]
    data, _area, _hot = burst_data()
    for bad in ({"time_unit": "fortnight"}, {"max_lag_days": 0}, {"training_days": -1},
                {"max_iter": 0}, {"background_smoothing_rings": -1}):
        with pytest.raises(ConfigError):
            GridETAS(**bad).fit(data, until=at(200))


def test_toronto_scale_fit_recovers_the_branching_ratio() -> None:
    """~30,000 incidents over a year in ~6,000 cells (skewed rates, real repeats). How long the
    fit takes is measured by ``benchmarks/etas.py``, not asserted here."""
    rng = np.random.default_rng(2015)
    area = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(CENTRE, 45)), dtype=np.int64)
    mu = rng.gamma(0.5, 0.0096 / 0.5, size=len(area))
    days, index = simulate(mu, 0.3, 0.3, -60.0, 365.0, rng)
    data = to_data(days, index, area)
    model = GridETAS()
    model.fit(data, until=at(365))
    assert 20_000 < model.n_events_ < 40_000
    assert abs(model.theta_ - 0.3) < 0.08
