"""Counting baselines: what happened here before is what will happen here next.

The naive counting forecast (the field's reference baseline, e.g. in Mohler et al. 2015 and
every NIJ challenge) gives each cell its count over the previous year, scaled to the window.
The recent counting forecast does the same over the last few weeks. Every backtest includes the
naive baseline, so that any model's gain is measured against it.

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> import numpy as np, polars as pl
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> events = pl.DataFrame({"cell": [617700169958293503] * 52 + [617700169958031359] * 26,
    ...     "ts": [t0 + timedelta(days=7 * i) for i in range(52)]
    ...           + [t0 + timedelta(days=14 * i) for i in range(26)]})
    >>> data = EventData.from_frame(events, resolution=9)
    >>> naive = NaiveCounting().fit(data, until=t0 + timedelta(days=365))
    >>> np.round(naive.predict(t0 + timedelta(days=365), timedelta(days=7)), 2).tolist()
    [0.5, 1.0]
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from belvedere.models.base import EventData, GridForecaster, cell_counts


class NaiveCounting(GridForecaster):
    """Each cell's count over the previous ``days`` days, scaled to the window's length."""

    def __init__(self, *, days: int = 365) -> None:
        self.days = days

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        span = timedelta(days=self.days)
        self.counts_ = cell_counts(past, data.area, until - span, until)
        self.span_ = span

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        return self.counts_ * (horizon / self.span_)


class RecentCounting(NaiveCounting):
    """The same over a short recent span (default four weeks): quick to follow a change."""

    def __init__(self, *, days: int = 28) -> None:
        super().__init__(days=days)
