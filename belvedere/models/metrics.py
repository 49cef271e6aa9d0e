"""④ How good is a place-based forecast? The field's statistics, one family in one module.

A forecaster gives ``scores`` — expected counts per cell of the study area for a window — and the
window then gives ``observed`` counts in the same cell order. Two questions are asked of them:

* **Ranking** — if patrols, outreach or inspections went to the top-scored cells covering a small
  share of the area, how many of the window's events would those cells have held? Hit rate, the
  Predictive Accuracy Index (PAI) and the Prediction Efficiency Index (PEI*), at the area shares
  of :data:`AREA_FRACTIONS`.
* **Counts** — are the expected counts right in size, not only in order? Poisson log-likelihood
  and a calibration table.

Cells are taken as equal in area (H3 cells of one resolution differ by a few per cent at most),
so "x % of the area" means the top ``k = ceil(x × N)`` of the ``N`` cells.

Example:
    >>> import numpy as np
    >>> scores = np.array([0.1, 2.0, 0.5, 1.0])
    >>> observed = np.array([0.0, 3.0, 0.0, 1.0])
    >>> m = window_metrics(scores, observed)
    >>> m["hit@10%"], m["pai@10%"], m["pei*@10%"]
    (0.75, 3.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy.special import gammaln

from belvedere.errors import ConfigError

AREA_FRACTIONS: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05, 0.10)
"""Shares of the study area at which the ranking metrics are reported (0.5 % … 10 %)."""

EXPECTED_FLOOR = 1e-9
"""Expected counts are floored here before taking a logarithm (a forecast of exactly 0 for a
cell that then has an event would otherwise score minus infinity and swamp every other cell)."""

# Tolerance when turning a share of the area into a number of cells: 0.07 × 100 is
# 7.000000000000001 in floating point, and must give 7 cells, not 8.
_ROUNDING = 1e-9


def fraction_label(fraction: float) -> str:
    """The label of an area share in metric names: ``0.005`` → ``"0.5%"``, ``0.1`` → ``"10%"``.

    >>> [fraction_label(f) for f in AREA_FRACTIONS]
    ['0.5%', '1%', '2%', '5%', '10%']
    """
    return f"{100 * fraction:g}%"


def cells_for(area_fraction: float, n_cells: int) -> int:
    """How many cells make up ``area_fraction`` of an area of ``n_cells`` equal cells.

    ``k = ceil(area_fraction × n_cells)``, at least 1 and at most ``n_cells``: the smallest set
    of whole cells that covers at least the requested share. On a small area the cells taken can
    therefore cover more than asked (1 cell of 37 is 2.7 %, for a requested 1 %); :func:`pai`
    divides by the share actually covered, ``k / n_cells``.

    >>> cells_for(0.01, 100), cells_for(0.01, 101), cells_for(0.07, 100), cells_for(0.005, 37)
    (1, 2, 7, 1)
    """
    if not 0.0 < area_fraction <= 1.0:
        raise ConfigError(f"an area fraction must be within (0, 1], got {area_fraction}")
    if n_cells <= 0:
        return 0
    k = math.ceil(area_fraction * n_cells - _ROUNDING)
    return min(max(k, 1), n_cells)


def _as_pair(scores: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    if s.ndim != 1 or s.shape != y.shape:
        raise ConfigError(f"scores and observed must be 1-D arrays of one length, got shapes "
                          f"{s.shape} and {y.shape}")
    return s, y


def rank_cells(scores: np.ndarray) -> np.ndarray:
    """Cell indices from the highest score to the lowest.

    Ties are broken by cell order — the cell that comes first in the area (for :class:`EventData`,
    the smaller H3 index) ranks first — so a ranking, and every metric built on it, is the same
    on every run and every machine. NaN scores rank last.

    >>> rank_cells(np.array([1.0, 3.0, 1.0, 3.0, np.nan])).tolist()
    [1, 3, 0, 2, 4]
    """
    s = np.asarray(scores, dtype=np.float64)
    # A stable sort keeps cell order among equal keys; NaN sorts last either way.
    return np.argsort(-s, kind="stable")


def hit_rate_curve(scores: np.ndarray, observed: np.ndarray,
                   area_fractions: Sequence[float] | np.ndarray) -> np.ndarray:
    """:func:`hit_rate` at many area shares at once (one ranking, one cumulative sum).

    >>> hit_rate_curve(np.array([3.0, 2.0, 1.0, 0.0]), np.array([1.0, 0.0, 2.0, 1.0]),
    ...                [0.25, 0.5, 0.75, 1.0]).tolist()
    [0.25, 0.25, 0.75, 1.0]
    """
    s, y = _as_pair(scores, observed)
    ks = np.array([cells_for(float(f), len(s)) for f in area_fractions], dtype=np.int64)
    total = y.sum()
    if total <= 0 or len(s) == 0:
        return np.full(len(ks), np.nan)
    captured = np.concatenate([[0.0], np.cumsum(y[rank_cells(s)])])
    return captured[ks] / total


def hit_rate(scores: np.ndarray, observed: np.ndarray, area_fraction: float) -> float:
    """Share of the window's events that fell in the top-scored cells covering ``area_fraction``
    of the area (the "hit rate", Bowers, Johnson & Pease 2004; Chainey, Tompson & Uhlig 2008).

    ``hit = n / N``, with ``n`` the events in the top ``k`` cells (:func:`cells_for`, ties broken
    by cell order, :func:`rank_cells`) and ``N`` all the window's events. With no event at all
    the hit rate is undefined and returned as NaN (averages over windows skip it), never a
    division by zero.

    Args:
        scores: a forecast per cell (expected counts or any score; only the order matters).
        observed: the window's counts per cell, in the same order.
        area_fraction: share of the area, in (0, 1].

    Example — 4 cells, 10 events; the top cell (25 % of the area) holds 6 of them:

    >>> hit_rate(np.array([0.2, 0.9, 0.1, 0.4]), np.array([1.0, 6.0, 0.0, 3.0]), 0.25)
    0.6
    >>> hit_rate(np.array([0.2, 0.9]), np.array([0.0, 0.0]), 0.5)
    nan
    """
    return float(hit_rate_curve(scores, observed, [area_fraction])[0])


def pai(scores: np.ndarray, observed: np.ndarray, area_fraction: float) -> float:
    """Predictive Accuracy Index: hit rate divided by the share of the area it took.

    ``PAI = (n / N) / (a / A)`` (Chainey, Tompson & Uhlig 2008, "The utility of hotspot mapping
    for predicting spatial patterns of crime", *Security Journal* 21). Here ``a / A = k / N_cells``,
    the share actually covered by the ``k`` whole cells taken (equal to ``area_fraction`` whenever
    ``area_fraction × N_cells`` is a whole number). A score unrelated to where events happen has
    PAI 1 in expectation; 5 means the cells flagged hold five times their share of events. The
    largest possible value is ``1 / (a / A)``. NaN when the window has no event.

    >>> pai(np.array([0.2, 0.9, 0.1, 0.4]), np.array([1.0, 6.0, 0.0, 3.0]), 0.25)
    2.4
    >>> pai(np.array([0.2, 0.9, 0.1, 0.4]), np.array([1.0, 6.0, 0.0, 3.0]), 0.10)  # still 1 cell
    2.4
    """
    s, y = _as_pair(scores, observed)
    if len(s) == 0:
        return math.nan
    covered = cells_for(area_fraction, len(s)) / len(s)
    return hit_rate(s, y, area_fraction) / covered


def pei_star(scores: np.ndarray, observed: np.ndarray, area_fraction: float) -> float:
    """Prediction Efficiency Index: events caught, over the most that the same cells could catch.

    ``PEI* = n / n*``, with ``n`` the events in the top ``k`` cells of the forecast and ``n*``
    the events in the ``k`` busiest cells of the window itself — the hindsight "oracle" with the
    same area (Hunt 2016, "Do crime hot spots move?", NIJ; the name PEI* as used for the NIJ
    Real-Time Crime Forecasting Challenge and by Mohler & Porter 2018, "Rotational grid,
    PAI-maximizing crime forecasts", *Statistical Analysis and Data Mining* 11). It is 1 for a
    perfect ranking and lies in [0, 1]; unlike PAI it does not grow merely because events are
    concentrated. The area is held at ``k`` cells (the NIJ challenge's variant also shrinks the
    oracle's area when fewer cells would hold ``n*``; with a fixed share of equal cells the two
    agree whenever ``k`` cells had events). NaN when the window has no event.

    >>> pei_star(np.array([0.2, 0.9, 0.1, 0.4]), np.array([1.0, 3.0, 0.0, 6.0]), 0.25)
    0.5
    >>> pei_star(np.array([1.0, 3.0, 0.0, 6.0]), np.array([1.0, 3.0, 0.0, 6.0]), 0.5)  # oracle
    1.0
    """
    s, y = _as_pair(scores, observed)
    k = cells_for(area_fraction, len(s))
    best = float(np.sort(y)[::-1][:k].sum())
    if best <= 0:
        return math.nan
    return float(y[rank_cells(s)[:k]].sum()) / best


def poisson_log_likelihood(expected: np.ndarray, observed: np.ndarray, *,
                           per_cell: bool = False) -> float:
    """Log-probability of the observed counts if each cell's count were Poisson(expected).

    ``ℓ = Σ_i [ y_i log μ_i − μ_i − log y_i! ]`` with ``μ_i`` floored at
    :data:`EXPECTED_FLOOR` and ``log y! = gammaln(y + 1)`` (which also serves weighted,
    non-integer counts). Higher is better; unlike the ranking metrics it rewards expected counts of
    the right size. It is a proper scoring rule for point-process forecasts (the log score of the
    CSEP earthquake-forecast tests: Schorlemmer et al. 2007, *Seismological Research Letters* 78;
    for crime, Mohler et al. 2011, *JASA* 106). ``per_cell=True`` gives the mean over cells,
    comparable across study areas of different sizes.

    Example — cells with μ = (1, 2) and y = (0, 3): (0 − 1 − 0) + (3 log 2 − 2 − log 6):

    >>> round(poisson_log_likelihood(np.array([1.0, 2.0]), np.array([0.0, 3.0])), 4)
    -2.7123
    >>> round(poisson_log_likelihood(np.array([1.0, 2.0]), np.array([0.0, 3.0]), per_cell=True), 4)
    -1.3562
    """
    mu, y = _as_pair(expected, observed)
    if len(mu) == 0:
        return math.nan
    mu = np.maximum(mu, EXPECTED_FLOOR)
    terms = y * np.log(mu) - mu - gammaln(y + 1.0)
    return float(terms.mean() if per_cell else terms.sum())


def calibration(expected: np.ndarray, observed: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """Mean forecast against mean outcome, by quantile bin of the forecast (a reliability table).

    Cells are sorted by expected count (the reverse of :func:`rank_cells`, so deterministic
    under ties) and cut into
    ``bins`` groups of equal size (sizes differ by at most one); empty groups are dropped. A
    calibrated forecast has ``mean_observed ≈ mean_expected`` in every bin — points on the
    diagonal of a calibration plot (Gneiting, Balabdaoui & Raftery 2007, "Probabilistic forecasts,
    calibration and sharpness", *JRSS B* 69). Because the bins hold equal numbers of cells, many
    cells forecast at the same value may straddle two bins.

    Returns columns ``bin`` (0 = lowest forecasts), ``cells``, ``mean_expected``,
    ``mean_observed``.

    >>> calibration(np.array([4.0, 1.0, 3.0, 2.0]), np.array([6.0, 0.0, 2.0, 2.0]), bins=2).rows()
    [(0, 2, 1.5, 1.0), (1, 2, 3.5, 4.0)]
    """
    mu, y = _as_pair(expected, observed)
    if bins < 1:
        raise ConfigError(f"calibration needs at least one bin, got {bins}")
    order = rank_cells(mu)[::-1]
    groups = [g for g in np.array_split(order, bins) if len(g)]
    return pl.DataFrame(
        {"bin": list(range(len(groups))),
         "cells": [len(g) for g in groups],
         "mean_expected": [float(mu[g].mean()) for g in groups],
         "mean_observed": [float(y[g].mean()) for g in groups]},
        schema={"bin": pl.Int64, "cells": pl.Int64, "mean_expected": pl.Float64,
                "mean_observed": pl.Float64},
    )


def window_metrics(scores: np.ndarray, observed: np.ndarray) -> dict[str, float]:
    """Every metric of one forecast window, by name (the columns of a backtest table).

    Keys, in this order: ``hit@x``, ``pai@x``, ``pei*@x`` for each share ``x`` of
    :data:`AREA_FRACTIONS` (``hit@0.5%`` … ``pei*@10%``), then ``loglik`` and ``loglik_per_cell``
    (:func:`poisson_log_likelihood`, ``scores`` read as expected counts), ``observed_total`` and
    ``expected_total``. Ranking metrics are NaN for a window without events.

    >>> m = window_metrics(np.array([1.0, 0.0]), np.array([2.0, 0.0]))
    >>> list(m)[:3], m["pai@1%"], m["observed_total"], m["expected_total"]
    (['hit@0.5%', 'pai@0.5%', 'pei*@0.5%'], 2.0, 2.0, 1.0)
    """
    s, y = _as_pair(scores, observed)
    out: dict[str, float] = {}
    for fraction in AREA_FRACTIONS:
        label = fraction_label(fraction)
        out[f"hit@{label}"] = hit_rate(s, y, fraction)
        out[f"pai@{label}"] = pai(s, y, fraction)
        out[f"pei*@{label}"] = pei_star(s, y, fraction)
    out["loglik"] = poisson_log_likelihood(s, y)
    out["loglik_per_cell"] = poisson_log_likelihood(s, y, per_cell=True)
    out["observed_total"] = float(y.sum())
    out["expected_total"] = float(s.sum())
    return out


def bootstrap_mean(values: Sequence[float] | np.ndarray, *, reps: int = 1000,
                   level: float = 0.95, random_state: int | None = 0
                   ) -> tuple[float, float, float]:
    """Mean of per-window values and a percentile bootstrap interval for it.

    Windows are resampled with replacement ``reps`` times (Efron & Tibshirani 1993, *An
    Introduction to the Bootstrap*, ch. 13); the interval is the central ``level`` share of the
    resampled means. NaN values (windows without events) are left out first; with no value left
    the result is ``(nan, nan, nan)``. Successive windows are not independent (crime is
    autocorrelated), so read the interval as a lower bound on the uncertainty. The same
    ``random_state`` always gives the same interval.

    Returns:
        ``(mean, low, high)``, with ``low ≤ mean ≤ high``.

    >>> bootstrap_mean([1.0, 2.0, 3.0, 4.0], reps=2000)[0]
    2.5
    >>> bootstrap_mean([5.0])
    (5.0, 5.0, 5.0)
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return (math.nan, math.nan, math.nan)
    if not 0.0 < level < 1.0:
        raise ConfigError(f"the interval level must be within (0, 1), got {level}")
    mean = float(v.mean())
    rng = np.random.default_rng(random_state)
    means = v[rng.integers(0, len(v), size=(reps, len(v)))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    # Resampled means of identical values can differ from the mean by one rounding step.
    return (mean, min(float(low), mean), max(float(high), mean))
