"""Hotspot forecasters: where incidents clustered, weighted by how near and how recent.

**Retrospective hotspot (grid KDE).** Each cell's score is a kernel-weighted sum of the counts
of the cells within ``bandwidth_rings`` H3 rings over the last ``days`` days, optionally with an
exponential time decay — the grid form of kernel density estimation used as a benchmark in
Chainey, Tompson & Uhlig (2008), "The utility of hotspot mapping for predicting spatial patterns
of crime", *Security Journal* 21.

**Prospective hotspot.** Bowers, Johnson & Pease (2004), "Prospective hot-spotting: the future of
crime mapping?", *British Journal of Criminology* 44: risk spreads from each recent incident to
nearby places for a few weeks (the near-repeat effect), weighted 1/(1 + distance) in space and
1/(1 + weeks ago) in time, within a bandwidth of ``bandwidth_rings`` rings and ``weeks`` weeks.

Both give relative scores; they are turned into expected counts by sharing the recent city-wide
rate in proportion to the scores (:func:`~belvedere.models.base.scale_to_rate`), so that they can
be scored by log-likelihood like the others.

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> import h3, polars as pl
    >>> centre = h3.latlng_to_cell(43.2965, 5.3698, 9)
    >>> area = [h3.str_to_int(c) for c in h3.grid_disk(centre, 3)]
    >>> t0 = datetime(2024, 3, 1, tzinfo=UTC)
    >>> events = pl.DataFrame({"cell": [h3.str_to_int(centre)] * 10,
    ...                        "ts": [t0 - timedelta(days=d) for d in range(10)]})
    >>> data = EventData.from_frame(events, resolution=9, area=np.array(area))
    >>> kde = RetrospectiveKDE(bandwidth_rings=1).fit(data, until=t0)
    >>> scores = kde.predict(t0, timedelta(days=7))
    >>> int(np.argmax(scores)) == list(data.area).index(h3.str_to_int(centre))
    True
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from belvedere.models.base import EventData, GridForecaster, cell_counts, ring_matrix, scale_to_rate


class RetrospectiveKDE(GridForecaster):
    """Grid kernel density of past incidents (retrospective hotspot)."""

    def __init__(self, *, bandwidth_rings: int = 2, kernel: str = "gaussian", days: int = 365,
                 half_life_days: float | None = None) -> None:
        self.bandwidth_rings = bandwidth_rings
        self.kernel = kernel
        self.days = days
        self.half_life_days = half_life_days

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        recent = past.filter(pl.col("ts") >= until - timedelta(days=self.days))
        if self.half_life_days:
            age = (until - recent["ts"]).dt.total_seconds().to_numpy() / 86400.0
            recent = recent.with_columns(
                weight=recent["weight"] * np.power(0.5, age / self.half_life_days))
        counts = cell_counts(recent, data.area)
        self.scores_ = ring_matrix(data.area, self.bandwidth_rings, self.kernel) @ counts
        self.past_ = past
        self.until_fit_ = until

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        return scale_to_rate(self.scores_, self.past_, self.until_fit_, horizon)


class ProspectiveHotspot(GridForecaster):
    """Bowers, Johnson & Pease (2004): near-repeat risk from recent incidents."""

    def __init__(self, *, bandwidth_rings: int = 3, weeks: int = 8) -> None:
        self.bandwidth_rings = bandwidth_rings
        self.weeks = weeks

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        weighted = np.zeros(len(data.area))
        for w in range(self.weeks):
            week = cell_counts(past, data.area, until - timedelta(weeks=w + 1),
                               until - timedelta(weeks=w))
            weighted += week / (1.0 + w)
        self.scores_ = ring_matrix(data.area, self.bandwidth_rings, "inverse") @ weighted
        self.past_ = past
        self.until_fit_ = until

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        return scale_to_rate(self.scores_, self.past_, self.until_fit_, horizon)
