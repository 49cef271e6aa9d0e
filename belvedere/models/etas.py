"""Grid self-exciting point process (grid ETAS): a steady background plus near-repeats.

**The model.** Mohler, Short, Brantingham, Schoenberg & Tita (2011), "Self-exciting point process
modeling of crime", *JASA* 106(493), borrowed the epidemic-type aftershock sequence (ETAS) model
of seismology: some incidents happen at a steady, place-dependent background rate, others are
*triggered* by a recent incident nearby (a burglary makes another one next door more likely for a
few days — the near-repeat effect). Mohler et al. (2015), "Randomized controlled field trials of
predictive policing", *JASA* 110(512), used its grid form in the Los Angeles and Kent trials: in
each cell ``c`` the intensity (expected incidents per day) at time ``t`` is ::

    λ_c(t) = μ_c + Σ_{t_i < t, c_i = c} θ ω exp(−ω (t − t_i))

- ``μ_c`` — the cell's background rate (per day);
- ``θ`` — the branching ratio: how many incidents each incident triggers on average (0 ≤ θ < 1);
- ``ω`` — the decay rate of the excitation (per day): the mean delay to a triggered incident is
  ``1/ω`` days.

Here the excitation stays within the cell (space enters through the grid) and is cut at
``max_lag_days``: an incident older than that triggers nothing, which keeps the set of
(parent, child) pairs sparse.

**The fit: expectation–maximisation.** Had we known which incident triggered which, the estimates
would be plain averages. EM alternates between guessing that branching structure and averaging:

- E-step — for each incident ``j`` in cell ``c``, the probability that it is background,
  ``p_jj = μ_c / λ_c(t_j)``, and that it was triggered by each earlier incident ``i`` of the same
  cell within the maximum lag, ``p_ij = θ ω e^{−ω (t_j − t_i)} / λ_c(t_j)`` (they sum to 1);
- M-step — ``μ_c = Σ_{j in c} p_jj / T`` (``T`` the length of the training span),
  ``θ = Σ p_ij / N`` and ``ω = Σ p_ij / Σ p_ij (t_j − t_i)``.

Two refinements of the textbook M-step make the estimate exact for the truncated model over a
finite window (it is the same update when both effects vanish): ``N`` becomes the expected
number of offspring each parent *could* have had inside the training window and the maximum lag
(``Σ_i (e^{−ω a_i} − e^{−ω b_i})``, where ``[a_i, b_i]`` is the part of the lag range that falls
in the window), and ``ω`` gets the matching correction term (a fixed-point step of the exact
M-step equation). Incidents up to ``max_lag_days`` before the training window are kept as
possible parents only — the likelihood is conditional on them — so that the first days of the
window are not mistaken for background. All of it works on flat numpy arrays: the (i, j) pairs
are found once with a single ``searchsorted`` over events sorted by (cell, time), and each EM
step is a few vectorised operations and ``np.bincount`` sums.

Plain EM is slow (hundreds of steps when background and excitation overlap), so it is
accelerated by SQUAREM (Varadhan & Roland 2008, *Scand. J. Statist.* 35): two EM steps give a
direction, a longer step is taken along it, then one more EM step — kept only if the likelihood
did not fall, else the plain EM result is. It stops when no parameter moves by more than ``tol``
(relative) or after ``max_iter`` iterations (three EM updates each); 15–30 iterations are typical.
When there is no self-excitation the optimum sits on the boundary θ = 0, which EM only creeps
towards: the pure background fit is kept whenever it is at least as likely.

Like any fit with one free background rate per cell, θ is somewhat under-estimated when cells
hold few incidents (the backgrounds soak up part of the clustering): by about 0.02 with ~150
incidents per cell, 0.04 with ~5, in simulations with θ = 0.3.

Incidents carry their ``weight`` (1, or an inverse patrol propensity): a weighted incident counts
as that many incidents, both as a child (in the sums) and as a parent (in the excitation).

**The forecast.** For a window ``[s, s + h)`` after the end of training, the expected count in
cell ``c`` is the background ``μ_c h`` plus what the past incidents still trigger, the kernel
integrated over the window::

    E_c = μ_c h + Σ_{i in c, t_i < until} θ (e^{−ω (s − t_i)} − e^{−ω (s + h − t_i)})

(the second exponential's lag capped at ``max_lag_days``, as in the fit). Offspring of incidents
that will happen *inside* the window are not included, a slight under-estimate for long windows
in very excitable cells. The forecast is always finite and non-negative: with no self-excitation
in the data, ``θ`` goes to 0 and the model is a (smoothed) background rate.

**Background smoothing.** A cell with no incident in the training year would get ``μ = 0``. With
``background_smoothing_rings = k > 0`` each cell's background is spread over its ``k``-ring of
H3 neighbours (weights ``1 / (1 + grid distance)``, total rate preserved); the raw per-cell
estimate stays in ``background_raw_``. Set 0 to disable (the 2015 trial did not smooth).

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> import h3, polars as pl
    >>> cell = h3.str_to_int(h3.latlng_to_cell(43.2965, 5.3698, 9))
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> days = [3, 40, 41, 41.5, 42, 43, 45, 90, 130, 131, 132.5, 170, 172, 173, 174, 195]
    >>> events = pl.DataFrame({"cell": [cell] * len(days),
    ...                        "ts": [t0 + timedelta(days=d) for d in days]})
    >>> data = EventData.from_frame(events, resolution=9)
    >>> etas = GridETAS(training_days=200, background_smoothing_rings=0)
    >>> etas = etas.fit(data, until=t0 + timedelta(days=200))
    >>> round(etas.theta_, 2), round(etas.mean_delay_days_, 1)
    (0.54, 1.5)
    >>> week = etas.predict(t0 + timedelta(days=200), timedelta(days=7))
    >>> later = etas.predict(t0 + timedelta(days=260), timedelta(days=7))
    >>> bool(week[0] > later[0] > 0)
    True
    >>> round(etas.explain()["background_share"], 2)
    0.46
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from belvedere.errors import ConfigError
from belvedere.models.base import EventData, GridForecaster, ring_matrix

TIME_UNITS = {"day": 1.0, "hour": 1.0 / 24.0, "week": 7.0}
"""Internal time units and their length in days (``time_unit``); results do not depend on it."""

THETA_MAX = 0.99
"""The branching ratio is kept below 1 (a stationary, non-explosive process)."""

_OMEGA_BOUNDS = (1e-8, 1e8)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class GridETAS(GridForecaster):
    """Grid self-exciting point process (Mohler et al. 2011, 2015), fitted by EM.

    Parameters:
        training_days: fit on the incidents of the last ``training_days`` days before ``until``.
        max_lag_days: the longest delay at which an incident can trigger another (the kernel is
            cut there; it keeps the (parent, child) pairs sparse).
        max_iter: at most this many (accelerated) EM iterations.
        tol: stop when θ, ω and every μ move by less than ``tol`` (relative).
        time_unit: internal unit of time (``day``, ``hour`` or ``week``); the estimates do not
            depend on it, the rates are reported per day.
        background_smoothing_rings: spread each cell's background over its ``k``-ring (0: off).
        random_state: unused (EM is deterministic); kept for the shared test battery.

    Attributes (after ``fit``):
        theta_: branching ratio θ. omega_: decay rate ω, per day. mean_delay_days_: 1 / ω.
        background_: μ per area cell, per day (smoothed). background_raw_: μ before smoothing.
        background_share_: share of the (weighted) training incidents attributed to background.
        n_events_, n_pairs_: training incidents and (parent, child) pairs within the lag.
        n_iter_, converged_, log_likelihood_: EM's iterations, whether it met ``tol`` (or
            settled on θ = 0), and the final log-likelihood (time in days).
        dispersion_: 0 — intervals are Poisson.
        last_parts_: the last forecast split into ``background`` and ``triggered`` parts.
    """

    def __init__(self, *, training_days: float = 365, max_lag_days: float = 60,
                 max_iter: int = 100, tol: float = 1e-6, time_unit: str = "day",
                 background_smoothing_rings: int = 1, random_state: int | None = None) -> None:
        self.training_days = training_days
        self.max_lag_days = max_lag_days
        self.max_iter = max_iter
        self.tol = tol
        self.time_unit = time_unit
        self.background_smoothing_rings = background_smoothing_rings
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def _check_params(self) -> float:
        if self.time_unit not in TIME_UNITS:
            raise ConfigError(f"time_unit must be one of {sorted(TIME_UNITS)}, "
                              f"got {self.time_unit!r}")
        if not self.training_days > 0:
            raise ConfigError(f"training_days must be > 0, got {self.training_days}")
        if not self.max_lag_days > 0:
            raise ConfigError(f"max_lag_days must be > 0, got {self.max_lag_days}")
        if int(self.max_iter) < 1:
            raise ConfigError(f"max_iter must be ≥ 1, got {self.max_iter}")
        if not self.tol >= 0:
            raise ConfigError(f"tol must be ≥ 0, got {self.tol}")
        if int(self.background_smoothing_rings) < 0:
            raise ConfigError("background_smoothing_rings must be ≥ 0, "
                              f"got {self.background_smoothing_rings}")
        return TIME_UNITS[self.time_unit]

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        unit = self._check_params()  # days per internal unit
        lag = float(self.max_lag_days) / unit
        span = float(self.training_days) / unit
        area = np.asarray(data.area, dtype=np.int64)
        n_cells = len(area)

        # Times relative to `until`, in units (negative); only incidents that can matter.
        t, cell, w = _relative_events(past, area, until, unit, oldest=span + lag)

        # The training window [t0, 0): the full span when the data reach back beyond it, else
        # from the first incident (at least one day).
        if t.size and t.min() < -span:
            t0 = -span
        else:
            t0 = min(float(t.min()) if t.size else -span, -1.0 / unit)
        in_window = t >= t0

        # Pairs (i parent, j child): same cell, 0 < t_j − t_i ≤ lag, j in the window.
        order = np.lexsort((t, cell))
        t, cell, w, in_window = t[order], cell[order], w[order], in_window[order]
        parent, child = _pairs(t, cell, lag, in_window)
        em = _EM(t, cell, w, in_window, parent, child, t0, lag, n_cells)
        theta, omega = 0.0, 1.0
        mu = em.counts / em.T
        n_iter, converged = 0, True
        if em.lags.size:
            theta = 0.5
            omega = float(np.clip(1.0 / max(float(em.lags.mean()), 1e-12), *_OMEGA_BOUNDS))
            (mu, theta, omega), n_iter, converged = em.run(
                (0.5 * mu, theta, omega), max_iter=int(self.max_iter), tol=float(self.tol))
        _, log_lik, bg_prob = em.step(mu, theta, omega)
        if theta > 0:
            # EM creeps towards a boundary optimum (θ = 0, no self-excitation) only slowly:
            # keep the pure background fit when it is at least as likely.
            _, flat_lik, flat_prob = em.step(em.counts / em.T, 0.0, omega)
            if flat_lik >= log_lik:
                mu, theta, log_lik, bg_prob = em.counts / em.T, 0.0, flat_lik, flat_prob
                converged = True  # the optimum on that boundary is exact
        total = float(em.wj.sum())

        raw = mu / unit  # per day
        self.background_raw_ = raw
        self.background_ = self._smooth(area, raw)
        self.theta_ = float(theta)
        self.omega_ = float(omega / unit)
        self.mean_delay_days_ = 1.0 / self.omega_
        self.background_share_ = float((em.wj * bg_prob).sum() / total) if total > 0 else 1.0
        self.n_events_ = int(em.wj.size)
        self.n_pairs_ = int(em.lags.size)
        self.n_iter_ = int(n_iter)
        self.converged_ = bool(converged)
        self.log_likelihood_ = float(log_lik - np.log(unit) * total)  # densities per day
        self.span_days_ = -t0 * unit
        self.dispersion_ = 0.0
        recent = t >= -lag
        self.history_ = {"t_days": t[recent] * unit, "cell": cell[recent], "weight": w[recent]}

    def _smooth(self, area: np.ndarray, mu: np.ndarray) -> np.ndarray:
        k = int(self.background_smoothing_rings)
        if k == 0 or len(area) == 0 or not mu.any():
            return mu.copy()
        ring = ring_matrix(area, k, "inverse")
        spread = np.asarray(ring.sum(axis=0)).ravel()  # W is symmetric: column sums = row sums
        out = ring @ np.divide(mu, spread, out=np.zeros_like(mu), where=spread > 0)
        return np.asarray(out, dtype=np.float64)

    # -------------------------------------------------------------- predict

    def _parts(self, start: datetime, horizon: timedelta) -> dict[str, np.ndarray]:
        h = horizon / timedelta(days=1)
        s = (start - self.until_) / timedelta(days=1)
        background: np.ndarray = self.background_ * h
        triggered: np.ndarray = np.zeros_like(background)
        hist = self.history_
        if hist["t_days"].size and self.theta_ > 0 and h > 0:
            lo = s - hist["t_days"]
            hi = np.minimum(s + h - hist["t_days"], float(self.max_lag_days))
            keep = hi > lo
            part = np.exp(-self.omega_ * lo[keep]) - np.exp(-self.omega_ * hi[keep])
            triggered = self.theta_ * np.bincount(hist["cell"][keep],
                                                  weights=hist["weight"][keep] * part,
                                                  minlength=len(background))
        return {"background": background, "triggered": triggered}

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        parts = self._parts(start, horizon)
        self.last_parts_ = {**parts, "start": start, "horizon": horizon}
        return parts["background"] + parts["triggered"]

    # -------------------------------------------------------------- explain

    def explain(self, start: datetime | None = None, horizon: timedelta | None = None,
                *, top: int = 20) -> dict[str, Any]:
        """θ, ω, the mean trigger delay, the background share, and the ``top`` cells of a
        forecast split into background and triggered parts — the given window's, else the last
        forecast's (``cells`` is None before any forecast)."""
        if not hasattr(self, "theta_"):
            return {}
        out: dict[str, Any] = {
            "theta": self.theta_,
            "omega_per_day": self.omega_,
            "mean_delay_days": self.mean_delay_days_,
            "background_share": self.background_share_,
            "triggered_share": 1.0 - self.background_share_,
            "n_events": self.n_events_,
            "n_pairs": self.n_pairs_,
            "n_iter": self.n_iter_,
            "converged": self.converged_,
            "cells": None,
        }
        parts: dict[str, Any] | None = None
        if start is not None and horizon is not None:
            if start < self.until_:
                raise ConfigError("explain a window that starts at or after the training end")
            parts = {**self._parts(start, horizon), "start": start, "horizon": horizon}
        elif hasattr(self, "last_parts_"):
            parts = self.last_parts_
        if parts is not None:
            bg, tr = parts["background"], parts["triggered"]
            frame = pl.DataFrame({"cell": np.asarray(self.area_, dtype=np.int64),
                                  "expected": bg + tr, "background": bg, "triggered": tr})
            total = float(frame["expected"].sum())
            out["window_start"] = parts["start"]
            out["window_hours"] = parts["horizon"] / timedelta(hours=1)
            out["window_background_share"] = float(bg.sum()) / total if total > 0 else 1.0
            out["cells"] = frame.sort("expected", descending=True).head(top)
        return out


