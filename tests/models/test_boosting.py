"""Boosted cross-source forecaster, its features, and the ensemble, on a synthetic city whose
true intensity is known: stable hotspots, a seasonal cycle over the weeks, and a venue whose
planned events raise incidents around it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import h3
import numpy as np
import polars as pl
import pytest
from scipy import stats

from belvedere.errors import ConfigError
from belvedere.models.base import EventData, GridForecaster
from belvedere.models.boosting import BoostedForecaster
from belvedere.models.ensemble import EnsembleForecaster
from belvedere.models.features import (
    easter,
    holds_holiday,
    public_holidays,
    window_features,
    windows_features,
)

T0 = datetime(2023, 1, 2, tzinfo=UTC)  # a Monday
WEEKS = 70
UNTIL = T0 + timedelta(weeks=WEEKS)
WEEK = timedelta(days=7)
# Planned events in about one week in three, at irregular weeks (so that lags cannot tell them),
# including the forecast week WEEKS but not the next one.
_draw = np.random.default_rng(7).random(WEEKS + 3) < 1 / 3
EVENT_WEEKS = [w for w in range(WEEKS + 3) if (_draw[w] or w == WEEKS) and w != WEEKS + 1]
RESIDENT_ATTRIBUTES = ("population", "income", "unemployment", "wage", "density", "ethnicity",
                       "age")


class City:
    """Area, true weekly intensities and the EventData drawn from them."""

    def __init__(self, seed: int = 3) -> None:
        rng = np.random.default_rng(seed)
        centre = h3.latlng_to_cell(43.2965, 5.3698, 9)
        self.area = np.unique(np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, 10)],
                                       dtype=np.int64))
        n = len(self.area)
        self.base = np.exp(rng.normal(-1.0, 0.8, n))
        hot = rng.choice(n, 10, replace=False)
        self.base[hot] += rng.uniform(3.0, 6.0, 10)
        self.venue = h3.str_to_int(h3.grid_disk(centre, 4)[-1])  # a cell 4 rings from the centre
        distance = np.array([h3.grid_distance(h3.int_to_str(self.venue), h3.int_to_str(int(c)))
                             for c in self.area])
        self.venue_index = int(np.flatnonzero(self.area == self.venue)[0])
        self.near_venue = distance <= 1
        self.event_effect = np.where(distance <= 2, 8.0 * np.exp(-distance), 0.0)

        cells, times = [], []
        for w in range(WEEKS):
            k = rng.poisson(self.intensity(w))
            cells.append(np.repeat(self.area, k))
            offsets = rng.random(int(k.sum())) * WEEK.total_seconds()
            times.append([T0 + timedelta(weeks=w, seconds=float(s)) for s in offsets])
        flat = np.concatenate(cells)
        events = pl.DataFrame({
            "cell": flat,
            "ts": pl.Series([t for ts in times for t in ts], dtype=pl.Datetime("us", "UTC")),
            "category": rng.choice(["theft", "assault", "vandalism", "noise"], len(flat)),
        })
        planned = pl.DataFrame({
            "cell": [self.venue] * len(EVENT_WEEKS),
            "start": [T0 + timedelta(weeks=w, days=5, hours=19) for w in EVENT_WEEKS],
            "end": [T0 + timedelta(weeks=w, days=5, hours=23) for w in EVENT_WEEKS],
            "expected_attendance": [40_000.0] * len(EVENT_WEEKS),
        })
        crowd = pl.DataFrame({
            "cell": np.tile(self.area, WEEKS),
            "ts": pl.Series([T0 + timedelta(weeks=w, days=3) for w in range(WEEKS)
                             for _ in range(n)], dtype=pl.Datetime("us", "UTC")),
            "value": rng.poisson(50, n * WEEKS).astype(float),
        })
        self.data = EventData.from_frame(events, resolution=9, area=self.area,
                                         covariates={"crowd_count": crowd}, planned=planned)

    def intensity(self, week: int) -> np.ndarray:
        season = 1.0 + 0.3 * np.sin(2 * np.pi * week / 52)
        return self.base * season + (self.event_effect if week in EVENT_WEEKS else 0.0)


@pytest.fixture(scope="module")
def city() -> City:
    return City()


def boosted(**kwargs: Any) -> BoostedForecaster:
    # One thread: LightGBM's OpenMP threads spin, and slow down badly on a busy test machine.
    return BoostedForecaster(**{"min_child_samples": 20, "n_estimators": 200, "n_jobs": 1,
                                **kwargs})


@pytest.fixture(scope="module")
def model(city: City) -> BoostedForecaster:
    return boosted().fit(city.data, until=UNTIL)


def test_forecast_follows_the_true_intensity(city: City, model: BoostedForecaster) -> None:
    forecast = model.predict(UNTIL, WEEK)
    truth = city.intensity(WEEKS)
    assert forecast.shape == city.area.shape
    rho = stats.spearmanr(forecast, truth).statistic
    assert rho > 0.6, rho
    assert 0.5 < forecast.sum() / truth.sum() < 2.0


def test_planned_event_raises_the_forecast_near_the_venue(city: City,
                                                          model: BoostedForecaster) -> None:
    blind = boosted().fit(replace(city.data, planned=None), until=UNTIL)
    with_events = model.predict(UNTIL, WEEK)
    without = blind.predict(UNTIL, WEEK)
    assert with_events[city.near_venue].sum() > 1.3 * without[city.near_venue].sum()
    assert with_events[city.venue_index] > without[city.venue_index]
    # The same model, the next week (no planned event): lower around the venue.
    after = model.predict(UNTIL + WEEK, WEEK)
    assert with_events[city.near_venue].sum() > 1.3 * after[city.near_venue].sum()
    X, names = window_features(city.data, city.data.before(UNTIL), start=UNTIL, horizon=WEEK)
    column = names.index("planned_attendance")
    assert X[city.venue_index, column] == pytest.approx(40_000.0)
    assert X[~city.near_venue, column].max() < 40_000.0 * np.exp(-0.5) + 1e-6
    assert names.index("planned_events") >= 0


def test_nothing_at_or_after_until_is_used(city: City, model: BoostedForecaster) -> None:
    late = pl.DataFrame({
        "cell": [int(city.area[0]), int(city.area[5]), int(city.area[9])] * 40,
        "ts": pl.Series([UNTIL, UNTIL + timedelta(days=2), UNTIL + timedelta(days=400)] * 40,
                        dtype=pl.Datetime("us", "UTC")),
        "category": ["theft"] * 120, "origin": [""] * 120, "weight": [1.0] * 120,
    })
    crowd = city.data.covariates["crowd_count"]
    future_crowd = pl.DataFrame({"cell": city.area[:50],
                                 "ts": pl.Series([UNTIL + timedelta(days=1)] * 50,
                                                 dtype=pl.Datetime("us", "UTC")),
                                 "value": [1e6] * 50})
    leaky = replace(city.data, events=pl.concat([city.data.events, late]).sort("ts"),
                    covariates={"crowd_count": pl.concat([crowd, future_crowd])})
    other = boosted().fit(leaky, until=UNTIL)
    for start in (UNTIL, UNTIL + timedelta(days=30)):
        assert np.array_equal(other.predict(start, WEEK), model.predict(start, WEEK))
    assert other.dispersion_ == model.dispersion_
    # The features of a window never read the window itself.
    start = UNTIL - 3 * WEEK
    a, _ = window_features(city.data, city.data.events, start=start, horizon=WEEK)
    b, _ = window_features(leaky, leaky.events, start=start, horizon=WEEK)
    c, _ = window_features(city.data, city.data.before(start), start=start, horizon=WEEK)
    assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(a, c, equal_nan=True)


def test_no_resident_attribute_among_the_features(city: City, model: BoostedForecaster) -> None:
    names = model.feature_names_
    assert len(names) == len(set(names)) > 30
    lowered = [name.lower() for name in names]
    for word in RESIDENT_ATTRIBUTES:
        assert not [n for n in lowered if word in n], word
    # Covariates are the feeds the data carries (here crowd counts), with rings.
    assert {"cov_crowd_count_last1", "ring2_cov_crowd_count_last4"} <= set(names)
    assert {"count_lag52", "ring1_count_lag1", "cat_theft_sum4", "holiday",
            "windows_since_last", "planned_attendance"} <= set(names)


def test_negative_binomial_intervals_contain_the_mean(city: City,
                                                      model: BoostedForecaster) -> None:
    assert model.dispersion_ >= 0.0
    mu = model.predict(UNTIL, WEEK)
    low, high = model.predict_interval(UNTIL, WEEK, level=0.9)
    assert (low <= mu).all()
    assert (high >= np.floor(mu)).all()
    big = mu >= 1.0
    assert big.any()
    assert ((low[big] <= mu[big]) & (mu[big] <= high[big])).all()
    assert (high >= low).all()
    if model.dispersion_ > 0:
        poisson_high = stats.poisson.ppf(0.95, mu)
        assert (high >= poisson_high).all()


def test_explain_names_its_features(model: BoostedForecaster) -> None:
    explanation = model.explain()
    top = explanation["top_features"]
    assert len(top) == 10
    assert all(item["feature"] in model.feature_names_ for item in top)
    shap = [item["mean_abs_shap"] for item in top]
    assert shap == sorted(shap, reverse=True) and shap[0] > 0
    gain = explanation["gain_importance"]
    assert set(gain) == set(model.feature_names_)
    assert max(gain.values()) > 0


def test_other_horizons_are_cut_into_model_windows(model: BoostedForecaster) -> None:
    week = model.predict(UNTIL, WEEK)
    half = model.predict(UNTIL, WEEK / 2)
    assert np.allclose(half, week / 2)
    fortnight = model.predict(UNTIL, 2 * WEEK)
    assert (fortnight >= week - 1e-12).all() and fortnight.sum() > 1.5 * week.sum()


def test_training_windows_end_before_until(city: City) -> None:
    short = boosted(training_windows=5).fit(city.data, until=UNTIL)
    assert short.training_windows_ == 5
    history = boosted(training_windows=200).fit(city.data, until=UNTIL)
    assert history.training_windows_ == WEEKS  # windows before the first incident are skipped
    assert boosted().get_params()["horizon_days"] == 7
    with pytest.raises(ConfigError):
        boosted(zero_fraction=0).fit(city.data, until=UNTIL)


def test_batched_features_equal_one_window_at_a_time(city: City) -> None:
    past = city.data.before(UNTIL)
    starts = [UNTIL - w * WEEK for w in (1, 2, 7)]
    cats = ["theft", "noise"]
    blocks, names = windows_features(city.data, past, starts=starts, horizon=WEEK,
                                     categories=cats)
    for start, block in zip(starts, blocks, strict=True):
        single, single_names = window_features(city.data, past, start=start, horizon=WEEK,
                                               categories=cats)
        assert single_names == names
        assert np.array_equal(block, single, equal_nan=True)
    # Unaligned starts take the window-by-window path, with the same result.
    odd = [UNTIL - WEEK, UNTIL - timedelta(days=10)]
    blocks, _ = windows_features(city.data, past, starts=odd, horizon=WEEK, categories=cats)
    single, _ = window_features(city.data, past, start=odd[1], horizon=WEEK, categories=cats)
    assert np.array_equal(blocks[1], single, equal_nan=True)


def test_lagged_and_ring_counts_by_hand() -> None:
    centre = h3.latlng_to_cell(48.8566, 2.3522, 9)
    area = np.unique(np.array([h3.str_to_int(c) for c in h3.grid_disk(centre, 3)],
                              dtype=np.int64))
    neighbour = h3.str_to_int(h3.grid_ring(centre, 1)[0])
    start = datetime(2024, 3, 4, tzinfo=UTC)
    ts = [start - timedelta(days=200), start - timedelta(days=10), start - timedelta(days=1),
          start, start + timedelta(days=1)]
    events = pl.DataFrame({"cell": [h3.str_to_int(centre)] * 4 + [neighbour],
                           "ts": pl.Series(ts, dtype=pl.Datetime("us", "UTC"))})
    events = events.with_columns(
        pl.when(pl.col("ts") == start - timedelta(days=10)).then(neighbour)
        .otherwise(pl.col("cell")).alias("cell"))
    data = EventData.from_frame(events, resolution=9, area=area)
    X, names = window_features(data, data.events, start=start, horizon=WEEK, holidays="FR")
    row = dict(zip(names, X[np.searchsorted(area, h3.str_to_int(centre))], strict=True))
    other = dict(zip(names, X[np.searchsorted(area, neighbour)], strict=True))
    assert row["count_lag1"] == 1.0 and row["count_lag2"] == 0.0
    assert row["ring1_count_lag2"] == 1.0 and other["count_lag2"] == 1.0
    assert other["ring1_count_lag1"] == 1.0  # the centre's event, seen from its neighbour
    assert row["windows_since_last"] == pytest.approx(1 / 7)
    assert np.isnan(row["count_lag52"])  # before the first incident: unobserved
    # Observed windows start on or after the first incident's day: 28 of them (the 29th began
    # before it, so its incident is not counted); one incident in them.
    assert row["count_mean52"] == pytest.approx(1 / 28)
    assert row["holiday"] == 0.0 and row["month"] == 3.0


def test_holidays() -> None:
    assert easter(2024) == date(2024, 3, 31)
    assert easter(2025) == date(2025, 4, 20)
    assert easter(2038) == date(2038, 4, 25)
    fr = public_holidays(2024, "FR")
    assert {date(2024, 4, 1), date(2024, 5, 9), date(2024, 5, 20), date(2024, 7, 14)} <= fr
    assert date(2024, 7, 4) in public_holidays(2024, "US")
    assert date(2024, 3, 29) in public_holidays(2024, "CA")  # Good Friday
    week = datetime(2024, 7, 8, tzinfo=UTC)
    assert holds_holiday(week, week + WEEK, "FR") and not holds_holiday(week, week + WEEK, "US")
    new_year = datetime(2024, 12, 30, tzinfo=UTC)
    assert holds_holiday(new_year, new_year + WEEK, "CA")
    with pytest.raises(ConfigError):
        public_holidays(2024, "XX")


class Constant(GridForecaster):
    def __init__(self, *, value: float = 1.0) -> None:
        self.value = value

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        self.seen_ = past.height
        self.dispersion_ = self.value / 10

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        return np.full(len(self.area_), self.value) * (horizon / WEEK)

    def explain(self) -> dict[str, Any]:
        return {"value": self.value}


def test_ensemble_averages_its_members(city: City) -> None:
    members = {"a": Constant(value=1.0), "b": Constant(value=5.0)}
    equal = EnsembleForecaster(members=members).fit(city.data, until=UNTIL)
    assert np.allclose(equal.predict(UNTIL, WEEK), 3.0)
    weighted = EnsembleForecaster(members=members, weights={"a": 3.0, "b": 1.0})
    weighted.fit(city.data, until=UNTIL)
    assert np.allclose(weighted.predict(UNTIL, WEEK), 0.75 * 1.0 + 0.25 * 5.0)
    assert np.allclose(weighted.predict(UNTIL, 2 * WEEK), 2 * 2.0)
    assert all(m.seen_ == city.data.before(UNTIL).height for m in members.values())
    assert weighted.dispersion_ == pytest.approx(0.75 * 0.1 + 0.25 * 0.5)
    explanation = weighted.explain()
    assert explanation["weights"] == {"a": 0.75, "b": 0.25}
    assert explanation["members"] == {"a": {"value": 1.0}, "b": {"value": 5.0}}
    with pytest.raises(ConfigError):
        EnsembleForecaster(members=members, weights={"a": 1.0}).fit(city.data, until=UNTIL)
    with pytest.raises(ConfigError):
        EnsembleForecaster(members={}).fit(city.data, until=UNTIL)


def test_ensemble_with_a_boosted_member(city: City, model: BoostedForecaster) -> None:
    ensemble = EnsembleForecaster(members={"boosted": boosted(), "flat": Constant(value=0.5)})
    ensemble.fit(city.data, until=UNTIL)
    expected = 0.5 * model.predict(UNTIL, WEEK) + 0.5 * 0.5
    assert np.allclose(ensemble.predict(UNTIL, WEEK), expected)
    assert ensemble.explain()["members"]["boosted"]["top_features"]
