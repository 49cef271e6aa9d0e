"""④ Event impact: what a planned event adds to every feed, where and when, from past events.

For a planned event (an OM match at the Vélodrome, a demonstration on the Canebière) the model
forecasts, for every H3 cell within ``max(bands)`` rings of the venue cell and every hour from
``hours_before`` before the start to ``hours_after`` after it, the load of each feed as

    expected = baseline + effect

with 80 % and 95 % prediction intervals for the count that will be observed.

**Baseline.** The mean of the event's *matched controls*: the same weekday and hour of day in
the ``control_weeks`` weeks before and after, keeping only those with data and with no planned
event within ±12 h (:func:`matched_controls`). Never a raw average over all hours.

**Effect of a past event.** For each analogous past event *j* (same kind), in each cell *c* and
hour offset *o*: its count minus the mean of its own matched controls, per 1,000 attendees,

    e_j[c, o] = (y_j[c, o] − ȳ_ctrl,j[c, o]) / (A_j / 1000),

with a sampling variance ``v_j = (max(s², ȳ, y_j) + s²/n) / (A_j/1000)²`` from the controls'
spread ``s²`` (floored by the Poisson variance). The time profile is thus estimated hour by hour
and the spatial decay ring by ring, from the data rather than a fixed shape.

**Partial pooling** (:func:`pool`). Two levels: the same venue and kind (per cell: mean ``ē_V``
over the ``n_V`` past events there, variance ``s²_V = max(var(e_j), mean v_j) / n_V``), and the
kind anywhere (per ring distance *d* from the venue and offset: the mean over events of their
ring means, ``m_K``, with variance ``u_K``). Cells differ from their ring's mean by a
heterogeneity ``τ²`` (method of moments: mean squared deviation of event cells from their ring
mean, less the sampling variance). The precision-weighted (empirical-Bayes) estimate is

    w = (1/s²_V) / (1/s²_V + 1/(τ² + u_K)),   θ = w·ē_V + (1 − w)·m_K,
    Var θ = 1 / (1/s²_V + 1/(τ² + u_K)),

so a venue with one noisy past event is pulled toward the kind's mean, a venue with many
consistent ones keeps its own, and a new venue gets ``m_K`` with variance ``τ² + u_K``.
The effect for the new event is ``θ·A/1000`` (``A`` its expected attendance).

**Intervals.** The observed count is negative binomial around ``μ = max(baseline + effect, 0)``
with the feed's over-dispersion ``α`` (moments of the controls, ``Σ(s² − ȳ)/Σȳ²``); the
uncertainty of the baseline mean and of the effect is added to the variance (delta method)
and the quantiles are those of the negative binomial with the same mean and total variance.

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> anchor = datetime(2024, 10, 5, 19, tzinfo=UTC)
    >>> match = datetime(2024, 10, 12, 18, tzinfo=UTC)
    >>> blockers = [(match, match + timedelta(hours=3))]
    >>> span = (datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 11, 1, tzinfo=UTC))
    >>> [c.day for c in matched_controls(anchor, weeks=2, blockers=blockers, span=span)]
    [28, 21, 19]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Self

import h3
import numpy as np
import polars as pl
from scipy import stats

from belvedere.errors import ConfigError
from belvedere.grid.zones import arrondissements, assign_zones
from belvedere.models.base import coarsen

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
BLOCK = timedelta(hours=12)
LEVELS = (("lo95", 0.025), ("lo80", 0.10), ("hi80", 0.90), ("hi95", 0.975))
BOUNDS = ("lo80", "hi80", "lo95", "hi95")
_F = pl.Float64()
OUTPUT_SCHEMA = pl.Schema({
    "cell": pl.Int64(), "hour": pl.Datetime("us", "UTC"), "offset_h": pl.Int64(),
    "ring": pl.Int64(), "band": pl.String(), "feed": pl.String(), "baseline": _F, "effect": _F,
    "expected": _F, "lo80": _F, "hi80": _F, "lo95": _F, "hi95": _F, "var_noise": _F,
    "sd_estimate": _F})


@dataclass(frozen=True)
class IncidentFeed:
    """Incidents of ``sources`` (and of ``categories``, all when empty) counted per cell-hour."""

    sources: tuple[str, ...]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class MetricFeed:
    """A measurement metric (crowd_count, boardings, ed_arrivals) summed per cell-hour."""

    metric: str


FEEDS: dict[str, IncidentFeed | MetricFeed] = {
    "police_log": IncidentFeed(("police_log",)),
    "fire_ems": IncidentFeed(("fire_ems",)),
    "crowd": MetricFeed("crowd_count"),
    "transit": MetricFeed("boardings"),
    "ed_arrivals": MetricFeed("ed_arrivals"),
}
"""The default feeds. ED arrivals are per hospital site: their cell is the hospital's, so the
rings select the hospitals near the venue."""


@dataclass(frozen=True)
class ImpactEvent:
    """A planned event: its ``kind``, ``venue`` name, venue ``cell`` (H3 int), UTC ``start`` and
    ``end``, and ``expected_attendance``."""

    kind: str
    venue: str
    cell: int
    start: datetime
    end: datetime
    expected_attendance: float


@dataclass(frozen=True)
class ImpactHistory:
    """What the model learns from.

    Attributes:
        feeds: per feed name, hourly values per cell: ``cell`` (H3 int64), ``hour_start`` (UTC),
            ``value``.
        events: past planned events: ``kind, venue, cell, start, end, expected_attendance``.
        zero_filled: feeds whose absent cell-hours are zeros (incident counts); for the others
            (measurements) an absent cell-hour is unknown.
    """

    feeds: dict[str, pl.DataFrame]
    events: pl.DataFrame
    zero_filled: frozenset[str] = field(default_factory=frozenset)

    def without(self, start: datetime, end: datetime) -> ImpactHistory:
        """The history with every feed's hours in ``[start, end)`` and the events starting
        there removed (to hold an event out)."""
        lo, hi = pl.lit(start).dt.convert_time_zone("UTC"), pl.lit(end).dt.convert_time_zone("UTC")
        keep = (pl.col("hour_start") < lo) | (pl.col("hour_start") >= hi)
        events = self.events.filter((pl.col("start") < lo) | (pl.col("start") >= hi))
        return ImpactHistory({k: v.filter(keep) for k, v in self.feeds.items()}, events,
                             self.zero_filled)


def history_from_store(store: Any, *, feeds: Mapping[str, IncidentFeed | MetricFeed] = FEEDS,
                       resolution: int = 9) -> ImpactHistory:
    """Build an :class:`ImpactHistory` from a store (``incident_points``,
    ``measurement_points`` and ``planned_events``), cells coarsened to ``resolution``.

    Cells recorded coarser than ``resolution`` (the operator's presence counts come at
    resolution 8) are kept as they are: choose ``resolution`` no finer than the coarsest feed.
    """
    frames: dict[str, pl.DataFrame] = {}
    zero: set[str] = set()
    for name, spec in feeds.items():
        if isinstance(spec, IncidentFeed):
            raw = _frame(store.incident_points(spec.sources))
            if spec.categories:
                raw = raw.filter(pl.col("category").is_in(list(spec.categories)))
            raw = raw.with_columns(value=pl.lit(1.0))
            zero.add(name)
        else:
            raw = _frame(store.measurement_points(spec.metric))
        frames[name] = hourly(raw, resolution)
    period = store.data_period()
    if period is None:
        raise ConfigError("the store holds no data to learn event impacts from")
    events = _frame(store.planned_events(period[0] - WEEK, period[1] + WEEK))
    events = events.select("kind", "venue", "cell", "start", "end", "expected_attendance")
    events = events.filter(pl.col("cell").is_not_null()).with_columns(
        cell=pl.Series(coarsen(events["cell"].to_numpy(), resolution)),
        expected_attendance=pl.col("expected_attendance").cast(pl.Float64),
        start=pl.col("start").dt.convert_time_zone("UTC"),
        end=pl.col("end").dt.convert_time_zone("UTC"))
    return ImpactHistory(frames, events, frozenset(zero))


def _frame(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def hourly(points: pl.DataFrame, resolution: int) -> pl.DataFrame:
    """Sum ``value`` of points (``cell, ts, value``) per cell (at ``resolution``) and UTC hour."""
    if not points.height:
        return pl.DataFrame(schema={"cell": pl.Int64, "hour_start": pl.Datetime("us", "UTC"),
                                    "value": pl.Float64})
    return (points.with_columns(cell=pl.Series(coarsen(points["cell"].to_numpy(), resolution)),
                                hour_start=pl.col("ts").dt.truncate("1h"))
            .group_by("cell", "hour_start").agg(pl.col("value").cast(pl.Float64).sum())
            .sort("hour_start", "cell"))


def matched_controls(anchor: datetime, *, weeks: int, blockers: Sequence[tuple[datetime,
                     datetime]], span: tuple[datetime, datetime], hours_before: int = 6,
                     hours_after: int = 6) -> list[datetime]:
    """Control anchors for an event hour ``anchor``: the same weekday and hour ``k`` weeks away
    (``k`` = ±1…±``weeks``, nearest first, earlier before later), whose window
    ``[anchor − hours_before, anchor + hours_after]`` lies within ``span`` and with no planned
    event (``blockers``: ``(start, end)``) within ±12 h of the anchor."""
    out = []
    for k in range(1, weeks + 1):
        for sign in (-1, 1):
            at = anchor + sign * k * WEEK
            if at - hours_before * HOUR < span[0] or at + (hours_after + 1) * HOUR > span[1]:
                continue
            if any(s < at + BLOCK and e > at - BLOCK for s, e in blockers):
                continue
            out.append(at)
    return out


def pool(same: np.ndarray, same_var: np.ndarray, n_same: np.ndarray, prior: np.ndarray,
         prior_var: np.ndarray, tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision-weighted shrinkage of the same-venue mean effect ``same`` (variance
    ``same_var``, from ``n_same`` events; 0 events: ignored) toward the kind's ``prior``
    (variance ``prior_var``) with heterogeneity ``tau2``; returns ``(mean, variance)``.

    Example:
        >>> m, v = pool(np.array([10.0]), np.array([4.0]), np.array([1]), np.array([2.0]),
        ...             np.array([0.5]), np.array([0.5]))
        >>> round(float(m[0]), 2), round(float(v[0]), 2)
        (3.6, 0.8)
    """
    outside = np.maximum(tau2 + prior_var, 1e-12)
    has = n_same > 0
    inside = np.where(has, 1.0 / np.maximum(np.where(has, same_var, 1.0), 1e-12), 0.0)
    precision = inside + 1.0 / outside
    mean = (inside * np.where(has, same, 0.0) + prior / outside) / precision
    return mean, 1.0 / precision


