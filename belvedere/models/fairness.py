"""④ Fairness and feedback audit: where forecasts direct attention, against benchmarks that depend
less on policing.

A place-based forecast directs attention — patrols, cameras watched, prevention — to its top
cells. Police records are dense where police look, so a forecaster trained on them can send
attention where enforcement already is rather than where people and their needs are (Lum &
Isaac 2016, "To predict and serve?", *Significance* 13(5); Ensign et al. 2018, see
:mod:`belvedere.models.feedback`). This audit compares, zone by zone, the share of attention a
forecaster gives with the zone's share of a **benchmark** measured independently of the police:

- ``fire_ems`` — fire-brigade and EMS interventions (the public calling another service);
- ``crowd`` — people present (the mobile operator's presence counts, ``crowd_count``);
- ``population`` — the zone's residents (census). This is the only place where a figure about
  residents enters the models package: it is a denominator here, never a model feature
  (:func:`belvedere.models.features.check_feature_names`);
- ``area`` — the zone's share of the study area's cells (uniform by area): the benchmark of last
  resort, where nothing better exists (Toronto's open data has no fire/EMS calls or population).

Method (:func:`fairness_audit`), for each weekly window ``w`` of the last ``weeks``:

1. fit the forecaster on incidents strictly before the window (patrol discoveries left out, as
   ``belvedere forecast`` does) and forecast the window;
2. **attention** ``A[w, z]``: how many of the top ``share`` of cells (:func:`cells_for`) lie in
   zone ``z``;
3. **benchmark** ``B[w, z]``: the benchmark in zone ``z`` during the window (constant over windows
   for population and area).

Then (:func:`exposure`), per zone, the **exposure ratio** ``r_z = (Σ_w A[w,z] / Σ A) /
(Σ_w B[w,z] / Σ B)``, the zone's share of attention over its share of the benchmark (1: in
proportion; 2: twice its share), with a 95 % percentile bootstrap interval over weeks (weeks
resampled with replacement, Efron & Tibshirani 1993; successive weeks are not independent, so
read it as a lower bound on the uncertainty). A zone is **flagged** when its whole interval lies
above 1.25 (over-exposed) or below 0.8 (under-exposed) — the four-fifths rule of disparate-impact
analysis, both ways. With a single week there is no interval and nothing is flagged.

**Concentration**: the Gini coefficient of the zones' attention shares and of their benchmark
shares (0: equal across zones), and the **relative concentration** of attention against the
benchmark: one minus twice the area under the curve of cumulative attention against cumulative
benchmark, zones sorted by exposure ratio (0: attention exactly proportional to the benchmark;
towards 1: all attention where the benchmark is nil) — each with its bootstrap interval.

**Feedback loop**: the report carries :func:`belvedere.models.feedback.simulate_patrol_loop`
over a few seeds, with and without the guard that leaves patrol discoveries out of training, and
how many patrol discoveries the audited store's forecasts left out.

Example (one zone gets all the attention, the benchmark is even):
    >>> import numpy as np
    >>> r = exposure(np.array([[10, 0], [10, 0]]), np.array([[5, 5], [5, 5]]), ["a", "b"],
    ...              replicates=200)
    >>> [(z.zone, z.ratio, z.flag) for z in r.zones]
    [('a', 2.0, 'over'), ('b', 0.0, 'under')]
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import h3
import numpy as np
import polars as pl

from belvedere.errors import ConfigError
from belvedere.grid.cells import parents
from belvedere.grid.zones import Zone, arrondissements, assign_zones
from belvedere.models.base import PATROL, EventData, GridForecaster
from belvedere.models.data import load_event_data
from belvedere.models.feedback import simulate_patrol_loop
from belvedere.models.metrics import cells_for
from belvedere.models.registry import forecaster
from belvedere.store.base import Store

OVER, UNDER = 1.25, 0.8
"""Flag thresholds on the exposure ratio's interval (the four-fifths rule, both ways)."""
BENCHMARKS = {
    "fire_ems": "fire-brigade and EMS interventions in the window (source fire_ems)",
    "crowd": "people present in the window (mobile presence counts, crowd_count)",
    "population": "residents of the zone (census population; constant)",
    "area": "share of the study area's cells (uniform by area; constant)",
}
"""The benchmarks, in the order they are reported, with what each measures."""
Progress = Callable[[str, int, int], None]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class Interval:
    """A statistic and its 95 % bootstrap interval over weeks (NaN bounds: a single week)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class ZoneExposure:
    """One zone's attention and benchmark shares and their ratio.

    Attributes:
        flag: ``over`` (interval above 1.25), ``under`` (below 0.8) or ``""``.
    """

    zone: str
    label: str
    attention_share: float
    benchmark_share: float
    ratio: float
    low: float
    high: float
    flag: str


@dataclass(frozen=True)
class Exposure:
    """Every zone against one benchmark, and the concentrations."""

    zones: list[ZoneExposure]
    gini_attention: Interval
    gini_benchmark: Interval
    relative_concentration: Interval

    @property
    def flagged(self) -> list[ZoneExposure]:
        """The zones whose whole interval lies outside [0.8, 1.25]."""
        return [z for z in self.zones if z.flag]


@dataclass(frozen=True)
class FeedbackLoop:
    """The patrol-loop simulation: the forecast share of the first of two equal places (the
    truth is 0.5) and the share of days the patrol went there, per seed."""

    days: int
    naive_forecast_share: list[float]
    naive_patrol_share: list[float]
    guarded_forecast_share: list[float]
    guarded_patrol_share: list[float]


@dataclass
class FairnessReport:
    """What :func:`fairness_audit` measured (``to_dict`` gives it as JSON-able data)."""

    model: str
    source: str
    resolution: int
    share: float
    top_cells: int
    area_cells: int
    zoning: str
    windows: list[datetime]
    horizon: timedelta
    benchmarks: dict[str, Exposure]
    feedback: FeedbackLoop | None
    patrol_left_out: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data (NaN and infinite ratios become ``null``)."""
        out = asdict(self)
        out["windows"] = [w.isoformat() for w in self.windows]
        out["horizon_days"] = self.horizon / timedelta(days=1)
        del out["horizon"]
        out["descriptions"] = {name: BENCHMARKS[name] for name in self.benchmarks}
        return _finite(out)

    def summary(self) -> list[str]:
        """One sentence per benchmark (concentrations, zones flagged) and one for the feedback
        loop: what the command prints under its table and the page under each table."""
        lines = [f"{name}: Gini of attention {_interval(r.gini_attention)}, of the benchmark "
                 f"{_interval(r.gini_benchmark)}; relative concentration "
                 f"{_interval(r.relative_concentration)}; {len(r.flagged)} zone(s) flagged."
                 for name, r in self.benchmarks.items()]
        if self.feedback is not None:
            f = self.feedback
            lines.append(
                f"Feedback loop ({f.days} days, {len(f.naive_forecast_share)} seeds, two places "
                f"with the same true rate): the first place's forecast share trained on patrol "
                f"discoveries {_span(f.naive_forecast_share)}, without them "
                f"{_span(f.guarded_forecast_share)} (truth 0.5); {self.patrol_left_out:,} patrol "
                f"discoveries were left out of this audit's training data.")
        return lines

    def to_html(self) -> str:
        """A self-contained HTML page of the report (one table per benchmark)."""
        e = html.escape
        parts = [
            "<!doctype html><html lang='en'><meta charset='utf-8'>",
            "<title>belvedere — fairness audit</title><style>body{font-family:sans-serif;"
            "margin:2em}table{border-collapse:collapse;margin-bottom:2em}td,th{border:1px solid"
            " #bbb;padding:.25em .6em;text-align:right}td:first-child{text-align:left}"
            ".over{background:#fdd}.under{background:#ddf}</style>",
            "<h1>Fairness audit</h1>",
            f"<p>Model <b>{e(self.model)}</b> on <b>{e(self.source)}</b>, H3 resolution "
            f"{self.resolution}: attention = the top {self.share:.1%} of {self.area_cells:,} "
            f"cells ({self.top_cells} cells) over {len(self.windows)} window(s) of "
            f"{self.horizon / timedelta(days=1):g} days from "
            f"{e(self.windows[0].date().isoformat())}; zones: {e(self.zoning)}. Ratio = share "
            f"of attention / share of the benchmark, 95 % bootstrap interval over windows; "
            f"flagged when the interval lies above {OVER} or below {UNDER}.</p>",
        ]
        parts += [f"<p>{e(n)}</p>" for n in self.notes]
        summary = self.summary()
        for (name, result), line in zip(self.benchmarks.items(), summary, strict=False):
            parts.append(f"<h2>{e(name)}: {e(BENCHMARKS[name])}</h2><table><tr><th>zone</th>"
                         "<th>attention</th><th>benchmark</th><th>ratio</th>"
                         "<th>95 % interval</th><th>flag</th></tr>")
            for z in result.zones:
                parts.append(
                    f"<tr class='{z.flag}'><td>{e(z.label)}</td><td>{z.attention_share:.1%}</td>"
                    f"<td>{z.benchmark_share:.1%}</td><td>{_fmt(z.ratio)}</td>"
                    f"<td>{_fmt(z.low)}–{_fmt(z.high)}</td><td>{e(z.flag)}</td></tr>")
            parts.append(f"</table><p>{e(line)}</p>")
        if self.feedback is not None:
            parts.append(f"<h2>Feedback loop</h2><p>{e(summary[-1])}</p>")
        return "\n".join(parts) + "</html>\n"


