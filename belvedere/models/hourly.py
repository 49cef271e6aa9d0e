"""The next hours, cell by cell: a grid forecaster's window total shared out by the hour of week.

The forecasters of :mod:`belvedere.models.registry` say *where* over a window (expected counts
per cell over the next 24 hours, say); the supervision centre's timeline also needs *when*.
:func:`hourly_forecast` combines the two in a separable space–time model:

    E[y(c, h)] = F(c) · w(how(h)) / Σ_{h' in window} w(how(h'))

with ``F(c)`` the forecaster's expected count for cell *c* over the whole window and ``w`` the
city's share of incidents per local hour of week over the ``profile_weeks`` weeks before the
start (Marseille time, so that Saturday night is Saturday night in summer and winter), with
one incident added to every hour of week so that an hour never seen is not declared impossible.
The split assumes every cell follows the city's weekly rhythm: cells whose rhythm differs
(a night-life street, a market) get the right daily total at the city's hours.

Example:
    >>> from datetime import datetime, UTC
    >>> import numpy as np, polars as pl
    >>> ts = [datetime(2024, 9, 2, 20, tzinfo=UTC)] * 5 + [datetime(2024, 9, 3, 8, tzinfo=UTC)]
    >>> w = week_profile(pl.Series(ts), start=datetime(2024, 9, 9, tzinfo=UTC), weeks=1)
    >>> w.shape, bool(w[22] > w[10] > w[0])  # Monday 22 h local beats Tuesday 10 h
    ((168,), True)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from belvedere.errors import ConfigError
from belvedere.models.base import EventData
from belvedere.models.registry import forecaster

CITY_TZ = "Europe/Paris"
HOUR = timedelta(hours=1)


def week_profile(ts: pl.Series, *, start: datetime, weeks: int) -> np.ndarray:
    """Share of incidents per local hour of week (Monday 00 h first) over the ``weeks`` weeks
    before ``start``, each hour given one incident more (sums to 1)."""
    since = start - timedelta(weeks=weeks)
    local = (pl.DataFrame({"ts": ts})
             .filter((pl.col("ts") >= since) & (pl.col("ts") < start))
             .select(pl.col("ts").dt.convert_time_zone(CITY_TZ)))["ts"]
    how = ((local.dt.weekday().cast(pl.Int32) - 1) * 24 + local.dt.hour().cast(pl.Int32)).to_numpy()
    counts = np.bincount(how, minlength=168).astype(float) + 1.0
    return counts / counts.sum()


def hours_of_week(start: datetime, hours: int) -> np.ndarray:
    """Local hour of week of each UTC hour ``start + i`` (Monday 00 h = 0)."""
    tz = ZoneInfo(CITY_TZ)
    local = [(start + i * HOUR).astimezone(tz) for i in range(hours)]
    return np.array([t.weekday() * 24 + t.hour for t in local], dtype=np.int64)


def hourly_forecast(data: EventData, *, start: datetime, hours: int = 24, model: str = "kde",
                    profile_weeks: int = 8) -> pl.DataFrame:
    """Expected incidents per area cell and UTC hour over ``[start, start + hours)``.

    ``model`` is fitted on the events strictly before ``start`` (see
    :meth:`GridForecaster.fit`). Returns columns ``cell`` (int64), ``hour`` (UTC start),
    ``expected``; cells in the area order, hours ascending.
    """
    if not 1 <= hours <= 168:
        raise ConfigError(f"hours must be between 1 and 168, got {hours}")
    if start.tzinfo is None:
        raise ConfigError("the forecast start must carry a time zone")
    start = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    window = hours * HOUR
    fitted = forecaster(model, horizon_days=max(1, round(window / timedelta(days=1))))
    total = fitted.fit(data, until=start).predict(start, window)
    weights = week_profile(data.events["ts"], start=start, weeks=profile_weeks)[
        hours_of_week(start, hours)]
    share = weights / weights.sum()
    stamps = [(start + i * HOUR).replace(tzinfo=None) for i in range(hours)]
    return pl.DataFrame({
        "cell": np.tile(data.area.astype(np.int64), hours),
        "hour": pl.Series(np.repeat(np.array(stamps, dtype="datetime64[us]"), len(data.area)))
        .dt.replace_time_zone("UTC"),
        "expected": np.outer(share, total).ravel(),
    })
