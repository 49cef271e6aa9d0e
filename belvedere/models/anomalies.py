"""④ Anomalies: what is abnormal right now, compared with what was expected.

For every *place* and *feed* — an arrondissement for point feeds (police log, fire/EMS, field
reports), a cell or a site for measurement feeds (the operator's presence cells, hospitals per
broad reason, cameras, metro stations) — the detector compares the count observed in the last
hours with what was expected, and says how surprising it is.

**Expected.** A seasonal baseline plus the known planned events:

- *Seasonal*: the same local hour of the week in the previous ``weeks`` weeks, the weeks with
  a planned event within ±12 h left out — the controls of
  :func:`belvedere.models.event_impact.matched_controls`, on the city's wall clock (a week
  before 18:00 is 18:00, across DST too). A place's own controls are noisy when its counts
  are small, so they are pooled (:func:`belvedere.models.event_impact.pool`) with a steadier
  prior: the series' total in the controls times the place's share of it at that hour of the
  week, both learnt away from planned events and shrunk hour of week → hour of day → all
  hours by Gamma–Poisson priors worth :data:`PRIOR_COUNTS` counts. The heterogeneity ``τ²``
  of each place's own hour-of-week mean around the prior is estimated by moments on the last
  ``calibration_weeks`` of the history, so a busy place (a presence cell of thousands) keeps
  its own profile and a quiet one (an arrondissement with no incident in six Wednesdays at
  16:00) borrows the city's.
- *Planned events*: for an event whose window (``hours_before`` before its start to
  ``hours_after`` after) covers the hour, the event-impact model's expected effect
  (:meth:`EventImpactModel.anticipate`; resolution 8 for cells and arrondissements, 9 for
  sites so that each camera has its own cell; out to about 9 km) is added — summed to the
  arrondissement, looked up per cell or site. A match brings its expected crowd; twice that
  crowd is still an anomaly. Only increases are added (a noisy negative estimate would lower
  the bar), and the effect's own uncertainty is added to the variance.

**Tail probability.** Counts are negative binomial around the expected ``μ``, with variance
``μ + αμ²`` (Poisson when ``α = 0``); the over-dispersion ``α`` of each series is estimated by
moments from the history's one-step-ahead residuals (``Σ((y − μ)² − μ) / Σμ²``, the formula of
the event-impact model), so it also absorbs the baseline's own error. Levels averaged over the
hour (crowd density) are gamma with variance ``φμ + αμ²`` (non-negative least squares on the
same residuals; ``φ`` at least the reported resolution, since a density rounded to 0.01 varies
like a count where it is small). For each place, the windows of the last 1, 2 and 3 hours
ending at its newest data are tested (``P(X ≥ observed)``) and the smallest p-value, times the
number of windows (Bonferroni within the place), is the place's p-value.

**Many places at once.** The p-values of all the places tested in one pass are adjusted by
Benjamini–Hochberg (false-discovery rate ``fdr``, :func:`bh_qvalues`), weighted so that each
feed gets an equal share of the budget (:func:`feed_weights`; Genovese, Roeder & Wasserman
2006); a place is a candidate when its q-value is at most ``fdr``.

**Clusters across cells** (point feeds). Kulldorff's space-time scan in its expectation-based
Poisson form (Neill et al. 2005): cylinders are an H3 resolution-8 cell with its k-ring
(k = 0…``max_ring``) × the last 1…``max_hours`` hours; for a cylinder of count ``C`` and
expectation ``B``, the log-likelihood ratio is ``C log(C/B) − (C − B)`` when ``C > B`` (0
otherwise; clusters of fewer than ``min_cluster`` incidents are not scored). The most likely
cylinder's p-value is Monte Carlo: its LLR against the largest LLR of up to ``replicates``
draws from the null (negative binomial around the same expectations, fixed seed), drawn only
when its own tail probability could make it significant and stopped as soon as it cannot
(Besag & Clifford 1991). Secondary clusters (not overlapping) are compared with the same null
maxima (conservative).

**Live use.** :meth:`AnomalyDetector.fit` indexes the history once (refit at least weekly:
controls are whole weeks old, so a week-old fit loses none); :meth:`AnomalyDetector.detect`
then tests the current picture in a few milliseconds. For the current, partial hour the
expected count scales with the elapsed fraction of the hour (point feeds) or with the share of
the hour the received measurements cover. Expected values and event effects are cached per
hour and the scan's null distribution per hour and minute of coverage.

References: Benjamini & Hochberg (1995), *JRSS B* 57:289; Genovese, Roeder & Wasserman
(2006), *Biometrika* 93:509; Kulldorff (2001), *JRSS A* 164:61; Neill, Moore, Sabhnani &
Daniel (2005), *KDD* 218; Besag & Clifford (1991), *Biometrika* 78:301.

Example (the tail probability of 9 incidents where 2.5 were expected, Poisson):
    >>> round(float(tail_probability(np.array([9.0]), np.array([2.5]), np.array([2.5]))[0]), 5)
    0.00114
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo

import h3
import numpy as np
import polars as pl
import pyarrow as pa
from scipy import optimize, sparse, stats

from belvedere.errors import ConfigError
from belvedere.grid.cells import cell_to_str
from belvedere.grid.timebins import CITY_TZ
from belvedere.grid.zones import arrondissements
from belvedere.models.alerts import COOLDOWN, record_candidates
from belvedere.models.base import coarsen
from belvedere.models.event_impact import (
    BLOCK,
    HOUR,
    EventImpactModel,
    ImpactEvent,
    ImpactHistory,
    _dispersion,
    matched_controls,
    pool,
    with_zones,
)
from belvedere.store.base import Store

RESOLUTION = 8
"""H3 resolution of the detector's cells (the operator's presence counts come at 8)."""
DAY = timedelta(days=1)
_CITY = ZoneInfo(CITY_TZ)
PRIOR_COUNTS = 10.0
"""Strength of the seasonal prior, in counts: a quiet place's or series' own figures weigh
less than this many events' worth of its coarser profile (module doc)."""
IMPACT_BANDS = {8: ((0, 1), (2, 3), (4, 6), (7, 10)),
                9: ((0, 1), (2, 4), (5, 9), (10, 17), (18, 26))}
"""Ring bands of the event-impact models, per H3 resolution: out to about 9 km, so that a
match's riders at metro stations across the centre are expected, not anomalies. Cells and
arrondissements use resolution 8; sites resolution 9, where each has its own cell."""


@dataclass(frozen=True)
class Feed:
    """A feed the detector watches.

    Attributes:
        name: the feed's name in candidates and alerts.
        sources: the stored sources it reads.
        metric: ``incidents`` for point feeds, else a measurement metric.
        level: the place tested: ``zone`` (arrondissement; point feeds, which are also
            scanned over cells), ``cell`` (H3 resolution 8) or ``site`` (a camera, a station,
            a hospital).
        by_category: test each category apart (hospital arrivals by broad reason: an
            intoxication spike is drowned in the hospital's total).
        continuous: a level averaged over the hour (crowd density), not a count summed.
    """

    name: str
    sources: tuple[str, ...]
    metric: str
    level: Literal["zone", "cell", "site"]
    by_category: bool = False
    continuous: bool = False

    @property
    def point(self) -> bool:
        """A feed of point events (incidents)."""
        return self.metric == "incidents"


FEEDS: tuple[Feed, ...] = (
    Feed("police_log", ("police_log",), "incidents", "zone"),
    Feed("fire_ems", ("fire_ems",), "incidents", "zone"),
    Feed("field_reports", ("field_reports",), "incidents", "zone"),
    Feed("crowd", ("mobile_presence",), "crowd_count", "cell"),
    Feed("ed_arrivals", ("hospital_ed",), "ed_arrivals", "site", by_category=True),
    Feed("cctv_people", ("cctv",), "people_count", "site"),
    Feed("cctv_density", ("cctv",), "crowd_density", "site", continuous=True),
    Feed("transit", ("transit",), "boardings", "site"),
)
"""The feeds watched by default (the 8 of the live picture)."""

