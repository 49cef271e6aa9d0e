"""④ What a place-based forecaster takes and gives, and what every one of them shares.

Every forecaster follows scikit-learn's conventions: a keyword-only ``__init__`` that only
stores its parameters, ``fit(data, until=...)`` returning ``self``, learned state in attributes
ending in ``_``, and an explicit ``random_state`` where chance enters. It forecasts **expected
counts per H3 cell** of a study area for a time window — places, never people.

Input is :class:`EventData`: point events already on the grid (cell, time, category, origin) and
the study area's cells. A forecaster fitted with ``until=t`` sees only events strictly before
``t`` (:meth:`GridForecaster.fit` cuts them itself, so a model cannot peek), and it may only
forecast windows starting at or after ``t``.

Feedback loops (Ensign et al., 2018, "Runaway feedback loops in predictive policing", FAT*):
incidents *discovered by patrols* measure where the police went as much as where crime is. A
model trained on them, then used to send patrols, feeds on its own output. :func:`check_feedback`
refuses such a training set unless it carries propensity weights (the inverse of how likely a
patrol was to be there) — see ``docs/models.md``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Self

import h3
import numpy as np
import polars as pl
from scipy import sparse, stats

from belvedere.errors import ConfigError
from belvedere.grid.cells import parents

PATROL = "discovered_by_patrol"
EVENT_SCHEMA = {"cell": pl.Int64, "ts": pl.Datetime("us", "UTC"), "category": pl.String,
                "origin": pl.String, "weight": pl.Float64}


class FeedbackLoopRisk(ConfigError):
    """Training on patrol-discovered incidents without propensity weights (Ensign et al. 2018)."""


@dataclass(frozen=True)
class EventData:
    """Point events on the grid and the study area.

    Attributes:
        events: columns ``cell`` (H3 int64 at ``resolution``), ``ts`` (UTC), ``category``,
            ``origin``, ``weight`` (1.0, or a propensity weight).
        area: the study area's cells (sorted, unique int64 at ``resolution``); forecasts are
            given for every one of them, in this order.
        resolution: H3 resolution of ``cell`` and ``area``.
        propensity_weighted: ``weight`` holds inverse patrol propensities (see module doc).
        covariates: other feeds on the same grid, by name: frames with ``cell``, ``ts`` and
            ``value`` (crowd counts, boardings, ED arrivals…), for cross-source models.
        planned: planned events: ``cell``, ``start``, ``end``, ``expected_attendance``.
    """

    events: pl.DataFrame
    area: np.ndarray
    resolution: int
    propensity_weighted: bool = False
    covariates: dict[str, pl.DataFrame] = field(default_factory=dict)
    planned: pl.DataFrame | None = None

    @classmethod
    def from_frame(cls, events: pl.DataFrame, *, resolution: int,
                   area: np.ndarray | None = None, **kwargs: Any) -> EventData:
        """Normalise ``events`` (cells coarsened to ``resolution``; missing columns filled) and
        take the area as the cells seen, unless given."""
        frame = events
        if "weight" not in frame.columns:
            frame = frame.with_columns(weight=pl.lit(1.0))
        for name in ("category", "origin"):
            if name not in frame.columns:
                frame = frame.with_columns(pl.lit("").alias(name))
        frame = frame.select(list(EVENT_SCHEMA)).cast(EVENT_SCHEMA)  # type: ignore[arg-type]
        frame = frame.filter(pl.col("cell").is_not_null() & pl.col("ts").is_not_null())
        cells = frame["cell"].to_numpy()
        frame = frame.with_columns(cell=pl.Series(coarsen(cells, resolution)))
        if area is None:
            area = np.unique(frame["cell"].to_numpy())
        area = np.unique(np.asarray(area, dtype=np.int64))
        frame = frame.filter(pl.col("cell").is_in(area)).sort("ts")
        return cls(events=frame, area=area, resolution=resolution, **kwargs)

    def before(self, t: datetime) -> pl.DataFrame:
        """Events strictly before ``t``."""
        return self.events.filter(pl.col("ts") < t)

    def categories(self, *names: str) -> EventData:
        """Only events of these categories (all when none given)."""
        if not names:
            return self
        return replace(self, events=self.events.filter(pl.col("category").is_in(list(names))))

    def without_patrol_discoveries(self) -> EventData:
        """Drop incidents discovered by patrols (the simplest guard against feedback loops)."""
        return replace(self, events=self.events.filter(pl.col("origin") != PATROL))


def coarsen(cells: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cells (int64) at ``resolution`` (cells already that coarse are kept)."""
    out = np.asarray(cells, dtype=np.int64).copy()
    finer = ((out >> 52) & 0xF) > resolution
    out[finer] = parents(out[finer], resolution)
    return out


