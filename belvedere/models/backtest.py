"""④ The rolling-origin backtest: every forecaster, every window, the same rules.

For each window start ``t`` and each model, a fresh model is built from its factory, fitted on
the events strictly before ``t`` (``fit(data, until=t)``; :class:`GridForecaster` cuts the data
itself), asked for the window ``[t, t + horizon)``, and scored against what then happened there
(:func:`~belvedere.models.metrics.window_metrics`). This is "evaluation on a rolling forecasting
origin" (Tashman 2000, "Out-of-sample tests of forecasting accuracy", *Int. J. Forecasting* 16):
no model ever sees the window it is scored on.

The naive counting baseline is part of every comparison — a model that cannot beat "next week
looks like the last weeks" is not worth its complexity — so the harness refuses to run without a
model named ``naive``.

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> [s.date().isoformat() for s in weekly_starts(datetime(2024, 3, 4, tzinfo=UTC), 3)]
    ['2024-03-04', '2024-03-11', '2024-03-18']
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from belvedere.errors import ConfigError
from belvedere.models.base import EventData, GridForecaster, cell_counts
from belvedere.models.metrics import (
    AREA_FRACTIONS,
    bootstrap_mean,
    calibration,
    cells_for,
    hit_rate_curve,
    window_metrics,
)

BASELINE = "naive"
"""The name the harness requires for the naive counting baseline."""

CURVE_FRACTIONS: np.ndarray = np.geomspace(0.001, 0.20, 50)
"""Area shares (0.1 % … 20 %, log-spaced) at which hit-rate and PAI curves are kept."""

_NOT_METRICS = ("model", "window_start", "fit_s", "predict_s")

Progress = Callable[[str, int, int], None]
"""``progress(label, done, total)``: called after each (window, model) fit-and-score."""


def weekly_starts(first: datetime, count: int) -> list[datetime]:
    """``count`` window starts one week apart, from ``first`` (give it a time zone: UTC)."""
    if count < 0:
        raise ConfigError(f"the number of windows must be non-negative, got {count}")
    return [first + timedelta(weeks=i) for i in range(count)]


@dataclass
class BacktestResult:
    """What a backtest measured.

    Attributes:
        windows: one row per (model, window): ``model``, ``window_start`` (UTC), every metric of
            :func:`window_metrics`, ``fit_s`` and ``predict_s`` (seconds).
        models: model names, the baseline first.
        horizon: the length of each window.
        curve_fractions: the area shares asked for the curves (:data:`CURVE_FRACTIONS`).
        curve_area: the share actually covered at each of them (``k / N`` whole cells).
        curves: per model, hit rates per window × curve fraction (NaN rows: windows without
            events).
        expected: per model, the forecasts of every window concatenated (for calibration).
        observed: the observed counts of every window concatenated, in the same order.
        last_scores: per model, the forecast of the last window (for maps).
        n_cells: the number of cells of the study area.
    """

    windows: pl.DataFrame
    models: tuple[str, ...]
    horizon: timedelta
    curve_fractions: np.ndarray
    curve_area: np.ndarray
    curves: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    observed: np.ndarray
    last_scores: dict[str, np.ndarray]
    n_cells: int

    @property
    def starts(self) -> list[datetime]:
        """The window starts, in order."""
        return sorted(set(self.windows["window_start"].to_list()))

    @property
    def last_start(self) -> datetime:
        """The start of the window whose forecasts :attr:`last_scores` holds."""
        return self.starts[-1]

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metric columns of :attr:`windows`, in :func:`window_metrics` order."""
        return tuple(c for c in self.windows.columns if c not in _NOT_METRICS)

    def summary(self, *, reps: int = 1000, level: float = 0.95,
                random_state: int | None = 0) -> pl.DataFrame:
        """Per model and metric: the mean over windows and its bootstrap interval.

        Columns ``model``, ``metric``, ``mean``, ``low``, ``high`` (:func:`bootstrap_mean` at
        ``level``) and ``windows`` (how many windows had a value: ranking metrics skip windows
        without events). Models in :attr:`models` order, the baseline first.
        """
        rows: list[dict[str, Any]] = []
        for name in self.models:
            table = self.windows.filter(pl.col("model") == name)
            for metric in (*self.metric_names, "fit_s", "predict_s"):
                values = table[metric].to_numpy().astype(np.float64)
                mean, low, high = bootstrap_mean(values, reps=reps, level=level,
                                                 random_state=random_state)
                rows.append({"model": name, "metric": metric, "mean": mean, "low": low,
                             "high": high, "windows": int(np.isfinite(values).sum())})
        return pl.DataFrame(rows, schema={"model": pl.String, "metric": pl.String,
                                          "mean": pl.Float64, "low": pl.Float64,
                                          "high": pl.Float64, "windows": pl.Int64})

    def hit_rate_curve(self, model: str) -> np.ndarray:
        """Mean hit rate over windows at each :attr:`curve_area` share (NaN if no window had
        events)."""
        curve = self.curves[model]
        finite = np.isfinite(curve).all(axis=1)
        if not finite.any():
            return np.full(curve.shape[1], np.nan)
        return curve[finite].mean(axis=0)

    def pai_curve(self, model: str) -> np.ndarray:
        """Mean PAI over windows at each :attr:`curve_area` share."""
        return self.hit_rate_curve(model) / self.curve_area

    def calibration(self, model: str, bins: int = 10) -> pl.DataFrame:
        """The calibration table of ``model`` over all windows' cells pooled."""
        return calibration(self.expected[model], self.observed, bins=bins)

    def to_dict(self) -> dict[str, Any]:
        """Everything :meth:`to_json` writes: plain types, ISO times, NaN as ``None``."""
        windows = [{**row, "window_start": row["window_start"].isoformat()}
                   for row in self.windows.to_dicts()]
        return _clean({
            "format": "belvedere.backtest/1",
            "training_rule": "each model is fitted only on data strictly before each window",
            "horizon_seconds": self.horizon.total_seconds(),
            "starts": [s.isoformat() for s in self.starts],
            "models": list(self.models),
            "n_cells": self.n_cells,
            "area_fractions": list(AREA_FRACTIONS),
            "metrics": list(self.metric_names),
            "summary": self.summary().to_dicts(),
            "windows": windows,
            "curves": {
                "area_fraction": self.curve_fractions.tolist(),
                "area_covered": self.curve_area.tolist(),
                "hit_rate": {m: self.hit_rate_curve(m).tolist() for m in self.models},
                "pai": {m: self.pai_curve(m).tolist() for m in self.models},
            },
            "calibration": {m: self.calibration(m).to_dicts() for m in self.models},
        })

    def to_json(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON (sorted keys, strict JSON: no NaN); returns the path."""
        out = Path(path)
        out.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True, allow_nan=False)
                       + "\n", encoding="utf-8")
        return out


def _clean(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become ``None`` (strict JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def backtest(data: EventData, models: Mapping[str, Callable[[], GridForecaster]], *,
             starts: list[datetime], horizon: timedelta,
             progress: Progress | None = None) -> BacktestResult:
    """Fit and score every model on every window; see the module doc for the rules.

    Args:
        data: events and study area.
        models: name → factory returning a fresh, unfitted forecaster. Must include ``naive``.
        starts: window starts (tz-aware, UTC); each model is fitted with ``until=start``.
        horizon: length of every window.
        progress: optional ``progress(label, done, total)`` callback (the CLI's progress bar).

    Raises:
        ConfigError: no ``naive`` model, no window, a non-positive horizon, a naive (time-zone
            free) start, or a forecast of the wrong length.
    """
    if BASELINE not in models:
        raise ConfigError(f"a backtest compares every model with the naive counting baseline: "
                          f"give a model named {BASELINE!r} (got {sorted(models)})")
    if not starts:
        raise ConfigError("a backtest needs at least one window start")
    if horizon <= timedelta(0):
        raise ConfigError(f"the forecast horizon must be positive, got {horizon}")
    if any(s.tzinfo is None for s in starts):
        raise ConfigError("window starts must carry a time zone (UTC), like the events")
    if not len(data.area):
        raise ConfigError("the study area has no cell")
    names = (BASELINE, *(n for n in models if n != BASELINE))
    ordered = sorted(s.astimezone(UTC) for s in starts)
    n_cells = len(data.area)
    curve_area = np.array([cells_for(float(f), n_cells) for f in CURVE_FRACTIONS]) / n_cells

    rows: list[dict[str, Any]] = []
    curves: dict[str, list[np.ndarray]] = {n: [] for n in names}
    expected: dict[str, list[np.ndarray]] = {n: [] for n in names}
    observed: list[np.ndarray] = []
    last: dict[str, np.ndarray] = {}
    total, done = len(ordered) * len(names), 0
    for start in ordered:
        truth = cell_counts(data.events, data.area, start, start + horizon)
        observed.append(truth)
        for name in names:
            model = models[name]()
            t0 = time.perf_counter()
            model.fit(data, until=start)
            t1 = time.perf_counter()
            scores = np.asarray(model.predict(start, horizon), dtype=np.float64)
            t2 = time.perf_counter()
            if scores.shape != truth.shape:
                raise ConfigError(f"model {name!r} forecast {scores.shape} values for "
                                  f"{n_cells} cells of the study area")
            rows.append({"model": name, "window_start": start,
                         **window_metrics(scores, truth), "fit_s": t1 - t0, "predict_s": t2 - t1})
            curves[name].append(hit_rate_curve(scores, truth, CURVE_FRACTIONS))
            expected[name].append(scores)
            last[name] = scores
            done += 1
            if progress is not None:
                progress(f"{name} @ {start:%Y-%m-%d %H:%M}", done, total)

    windows = pl.DataFrame(rows).with_columns(
        pl.col("window_start").cast(pl.Datetime("us", "UTC")))
    return BacktestResult(
        windows=windows, models=names, horizon=horizon,
        curve_fractions=CURVE_FRACTIONS.copy(), curve_area=curve_area,
        curves={n: np.vstack(c) for n, c in curves.items()},
        expected={n: np.concatenate(e) for n, e in expected.items()},
        observed=np.concatenate(observed), last_scores=last, n_cells=n_cells,
    )