OBSERVATION_SCHEMA = pl.Schema({
    "feed": pl.String(), "category": pl.String(), "level": pl.String(), "place": pl.String(),
    "zone": pl.String(), "cell": pl.Int64(), "hour": pl.Datetime("us", "UTC"),
    "value": pl.Float64(), "coverage": pl.Float64()})
"""The detector's input: per feed, category, place and UTC hour, the value (a count, or the
mean of a level) and the share of the hour it covers (measurements received so far)."""

CANDIDATE_SCHEMA = pl.Schema({
    "feed": pl.String(), "category": pl.String(), "level": pl.String(), "place": pl.String(),
    "zone": pl.String(), "places": pl.List(pl.String()), "method": pl.String(),
    "window_start": pl.Datetime("us", "UTC"), "window_end": pl.Datetime("us", "UTC"),
    "observed": pl.Float64(), "expected": pl.Float64(), "p_value": pl.Float64(),
    "q_value": pl.Float64(), "score": pl.Float64()})
"""What :meth:`AnomalyDetector.detect` returns: one row per candidate anomaly."""


# -- input ----------------------------------------------------------------------------------


def observations(figures: pa.Table | pl.DataFrame, feeds: Sequence[Feed] = FEEDS
                 ) -> pl.DataFrame:
    """The detector's observations (:data:`OBSERVATION_SCHEMA`) from the store's hourly figures
    (:meth:`Store.hourly_figures`).

    Point feeds give a ``zone`` row per arrondissement and a ``cell`` row per resolution-8 cell
    (for the scan); measurement feeds a row per site or cell. ``coverage`` is the share of the
    hour the measurements cover (1 for point feeds: their coverage is the clock's).
    """
    frame = figures if isinstance(figures, pl.DataFrame) else pl.from_arrow(figures)
    assert isinstance(frame, pl.DataFrame)
    parts = []
    for feed in feeds:
        rows = frame.filter(pl.col("source").is_in(list(feed.sources))
                            & (pl.col("metric") == feed.metric))
        if not rows.height:
            continue
        # Sites keep their stored cell (resolution 9: two cameras of a stadium apart).
        stored = rows["cell"].fill_null(0).to_numpy()
        rows = rows.with_columns(
            cell=pl.Series(stored if feed.level == "site" else coarsen(stored, RESOLUTION)),
            category=pl.col("category") if feed.by_category else pl.lit(""))
        if feed.point:
            zones = (rows.filter(pl.col("zone").is_not_null())
                     .group_by("category", "zone", "hour")
                     .agg(pl.col("value").sum(), cell=pl.lit(None, pl.Int64))
                     .with_columns(level=pl.lit("zone"), place=pl.col("zone")))
            cells = (rows.filter(pl.col("cell") > 0)
                     .group_by("category", "cell", "hour")
                     .agg(pl.col("value").sum(), zone=pl.col("zone").drop_nulls().first())
                     .with_columns(level=pl.lit("cell"), place=_hex(pl.col("cell"))))
            part = pl.concat([zones, cells], how="diagonal").with_columns(coverage=pl.lit(1.0))
        else:
            key = "site" if feed.level == "site" else "cell"
            value = (pl.col("value").sum() / pl.col("n").sum() if feed.continuous
                     else pl.col("value").sum())
            extra = [pl.col("cell").first()] if key == "site" else []
            part = (rows.filter(pl.col(key).is_not_null() & (pl.col("cell") > 0))
                    .group_by("category", key, "hour")
                    .agg(value.alias("value"), *extra, zone=pl.col("zone").drop_nulls().first(),
                         coverage=(pl.col("seconds").sum() / 3600.0).clip(0.0, 1.0))
                    .with_columns(level=pl.lit(feed.level),
                                  place=pl.col("site") if key == "site" else _hex(pl.col("cell"))))
        parts.append(part.with_columns(feed=pl.lit(feed.name)).select(list(OBSERVATION_SCHEMA))
                     .cast(OBSERVATION_SCHEMA))
    if not parts:
        return pl.DataFrame(schema=OBSERVATION_SCHEMA)
    return pl.concat(parts).sort("hour", "feed", "level", "place")


def _hex(cells: pl.Expr) -> pl.Expr:
    return cells.map_elements(cell_to_str, return_dtype=pl.String)


@dataclass(frozen=True)
class DetectorHistory:
    """What the detector learns from: observations (:data:`OBSERVATION_SCHEMA`) over
    ``[start, end)`` and the planned events (``event_id, kind, venue, cell, start, end,
    expected_attendance``), which may extend beyond ``end`` (they are planned ahead)."""

    observations: pl.DataFrame
    events: pl.DataFrame
    start: datetime
    end: datetime

    def until(self, end: datetime) -> DetectorHistory:
        """The history cut at ``end`` (events kept: they were known in advance)."""
        end = _floor(end)
        return DetectorHistory(self.observations.filter(pl.col("hour") < end), self.events,
                               self.start, min(end, self.end))


def detector_history(store: Store, start: datetime, end: datetime,
                     feeds: Sequence[Feed] = FEEDS) -> DetectorHistory:
    """The store's observations over ``[start, end)`` and the planned events around it."""
    start, end = _floor(start), _floor(end)
    if end <= start:
        raise ConfigError(f"the history must end after it starts ({start} → {end})")
    obs = observations(store.hourly_figures(start, end), feeds)
    table = pl.from_arrow(store.planned_events(start - DAY, end + 2 * timedelta(weeks=1)))
    assert isinstance(table, pl.DataFrame)
    events = table.filter(pl.col("cell").is_not_null()).select(
        event_id=pl.col("source_id").cast(pl.String), kind="kind",
        venue=pl.col("venue").fill_null(""), cell="cell",
        start=pl.col("start").dt.convert_time_zone("UTC"),
        end=pl.col("end").dt.convert_time_zone("UTC"),
        expected_attendance=pl.col("expected_attendance").cast(pl.Float64).fill_null(0.0))
    return DetectorHistory(obs, events, start, end)