Params = tuple[np.ndarray, float, float]


class _EM:
    """The EM map of the grid ETAS likelihood on fixed (parent, child) pairs, and its
    acceleration. Times are in internal units; the training window is ``[t0, 0)``."""

    def __init__(self, t: np.ndarray, cell: np.ndarray, w: np.ndarray, in_window: np.ndarray,
                 parent: np.ndarray, child: np.ndarray, t0: float, lag: float,
                 n_cells: int) -> None:
        self.T = -t0
        self.n_cells = n_cells
        self.lags = t[child] - t[parent]
        self.w_parent, self.w_child = w[parent], w[child]
        self.w = w
        # Lag range [a_i, b_i] of each potential parent's offspring inside the window.
        self.a = np.maximum(0.0, t0 - t)
        self.b = np.minimum(lag, -t)
        self.reaches = self.b > self.a
        jw = np.flatnonzero(in_window)
        self.cj, self.wj = cell[jw], w[jw]
        slot = np.full(t.size, -1, dtype=np.int64)  # event index → position among children
        slot[jw] = np.arange(jw.size)
        self.child_slot = slot[child]
        self.counts = np.bincount(self.cj, weights=self.wj, minlength=n_cells)
        self.active = self.counts > 0  # cells whose background can be non-zero

    def step(self, mu: np.ndarray, theta: float, omega: float
             ) -> tuple[Params, float, np.ndarray]:
        """One EM update; also the log-likelihood at the given parameters and each training
        incident's probability of being background."""
        # E-step.
        trig = self.w_parent * (theta * omega) * np.exp(-omega * self.lags)
        lam = mu[self.cj] + np.bincount(self.child_slot, weights=trig, minlength=self.cj.size)
        ok = lam > 0
        safe = np.where(ok, lam, 1.0)
        bg_prob = np.where(ok, mu[self.cj] / safe, 1.0)
        pw = trig / safe[self.child_slot] * ok[self.child_slot] * self.w_child
        # M-step (exact for the truncated kernel on a finite window).
        new_mu = np.bincount(self.cj, weights=self.wj * bg_prob, minlength=self.n_cells) / self.T
        s = float(pw.sum())
        ea = np.exp(-omega * self.a)
        eb = np.exp(-omega * self.b)
        possible = float((self.w * np.where(self.reaches, ea - eb, 0.0)).sum())
        new_theta = min(s / possible, THETA_MAX) if possible > 0 else 0.0
        edge = float((self.w * np.where(self.reaches, self.b * eb - self.a * ea, 0.0)).sum())
        lagged = float((pw * self.lags).sum())
        denom = lagged + new_theta * edge
        if denom <= 0:
            denom = lagged
        new_omega = float(np.clip(s / denom, *_OMEGA_BOUNDS)) if s > 0 and denom > 0 else omega
        log_lik = float((self.wj * np.log(safe)).sum()) - self.T * float(mu.sum()) \
            - theta * possible
        return (new_mu, new_theta, new_omega), log_lik, bg_prob

    def _pack(self, params: Params) -> np.ndarray:
        mu, theta, omega = params
        q = min(max(theta / THETA_MAX, 1e-12), 1.0 - 1e-12)
        return np.concatenate([np.log(np.maximum(mu[self.active], 1e-300)),
                               [np.log(q / (1.0 - q)), np.log(omega)]])

    def _unpack(self, x: np.ndarray) -> Params:
        mu = np.zeros(self.n_cells)
        mu[self.active] = np.exp(np.clip(x[:-2], -690.0, 690.0))
        theta = THETA_MAX / (1.0 + np.exp(-float(np.clip(x[-2], -700.0, 700.0))))
        omega = float(np.clip(np.exp(np.clip(x[-1], -690.0, 690.0)), *_OMEGA_BOUNDS))
        return mu, float(theta), omega

    def run(self, start: Params, *, max_iter: int, tol: float) -> tuple[Params, int, bool]:
        """EM accelerated by SQUAREM (Varadhan & Roland 2008, scheme S3): two EM steps give a
        direction, a step along it is taken (in log/logit coordinates, where the constraints
        vanish), then one more EM step; when the likelihood would fall, the plain EM result is
        kept. Each iteration costs three EM updates."""
        params = start
        for n in range(1, max_iter + 1):
            p1, _, _ = self.step(*params)
            p2, ll1, _ = self.step(*p1)
            x0, x1, x2 = self._pack(params), self._pack(p1), self._pack(p2)
            r, v = x1 - x0, x2 - x1 - (x1 - x0)
            vv = float(v @ v)
            new = p2
            if vv > 0:
                alpha = min(-np.sqrt(float(r @ r) / vv), -1.0)
                candidate, ll_c, _ = self.step(*self._unpack(x0 - 2 * alpha * r + alpha**2 * v))
                if np.isfinite(ll_c) and ll_c >= ll1:
                    new = candidate
            moved = _moved(params, new)
            params = new
            if moved < tol:
                return params, n, True
        return params, max_iter, False


