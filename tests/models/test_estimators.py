"""One battery of checks, run over every forecaster belvedere ships (scikit-learn style)."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import h3
import numpy as np
import polars as pl
import pytest

from belvedere.errors import ConfigError
from belvedere.models.base import PATROL, EventData, FeedbackLoopRisk, GridForecaster
from belvedere.models.registry import forecasters

T0 = datetime(2024, 1, 1, tzinfo=UTC)
UNTIL = T0 + timedelta(days=200)
WEEK = timedelta(days=7)
NAMES = sorted(forecasters())


def city(seed: int = 0, days: int = 200) -> EventData:
    """A small grid (three rings around a centre) with a stable hotspot and some noise."""
    rng = np.random.default_rng(seed)
    centre = h3.latlng_to_cell(43.2965, 5.3698, 9)
    cells = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, 3)), dtype=np.int64)
    rates = rng.gamma(0.5, 0.05, len(cells))
    rates[len(cells) // 2] = 1.0  # a hotspot
    counts = rng.poisson(rates * days)
    cell = np.repeat(cells, counts)
    seconds = rng.integers(0, days * 86400, len(cell))
    frame = pl.DataFrame({
        "cell": cell, "ts": [T0 + timedelta(seconds=int(s)) for s in seconds],
        "category": rng.choice(["theft", "assault"], len(cell)),
        "origin": "reported_by_public"})
    return EventData.from_frame(frame, resolution=9, area=cells)


def fresh(name: str) -> GridForecaster:
    return forecasters(horizon_days=7)[name]()


@pytest.mark.parametrize("name", NAMES)
def test_init_only_stores_keyword_only_parameters(name: str) -> None:
    model = fresh(name)
    params = inspect.signature(type(model).__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    assert set(model.get_params()) == {n for n in params if n != "self"}
    assert not [k for k in vars(model) if k.endswith("_")]


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_learned_state_ends_with_underscore(name: str) -> None:
    model = fresh(name)
    before = set(vars(model))
    assert model.fit(city(), until=UNTIL) is model
    # Public learned state ends with "_"; private caches start with "_" (scikit-learn's rule).
    assert all(k.endswith("_") or k.startswith("_") for k in set(vars(model)) - before)


@pytest.mark.parametrize("name", NAMES)
def test_forecast_is_finite_non_negative_and_one_value_per_area_cell(name: str) -> None:
    data = city()
    mu = fresh(name).fit(data, until=UNTIL).predict(UNTIL, WEEK)
    assert mu.shape == (len(data.area),)
    assert np.isfinite(mu).all() and (mu >= 0).all() and mu.sum() > 0
    # The hotspot is the most expected cell.
    assert int(np.argmax(mu)) == len(data.area) // 2


@pytest.mark.parametrize("name", NAMES)
def test_nothing_at_or_after_until_is_used(name: str) -> None:
    data = city()
    future = pl.DataFrame({"cell": [int(data.area[0])] * 50,
                           "ts": [UNTIL + timedelta(hours=h) for h in range(50)],
                           "category": "theft", "origin": "reported_by_public"})
    leaky = EventData.from_frame(pl.concat([data.events.select("cell", "ts", "category",
                                                               "origin"), future]),
                                 resolution=9, area=data.area)
    a = fresh(name).fit(data, until=UNTIL).predict(UNTIL, WEEK)
    b = fresh(name).fit(leaky, until=UNTIL).predict(UNTIL, WEEK)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_a_window_before_the_training_end_is_refused(name: str) -> None:
    model = fresh(name).fit(city(), until=UNTIL)
    with pytest.raises(ConfigError, match="leak"):
        model.predict(UNTIL - timedelta(days=1), WEEK)


@pytest.mark.parametrize("name", NAMES)
def test_same_data_same_forecast(name: str) -> None:
    a = fresh(name).fit(city(), until=UNTIL).predict(UNTIL, WEEK)
    b = fresh(name).fit(city(), until=UNTIL).predict(UNTIL, WEEK)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_no_history_gives_zeros_not_errors(name: str) -> None:
    data = city()
    empty = EventData(events=data.events.clear(), area=data.area, resolution=9)
    mu = fresh(name).fit(empty, until=UNTIL).predict(UNTIL, WEEK)
    assert mu.shape == (len(data.area),) and (mu == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_intervals_bracket_the_expected_count(name: str) -> None:
    model = fresh(name).fit(city(), until=UNTIL)
    mu = model.predict(UNTIL, WEEK)
    low, high = model.predict_interval(UNTIL, WEEK, level=0.9)
    assert (low <= np.floor(mu) + 1).all() and (high >= np.floor(mu)).all() and (low <= high).all()


@pytest.mark.parametrize("name", NAMES)
def test_patrol_discoveries_without_propensity_weights_are_refused(name: str) -> None:
    data = city()
    patrolled = EventData.from_frame(data.events.with_columns(origin=pl.lit(PATROL)),
                                     resolution=9, area=data.area)
    with pytest.raises(FeedbackLoopRisk):
        fresh(name).fit(patrolled, until=UNTIL)


@pytest.mark.parametrize("name", NAMES)
def test_explain_is_json_friendly(name: str) -> None:
    import json

    model = fresh(name).fit(city(), until=UNTIL)
    model.predict(UNTIL, WEEK)
    json.dumps(model.explain(), default=str)