def _floor(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


# -- statistics -----------------------------------------------------------------------------


def tail_probability(observed: np.ndarray, mean: np.ndarray, variance: np.ndarray, *,
                     continuous: bool = False) -> np.ndarray:
    """``P(X ≥ observed)`` for ``X`` with this mean and variance: negative binomial (Poisson
    when the variance does not exceed the mean) for counts, gamma for continuous levels.

    A non-positive mean gives 1 when nothing was observed and 0 otherwise.
    """
    x = np.asarray(observed, dtype=np.float64)
    mu = np.asarray(mean, dtype=np.float64)
    var = np.asarray(variance, dtype=np.float64)
    ok = mu > 0
    m = np.where(ok, mu, 1.0)
    v = np.maximum(np.where(ok, var, 1.0), 1e-12)
    if continuous:
        shape = m ** 2 / v
        out = stats.gamma.sf(x, shape, scale=v / m)
    else:
        k = np.ceil(x - 1e-9) - 1  # P(X ≥ x) = sf(⌈x⌉ − 1)
        over = v > m * (1 + 1e-9)
        n = np.where(over, m ** 2 / np.maximum(v - m, 1e-12), 1.0)
        p = np.where(over, m / v, 0.5)
        out = np.where(over, stats.nbinom.sf(k, n, p), stats.poisson.sf(k, m))
    return np.where(ok, out, np.where(x > 0, 0.0, 1.0))


def bh_qvalues(p_values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); reject at FDR ``q`` where ``≤ q``.

    With ``weights`` (positive, averaging 1), the weighted procedure of Genovese, Roeder &
    Wasserman (2006): BH on ``p / w``, which keeps the false-discovery rate at ``q`` and
    spends more of it where the weight is larger.

    Example:
        >>> bh_qvalues(np.array([0.01, 0.02, 0.03, 0.5])).round(3).tolist()
        [0.04, 0.04, 0.04, 0.5]
        >>> bh_qvalues(np.array([0.01, 0.02]), np.array([1.5, 0.5])).round(3).tolist()
        [0.013, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    if not p.size:
        return p.copy()
    if weights is not None:
        p = p / np.asarray(weights, dtype=np.float64)
    return np.asarray(stats.false_discovery_control(np.clip(p, 0.0, 1.0), method="bh"))


def feed_weights(feeds: np.ndarray) -> np.ndarray:
    """Weights (averaging 1) giving each feed an equal share of a pass's false-discovery
    budget: a test of a feed with ``m_f`` of the ``m`` tests of ``F`` feeds weighs
    ``m / (F · m_f)``, so that 322 presence cells do not drown 16 arrondissements.

    Example:
        >>> feed_weights(np.array(["a", "a", "a", "b"])).round(3).tolist()
        [0.667, 0.667, 0.667, 2.0]
    """
    names, inverse, counts = np.unique(feeds, return_inverse=True, return_counts=True)
    return len(feeds) / (len(names) * counts[inverse])


@dataclass(frozen=True)
class Cluster:
    """A space-time scan cluster: the cylinder (``centre`` index, ``ring``, ``hours``), the
    cells it covers (indices), its count, expectation, log-likelihood ratio and p-value."""

    centre: int
    ring: int
    hours: int
    members: tuple[int, ...]
    observed: float
    expected: float
    llr: float
    p_value: float


def cylinders(cells: np.ndarray, max_ring: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """The scan's circles: for every cell (int64 H3 ids) and ring ``k = 0…max_ring``, the
    cells of ``cells`` within its k-ring. Returns the membership matrix (circles × cells) and
    each circle's ``(centre index, k)``."""
    index = {int(c): i for i, c in enumerate(cells)}
    rows: list[int] = []
    cols: list[int] = []
    meta: list[tuple[int, int]] = []
    for i, c in enumerate(cells):
        origin = h3.int_to_str(int(c))
        for k in range(max_ring + 1):
            members = [index[m] for m in (h3.str_to_int(x) for x in h3.grid_disk(origin, k))
                       if m in index]
            rows.extend([len(meta)] * len(members))
            cols.extend(members)
            meta.append((i, k))
    matrix = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)),
                               shape=(len(meta), len(cells)))
    return matrix, np.array(meta, dtype=np.int64).reshape(-1, 2)


def _llr(c: np.ndarray, b: np.ndarray, min_count: float) -> np.ndarray:
    """Expectation-based Poisson log-likelihood ratio (0 unless ``c > b`` and ``c ≥ min``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = c * np.log(c / b) - (c - b)
    return np.where((c > b) & (c >= min_count) & (b > 0), out, 0.0)


def _window_sums(circles: sparse.csr_matrix, values: np.ndarray) -> np.ndarray:
    """Cylinder sums: ``values`` (cells × hours, newest first, any trailing axes) → (circles ×
    durations …): the circle's sum over the newest 1, 2… hours."""
    cum = np.cumsum(values, axis=1)
    flat = cum.reshape(cum.shape[0], -1)
    return np.asarray(circles @ flat).reshape((circles.shape[0], *cum.shape[1:]))


def scan(counts: np.ndarray, expected: np.ndarray, circles: sparse.csr_matrix,
         meta: np.ndarray, *, alpha: float = 0.001, replicates: int = 999,
         dispersion: float = 0.0, min_count: float = 3.0, max_clusters: int = 5,
         random_state: int = 0, null: NullMaxima | None = None
         ) -> tuple[list[Cluster], NullMaxima | None]:
    """Expectation-based Poisson space-time scan (module doc).

    Args:
        counts, expected: cells × hours, the newest hour first (expected > 0).
        circles, meta: from :func:`cylinders`.
        alpha: clusters with a Monte Carlo p-value above it are not returned.
        replicates: null draws at most (negative binomial with ``dispersion``, Poisson at 0).
        min_count: cylinders with fewer observed are not scored.
        null: the null maxima of an earlier call with the same expectations (reused and
            extended as needed).

    Returns:
        the significant clusters (most likely first), each with its p-value, and the null
        maxima drawn (``None`` when the most likely cylinder could not be significant).

    The draws are sequential (Besag & Clifford 1991): by batches, stopping as soon as the
    p-value can no longer reach ``alpha`` — most passes stop after the first batch.
    """
    c_sum = _window_sums(circles, counts)
    b_sum = _window_sums(circles, expected)
    llr = _llr(c_sum, b_sum, min_count)
    if not llr.size or llr.max() <= 0:
        return [], null
    best = np.unravel_index(int(np.argmax(llr)), llr.shape)
    c0, b0 = float(c_sum[best]), float(b_sum[best])
    # The Monte Carlo p-value is at least the best cylinder's own tail probability: when
    # that cannot reach alpha, no draw is needed.
    own = float(tail_probability(np.array([c0]), np.array([b0]),
                                 np.array([b0 + dispersion * b0 ** 2]))[0])
    if own > alpha and null is None:
        return [], None
    null = null or NullMaxima(circles, expected, dispersion, min_count, random_state)
    allowed = math.floor(alpha * (replicates + 1) + 1e-9) - 1  # exceedances alpha allows
    clusters: list[Cluster] = []
    taken = np.zeros(circles.shape[1], dtype=bool)
    alive = llr.copy()
    for _ in range(max_clusters):
        if alive.max() <= 0:
            break
        i, d = np.unravel_index(int(np.argmax(alive)), alive.shape)
        value = float(alive[i, d])
        exceed = null.exceedances(value, replicates, allowed)
        p = (1.0 + exceed) / (len(null.maxima) + 1.0)
        if exceed > allowed or p > alpha:
            break
        members = circles.indices[circles.indptr[i]:circles.indptr[i + 1]]
        clusters.append(Cluster(int(meta[i, 0]), int(meta[i, 1]), int(d) + 1,
                                tuple(int(m) for m in members), float(c_sum[i, d]),
                                float(b_sum[i, d]), value, p))
        taken[members] = True
        overlapping = np.asarray(circles[:, taken].sum(axis=1)).ravel() > 0
        alive[overlapping, :] = 0.0
    return clusters, null


class NullMaxima:
    """The scan's null distribution: the largest LLR over all cylinders in replicated counts
    (negative binomial around ``expected``, Poisson when ``dispersion`` is 0), drawn by
    batches from one seeded generator and kept, so the same draws serve later calls."""

    batch = 100

    def __init__(self, circles: sparse.csr_matrix, expected: np.ndarray, dispersion: float,
                 min_count: float, random_state: int) -> None:
        self.circles = circles
        self.expected = expected
        self.dispersion = dispersion
        self.min_count = min_count
        self.rng = np.random.default_rng(random_state)
        self.maxima = np.empty(0)
        self.b_sum = _window_sums(circles, expected)[..., None]

    def _draw(self, n: int) -> None:
        shape = (*self.expected.shape, n)
        mean = np.broadcast_to(self.expected[..., None], shape)
        if self.dispersion > 0:
            size = 1.0 / self.dispersion
            draws = self.rng.negative_binomial(size, size / (size + mean)).astype(np.float64)
        else:
            draws = self.rng.poisson(mean).astype(np.float64)
        c = _window_sums(self.circles, draws)
        top = _llr(c, np.broadcast_to(self.b_sum, c.shape), self.min_count).max(axis=(0, 1))
        self.maxima = np.concatenate([self.maxima, top])

    def exceedances(self, value: float, replicates: int, allowed: int) -> int:
        """Draws (up to ``replicates``) whose maximum reaches ``value``; drawing stops early
        once more than ``allowed`` do."""
        while True:
            exceed = int(np.sum(self.maxima >= value))
            if exceed > allowed or len(self.maxima) >= replicates:
                return exceed
            self._draw(min(self.batch, replicates - len(self.maxima)))