def check_feedback(data: EventData) -> None:
    """Refuse training on patrol-discovered incidents without propensity weights."""
    if data.propensity_weighted:
        return
    patrol = int((data.events["origin"] == PATROL).sum())
    if patrol:
        raise FeedbackLoopRisk(
            f"{patrol} training incidents were discovered by patrols: they record where patrols "
            "went as much as where incidents happen, and a model trained on them sends patrols "
            "back to the same places (a runaway feedback loop, Ensign et al. 2018). Train "
            "without them (EventData.without_patrol_discoveries()) or give propensity weights "
            "(events.weight = 1 / patrol presence, propensity_weighted=True)."
        )


def cell_counts(events: pl.DataFrame, area: np.ndarray, start: datetime | None = None,
                end: datetime | None = None) -> np.ndarray:
    """Weighted event counts per area cell (in ``area`` order) over ``[start, end)``."""
    frame = events
    if start is not None:
        frame = frame.filter(pl.col("ts") >= start)
    if end is not None:
        frame = frame.filter(pl.col("ts") < end)
    out = np.zeros(len(area), dtype=np.float64)
    if frame.height:
        index = np.searchsorted(area, frame["cell"].to_numpy())
        np.add.at(out, index, frame["weight"].to_numpy())
    return out


_RINGS: dict[tuple[int, int, int, str], sparse.csr_matrix] = {}


def ring_matrix(area: np.ndarray, k: int, weight: str = "inverse") -> sparse.csr_matrix:
    """Sparse matrix ``W[i, j]`` = weight of cell j for cell i, for j within ``k`` rings of i.

    ``weight``: ``inverse`` → 1 / (1 + grid distance); ``gaussian`` → exp(-d² / 2k²) (k ≥ 1);
    ``flat`` → 1. Cached per area: a backtest asks for the same matrix at every window.
    """
    key = (hash(area.tobytes()), len(area), k, weight)
    if key not in _RINGS:
        if len(_RINGS) > 32:
            _RINGS.clear()
        _RINGS[key] = _ring_matrix(area, k, weight)
    return _RINGS[key]


def _ring_matrix(area: np.ndarray, k: int, weight: str) -> sparse.csr_matrix:
    index = {int(c): i for i, c in enumerate(area)}
    rows, cols, vals = [], [], []
    for i, c in enumerate(area):
        origin = h3.int_to_str(int(c))
        for d in range(k + 1):
            ring = h3.grid_ring(origin, d) if d else [origin]
            for n in ring:
                j = index.get(h3.str_to_int(n))
                if j is None:
                    continue
                rows.append(i)
                cols.append(j)
                if weight == "inverse":
                    vals.append(1.0 / (1.0 + d))
                elif weight == "gaussian":
                    vals.append(float(np.exp(-(d * d) / (2.0 * max(k, 1) ** 2))))
                else:
                    vals.append(1.0)
    return sparse.csr_matrix((vals, (rows, cols)), shape=(len(area), len(area)))


