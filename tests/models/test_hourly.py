"""Hour-by-hour forecasts: the window total shared out by the city's weekly rhythm."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from belvedere.errors import ConfigError
from belvedere.models.base import EventData
from belvedere.models.hourly import hourly_forecast, hours_of_week, week_profile
from belvedere.models.registry import forecaster


def _data() -> EventData:
    """Eight weeks of incidents in two cells, every evening at 21 h Paris time (19 h UTC in
    summer), plus one at noon a week."""
    rng = np.random.default_rng(1)
    start = datetime(2024, 6, 3, tzinfo=UTC)
    ts, cells = [], []
    for day in range(56):
        for _ in range(rng.poisson(6)):
            ts.append(start + timedelta(days=day, hours=19))
            cells.append(613499451494891519 if rng.random() < 0.7 else 613499451501182975)
        if day % 7 == 0:
            ts.append(start + timedelta(days=day, hours=10))
            cells.append(613499451494891519)
    frame = pl.DataFrame({"cell": cells, "ts": ts},
                         schema={"cell": pl.Int64, "ts": pl.Datetime("us", "UTC")})
    return EventData.from_frame(frame, resolution=8)


def test_hours_of_week_follow_paris_time_across_the_clock_change() -> None:
    # 27 October 2024: 03:00 summer time becomes 02:00 winter time (01:00 UTC).
    hours = hours_of_week(datetime(2024, 10, 26, 22, tzinfo=UTC), 5)
    assert hours.tolist() == [5 * 24 + 24 + 0, 6 * 24 + 1, 6 * 24 + 2, 6 * 24 + 2, 6 * 24 + 3]


def test_week_profile_sums_to_one_and_peaks_in_the_evening() -> None:
    data = _data()
    profile = week_profile(data.events["ts"], start=datetime(2024, 7, 29, tzinfo=UTC), weeks=8)
    assert profile.sum() == pytest.approx(1.0)
    assert int(profile.argmax()) % 24 == 21  # 19 h UTC is 21 h in Paris in summer
    assert profile.min() > 0  # an hour never seen is not impossible


def test_hourly_forecast_shares_the_models_window_total() -> None:
    data = _data()
    start = datetime(2024, 7, 29, 6, tzinfo=UTC)
    rows = hourly_forecast(data, start=start, hours=24, model="recent")
    assert rows.height == 24 * len(data.area)
    total = forecaster("recent", horizon_days=1).fit(data, until=start).predict(
        start, timedelta(hours=24))
    per_cell = rows.group_by("cell").agg(pl.col("expected").sum()).sort("cell")
    assert per_cell["expected"].to_numpy() == pytest.approx(total)
    per_hour = rows.group_by("hour").agg(pl.col("expected").sum()).sort("hour")
    evening = per_hour.filter(pl.col("hour") == datetime(2024, 7, 29, 19, tzinfo=UTC))
    assert float(evening["expected"][0]) > 0.5 * float(per_hour["expected"].sum())


def test_hours_out_of_range_or_naive_start_are_refused() -> None:
    with pytest.raises(ConfigError):
        hourly_forecast(_data(), start=datetime(2024, 7, 29, tzinfo=UTC), hours=0)
    with pytest.raises(ConfigError):
        hourly_forecast(_data(), start=datetime(2024, 7, 29), hours=24)