# -- the detector ---------------------------------------------------------------------------


@dataclass
class _Series:
    """One feed (and category) at one level, indexed over the history's hours."""

    feed: Feed
    category: str
    level: str
    places: np.ndarray  # str, sorted
    zones: np.ndarray  # object: zone of each place (None when outside)
    cells: np.ndarray  # int64 cell of each place (resolution 8; sites 9; 0 for zones)
    values: np.ndarray  # hours × places; NaN = unknown (measurements)
    totals: np.ndarray  # hours
    share: np.ndarray  # 168 × places: share of the total by local hour of the week
    week_rate: np.ndarray  # 168: expected total by local hour of the week (smoothed)
    quantum: float = 0.0  # resolution of reported levels (continuous feeds)
    tau2: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per place
    phi: float = 1.0  # variance = phi·μ + alpha·μ² (phi = 1 for counts)
    alpha: float = 0.0
    cache: dict[datetime, np.ndarray] = field(default_factory=dict)

    @property
    def resolution(self) -> int:
        """H3 resolution of the places' cells (and of the impact model they use)."""
        return 9 if self.level == "site" else RESOLUTION

    @property
    def key(self) -> str:
        """The impact-model feed this series maps to (cells of the same feed and category)."""
        return f"{self.feed.name}:{self.category}" if self.category else self.feed.name


