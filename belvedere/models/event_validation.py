"""Validating event effects on real data: uplift against matched controls, and rolling-origin
accuracy against the naive same-weekday baseline.

For every past event and every hour offset from its start, the count in the venue's area is
compared with **matched controls** (:func:`~belvedere.models.event_impact.matched_controls`: the
same weekday and hour, up to six weeks away, with no event of that venue within ±12 h). The mean
uplift over events comes with a bootstrap interval; out of sample, each event's window is
predicted as its controls' mean plus the mean uplift of the *earlier* events (pooled toward a
prior with :func:`~belvedere.models.event_impact.pool`), and compared with the controls' mean
alone (the naive same-weekday baseline): mean absolute error and 95 % interval coverage.
Used by ``benchmarks/events_chicago.py`` and ``benchmarks/events_toronto.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy import stats

from belvedere.models.event_impact import matched_controls, pool

HOUR = timedelta(hours=1)
OFFSETS = np.arange(-6, 7)


@dataclass(frozen=True)
class EventWindows:
    """Per event (rows) and hour offset (columns): observed counts, control means, control
    variances."""

    observed: np.ndarray
    control_mean: np.ndarray
    control_var: np.ndarray

    @property
    def uplift(self) -> np.ndarray:
        """Observed minus control mean."""
        return self.observed - self.control_mean


def event_windows(series: dict[datetime, float], starts: Sequence[datetime],
                  blockers: Sequence[tuple[datetime, datetime]],
                  span: tuple[datetime, datetime], *, weeks: int = 6) -> EventWindows:
    """Counts around each event start (hours without a record count 0) and its controls;
    events with fewer than two controls are left out."""
    observed, means, variances = [], [], []
    for start in starts:
        anchor = start.replace(minute=0, second=0, microsecond=0)
        controls = matched_controls(anchor, weeks=weeks, blockers=blockers, span=span)
        if len(controls) < 2:
            continue
        observed.append([series.get(anchor + int(o) * HOUR, 0.0) for o in OFFSETS])
        ctrl = np.array([[series.get(c + int(o) * HOUR, 0.0) for o in OFFSETS]
                         for c in controls])
        means.append(ctrl.mean(axis=0))
        variances.append(ctrl.var(axis=0, ddof=1))
    def table(rows: list[Any]) -> np.ndarray:
        return np.array(rows, dtype=np.float64).reshape(-1, len(OFFSETS))

    return EventWindows(table(observed), table(means), table(variances))


def bootstrap_mean(values: np.ndarray, *, reps: int = 2000, seed: int = 0
                   ) -> tuple[float, float, float]:
    """Mean over events and its 95 % percentile interval."""
    if not len(values):
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), (reps, len(values)))].mean(axis=1)
    return float(values.mean()), float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


@dataclass(frozen=True)
class Accuracy:
    """Out-of-sample scores of the event model and of the naive baseline."""

    scored: int
    mae_naive: float
    mae_model: float
    coverage_naive: float
    coverage_model: float


def rolling_accuracy(windows: EventWindows, *, window: tuple[int, int] = (0, 3),
                     prior: EventWindows | None = None, warmup: int = 5) -> Accuracy:
    """Each event after the first ``warmup`` predicted from the earlier ones (see module doc);
    ``prior``: another venue's events, the uplift the earlier events are shrunk toward."""
    lo_i, hi_i = (int(np.flatnonzero(w == OFFSETS)[0]) for w in window)
    cols = slice(lo_i, hi_i + 1)
    uplift = windows.uplift[:, cols]
    if prior is not None and len(prior.observed):
        prior_mean = prior.uplift[:, cols].mean(axis=0)
        prior_var = prior.uplift[:, cols].var(axis=0) / len(prior.observed)
    else:
        prior_mean = np.zeros(uplift.shape[1])
        prior_var = np.ones(uplift.shape[1])
    errors: dict[str, list[float]] = {"naive": [], "model": []}
    covered: dict[str, list[bool]] = {"naive": [], "model": []}
    for g in range(warmup, len(uplift)):
        past = uplift[:g]
        effect, effect_var = pool(past.mean(axis=0), past.var(axis=0, ddof=1) / g,
                                  np.full(past.shape[1], g), prior_mean, prior_var,
                                  np.full(past.shape[1], past.var(axis=0).mean() / 4))
        truth = windows.observed[g, cols]
        base = windows.control_mean[g, cols]
        spread = np.maximum(windows.control_var[g, cols], base)
        for name, prediction, extra in (("naive", base, 0.0),
                                        ("model", np.maximum(base + effect, 0.0), effect_var)):
            errors[name].extend(np.abs(truth - prediction))
            sd = np.sqrt(np.maximum(spread + extra, 1e-9))  # an all-zero history: a point
            lo = stats.norm.ppf(0.025, prediction, sd)
            hi = stats.norm.ppf(0.975, prediction, sd)
            covered[name].extend((truth >= np.floor(lo)) & (truth <= np.ceil(hi)))
    scored = max(len(uplift) - warmup, 0)
    return Accuracy(scored, float(np.mean(errors["naive"])) if scored else float("nan"),
                    float(np.mean(errors["model"])) if scored else float("nan"),
                    float(np.mean(covered["naive"])) if scored else float("nan"),
                    float(np.mean(covered["model"])) if scored else float("nan"))
