"""④ Boosted cross-source forecaster: LightGBM (Poisson) on lagged, ring, covariate, planned-event
and calendar features (:mod:`belvedere.models.features`) — environmental, temporal and event
variables only, never attributes of residents.

Training set. Windows have the model's length ``horizon_days``. For each of the last
``training_windows`` windows ``[s, s + h)`` before ``until`` (so ``s + h ≤ until``), the features
are computed at ``s`` from incidents and covariates strictly before ``s``, and the target is the
cell's (weighted) count in the window. Nothing at or after ``until`` is read: the incidents are
cut by :meth:`GridForecaster.fit`, the covariates here. Windows that start before the observed
history (the day of the first incident) are skipped. To stay fast on thousands of cells, rows
whose target is 0 are sub-sampled (all positives kept; a fraction ``zero_fraction`` of the zeros,
weighted 1 / ``zero_fraction`` so the Poisson fit stays unbiased).

Forecast. The features of ``[start, start + h)`` are computed from everything before ``until``.
When ``start > until`` the lags still end at ``until`` (lag 1 is the last window before
``until``, not before ``start``): the model cannot know what happened in between. Planned events
and the calendar use the forecast window itself. A horizon other than ``horizon_days`` is cut
into model windows whose forecasts are summed (the last, partial one pro rata).

Over-dispersion. ``dispersion_`` is the negative-binomial α (variance μ + α μ²) estimated by the
method of moments on the (weighted) training rows' residuals, α = Σ w[(y − μ)² − μ] / Σ w μ²
(clipped at 0), so that :meth:`predict_interval` gives negative-binomial intervals. In-sample
residuals are a little optimistic, so α is, if anything, an underestimate.

Explanations (:meth:`explain`): the top 10 features by mean |SHAP| (LightGBM's TreeSHAP,
``pred_contrib=True``; in log expected count) over the 100 highest-forecast cells of the latest
forecast window (or of the window starting at ``until``), and the global gain importance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from belvedere.errors import ConfigError
from belvedere.models.base import EventData, GridForecaster, cell_counts
from belvedere.models.features import (
    DEFAULT_LAGS,
    DEFAULT_RINGS,
    FeatureCache,
    as_utc,
    top_categories,
    utc,
    window_counts,
    window_features,
    windows_features,
)

_US = timedelta(microseconds=1)


class BoostedForecaster(GridForecaster):
    """LightGBM with a Poisson objective on per-cell window features.

    Args:
        horizon_days: length of the model's windows (lags, training targets) in days.
        training_windows: how many windows before ``until`` make the training set.
        zero_fraction: share of zero-target rows kept (weighted by its inverse), in (0, 1].
        num_leaves, learning_rate, n_estimators, min_child_samples, feature_fraction: LightGBM's.
        random_state: seed of the zero sub-sampling and of LightGBM.
        n_jobs: LightGBM threads.
        categories_top: how many of the most frequent categories get their own counts.
        lags: lags of the count features, in windows.
        rings: k-rings (centre excluded) over which counts and covariates are summed.
        holidays: country of the public-holiday flag (``"FR"``, ``"CA"``, ``"US"`` or ``None``).
    """

    def __init__(
        self,
        *,
        horizon_days: float = 7,
        training_windows: int = 26,
        zero_fraction: float = 0.2,
        num_leaves: int = 31,
        learning_rate: float = 0.05,
        n_estimators: int = 300,
        min_child_samples: int = 50,
        feature_fraction: float = 0.9,
        random_state: int = 0,
        n_jobs: int = 2,
        categories_top: int = 5,
        lags: Sequence[int] = DEFAULT_LAGS,
        rings: Sequence[int] = DEFAULT_RINGS,
        holidays: str | None = "FR",
    ) -> None:
        self.horizon_days = horizon_days
        self.training_windows = training_windows
        self.zero_fraction = zero_fraction
        self.num_leaves = num_leaves
        self.learning_rate = learning_rate
        self.n_estimators = n_estimators
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.categories_top = categories_top
        self.lags = lags
        self.rings = rings
        self.holidays = holidays

    # -- fitting --------------------------------------------------------------------------------

    def _check_params(self) -> timedelta:
        if not self.horizon_days or self.horizon_days <= 0:
            raise ConfigError(f"horizon_days must be positive, got {self.horizon_days}")
        if self.training_windows < 1:
            raise ConfigError(f"training_windows must be ≥ 1, got {self.training_windows}")
        if not 0 < self.zero_fraction <= 1:
            raise ConfigError(f"zero_fraction must be within (0, 1], got {self.zero_fraction}")
        return timedelta(days=self.horizon_days)

    def _features(self, start: datetime, horizon: timedelta, lag_end: datetime
                  ) -> tuple[np.ndarray, list[str]]:
        return window_features(
            self.data_, self.data_.events, start=start, horizon=horizon, lags=self.lags,
            rings=self.rings, categories=self.categories_, holidays=self.holidays,
            lag_end=lag_end, observed_from=self.observed_from_, cache=self._cache)

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        h = self._check_params()
        until = utc(until)
        self.horizon_ = h
        covariates = {name: as_utc(frame, "ts").filter(pl.col("ts") < until)
                      for name, frame in data.covariates.items()}
        # Everything the model may read later: nothing at or after ``until`` but the schedule.
        self.data_ = replace(data, events=past, covariates=covariates)
        self._cache = FeatureCache(data.area)
        self._last: tuple[datetime, np.ndarray] | None = None
        self._fallback = np.zeros(len(data.area))
        self.categories_ = top_categories(past, self.categories_top)
        self.observed_from_: datetime | None = None
        if past.height:
            first = utc(past["ts"].min())  # type: ignore[arg-type]
            self.observed_from_ = datetime(first.year, first.month, first.day, tzinfo=UTC)

        windows = [until - w * h for w in range(1, self.training_windows + 1)]
        windows = [s for s in windows
                   if self.observed_from_ is not None and s >= self.observed_from_]
        self.training_windows_ = len(windows)
        targets = window_counts(past, "weight", np.asarray(data.area), until, h // _US,
                                self.training_windows)
        if windows:  # features at each window's start, from what came before it
            blocks, names = windows_features(
                self.data_, past, starts=windows, horizon=h, lags=self.lags, rings=self.rings,
                categories=self.categories_, holidays=self.holidays, lag_ends=windows,
                observed_from=self.observed_from_, cache=self._cache)
        else:  # no usable window: still learn the feature names, at ``until``
            blocks, names = [], self._features(until, h, until)[1]
        ys = [targets[:, round((until - s) / h) - 1] for s in windows]
        self.feature_names_ = names
        self.booster_: lgb.Booster | None = None
        self.dispersion_ = 0.0
        self.n_training_rows_ = 0
        y = np.concatenate(ys) if ys else np.zeros(0)
        if not len(y) or float(y.sum()) <= 0:
            # Too little history to learn from: the cells' historical rates (0 without events).
            span = (until - self.observed_from_) if self.observed_from_ else h
            rate = cell_counts(past, data.area) * (h / max(span, h))
            self._fallback = rate
            return
        X = np.vstack(blocks)
        rng = np.random.default_rng(self.random_state)
        keep = (y > 0) | (rng.random(len(y)) < self.zero_fraction)
        weight = np.where(y > 0, 1.0, 1.0 / self.zero_fraction)[keep]
        X, y = X[keep], y[keep]
        params = {
            "objective": "poisson",
            "num_leaves": self.num_leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }
        dataset = lgb.Dataset(X, label=y, weight=weight, feature_name=names,
                              params={"verbose": -1}, free_raw_data=True)
        booster = lgb.train(params, dataset, num_boost_round=self.n_estimators,
                            keep_training_booster=True)
        self.booster_ = booster
        self.n_training_rows_ = len(y)
        self.dispersion_ = _dispersion(booster, y, weight)
        booster.free_dataset()

    # -- forecasting ----------------------------------------------------------------------------

    def _window(self, start: datetime) -> np.ndarray:
        """Expected counts over the model window ``[start, start + h)``."""
        if self.booster_ is None:
            return np.asarray(self._fallback, dtype=np.float64).copy()
        X, _ = self._features(start, self.horizon_, min(start, utc(self.until_)))
        if self._last is None:  # the first model window of the forecast, for explain()
            self._last = (start, X)
        return np.asarray(self.booster_.predict(X), dtype=np.float64)

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        start = utc(start)
        self._last = None
        h = self.horizon_
        out = np.zeros(len(self.area_))
        offset = timedelta(0)
        while offset < horizon:
            share = min(1.0, (horizon - offset) / h)
            out += share * self._window(start + offset)
            offset += h
        return out

    # -- explanations ---------------------------------------------------------------------------

    def explain(self, top: int = 10, cells: int = 100) -> dict[str, Any]:
        """Top ``top`` features by mean |SHAP| over the ``cells`` highest-forecast cells of the
        latest forecast window (or the window at ``until``), and gain importance."""
        if not hasattr(self, "booster_"):
            raise ConfigError("BoostedForecaster is not fitted: call fit() first")
        out: dict[str, Any] = {
            "model": "lightgbm-poisson",
            "features": list(self.feature_names_),
            "dispersion": self.dispersion_,
            "training_windows": self.training_windows_,
            "training_rows": self.n_training_rows_,
        }
        if self.booster_ is None:
            out.update(model="historical-rate (too little history)", top_features=[],
                       gain_importance={})
            return out
        if self._last is None:
            until = utc(self.until_)
            self._last = (until, self._features(until, self.horizon_, until)[0])
        start, X = self._last
        mu = np.asarray(self.booster_.predict(X), dtype=np.float64)
        hottest = np.argsort(-mu, kind="stable")[:cells]
        contrib = np.asarray(self.booster_.predict(X[hottest], pred_contrib=True))[:, :-1]
        shap = np.abs(contrib).mean(axis=0)
        order = np.argsort(-shap, kind="stable")[:top]
        gain = self.booster_.feature_importance(importance_type="gain")
        by_gain = np.argsort(-gain, kind="stable")
        out.update(
            window_start=start.isoformat(),
            shap_scale="log expected count",
            top_features=[{"feature": self.feature_names_[i], "mean_abs_shap": float(shap[i])}
                          for i in order],
            gain_importance={self.feature_names_[i]: float(gain[i]) for i in by_gain},
        )
        return out


def _dispersion(booster: lgb.Booster, y: np.ndarray, weight: np.ndarray) -> float:
    """Method-of-moments negative-binomial α from the training rows' residuals:
    α = Σ w[(y − μ)² − μ] / Σ w μ², clipped at 0 (μ: the booster's own training predictions,
    which LightGBM keeps, so no second pass over the data)."""
    seen: dict[str, np.ndarray] = {}

    def keep(preds: np.ndarray, _: lgb.Dataset) -> tuple[str, float, bool]:
        seen["mu"] = np.asarray(preds, dtype=np.float64)
        return "none", 0.0, False

    booster.eval_train(feval=keep)
    mu = seen["mu"]
    denominator = float(np.sum(weight * mu**2))
    if denominator <= 0:
        return 0.0
    return max(float(np.sum(weight * ((y - mu) ** 2 - mu))) / denominator, 0.0)