def _moved(old: Params, new: Params) -> float:
    """The largest relative change of a parameter (θ absolute, μ relative to the largest μ)."""
    scale = max(float(old[0].max()), 1e-300)
    return max(abs(new[1] - old[1]), abs(new[2] - old[2]) / old[2],
               float(np.abs(new[0] - old[0]).max()) / scale)


def _relative_events(past: pl.DataFrame, area: np.ndarray, until: datetime, unit: float,
                     oldest: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times (units before ``until``, negative), area indexes and weights of the incidents of
    ``past`` in ``area`` within ``oldest`` units of ``until``."""
    if not past.height or not len(area):
        return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0)
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    end_us = (until - _EPOCH) // timedelta(microseconds=1)
    ts_us = past["ts"].dt.epoch("us").to_numpy().astype(np.int64)
    t = (ts_us - end_us).astype(np.float64) / (86_400e6 * unit)
    cells = past["cell"].to_numpy().astype(np.int64)
    index = np.clip(np.searchsorted(area, cells), 0, len(area) - 1)
    w = np.clip(np.nan_to_num(past["weight"].to_numpy().astype(np.float64)), 0.0, None)
    keep = (area[index] == cells) & (t >= -oldest) & (t < 0) & (w > 0)
    return t[keep], index[keep], w[keep]


def _pairs(t: np.ndarray, cell: np.ndarray, lag: float, child_ok: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """All (parent, child) index pairs of events sorted by (cell, time) with the same cell and
    ``0 < t_child − t_parent ≤ lag``, for children where ``child_ok``.

    One ``searchsorted`` for everything: cells are laid end to end on one time axis, each offset
    by more than the whole time range plus the lag, so that a window never spans two cells.
    """
    if t.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    stride = float(t.max() - t.min()) + 2.0 * lag + 1.0
    key = cell.astype(np.float64) * stride + (t - t.min())
    first = np.searchsorted(key, key - lag, side="left")  # oldest parent within the lag
    last = np.searchsorted(key, key, side="left")  # strictly earlier (ties are not parents)
    n = np.where(child_ok, last - first, 0)
    total = int(n.sum())
    child = np.repeat(np.arange(t.size), n)
    starts = np.cumsum(n) - n
    parent = first[child] + (np.arange(total) - starts[child])
    return parent.astype(np.int64), child.astype(np.int64)