@dataclass
class _Feed:
    """One feed as a dense (hours × cells) array; NaN where unknown."""

    values: np.ndarray
    cells: np.ndarray
    first: datetime
    zero_filled: bool

    def window(self, anchor: datetime, offsets: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Values at ``anchor + offsets`` hours (rows) in ``cells`` (columns)."""
        rows = (anchor - self.first) // HOUR + offsets
        ok_rows = (rows >= 0) & (rows < self.values.shape[0])
        pos = np.clip(np.searchsorted(self.cells, cells), 0, max(len(self.cells) - 1, 0))
        known = self.cells[pos] == cells if len(self.cells) else np.zeros(len(cells), bool)
        out = np.full((len(offsets), len(cells)), np.nan)
        if len(self.cells):
            out[np.ix_(ok_rows, known)] = self.values[np.ix_(rows[ok_rows], pos[known])]
        if self.zero_filled:
            out[np.ix_(ok_rows, ~known)] = 0.0
        return out


class EventImpactModel:
    """Baseline + event effect per feed, cell and hour around a planned event (module doc).

    Args:
        hours_before, hours_after: the hours forecast around the event's start.
        control_weeks: matched controls are taken up to this many weeks before and after.
        resolution: H3 resolution of the cells (the venue cell is coarsened to it).
        bands: ring-distance bands around the venue cell, for reporting (``band`` column);
            cells are forecast up to the largest band's outer ring.
    """

    def __init__(self, *, hours_before: int = 6, hours_after: int = 6, control_weeks: int = 6,
                 resolution: int = 9,
                 bands: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 6))) -> None:
        self.hours_before = hours_before
        self.hours_after = hours_after
        self.control_weeks = control_weeks
        self.resolution = resolution
        self.bands = bands

    def fit(self, history: ImpactHistory) -> Self:
        """Index every feed as a dense hour × cell array; returns ``self``."""
        self.feeds_: dict[str, _Feed] = {}
        for name, frame in history.feeds.items():
            frame = hourly(frame.rename({"hour_start": "ts"}), self.resolution)
            if not frame.height:
                continue
            first: datetime = frame["hour_start"].min()  # type: ignore[assignment]
            last: datetime = frame["hour_start"].max()  # type: ignore[assignment]
            cells = np.unique(frame["cell"].to_numpy())
            values = np.full(((last - first) // HOUR + 1, len(cells)), np.nan)
            zero = name in history.zero_filled
            if zero:
                values[:] = 0.0
            rows = ((frame["hour_start"] - first).dt.total_hours()).to_numpy()
            values[rows, np.searchsorted(cells, frame["cell"].to_numpy())] = frame["value"]
            self.feeds_[name] = _Feed(values, cells, first, zero)
        events = history.events.with_columns(
            cell=pl.Series(coarsen(history.events["cell"].to_numpy(), self.resolution)))
        self.events_ = events.sort("start")
        return self

    # -- forecasting -----------------------------------------------------------------------

    def anticipate(self, event: ImpactEvent) -> pl.DataFrame:
        """Baseline, effect, expected load and intervals per feed, cell and hour offset.

        Rows: ``cell, hour`` (UTC start), ``offset_h``, ``ring`` (distance to the venue cell),
        ``band``, ``feed``, ``baseline``, ``effect``, ``expected``, ``lo80, hi80, lo95, hi95``.
        Incident feeds cover every cell within the largest band; measurement feeds the cells
        that report there (stations, hospitals, operator cells).
        """
        if not hasattr(self, "feeds_"):
            raise ConfigError("EventImpactModel is not fitted: call fit() first")
        venue = int(coarsen(np.array([event.cell]), self.resolution)[0])
        cells, rings = self._disk(venue)
        offsets = np.arange(-self.hours_before, self.hours_after + 1)
        anchor = event.start.replace(minute=0, second=0, microsecond=0)
        blockers = [*zip(self.events_["start"], self.events_["end"], strict=True),
                    (event.start, event.end)]
        analogs = [r for r in self.events_.iter_rows(named=True)
                   if r["kind"] == event.kind and r["start"] != event.start
                   and (r["expected_attendance"] or 0) > 0]
        parts = []
        for name, feed in self.feeds_.items():
            span = (feed.first, feed.first + feed.values.shape[0] * HOUR)
            if not feed.zero_filled:
                keep = np.isin(cells, feed.cells)
                f_cells, f_rings = cells[keep], rings[keep]
            else:
                f_cells, f_rings = cells, rings
            if not len(f_cells):
                continue
            controls = matched_controls(anchor, weeks=self.control_weeks, blockers=blockers,
                                        span=span, hours_before=self.hours_before,
                                        hours_after=self.hours_after)
            if not controls:
                raise ConfigError(f"no matched control period for {event.kind} at "
                                  f"{event.start.isoformat()} in feed {name}")
            ctrl = np.stack([feed.window(c, offsets, f_cells) for c in controls])
            base, base_var, spread = _moments(ctrl)
            alpha = _dispersion(base, spread)
            theta, theta_var = self._effect(feed, analogs, event.venue, venue, f_cells, f_rings,
                                            offsets, blockers, span)
            scale = event.expected_attendance / 1000.0
            effect = theta * scale
            mu = np.maximum(base + effect, 0.0)
            noise = mu + alpha * mu ** 2
            estimate = base_var + theta_var * scale ** 2
            bounds = _nb_quantiles(mu, noise + estimate)
            bounds |= {"var_noise": noise, "sd_estimate": np.sqrt(estimate)}
            parts.append(self._rows(name, anchor, offsets, f_cells, f_rings, base, effect, mu,
                                    bounds))
        if not parts:
            return pl.DataFrame(schema=OUTPUT_SCHEMA)
        return pl.concat(parts).sort("feed", "offset_h", "ring", "cell")

    def _disk(self, venue: int) -> tuple[np.ndarray, np.ndarray]:
        reach = max(b[1] for b in self.bands)
        cells, rings = [], []
        origin = h3.int_to_str(venue)
        for d in range(reach + 1):
            for c in h3.grid_ring(origin, d) if d else [origin]:
                cells.append(h3.str_to_int(c))
                rings.append(d)
        order = np.argsort(cells)
        return np.array(cells, dtype=np.int64)[order], np.array(rings, dtype=np.int64)[order]

    def _effect(self, feed: _Feed, analogs: list[dict[str, Any]], venue_name: str, venue: int,
                cells: np.ndarray, rings: np.ndarray, offsets: np.ndarray,
                blockers: list[tuple[datetime, datetime]], span: tuple[datetime, datetime]
                ) -> tuple[np.ndarray, np.ndarray]:
        """Pooled effect per 1,000 attendees and its variance, (offsets × cells)."""
        shape = (len(offsets), len(cells))
        reach = int(rings.max())
        same_e, same_v = [], []
        ring_means, ring_devs, ring_vars = [], [], []
        for a in analogs:
            anchor = a["start"].replace(minute=0, second=0, microsecond=0)
            controls = matched_controls(anchor, weeks=self.control_weeks, blockers=blockers,
                                        span=span, hours_before=self.hours_before,
                                        hours_after=self.hours_after)
            if len(controls) < 2:
                continue
            own = a["venue"] == venue_name and int(a["cell"]) == venue
            a_cells, a_rings = (cells, rings) if own else self._feed_disk(feed, int(a["cell"]))
            y = feed.window(anchor, offsets, a_cells)
            ctrl = np.stack([feed.window(c, offsets, a_cells) for c in controls])
            mean, mean_var, spread = _moments(ctrl)
            per = a["expected_attendance"] / 1000.0
            e = (y - mean) / per
            v = (np.fmax(np.fmax(spread, mean), y) + mean_var) / per ** 2
            if own:
                same_e.append(e)
                same_v.append(v)
            means = np.full((len(offsets), reach + 1), np.nan)
            devs = np.full((len(offsets), reach + 1), np.nan)
            for d in range(reach + 1):
                at = a_rings == d
                if at.any() and np.isfinite(e[:, at]).any():
                    means[:, d] = np.nanmean(e[:, at], axis=1)
                    devs[:, d] = np.nanmean((e[:, at] - means[:, d, None]) ** 2
                                            - v[:, at], axis=1)
            ring_means.append(means)
            ring_devs.append(devs)
            ring_vars.append(np.nanmean(np.where(np.isfinite(e), v, np.nan), axis=1))
        if not ring_means:
            return np.zeros(shape), np.zeros(shape)
        rm = np.stack(ring_means)
        n_k = np.sum(np.isfinite(rm), axis=0)
        prior = np.nan_to_num(_nanmean(rm))
        # The kind mean's variance: between-event spread / n (or the sampling variance alone).
        sampling = np.nanmean(np.stack(ring_vars), axis=0)[:, None] / np.maximum(n_k, 1)
        between = np.nan_to_num(_nanvar(rm)) / np.maximum(n_k, 1)
        prior_var = np.maximum(between, sampling)
        tau2 = np.maximum(np.nan_to_num(_nanmean(np.stack(ring_devs))), 0.0)
        if same_e:
            se, sv = np.stack(same_e), np.stack(same_v)
            n_v = np.sum(np.isfinite(se), axis=0)
            same = np.nan_to_num(_nanmean(se))
            same_var = np.maximum(np.nan_to_num(_nanvar(se)), np.nan_to_num(_nanmean(sv)))
            same_var = same_var / np.maximum(n_v, 1)
        else:
            n_v = np.zeros(shape, dtype=np.int64)
            same = same_var = np.zeros(shape)
        return pool(same, same_var, n_v, prior[:, rings], prior_var[:, rings], tau2[:, rings])

    def _feed_disk(self, feed: _Feed, venue: int) -> tuple[np.ndarray, np.ndarray]:
        cells, rings = self._disk(venue)
        if feed.zero_filled:
            return cells, rings
        keep = np.isin(cells, feed.cells)
        return cells[keep], rings[keep]

    def _rows(self, name: str, anchor: datetime, offsets: np.ndarray, cells: np.ndarray,
              rings: np.ndarray, base: np.ndarray, effect: np.ndarray, mu: np.ndarray,
              bounds: dict[str, np.ndarray]) -> pl.DataFrame:
        n_o, n_c = mu.shape
        band_of = {d: f"{lo}-{hi}" for lo, hi in self.bands for d in range(lo, hi + 1)}
        ring_col = np.tile(rings, n_o)
        frame = pl.DataFrame({
            "cell": np.tile(cells, n_o),
            "hour": [anchor + int(o) * HOUR for o in np.repeat(offsets, n_c)],
            "offset_h": np.repeat(offsets, n_c).astype(np.int64),
            "ring": ring_col,
            "band": [band_of.get(int(d), "") for d in ring_col],
            "feed": [name] * (n_o * n_c),
            "baseline": base.ravel(), "effect": effect.ravel(), "expected": mu.ravel(),
            **{k: v.ravel() for k, v in bounds.items()},
        })
        frame = frame.with_columns(pl.col("hour").dt.replace_time_zone("UTC"))
        return frame.select(list(OUTPUT_SCHEMA)).cast(OUTPUT_SCHEMA)


def totals(rows: pl.DataFrame, by: Sequence[str] = ()) -> pl.DataFrame:
    """Sums of an anticipation's rows per ``by`` columns, feed and hour, with their intervals.

    The count's own noise adds up over cells (``var_noise``: independent given the mean); the
    estimation error does not, as neighbouring cells share their controls' hours and their
    pooled ring effect, so its standard deviations are added (``sd_estimate``: perfectly
    correlated, the cautious bound). The quantiles are the negative binomial's with the
    total's mean and variance, as for a single cell.
    """
    keys = [*by, "feed", "hour", "offset_h"]
    grouped = (rows.group_by(keys, maintain_order=True)
               .agg(pl.col("baseline", "effect", "expected", "var_noise", "sd_estimate").sum()))
    mu = grouped["expected"].to_numpy()
    sd = grouped["sd_estimate"].to_numpy()
    bounds = _nb_quantiles(mu, grouped["var_noise"].to_numpy() + sd ** 2)
    return grouped.with_columns(**{k: pl.Series(v) for k, v in bounds.items()})


def _nanmean(a: np.ndarray) -> np.ndarray:
    n = np.sum(np.isfinite(a), axis=0)
    return np.where(n > 0, np.nansum(a, axis=0) / np.maximum(n, 1), np.nan)


def _nanvar(a: np.ndarray) -> np.ndarray:
    n = np.sum(np.isfinite(a), axis=0)
    m = _nanmean(a)
    ss = np.nansum((a - m) ** 2, axis=0)
    return np.where(n > 1, ss / np.maximum(n - 1, 1), np.nan)


def _moments(ctrl: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of controls (controls × offsets × cells), its variance, and the controls' spread
    (sample variance; the mean where it cannot be estimated, as for a Poisson count)."""
    mean = np.nan_to_num(_nanmean(ctrl))
    n = np.sum(np.isfinite(ctrl), axis=0)
    spread = np.where(n > 1, np.nan_to_num(_nanvar(ctrl)), mean)
    return mean, spread / np.maximum(n, 1), spread


def _dispersion(mean: np.ndarray, spread: np.ndarray) -> float:
    """The feed's negative-binomial α from Var = μ + αμ² (moments, pooled over cells)."""
    total = float(np.sum(mean ** 2))
    return max(float(np.sum(spread - mean)) / total, 0.0) if total > 0 else 0.0


def _nb_quantiles(mu: np.ndarray, var: np.ndarray) -> dict[str, np.ndarray]:
    """Quantiles of the negative binomial (Poisson when not over-dispersed) with mean ``mu``
    and variance ``var``."""
    mu = np.maximum(mu, 1e-9)
    over = var > mu * (1 + 1e-9)
    n = np.where(over, mu ** 2 / np.maximum(var - mu, 1e-12), 1.0)
    p = np.where(over, mu / np.maximum(var, 1e-12), 0.5)
    out = {}
    for name, q in LEVELS:
        nb = stats.nbinom.ppf(q, n, p)
        po = stats.poisson.ppf(q, mu)
        out[name] = np.nan_to_num(np.where(over, nb, po)).astype(np.float64)
    return out


def with_zones(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with the arrondissement (``zone``) of each cell's centre and the cell as hex."""
    hexes = [h3.int_to_str(int(c)) for c in rows["cell"]]
    centres = np.array([h3.cell_to_latlng(c) for c in hexes]).reshape(-1, 2)
    zones = assign_zones(arrondissements(), centres[:, 0], centres[:, 1])
    return rows.with_columns(zone=pl.Series(zones.tolist(), dtype=pl.String),
                             cell=pl.Series(hexes, dtype=pl.String))