def _fmt(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.2f}"


def _interval(i: Interval) -> str:
    return _fmt(i.value) + ("" if not math.isfinite(i.low) else
                            f" [{_fmt(i.low)}–{_fmt(i.high)}]")


def _span(values: Sequence[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if values else "–"


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


# -- statistics ---------------------------------------------------------------------------------


def gini(values: np.ndarray) -> np.ndarray:
    """Gini coefficient of non-negative values along the last axis (0: all equal; 1: one holds
    everything), by the mean absolute difference: G = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² x̄).

    >>> float(gini(np.array([1.0, 1.0, 1.0]))), float(gini(np.array([0.0, 0.0, 3.0])))
    (0.0, 0.6666666666666666)
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.shape[-1]
    total = x.sum(axis=-1)
    diffs = np.abs(x[..., :, None] - x[..., None, :]).sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, diffs / (2.0 * n * total), np.nan)


def relative_concentration(attention: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    """Concentration of attention against the benchmark, along the last axis (zones): zones
    sorted by attention / benchmark, one minus twice the area under cumulative attention share
    against cumulative benchmark share (0: proportional; towards 1: all attention where the
    benchmark is nil).

    >>> float(relative_concentration(np.array([2.0, 2.0]), np.array([1.0, 1.0])))
    0.0
    >>> round(float(relative_concentration(np.array([4.0, 0.0]), np.array([1.0, 1.0]))), 3)
    0.5
    """
    a = np.asarray(attention, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = a / a.sum(axis=-1, keepdims=True)
        b = b / b.sum(axis=-1, keepdims=True)
        ratio = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.inf)
    order = np.argsort(ratio, axis=-1, kind="stable")
    a = np.take_along_axis(a, order, axis=-1)
    b = np.take_along_axis(b, order, axis=-1)
    cum_a = np.cumsum(a, axis=-1)
    before = cum_a - a
    area = (b * (before + cum_a) / 2.0).sum(axis=-1)
    return 1.0 - 2.0 * area


def exposure(attention: np.ndarray, benchmark: np.ndarray, zones: Sequence[str], *,
             labels: Sequence[str] | None = None, replicates: int = 2000,
             random_state: int | None = 0) -> Exposure:
    """Exposure ratios and concentrations of ``attention`` against ``benchmark``.

    Args:
        attention, benchmark: ``(windows, zones)`` arrays (top cells per zone; the benchmark's
            amount per zone), in the order of ``zones``.
        labels: display names of the zones (default: their ids).
        replicates: bootstrap resamplings of the windows.
    """
    a = np.asarray(attention, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(zones):
        raise ConfigError(f"attention {a.shape} and benchmark {b.shape} must both be (windows, "
                          f"{len(zones)} zones)")
    if a.sum() <= 0 or b.sum() <= 0:
        raise ConfigError("nothing to compare: no attention or an empty benchmark")
    n_windows = a.shape[0]
    rng = np.random.default_rng(random_state)
    picks = rng.integers(0, n_windows, size=(replicates, n_windows))
    # Resampled sums per zone: (replicates, zones).
    a_boot = a[picks].sum(axis=1)
    b_boot = b[picks].sum(axis=1)

    def ratios(att: np.ndarray, ben: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            share_a = att / att.sum(axis=-1, keepdims=True)
            share_b = ben / ben.sum(axis=-1, keepdims=True)
            return np.where(share_b > 0, share_a / np.where(share_b > 0, share_b, 1.0),
                            np.where(share_a > 0, np.inf, np.nan))

    point = ratios(a.sum(axis=0), b.sum(axis=0))
    boot = ratios(a_boot, b_boot)

    def bounds(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if n_windows < 2:
            nan = np.full(samples.shape[1:], np.nan)
            return nan, nan
        with np.errstate(invalid="ignore"):
            low, high = np.nanquantile(np.where(np.isinf(samples), 1e300, samples),
                                       [0.025, 0.975], axis=0)
        return np.where(low >= 1e299, np.inf, low), np.where(high >= 1e299, np.inf, high)

    low, high = bounds(boot)
    share_a = a.sum(axis=0) / a.sum()
    share_b = b.sum(axis=0) / b.sum()
    names = list(labels) if labels is not None else list(zones)
    rows = []
    for i, zone in enumerate(zones):
        flag = ("over" if low[i] > OVER else "under" if high[i] < UNDER else "")
        rows.append(ZoneExposure(zone=str(zone), label=str(names[i]),
                                 attention_share=float(share_a[i]),
                                 benchmark_share=float(share_b[i]), ratio=float(point[i]),
                                 low=float(low[i]), high=float(high[i]), flag=flag))

    def interval(value: np.ndarray, samples: np.ndarray) -> Interval:
        lo, hi = bounds(samples[:, None])
        return Interval(float(value), float(lo[0]), float(hi[0]))

    return Exposure(
        zones=rows,
        gini_attention=interval(gini(share_a), gini(a_boot)),
        gini_benchmark=interval(gini(share_b), gini(b_boot)),
        relative_concentration=interval(relative_concentration(share_a, share_b),
                                        relative_concentration(a_boot, b_boot)))


# -- the data of an audit -------------------------------------------------------------------------


@dataclass(frozen=True)
class Zoning:
    """How cells are grouped into zones: Marseille's arrondissements, or coarser H3 cells."""

    name: str
    zones: list[Zone] = field(default_factory=list)
    resolution: int | None = None

    @classmethod
    def parse(cls, text: str) -> Zoning:
        """``arrondissements`` or ``h3:R`` (H3 cells of resolution R as zones)."""
        if text == "arrondissements":
            return cls(text, zones=arrondissements())
        if text.startswith("h3:") and text[3:].isdigit() and 0 <= int(text[3:]) <= 9:
            return cls(text, resolution=int(text[3:]))
        raise ConfigError(f"zones are 'arrondissements' or 'h3:R' (R from 0 to 9), not {text!r}")

    def of(self, cells: np.ndarray) -> np.ndarray:
        """The zone id of each H3 cell (its centre's arrondissement; or its parent cell), as an
        object array (``None`` outside every zone or for cells coarser than the zones)."""
        cells = np.asarray(cells, dtype=np.int64)
        unique, inverse = np.unique(cells, return_inverse=True)
        if self.resolution is not None:
            ok = ((unique >> 52) & 0xF) >= self.resolution
            ids = np.full(len(unique), None, dtype=object)
            ids[ok] = [h3.int_to_str(int(c)) for c in parents(unique[ok], self.resolution)]
            return ids[inverse]
        centres = np.array([h3.cell_to_latlng(h3.int_to_str(int(c))) for c in unique]
                           ).reshape(-1, 2)
        return assign_zones(self.zones, centres[:, 0], centres[:, 1])[inverse]

    def codes(self, cells: np.ndarray, zone_ids: Sequence[str]) -> np.ndarray:
        """Each cell's index in ``zone_ids`` (−1: in none of them), mapped once per distinct
        cell."""
        unique, inverse = np.unique(np.asarray(cells, dtype=np.int64), return_inverse=True)
        index = {z: i for i, z in enumerate(zone_ids)}
        found = np.array([index.get(z, -1) if z is not None else -1 for z in self.of(unique)],
                         dtype=np.int64)
        return found[inverse] if len(unique) else np.zeros(0, dtype=np.int64)

    def labels(self, ids: Sequence[str]) -> list[str]:
        """Display names: the arrondissement's short name (``1er``) or the id."""
        names = {z.zone_id: str(z.properties.get("short", z.name)) for z in self.zones}
        return [names.get(i, i) for i in ids]


def per_zone(frame: pl.DataFrame, codes: np.ndarray, n_zones: int,
             starts: Sequence[datetime], horizon: timedelta) -> np.ndarray:
    """``(windows, zones)`` sums of ``frame``'s ``value`` (``ts`` in ``[start, start+horizon)``)
    per zone, ``codes`` giving each row's zone index (−1: none)."""
    out = np.zeros((len(starts), n_zones))
    if not frame.height:
        return out
    ts = frame["ts"].dt.epoch("us").to_numpy()
    values = frame["value"].to_numpy().astype(np.float64)
    for w, start in enumerate(starts):
        lo = (start - _EPOCH) // _US
        hi = (start + horizon - _EPOCH) // _US
        keep = (ts >= lo) & (ts < hi) & (codes >= 0)
        out[w] = np.bincount(codes[keep], weights=values[keep], minlength=n_zones)
    return out


def attention_by_zone(data: EventData, codes: np.ndarray, n_zones: int,
                      make: Callable[[], GridForecaster], starts: Sequence[datetime],
                      horizon: timedelta, share: float, progress: Progress | None = None
                      ) -> np.ndarray:
    """``(windows, zones)``: how many of each window's top ``share`` of cells (fitted strictly
    before the window) lie in each zone, ``codes`` giving each area cell's zone index."""
    k = cells_for(share, len(data.area))
    out = np.zeros((len(starts), n_zones))
    for w, start in enumerate(starts):
        scores = make().fit(data, until=start).predict(start, horizon)
        top = np.argsort(-scores, kind="stable")[:k]
        top = top[codes[top] >= 0]
        out[w] = np.bincount(codes[top], minlength=n_zones)
        if progress:
            progress(f"window {start:%Y-%m-%d}", w + 1, len(starts))
    return out


def feedback_loop(*, seeds: Sequence[int] = range(5), days: int = 200) -> FeedbackLoop:
    """:func:`simulate_patrol_loop` without and with the guard, for each seed."""
    naive = [simulate_patrol_loop(days=days, guard=False, random_state=s) for s in seeds]
    guarded = [simulate_patrol_loop(days=days, guard=True, random_state=s) for s in seeds]
    return FeedbackLoop(days=days,
                        naive_forecast_share=[f for _, f in naive],
                        naive_patrol_share=[p for p, _ in naive],
                        guarded_forecast_share=[f for _, f in guarded],
                        guarded_patrol_share=[p for p, _ in guarded])


def fairness_audit(
    store: Store, *, model: str = "naive", weeks: int = 8, share: float = 0.05,
    source: str = "police_log", resolution: int = 9, area: str = "city",
    zones: str | None = None, horizon: timedelta = timedelta(days=7),
    make: Callable[[], GridForecaster] | None = None, feedback_seeds: Sequence[int] = range(5),
    feedback_days: int = 200, replicates: int = 2000, random_state: int | None = 0,
    progress: Progress | None = None,
) -> FairnessReport:
    """Audit where ``model`` directs attention on ``store``'s ``source`` incidents over the last
    ``weeks`` windows, against every benchmark the store allows (see the module doc).

    Args:
        area: ``city`` (Marseille's cells) or ``observed`` (cells with incidents before the
            first window: another city).
        zones: ``arrondissements`` or ``h3:R``; default: arrondissements for the city, H3
            resolution 6 (about 36 km²) otherwise.
        make: a forecaster factory instead of ``model`` (a test's forcing one).
        feedback_seeds: seeds of the patrol-loop simulation (none: left out).

    Raises:
        ConfigError: unknown model, bad share, no incidents, or not enough history for one
            window.
    """
    if not 0.0 < share <= 1.0:
        raise ConfigError(f"the attention share must be within (0, 1], got {share}")
    if weeks < 1:
        raise ConfigError(f"give at least one window, got {weeks}")
    factory = make or (lambda: forecaster(model, horizon_days=max(1, round(horizon.days))))
    factory()  # an unknown model name fails here, before any work
    points = pl.from_arrow(store.incident_points((source,)))
    assert isinstance(points, pl.DataFrame)
    if not points.height:
        raise ConfigError(f"the store holds no {source} incidents placed on the grid")
    first, last = points["ts"].min(), points["ts"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    end = last + timedelta(microseconds=1)
    # At least one window of history before the first audited window, counted from the day of
    # the first incident (as the features count the observed history).
    day = first.replace(hour=0, minute=0, second=0, microsecond=0)
    fit = int((end - day - horizon) // horizon)
    notes = []
    if fit < 1:
        raise ConfigError(f"{source} covers {end - day}: an audit needs at least two windows "
                          f"of {horizon} (one to learn from)")
    if fit < weeks:
        notes.append(f"{weeks} windows asked, {fit} fit after one window of history.")
        weeks = fit
    starts = [end - (weeks - i) * horizon for i in range(weeks)]
    data = load_event_data(store, sources=(source,), resolution=resolution, area=area,
                           area_until=starts[0], covariates=make is None and model in (
                               "boosted", "ensemble"))
    patrol = int((data.events["origin"] == PATROL).sum())
    data = data.without_patrol_discoveries()
    zoning = Zoning.parse(zones or ("arrondissements" if area == "city" else "h3:6"))
    present = {z for z in zoning.of(data.area) if z is not None}
    zone_ids = ([z.zone_id for z in zoning.zones if z.zone_id in present] if zoning.zones
                else sorted(present))
    codes = zoning.codes(data.area, zone_ids)
    attention = attention_by_zone(data, codes, len(zone_ids), factory, starts, horizon, share,
                                  progress)
    benchmarks: dict[str, np.ndarray] = {}
    fire = pl.from_arrow(store.incident_points(("fire_ems",)))
    assert isinstance(fire, pl.DataFrame)
    if fire.height:
        benchmarks["fire_ems"] = per_zone(
            fire.with_columns(value=pl.lit(1.0)), zoning.codes(fire["cell"].to_numpy(), zone_ids),
            len(zone_ids), starts, horizon)
    crowd = pl.from_arrow(store.measurement_points("crowd_count"))
    assert isinstance(crowd, pl.DataFrame)
    if crowd.height:
        benchmarks["crowd"] = per_zone(crowd, zoning.codes(crowd["cell"].to_numpy(), zone_ids),
                                       len(zone_ids), starts, horizon)
    if zoning.zones:
        population = {z.zone_id: float(z.properties.get("population", 0.0))
                      for z in zoning.zones}
        benchmarks["population"] = np.tile([population[z] for z in zone_ids], (weeks, 1))
    cells = np.bincount(codes[codes >= 0], minlength=len(zone_ids)).astype(np.float64)
    benchmarks["area"] = np.tile(cells, (weeks, 1))
    if set(benchmarks) == {"area"}:
        notes.append("No fire/EMS interventions, presence counts or population for these zones: "
                     "the only benchmark is uniform by area, which says where attention goes, "
                     "not whether it follows people or their needs.")
    labels = zoning.labels(zone_ids)
    results = {}
    for name in BENCHMARKS:
        if name in benchmarks and benchmarks[name].sum() > 0:
            results[name] = exposure(attention, benchmarks[name], zone_ids, labels=labels,
                                     replicates=replicates, random_state=random_state)
    if weeks < 2:
        notes.append("A single window: no interval, so no zone is flagged.")
    return FairnessReport(
        model=model if make is None else "custom", source=source, resolution=resolution,
        share=share, top_cells=cells_for(share, len(data.area)), area_cells=len(data.area),
        zoning=zoning.name, windows=starts, horizon=horizon, benchmarks=results,
        feedback=feedback_loop(seeds=feedback_seeds, days=feedback_days)
        if feedback_seeds else None,
        patrol_left_out=patrol, notes=notes)