_CellEffects = dict[tuple[str, datetime], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
"""An event's effects by (impact feed, hour): cells, their arrondissements, effects, sds."""


@dataclass
class _Windows:
    """One series' place tests in a pass: for the tested places (``places``, their newest
    hour's index ``newest``), per window length (rows) observed, expected, variance and
    whether usable; then each place's best window and p-value."""

    series: int
    places: np.ndarray
    newest: np.ndarray
    obs: np.ndarray
    exp: np.ndarray
    var: np.ndarray
    usable: np.ndarray
    best: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    p: np.ndarray = field(default_factory=lambda: np.zeros(0))


class AnomalyDetector:
    """Expected vs observed per place and feed; BH-adjusted tail probabilities and a
    space-time scan (module doc).

    Args:
        feeds: the feeds watched.
        weeks: seasonal controls: the same hour of the week up to this many weeks back.
        fdr: false-discovery rate of one pass (candidates: q-value ≤ fdr).
        max_hours: windows of 1…max_hours hours are tested (place tests and scan).
        max_ring: the scan's circles: k-rings up to this k.
        scan_alpha: a cluster is a candidate when its Monte Carlo p-value is at most this.
        replicates: Monte Carlo draws of the scan's null.
        min_cluster: cylinders with fewer incidents are not scored by the scan.
        min_controls: a measurement place is tested only with this many known controls.
        calibration_weeks: weeks at the end of the history used to estimate ``τ²`` and the
            over-dispersion.
        hours_before, hours_after: a planned event's effect is added from this long before
            its start to this long after.
        balance_feeds: weight the BH procedure so that each feed gets an equal share of the
            false-discovery budget (:func:`feed_weights`); plain BH otherwise.
        random_state: seed of the Monte Carlo draws.
    """

    def __init__(self, *, feeds: Sequence[Feed] = FEEDS, weeks: int = 6, fdr: float = 0.05,
                 max_hours: int = 3, max_ring: int = 2, scan_alpha: float = 0.001,
                 replicates: int = 999, min_cluster: int = 3, min_controls: int = 2,
                 calibration_weeks: int = 2,
                 hours_before: int = 6, hours_after: int = 6, balance_feeds: bool = True,
                 random_state: int = 0) -> None:
        self.feeds = feeds
        self.weeks = weeks
        self.fdr = fdr
        self.max_hours = max_hours
        self.max_ring = max_ring
        self.scan_alpha = scan_alpha
        self.replicates = replicates
        self.min_cluster = min_cluster
        self.min_controls = min_controls
        self.calibration_weeks = calibration_weeks
        self.hours_before = hours_before
        self.hours_after = hours_after
        self.balance_feeds = balance_feeds
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------------

    def fit(self, history: DetectorHistory) -> Self:
        """Index the history (a dense hour × place array per series), estimate each series'
        ``τ²`` and over-dispersion, and fit the event-impact model; returns ``self``."""
        self.start_ = _floor(history.start)
        self.end_ = _floor(history.end)
        self.hours_ = (self.end_ - self.start_) // HOUR
        if self.hours_ < 24 * 7:
            raise ConfigError("the detector needs at least a week of history "
                              f"({history.start} → {history.end})")
        self.events_ = history.events.sort("start")
        self.blockers_ = list(zip(self.events_["start"], self.events_["end"], strict=True))
        self.controls_: dict[datetime, np.ndarray] = {}
        hours = pl.datetime_range(self.start_, self.end_, "1h", closed="left", eager=True,
                                  time_zone="UTC")
        local = hours.dt.convert_time_zone(CITY_TZ)
        self.how_ = ((local.dt.weekday() - 1) * 24 + local.dt.hour()).to_numpy()
        self.quiet_ = np.ones(self.hours_, dtype=bool)
        for begin, finish in self.blockers_:
            lo = max((begin - BLOCK - self.start_) // HOUR, 0)
            hi = min(-((self.start_ - finish - BLOCK) // HOUR), self.hours_)
            self.quiet_[lo:max(hi, lo)] = False
        obs = history.observations.filter((pl.col("hour") >= self.start_)
                                          & (pl.col("hour") < self.end_))
        self.series_: list[_Series] = []
        for feed in self.feeds:
            rows = obs.filter(pl.col("feed") == feed.name)
            categories = sorted(set(rows["category"].to_list())) if feed.by_category else [""]
            levels = ("zone", "cell") if feed.point else (feed.level,)
            for category in categories:
                for level in levels:
                    part = rows.filter((pl.col("category") == category)
                                       & (pl.col("level") == level))
                    if part.height or level == "zone":
                        self.series_.append(self._index(feed, category, level, part))
        self.slots_ = pl.DataFrame({
            "feed": [s.feed.name for s in self.series_ for _ in s.places],
            "category": [s.category for s in self.series_ for _ in s.places],
            "level": [s.level for s in self.series_ for _ in s.places],
            "place": [p for s in self.series_ for p in s.places],
            "series": [i for i, s in enumerate(self.series_) for _ in s.places],
            "slot": [j for s in self.series_ for j in range(len(s.places))]},
            schema={"feed": pl.String, "category": pl.String, "level": pl.String,
                    "place": pl.String, "series": pl.Int64, "slot": pl.Int64})
        for s in self.series_:
            self._calibrate(s)
        self.impact_ = self._impact_models()
        self.anticipations_: dict[tuple[str, int], _CellEffects] = {}
        self.event_rows_ = list(self.events_.iter_rows(named=True))
        self.effects_: dict[tuple[int, datetime], tuple[np.ndarray, np.ndarray]] = {}
        self.circles_: dict[int, tuple[sparse.csr_matrix, np.ndarray]] = {}
        self.null_: dict[tuple[int, datetime, int], NullMaxima] = {}
        return self

    def _index(self, feed: Feed, category: str, level: str, rows: pl.DataFrame) -> _Series:
        places = sorted(set(rows["place"].to_list()))
        if level == "zone":
            places = sorted(set(places) | {z.zone_id for z in arrondissements()})
        place_ix = {p: i for i, p in enumerate(places)}
        first = (rows.group_by("place").agg(pl.col("zone").drop_nulls().mode().first(),
                                            pl.col("cell").drop_nulls().first()))
        zone_of = dict(zip(first["place"], first["zone"], strict=True))
        cell_of = dict(zip(first["place"], first["cell"], strict=True))
        zones = np.array([p if level == "zone" else zone_of.get(p) for p in places],
                         dtype=object)
        cells = np.array([int(cell_of.get(p) or 0) for p in places], dtype=np.int64)
        values = np.zeros((self.hours_, len(places))) if feed.point else np.full(
            (self.hours_, len(places)), np.nan)
        if rows.height:
            r = ((rows["hour"] - self.start_).dt.total_hours()).to_numpy()
            c = np.array([place_ix[p] for p in rows["place"].to_list()])
            full = rows["coverage"].to_numpy() >= 0.999
            values[r[full], c[full]] = rows["value"].to_numpy()[full]
        totals = np.nansum(values, axis=1)
        positive = values[np.isfinite(values) & (values > 0)]
        series = _Series(feed, category, level, np.array(places, dtype=object), zones, cells,
                         values, totals, np.empty(0), np.empty(0),
                         quantum=float(positive.min()) if feed.continuous and positive.size
                         else 0.0, tau2=np.zeros(len(places)))
        series.share, series.week_rate = self._shares(series, self.hours_)
        return series

    def _shares(self, s: _Series, until: int) -> tuple[np.ndarray, np.ndarray]:
        """Over the first ``until`` hours, away from planned events (±12 h): each place's
        share of the series total per local hour of the week, and the series' expected total
        per hour of the week.

        Both are shrunk level by level — hour of the week toward hour of the day toward all
        hours — with Gamma–Poisson priors worth :data:`PRIOR_COUNTS` counts (of the series;
        of each place), so that a quiet place (an arrondissement with no incident in six
        Wednesdays at 16:00, psychiatric arrivals at one hospital) borrows its shape from the
        coarser levels and a busy one keeps its own. A measurement place's share is taken
        over the hours it reported only: a value the operator suppressed as too small is
        unknown, not zero (biased up: cautious)."""
        quiet = self.quiet_[:until]
        values, totals = s.values[:until][quiet], s.totals[:until][quiet]
        how = self.how_[:until][quiet]
        hod = how % 24
        n_places = values.shape[1]
        known = np.isfinite(values)
        y = np.where(known, values, 0.0)
        t = totals[:, None] * known

        def by(index: np.ndarray, size: int, data: np.ndarray) -> np.ndarray:
            out = np.zeros((size, *data.shape[1:]))
            np.add.at(out, index, data)
            return out

        # Each place's rate relative to the total, Gamma–Poisson: worth PRIOR_COUNTS of its
        # own counts at the coarser level (posterior mean (y + κ) / (t + κ / prior)).
        overall = (y.sum(axis=0) + 0.5) / (t.sum(axis=0) + 0.5 * n_places)
        by_hod = (by(hod, 24, y) + PRIOR_COUNTS) / (by(hod, 24, t) + PRIOR_COUNTS / overall)
        share = (by(how, 168, y) + PRIOR_COUNTS) / (
            by(how, 168, t) + PRIOR_COUNTS / by_hod[np.arange(168) % 24])
        mean = max(float(totals.mean()) if totals.size else 0.0, 1e-6)
        ones = np.ones(len(totals))
        rate_hod = (by(hod, 24, totals) + PRIOR_COUNTS) / (by(hod, 24, ones) + PRIOR_COUNTS / mean)
        rate_hod = np.maximum(rate_hod, 1e-6)
        rate_how = (by(how, 168, totals) + PRIOR_COUNTS) / (
            by(how, 168, ones) + PRIOR_COUNTS / rate_hod[np.arange(168) % 24])
        return share, rate_how

    def _controls(self, hour: datetime) -> np.ndarray:
        """Rows of the seasonal controls of ``hour``: the same local hour of the week in past
        weeks only, none with a planned event near."""
        hit = self.controls_.get(hour)
        if hit is not None:
            return hit
        span = (self.start_, min(self.end_, hour))
        # Aware arithmetic on the city's clock: a week before 18:00 is 18:00, across DST too.
        at = matched_controls(hour.astimezone(_CITY), weeks=self.weeks,
                              blockers=self.blockers_, span=span, hours_before=0,
                              hours_after=0)
        rows = np.array([(a - self.start_) // HOUR for a in at], dtype=np.int64)
        if len(self.controls_) > 4096:
            self.controls_.clear()
        self.controls_[hour] = rows
        return rows

    def _parts(self, s: _Series, hour: datetime) -> tuple[np.ndarray, ...]:
        """Own controls' mean, its sampling variance, its number and the pooled prior.

        The prior is the series total in the controls, shrunk toward its expected total at
        that hour of the week by :data:`PRIOR_COUNTS` counts, times the place's share. A
        measurement place needs ``min_controls`` known controls of its own: an unknown value
        is often one the operator suppressed as too small, so the others are biased up."""
        rows = self._controls(hour)
        n_places = len(s.places)
        if not len(rows):
            nan = np.full(n_places, np.nan)
            return nan, nan, np.zeros(n_places, dtype=np.int64), nan
        ctrl = s.values[rows]
        n = np.sum(np.isfinite(ctrl), axis=0)
        own = np.where(n > 0, np.nansum(ctrl, axis=0) / np.maximum(n, 1), 0.0)
        dev = np.where(np.isfinite(ctrl), (ctrl - own) ** 2, 0.0)
        spread = np.where(n > 1, dev.sum(axis=0) / np.maximum(n - 1, 1), np.inf)
        local = hour.astimezone(_CITY)
        how = local.weekday() * 24 + local.hour
        rate = s.week_rate[how]
        total = (float(np.sum(s.totals[rows])) + PRIOR_COUNTS) / (len(rows) + PRIOR_COUNTS / rate)
        prior = total * s.share[how]
        if not s.feed.point:
            prior = np.where(n >= self.min_controls, prior, np.nan)
        # Never below the noise of a count (φ = 1; a level's resolution): a few zero controls
        # are not certainty.
        floor = (s.quantum if s.feed.continuous else 1.0) * np.maximum(own, np.nan_to_num(prior))
        own_var = np.maximum(np.where(np.isfinite(spread), spread, own), floor) / np.maximum(n, 1)
        return own, own_var, n, prior

    def seasonal(self, s: _Series, hour: datetime) -> np.ndarray:
        """Seasonal expectation of every place of ``s`` for a whole ``hour`` (cached; NaN
        where there are no controls)."""
        hit = s.cache.get(hour)
        if hit is not None:
            return hit
        own, own_var, n, prior = self._parts(s, hour)
        if np.isnan(prior).all():
            mu = prior
        else:
            mu, _ = pool(own, np.where(np.isfinite(own_var), own_var, 1e12), n, prior,
                         np.zeros_like(prior), s.tau2 * prior ** 2)
        if len(s.cache) > 96:
            s.cache.clear()
        s.cache[hour] = mu
        return mu

    def _calibration_hours(self) -> list[datetime]:
        first = max(self.end_ - self.calibration_weeks * timedelta(weeks=1),
                    self.start_ + timedelta(weeks=1))
        hours = []
        at = first
        while at < self.end_:
            if not any(st < at + BLOCK and en > at - BLOCK for st, en in self.blockers_):
                hours.append(at)
            at += HOUR
        return hours

    def _calibrate(self, s: _Series) -> None:
        """Each place's ``τ²`` (relative heterogeneity of its own hour-of-week mean around the
        pooled prior: a residential cell's weekends differ from the city's) and the series'
        over-dispersion, by moments over the last ``calibration_weeks`` of the history, one
        step ahead."""
        hours = self._calibration_hours()
        if not hours:
            return
        # The calibration hours are predicted from shares learnt before them (out of sample).
        full = s.share, s.week_rate
        s.share, s.week_rate = self._shares(s, (hours[0] - self.start_) // HOUR)
        s.cache.clear()
        try:
            self._dispersion_moments(s, hours)
        finally:
            s.share, s.week_rate = full
            s.cache.clear()

    def _dispersion_moments(self, s: _Series, hours: list[datetime]) -> None:
        num = np.zeros(len(s.places))
        den = np.zeros(len(s.places))
        parts = []
        for hour in hours:
            own, own_var, n, prior = self._parts(s, hour)
            ok = (n > 1) & np.isfinite(prior) & (prior > 0) & np.isfinite(own_var)
            num += np.where(ok, (own - prior) ** 2 - own_var, 0.0)
            den += np.where(ok, prior ** 2, 0.0)
            parts.append((hour, own, own_var, n, prior))
        s.tau2 = np.maximum(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0), 0.0)
        mus, ys = [], []
        for hour, own, own_var, n, prior in parts:
            mu, _ = pool(own, np.where(np.isfinite(own_var), own_var, 1e12), n, prior,
                         np.zeros_like(prior), s.tau2 * prior ** 2)
            y = s.values[(hour - self.start_) // HOUR]
            ok = np.isfinite(y) & np.isfinite(mu) & (mu > 0)
            mus.append(mu[ok])
            ys.append(y[ok])
        mu_all, y_all = np.concatenate(mus), np.concatenate(ys)
        if not mu_all.size:
            return
        if s.feed.continuous:
            # Var = φμ + αμ² by non-negative least squares: a density is a scaled count (the
            # φμ term, which dominates at night) with a multiplicative noise (the αμ² term).
            design = np.column_stack([mu_all, mu_all ** 2])
            scale = np.sqrt(np.sum(design ** 2, axis=0))
            coef, _ = optimize.nnls(design / scale, (y_all - mu_all) ** 2)
            s.phi, s.alpha = (float(x) for x in coef / scale)
            # A level reported to a resolution r (densities to 0.01) varies like r × a count
            # where it is small: its φ is at least r.
            s.phi = max(s.phi, s.quantum)
        else:
            s.alpha = _dispersion(mu_all, (y_all - mu_all) ** 2)

    # -- planned events ---------------------------------------------------------------------

    def _impact_models(self) -> dict[int, EventImpactModel]:
        """The event-impact models over the series' cells, per resolution (one impact feed
        per feed and category)."""
        return {res: model for res in IMPACT_BANDS
                if (model := self._impact_model(res)) is not None}

    def _impact_model(self, resolution: int) -> EventImpactModel | None:
        feeds: dict[str, pl.DataFrame] = {}
        zero = set()
        for s in self.series_:
            if s.level == "zone" or s.key in feeds or s.resolution != resolution:
                continue
            rows, cols = np.nonzero(np.isfinite(s.values) & (s.values != 0)
                                    if s.feed.point else np.isfinite(s.values))
            frame = pl.DataFrame({"cell": s.cells[cols], "value": s.values[rows, cols],
                                  "r": rows}).with_columns(
                hour_start=pl.lit(self.start_).dt.convert_time_zone("UTC")
                + pl.duration(hours=pl.col("r")))
            feeds[s.key] = (frame.filter(pl.col("cell") > 0)
                            .group_by("cell", "hour_start").agg(pl.col("value").sum()))
            if s.feed.point:
                zero.add(s.key)
        events = self.events_.filter(pl.col("start") < self.end_).select(
            "kind", "venue", "cell", "start", "end", "expected_attendance")
        if not feeds or not self.events_.height:
            return None
        model = EventImpactModel(hours_before=self.hours_before, hours_after=self.hours_after,
                                 control_weeks=self.weeks, resolution=resolution,
                                 bands=IMPACT_BANDS[resolution])
        return model.fit(ImpactHistory(feeds, events, frozenset(zero)))

    def _anticipation(self, event: dict[str, Any], resolution: int) -> _CellEffects:
        """The impact model's effects for an event at ``resolution``, by (impact feed, hour):
        cells, their arrondissements, effects and standard deviations; cached. Empty when
        there is nothing to learn from."""
        key = (str(event["event_id"]), resolution)
        hit = self.anticipations_.get(key)
        if hit is not None:
            return hit
        out: _CellEffects = {}
        model = self.impact_.get(resolution)
        if model is not None and event["expected_attendance"] > 0:
            try:
                with warnings.catch_warnings():
                    # Rings without data in some past event give empty means: expected.
                    warnings.simplefilter("ignore", RuntimeWarning)
                    rows = model.anticipate(ImpactEvent(
                        kind=event["kind"], venue=event["venue"], cell=int(event["cell"]),
                        start=event["start"], end=event["end"],
                        expected_attendance=float(event["expected_attendance"])))
            except ConfigError:
                rows = None  # no matched control in the history: no effect to add
            if rows is not None and rows.height:
                # Arrondissements (for zone series) are summed from resolution-8 cells.
                zones = (with_zones(rows)["zone"] if resolution == RESOLUTION
                         else pl.Series([None] * rows.height, dtype=pl.String))
                rows = rows.with_columns(zone=zones)
                for (feed, hour), part in rows.partition_by(["feed", "hour"],
                                                            as_dict=True).items():
                    out[(str(feed), hour)] = (
                        part["cell"].to_numpy(), part["zone"].to_numpy(),
                        part["effect"].to_numpy(), part["sd_estimate"].to_numpy())
        self.anticipations_[key] = out
        return out

    def effects(self, index: int, hour: datetime) -> tuple[np.ndarray, np.ndarray]:
        """Planned events' expected effect on every place of series ``index`` during a whole
        ``hour``, and its standard deviation (cached)."""
        hit = self.effects_.get((index, hour))
        if hit is not None:
            return hit
        s = self.series_[index]
        effect, sd = np.zeros(len(s.places)), np.zeros(len(s.places))
        for event in self.event_rows_:
            if not (event["start"] - self.hours_before * HOUR <= hour + HOUR
                    and event["start"] + (self.hours_after + 1) * HOUR > hour):
                continue
            rows = self._anticipation(event, s.resolution).get((s.key, hour))
            if rows is None:
                continue
            e, d = self._place_effects(s, hour, *rows)
            # Only increases are added: the detector looks for excesses, and a noisy negative
            # estimate (few past events, small counts) would lower the bar below the season.
            effect += np.maximum(e, 0.0)
            sd += d  # events' errors may share controls: added as correlated (cautious)
        if len(self.effects_) > 4096:
            self.effects_.clear()
        self.effects_[(index, hour)] = (effect, sd)
        return effect, sd

    def _place_effects(self, s: _Series, hour: datetime, cells: np.ndarray, zones: np.ndarray,
                       effect: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An event's cell effects on the places of ``s``: summed per arrondissement, or
        looked up per cell (sites sharing a cell share its effect in proportion to their
        expectation)."""
        if s.level == "zone":
            index = {z: i for i, z in enumerate(s.places)}
            at = np.array([index.get(z, -1) for z in zones], dtype=np.int64)
            ok = at >= 0
            e, d = np.zeros(len(s.places)), np.zeros(len(s.places))
            np.add.at(e, at[ok], effect[ok])
            np.add.at(d, at[ok], sd[ok])
            return e, d
        order = np.argsort(cells)
        at = np.clip(np.searchsorted(cells[order], s.cells), 0, len(cells) - 1)
        found = cells[order][at] == s.cells
        e = np.where(found, effect[order][at], 0.0)
        d = np.where(found, sd[order][at], 0.0)
        if s.level == "site":
            mu = np.nan_to_num(self.seasonal(s, hour))
            same = s.cells[:, None] == s.cells[None, :]
            total = same @ mu
            weight = np.where(total > 0, mu / np.where(total > 0, total, 1.0),
                              1.0 / same.sum(axis=1))
            e, d = e * weight, d * weight
        return e, d

    # -- detection --------------------------------------------------------------------------

    def detect(self, observed: pl.DataFrame, now: datetime, *, every_test: bool = False
               ) -> pl.DataFrame:
        """Candidate anomalies (:data:`CANDIDATE_SCHEMA`) in ``observed`` at time ``now``.

        ``observed`` holds the observations (:data:`OBSERVATION_SCHEMA`) of at least the last
        ``max_hours + 1`` hours before ``now``; point feeds' absent places count zero. The hour
        containing ``now`` is partial: its expected count is scaled by the elapsed fraction
        (point feeds) or by the received measurements' ``coverage``. With ``every_test``, every
        place test is returned (not only the candidates), for diagnostics.
        """
        if not hasattr(self, "series_"):
            raise ConfigError("AnomalyDetector is not fitted: call fit() first")
        current = _floor(now)
        bins = [current - j * HOUR for j in range(self.max_hours + 1)]  # newest first
        elapsed = (now - current) / HOUR
        joined = (observed.filter((pl.col("hour") >= bins[-1]) & (pl.col("hour") <= current))
                  .join(self.slots_, on=["feed", "category", "level", "place"])
                  .select("series", "slot", "value", "coverage",
                          back=(pl.lit(current) - pl.col("hour")).dt.total_hours())
                  .sort("series"))
        # One conversion to numpy, then each series' rows by position (polars per series
        # would cost more than the statistics).
        series_of = joined["series"].to_numpy()
        slot_of, back_of = joined["slot"].to_numpy(), joined["back"].to_numpy()
        value_of, cover_of = joined["value"].to_numpy(), joined["coverage"].to_numpy()
        bounds = np.searchsorted(series_of, np.arange(len(self.series_) + 1))
        windows: list[_Windows] = []
        clusters: list[dict[str, Any]] = []
        for index, s in enumerate(self.series_):
            lo, hi = bounds[index], bounds[index + 1]
            n_bins, n_places = len(bins), len(s.places)
            y = np.zeros((n_places, n_bins)) if s.feed.point else np.full((n_places, n_bins),
                                                                          np.nan)
            cover = np.zeros((n_places, n_bins))
            if s.feed.point:
                cover[:] = 1.0
                cover[:, 0] = elapsed
            y[slot_of[lo:hi], back_of[lo:hi]] = value_of[lo:hi]
            if not s.feed.point:
                cover[slot_of[lo:hi], back_of[lo:hi]] = cover_of[lo:hi]
            cover = np.where(np.isfinite(y), cover, 0.0)
            mu = np.empty((n_places, n_bins))
            sd = np.empty((n_places, n_bins))
            for j, hour in enumerate(bins):
                eff, eff_sd = self.effects(index, hour)
                mu[:, j] = np.maximum(self.seasonal(s, hour) + eff, 0.0)
                sd[:, j] = eff_sd
            if s.feed.point and s.level == "cell":
                if hi > lo or every_test:
                    clusters.extend(self._scan(index, s, y, mu, cover, bins))
                continue
            w = self._windows(index, s, y, mu, sd, cover)
            if w is not None:
                windows.append(w)
        return self._candidates(windows, clusters, bins, every_test)

    def _windows(self, index: int, s: _Series, y: np.ndarray, mu: np.ndarray,
                 sd: np.ndarray, cover: np.ndarray) -> _Windows | None:
        """Observed, expected and variance of each place's windows of 1…max_hours hours
        ending at its newest data."""
        has = cover > 0
        newest = np.where(has.any(axis=1), np.argmax(has, axis=1), -1)
        valid = np.flatnonzero((newest >= 0) & np.isfinite(mu).all(axis=1))
        if not len(valid):
            return None
        n_bins = y.shape[1]
        depth = np.arange(self.max_hours)
        cols = newest[valid][:, None] + depth[None, :]  # places × hours back
        inside = cols < n_bins
        cols = np.minimum(cols, n_bins - 1)
        c = np.take_along_axis(cover[valid], cols, axis=1) * inside
        yy = np.nan_to_num(np.take_along_axis(y[valid], cols, axis=1)) * (c > 0)
        cum = {name: np.cumsum(a, axis=1).T for name, a in (  # windows × places
            ("c", c), ("yc", yy * c), ("y", yy),
            ("mc", np.take_along_axis(mu[valid], cols, axis=1) * c),
            ("sc", np.take_along_axis(sd[valid], cols, axis=1) * c))}
        usable = np.cumprod((c > 0).T, axis=0).astype(bool)
        if s.feed.continuous:
            cov = np.maximum(cum["c"], 1e-12)
            obs, exp = cum["yc"] / cov, cum["mc"] / cov
            var = (s.phi * exp + s.alpha * exp ** 2) / cov + (cum["sc"] / cov) ** 2
        else:
            obs, exp = cum["y"], cum["mc"]
            var = exp + s.alpha * exp ** 2 + cum["sc"] ** 2
        return _Windows(index, valid, newest[valid], obs, exp, var, usable)

    def _candidates(self, windows: list[_Windows], clusters: list[dict[str, Any]],
                    bins: list[datetime], every_test: bool) -> pl.DataFrame:
        """One p-value per place (its smallest over the windows, times their number), BH
        q-values over all the places of the pass, and the candidates' rows."""
        if windows:
            obs = np.concatenate([w.obs.ravel() for w in windows])
            exp = np.concatenate([w.exp.ravel() for w in windows])
            var = np.concatenate([w.var.ravel() for w in windows])
            cont = np.concatenate([np.full(w.obs.size, self.series_[w.series].feed.continuous)
                                   for w in windows])
            p = np.ones(obs.size)
            for flag in (False, True):
                at = cont == flag
                if at.any():
                    p[at] = tail_probability(obs[at], exp[at], var[at], continuous=flag)
            offsets = np.cumsum([0, *(w.obs.size for w in windows)])
            for w, lo in zip(windows, offsets, strict=False):
                part = np.where(w.usable, p[lo:lo + w.obs.size].reshape(w.obs.shape), 1.0)
                w.best = np.argmin(part, axis=0)
                tried = np.maximum(w.usable.sum(axis=0), 1)
                w.p = np.minimum(part.min(axis=0) * tried, 1.0)
            families = np.concatenate([np.full(len(w.p), self.series_[w.series].feed.name)
                                       for w in windows])
            q = bh_qvalues(np.concatenate([w.p for w in windows]),
                           feed_weights(families) if self.balance_feeds else None)
        rows: list[dict[str, Any]] = []
        at = 0
        for w in windows:
            s = self.series_[w.series]
            wq = q[at:at + len(w.p)]
            at += len(w.p)
            method = "gamma" if s.feed.continuous else ("negbin" if s.alpha > 0 else "poisson")
            for i in np.flatnonzero((wq <= self.fdr) | every_test):
                place, d = w.places[i], int(w.best[i])
                end = bins[w.newest[i]] + HOUR
                rows.append({
                    "feed": s.feed.name, "category": s.category, "level": s.level,
                    "place": str(s.places[place]), "zone": s.zones[place],
                    "places": [str(s.places[place])], "method": method,
                    "window_start": end - (d + 1) * HOUR, "window_end": end,
                    "observed": float(w.obs[d, i]), "expected": float(w.exp[d, i]),
                    "p_value": float(w.p[i]), "q_value": float(wq[i]),
                    "score": -math.log10(max(float(w.p[i]), 1e-300))})
        rows.extend(clusters)
        if not rows:
            return pl.DataFrame(schema=CANDIDATE_SCHEMA)
        return pl.DataFrame(rows, schema=CANDIDATE_SCHEMA).sort("p_value")

    def _scan(self, index: int, s: _Series, y: np.ndarray, mu: np.ndarray, cover: np.ndarray,
              bins: list[datetime]) -> list[dict[str, Any]]:
        """Space-time clusters of a point feed over its cells, ending at the newest hour with
        data (the current one unless it has just begun)."""
        if index not in self.circles_:
            self.circles_[index] = cylinders(s.cells, self.max_ring)
        circles, meta = self.circles_[index]
        start = 0 if cover[0, 0] > 0 else 1
        hours = slice(start, start + self.max_hours)
        counts = y[:, hours]
        expected = np.maximum(np.nan_to_num(mu[:, hours] * cover[:, hours]), 1e-9)
        # The null depends on the expectations only: cached per hour and minute of coverage.
        key = (index, bins[start], int(cover[0, start] * 60))
        clusters, null = scan(counts, expected, circles, meta, alpha=self.scan_alpha,
                              replicates=self.replicates, dispersion=s.alpha,
                              min_count=self.min_cluster, random_state=self.random_state,
                              null=self.null_.get(key))
        if null is not None:
            if len(self.null_) > 64:
                self.null_.clear()
            self.null_[key] = null
        end = bins[start] + HOUR
        out = []
        for c in clusters:
            out.append({
                "feed": s.feed.name, "category": s.category, "level": "cluster",
                "place": str(s.places[c.centre]), "zone": s.zones[c.centre],
                "places": [str(s.places[m]) for m in c.members], "method": "scan",
                "window_start": end - c.hours * HOUR, "window_end": end,
                "observed": c.observed, "expected": c.expected, "p_value": c.p_value,
                "q_value": None, "score": c.llr})
        return out


# -- replay and evaluation ------------------------------------------------------------------


@dataclass
class ReplaySummary:
    """What :func:`replay` did: passes run, fits, candidates seen, alerts opened and updated,
    and the seconds spent detecting (fits and alert bookkeeping excluded)."""

    passes: int = 0
    fits: int = 0
    candidates: int = 0
    opened: int = 0
    updated: int = 0
    detect_seconds: float = 0.0


def replay(store: Store, start: datetime, end: datetime, *,
           detector: AnomalyDetector | None = None, history_start: datetime | None = None,
           refit: timedelta = timedelta(weeks=1), cooldown: timedelta = COOLDOWN,
           progress: Any = None) -> ReplaySummary:
    """Run the detector hour by hour over ``[start, end)`` as if live, recording alerts.

    At each whole hour ``now`` the detector sees the observations of the hours before it
    (measurements complete by then); it is refitted every ``refit`` on all the data before
    ``now`` (from ``history_start``, by default the store's first record). ``progress(done,
    total)`` is called after each pass.
    """
    import time

    detector = detector or AnomalyDetector()
    period = store.data_period()
    if period is None:
        raise ConfigError("the store holds no data to replay")
    first = _floor(history_start or period[0])
    start, end = _floor(start), _floor(end)
    if start - first < timedelta(weeks=1) or end <= start:
        raise ConfigError(f"replay {start} → {end} needs a week of data before it (data from "
                          f"{first})")
    history = detector_history(store, first, end, detector.feeds)
    obs = history.observations
    summary = ReplaySummary()
    total = (end - start) // HOUR
    fitted: datetime | None = None
    now = start + HOUR
    while now <= end:
        if fitted is None or now - fitted >= refit:
            fitted = now - HOUR
            detector.fit(history.until(fitted))
            summary.fits += 1
        window = obs.filter((pl.col("hour") >= now - (detector.max_hours + 1) * HOUR)
                            & (pl.col("hour") < now))
        began = time.perf_counter()
        candidates = detector.detect(window, now)
        summary.detect_seconds += time.perf_counter() - began
        recorded = record_candidates(store, candidates, now, cooldown=cooldown)
        summary.passes += 1
        summary.candidates += candidates.height
        summary.opened += len(recorded.opened)
        summary.updated += len(recorded.updated)
        if progress is not None:
            progress(summary.passes, total)
        now += HOUR
    return summary


@dataclass(frozen=True)
class Evaluation:
    """Alerts against labelled anomalies (:func:`evaluate`).

    Attributes:
        anomalies: labelled anomalies in the period; ``found``: those an alert matched.
        recall: found / anomalies.
        alerts: alerts opened in the period; ``false_alerts``: those matching no anomaly.
        false_per_day: false alerts per day of the period, city-wide.
        delays: per found anomaly, hours from its start to the first matching alert's
            opening (0 when an alert already open absorbed it).
        per_anomaly: one row per anomaly (id, feed, target, found, delay_h).
        false_by_feed: false alerts per feed.
    """

    anomalies: int
    found: int
    recall: float
    alerts: int
    false_alerts: int
    false_per_day: float
    delays: tuple[float, ...]
    per_anomaly: pl.DataFrame
    false_by_feed: dict[str, int]

    @property
    def median_delay_h(self) -> float:
        """Median time to alert, hours (NaN when nothing was found)."""
        return float(np.median(self.delays)) if self.delays else float("nan")

    @property
    def max_delay_h(self) -> float:
        """Longest time to alert, hours (NaN when nothing was found)."""
        return float(max(self.delays)) if self.delays else float("nan")


def evaluate(alerts: Sequence[Any], labelled: pl.DataFrame, start: datetime, end: datetime,
             *, feeds: Sequence[Feed] = FEEDS) -> Evaluation:
    """Match alerts (:class:`~belvedere.store.base.AlertRow`) to labelled anomalies.

    ``labelled`` has ``anomaly_id``, ``feed`` (the *source* affected: ``police_log``,
    ``mobile_presence``…), ``zone_or_site`` (arrondissement, H3 cell, site id), ``start_utc``
    and ``end_utc`` (UTC datetimes); only those starting in ``[start, end)`` count, and only
    alerts opened in ``[start, end)``. An alert matches an anomaly when its feed reads the
    anomaly's source, its arrondissement or one of its places is the anomaly's target, and
    its window overlaps the anomaly's.
    """
    reads = {f.name: set(f.sources) for f in feeds}
    todo = labelled.filter((pl.col("start_utc") >= start) & (pl.col("start_utc") < end))
    opened = [a for a in alerts if start <= a.opened_at < end]

    def matches(alert: Any, anomaly: dict[str, Any]) -> bool:
        target = str(anomaly["zone_or_site"])
        return (anomaly["feed"] in reads.get(alert.feed, set())
                and (alert.zone == target or target in alert.places)
                and alert.window_start < anomaly["end_utc"]
                and alert.window_end > anomaly["start_utc"])

    rows: list[dict[str, Any]] = []
    used: set[int] = set()
    for anomaly in todo.iter_rows(named=True):
        hits = [a for a in opened if matches(a, anomaly)]
        used.update(id(a) for a in hits)
        first = min((a.opened_at for a in hits), default=None)
        delay = (max((first - anomaly["start_utc"]) / HOUR, 0.0) if first is not None
                 else None)
        rows.append({"anomaly_id": anomaly["anomaly_id"], "feed": anomaly["feed"],
                     "target": str(anomaly["zone_or_site"]), "start": anomaly["start_utc"],
                     "found": first is not None, "delay_h": delay})
    false = [a for a in opened if id(a) not in used]
    by_feed: dict[str, int] = {}
    for a in false:
        by_feed[a.feed] = by_feed.get(a.feed, 0) + 1
    days = (end - start) / DAY
    per = pl.DataFrame(rows, schema={"anomaly_id": pl.String, "feed": pl.String,
                                     "target": pl.String, "start": pl.Datetime("us", "UTC"),
                                     "found": pl.Boolean, "delay_h": pl.Float64})
    found = int(per["found"].sum()) if per.height else 0
    return Evaluation(
        anomalies=per.height, found=found, recall=found / per.height if per.height else 1.0,
        alerts=len(opened), false_alerts=len(false), false_per_day=len(false) / days,
        delays=tuple(float(d) for d in per["delay_h"].drop_nulls()), per_anomaly=per,
        false_by_feed=dict(sorted(by_feed.items())))


def read_labelled(path: Any) -> pl.DataFrame:
    """Labelled anomalies from a ``;``-separated file with the columns :func:`evaluate` reads
    (the simulator's ``truth/anomalies.csv``), times parsed to UTC."""
    frame = pl.read_csv(path, separator=";", infer_schema_length=0)
    return frame.with_columns(
        pl.col("start_utc", "end_utc").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"))