class GridForecaster:
    """Shared behaviour: the fit/predict contract, leakage and feedback guards, intervals."""

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters and their values (scikit-learn convention)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def fit(self, data: EventData, *, until: datetime) -> Self:
        """Learn from events strictly before ``until``; returns ``self``."""
        check_feedback(data)
        self.area_ = data.area
        self.resolution_ = data.resolution
        self.until_ = until
        self._fit(data, data.before(until), until)
        return self

    def predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        """Expected counts per area cell over ``[start, start + horizon)`` (area order)."""
        if not hasattr(self, "until_"):
            raise ConfigError(f"{type(self).__name__} is not fitted: call fit() first")
        if start < self.until_:
            raise ConfigError(f"forecast window starts {start.isoformat()}, before the end of "
                              f"the training data {self.until_.isoformat()}: that would leak")
        expected = np.asarray(self._predict(start, horizon), dtype=np.float64)
        return np.clip(np.nan_to_num(expected, nan=0.0, posinf=0.0), 0.0, None)

    def predict_interval(self, start: datetime, horizon: timedelta, *, level: float = 0.9
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``level`` prediction interval of each cell's count (Poisson, or negative
        binomial when the model estimated an over-dispersion ``dispersion_`` > 0)."""
        mu = self.predict(start, horizon)
        tail = (1.0 - level) / 2.0
        alpha = float(getattr(self, "dispersion_", 0.0) or 0.0)
        if alpha > 0:
            # NB with mean mu and variance mu + alpha mu²: n = 1/alpha, p = n / (n + mu).
            n = 1.0 / alpha
            p = n / (n + np.maximum(mu, 1e-12))
            low, high = stats.nbinom.ppf(tail, n, p), stats.nbinom.ppf(1 - tail, n, p)
        else:
            low, high = stats.poisson.ppf(tail, mu), stats.poisson.ppf(1 - tail, mu)
        return np.nan_to_num(low), np.nan_to_num(high)

    def explain(self) -> dict[str, Any]:
        """What drives the forecast (model-specific); empty by default."""
        return {}

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        raise NotImplementedError

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        raise NotImplementedError


def scale_to_rate(scores: np.ndarray, past: pl.DataFrame, until: datetime, horizon: timedelta,
                  *, lookback: timedelta = timedelta(days=365)) -> np.ndarray:
    """Turn relative risk scores into expected counts: the recent city-wide rate over
    ``lookback``, times ``horizon``, shared in proportion to the scores."""
    recent = past.filter(pl.col("ts") >= until - lookback)
    if not recent.height or scores.sum() <= 0:
        return np.zeros_like(scores)
    first: datetime = recent["ts"].min()  # type: ignore[assignment]
    # A short history (a new city) is a rate over the span it covers, not over the lookback.
    span = max(min(lookback, until - first), timedelta(days=1))
    total = float(recent["weight"].sum()) * (horizon / span)
    return scores / scores.sum() * total


class PeriodicRefit(GridForecaster):
    """Refit ``model`` only when its training data is older than ``every`` (monthly retraining
    of a weekly forecast, as an operational service runs it).

    Between refits the model forecasts later windows from what it learnt before its last
    ``until`` — never from anything after it, so a backtest stays honest. Give the *same*
    instance to every window of a backtest (the factory returns it) to get the saving.
    """

    def __init__(self, *, model: GridForecaster, every: timedelta = timedelta(days=28)) -> None:
        self.model = model
        self.every = every

    def fit(self, data: EventData, *, until: datetime) -> Self:
        """Refit when ``until`` is ``every`` past the last fit (or the data changed)."""
        last = getattr(self.model, "until_", None)
        if (last is None or getattr(self, "data_", None) is not data or until < last
                or until - last >= self.every):
            self.model.fit(data, until=until)
            self.data_ = data
        self.area_ = data.area
        self.resolution_ = data.resolution
        self.until_ = until
        return self

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        return self.model.predict(start, horizon)

    def explain(self) -> dict[str, Any]:
        """The wrapped model's explanation, and when it was last fitted."""
        return {"last_fit": str(getattr(self.model, "until_", None)), **self.model.explain()}
