"""④ Features of a forecast window, per cell: environmental, temporal and event variables only.

:func:`window_features` describes every cell of the study area for the window
``[start, start + horizon)`` with:

- **lagged counts**: the cell's (weighted) incident count in the ``horizon``-long periods ending
  at the lag end (lags 1, 2, 4, 13, 52 windows by default), the sum of the last 4 windows and the
  mean of the last 52; the same summed over the k-rings around the cell (rings 1 and 2 by
  default, the centre excluded);
- **categories**: counts of the most frequent categories (up to 5) over the last 4 and 52 windows;
- **covariates**: for each other feed (crowd counts, boardings, ED arrivals…), the cell's and its
  k-rings' sum of ``value`` over the last window and the last 4 windows;
- **planned events** overlapping the window (known in advance, so their own window is used):
  Σ expected_attendance × exp(−grid distance / 2) over events within 4 rings, and their number;
- **calendar**: week of year (sin, cos), month, day of week of ``start``, whether the window holds
  a public holiday (:func:`public_holidays`);
- **recency**: windows since the cell's last incident (capped at 52).

What is never a feature: any attribute of the people who live somewhere (population, income,
unemployment, age, ethnicity…). Those belong to the fairness audit alone (DESIGN §3), and
:func:`check_feature_names` refuses a feature named for one (a covariate feed called
``population`` or ``median_income`` is a :class:`ConfigError`, not a feature).

Leakage: incidents and covariates are read strictly before the *lag end* (``start``, or an
earlier ``lag_end`` when the model's data stops before the window), so a window's features never
see the window itself. Planned events are schedules published in advance: those overlapping the
window are used.

Unobserved history: a lag window that begins before the data's observation start
(``observed_from``, by default the day of the first incident in ``past``) is ``NaN`` (LightGBM
treats it as missing), not 0; the 4- and 52-window aggregates average the observed windows
(the 4-window sum is that average × 4).

Everything is vectorised over cells (numpy ``bincount`` and sparse ring matrices); the only
Python loops run over lags, rings, categories, covariate feeds and planned-event venues.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

import h3
import numpy as np
import polars as pl
from scipy import sparse

from belvedere.errors import ConfigError
from belvedere.models.base import EventData, coarsen, ring_matrix

DEFAULT_LAGS: tuple[int, ...] = (1, 2, 4, 13, 52)
DEFAULT_RINGS: tuple[int, ...] = (1, 2)
SHORT_WINDOWS = 4
"""The short aggregate: sum of the last 4 windows."""
LONG_WINDOWS = 52
"""The long aggregate: mean of the last 52 windows."""
RECENCY_CAP = 52.0
"""Windows since the last incident are capped here (cells never seen get the cap)."""
PLANNED_RINGS = 4
"""Planned events further than 4 rings from a cell do not count for it."""
PLANNED_DECAY = 2.0
"""Attendance weight exp(−grid distance / PLANNED_DECAY)."""

_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# ---------------------------------------------------------------------------------------------
# Public holidays
# ---------------------------------------------------------------------------------------------

_FIXED_HOLIDAYS: dict[str, tuple[tuple[int, int], ...]] = {
    # Jour de l'an, fête du Travail, Victoire 1945, fête nationale, Assomption, Toussaint,
    # Armistice, Noël.
    "FR": ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)),
    # New Year, Canada Day, Remembrance Day, Christmas, Boxing Day.
    "CA": ((1, 1), (7, 1), (11, 11), (12, 25), (12, 26)),
    # New Year, Juneteenth, Independence Day, Veterans Day, Christmas.
    "US": ((1, 1), (6, 19), (7, 4), (11, 11), (12, 25)),
}
_EASTER_HOLIDAYS: dict[str, tuple[int, ...]] = {
    # Days after Easter Sunday: Easter Monday, Ascension Thursday, Whit Monday.
    "FR": (1, 39, 50),
    # Good Friday (federal statutory holiday).
    "CA": (-2,),
    "US": (),
}


def easter(year: int) -> date:
    """Easter Sunday of ``year`` (Gregorian calendar), by the anonymous Gregorian algorithm
    (Meeus/Jones/Butcher).

    >>> easter(2024), easter(2025)
    (datetime.date(2024, 3, 31), datetime.date(2025, 4, 20))
    """
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def public_holidays(year: int, country: str = "FR") -> frozenset[date]:
    """Public holidays of ``country`` in ``year``: a small hard-coded list.

    - ``FR``: the 8 fixed-date holidays, plus Easter Monday, Ascension and Whit Monday (from
      :func:`easter`). Local ones (Alsace-Moselle's Good Friday and 26 December) are left out.
    - ``CA``: fixed-date federal holidays and Good Friday; the Monday holidays (Victoria Day,
      Labour Day, Thanksgiving…) and provincial ones are not listed.
    - ``US``: fixed-date federal holidays only; the Monday/Thursday ones (MLK Day, Memorial Day,
      Labor Day, Thanksgiving…) are not listed.
    """
    code = country.upper()
    if code not in _FIXED_HOLIDAYS:
        raise ConfigError(f"no public-holiday list for country {country!r}: "
                          f"choose one of {sorted(_FIXED_HOLIDAYS)}")
    days = {date(year, month, day) for month, day in _FIXED_HOLIDAYS[code]}
    sunday = easter(year)
    days.update(sunday + timedelta(days=offset) for offset in _EASTER_HOLIDAYS[code])
    return frozenset(days)


def holds_holiday(start: datetime, end: datetime, country: str | None) -> bool:
    """Whether a (UTC) date of ``[start, end)`` is a public holiday of ``country``."""
    if country is None or end <= start:
        return False
    first, last = start.date(), (end - _US).date()
    years = range(first.year, last.year + 1)
    days = frozenset().union(*(public_holidays(y, country) for y in years))
    return any(first <= d <= last for d in days)


# ---------------------------------------------------------------------------------------------
# Geometry cache
# ---------------------------------------------------------------------------------------------


class FeatureCache:
    """Neighbourhood matrices of one study area, built once and reused across windows.

    ``ring(k)``: the flat k-ring sum without the centre, ``ring_matrix(area, k, "flat") − I``.
    ``venues(cells)``: for planned-event venue cells (which may lie outside the area), sparse
    ``(len(area), len(cells))`` matrices of the attendance kernel exp(−d / 2) and of 1, for
    grid distance d ≤ 4.
    """

    def __init__(self, area: np.ndarray) -> None:
        self.area = np.asarray(area, dtype=np.int64)
        self._rings: dict[int, sparse.csr_matrix] = {}
        self._venues: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def matches(self, area: np.ndarray) -> bool:
        return self.area is area or (len(self.area) == len(area)
                                     and bool(np.array_equal(self.area, area)))

    def ring(self, k: int) -> sparse.csr_matrix:
        if k not in self._rings:
            flat = ring_matrix(self.area, k, "flat")
            centre = sparse.identity(len(self.area), format="csr")
            ring = (flat - centre).tocsr()
            ring.eliminate_zeros()
            self._rings[k] = ring
        return self._rings[k]

    def _venue(self, cell: int) -> tuple[np.ndarray, np.ndarray]:
        """Area indices within PLANNED_RINGS of ``cell`` and their grid distances."""
        if cell not in self._venues:
            origin = h3.int_to_str(int(cell))
            found, dist = [], []
            for d in range(PLANNED_RINGS + 1):
                ring = h3.grid_ring(origin, d) if d else [origin]
                ids = np.array([h3.str_to_int(c) for c in ring], dtype=np.int64)
                pos = np.searchsorted(self.area, ids)
                pos = np.minimum(pos, len(self.area) - 1)
                hit = self.area[pos] == ids if len(self.area) else np.zeros(len(ids), bool)
                found.append(pos[hit])
                dist.append(np.full(int(hit.sum()), d, dtype=np.float64))
            self._venues[cell] = (np.concatenate(found), np.concatenate(dist))
        return self._venues[cell]

    def venues(self, cells: np.ndarray) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
        rows, cols, dists = [], [], []
        for j, cell in enumerate(np.asarray(cells, dtype=np.int64)):
            index, dist = self._venue(int(cell))
            rows.append(index)
            cols.append(np.full(len(index), j))
            dists.append(dist)
        shape = (len(self.area), len(cells))
        r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        d = np.concatenate(dists) if dists else np.zeros(0)
        kernel = sparse.csr_matrix((np.exp(-d / PLANNED_DECAY), (r, c)), shape=shape)
        flat = sparse.csr_matrix((np.ones_like(d), (r, c)), shape=shape)
        return kernel, flat


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


SOCIO_DEMOGRAPHIC = (
    "population", "populations", "resident", "residents", "inhabitant", "inhabitants",
    "habitant", "habitants", "income", "incomes", "revenu", "revenus", "wage", "wages",
    "salary", "poverty", "pauvrete", "unemployment", "unemployed", "chomage", "ethnic",
    "ethnicity", "race", "religion", "nationality", "nationalite", "immigrant", "immigrants",
    "immigration", "foreigner", "foreigners", "etranger", "etrangers", "age", "ages", "gender",
    "sex", "sexe", "household", "households", "menage", "menages", "foyer", "education",
    "diploma", "diplome", "census", "recensement", "tenant", "tenants", "hlm", "welfare",
)
"""Words that name an attribute of residents: never part of a feature's name (whole words of
the name, so that ``page`` or ``average`` pass)."""


def check_feature_names(names: Iterable[str]) -> None:
    """Refuse feature (or covariate feed) names that describe residents (DESIGN §3).

    >>> check_feature_names(["count_lag1", "cov_crowd_count_last1", "planned_attendance"])
    >>> check_feature_names(["cov_income_last1"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    belvedere.errors.ConfigError: socio-demographic attributes are never ...: cov_income_last1
    """
    bad = [n for n in names if set(re.split(r"[\W_]+", n.lower())) & set(SOCIO_DEMOGRAPHIC)]
    if bad:
        raise ConfigError(f"socio-demographic attributes are never model features (DESIGN §3; "
                          f"the fairness audit alone reads them): {', '.join(bad)}")


def utc(t: datetime) -> datetime:
    """``t`` as an aware UTC datetime (naive datetimes are taken as UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _micros(t: datetime) -> int:
    return (utc(t) - _EPOCH) // _US


def slug(name: str) -> str:
    """A feature-name-safe form of a category or feed name (LightGBM refuses JSON signs)."""
    out = re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()
    return out or "uncategorised"


def top_categories(past: pl.DataFrame, n: int = 5) -> list[str]:
    """The ``n`` most frequent categories of ``past`` (ties broken by name), most frequent
    first."""
    if n <= 0 or not past.height:
        return []
    counts = (past.group_by("category").agg(pl.len().alias("n"))
              .sort(["n", "category"], descending=[True, False], nulls_last=True))
    return [c for c in counts["category"].head(n).to_list() if c is not None]


def _unique_slugs(names: Iterable[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        base = slug(name)
        candidate, i = base, 2
        while candidate in out:
            candidate, i = f"{base}_{i}", i + 1
        out.append(candidate)
    return out


def _observed(end_us: int, h_us: int, n: int, observed_from: datetime | None) -> np.ndarray:
    """Whether each of the ``n`` windows ending at ``end_us`` (0 = latest) began after the
    observation start."""
    if observed_from is None:
        return np.zeros(n, dtype=bool)
    starts = end_us - (np.arange(n, dtype=np.int64) + 1) * h_us
    return starts >= _micros(observed_from)


def window_counts(frame: pl.DataFrame, value: str, area: np.ndarray, end: datetime,
                   h_us: int, n: int, resolution: int | None = None,
                   codes: np.ndarray | None = None, n_codes: int = 1) -> np.ndarray:
    """Σ ``value`` per (cell, window[, code]) over the ``n`` windows of ``h_us`` microseconds
    ending at ``end`` (column 0: the latest, ``[end − h, end)``); returns ``(len(area), n)``, or
    ``(len(area), n, n_codes)`` when ``codes`` (per row, −1 to skip) are given. Cells are
    coarsened to ``resolution`` when given; rows outside the area or the windows are ignored."""
    shape = (len(area), n) if codes is None else (len(area), n, n_codes)
    if not frame.height or not len(area):
        return np.zeros(shape)
    cells = frame["cell"].to_numpy().astype(np.int64, copy=False)
    if resolution is not None:
        cells = coarsen(cells, resolution)
    pos = np.minimum(np.searchsorted(area, cells), len(area) - 1)
    inside = area[pos] == cells
    ts = frame["ts"].dt.epoch("us").to_numpy()
    j = (_micros(end) - ts) // h_us
    keep = inside & (j >= 0) & (j < n)
    weights = frame[value].to_numpy().astype(np.float64, copy=False)[keep]
    flat = pos[keep] * n + j[keep]
    size = len(area) * n
    if codes is not None:
        c = codes[keep]
        ok = c >= 0
        flat, weights = flat[ok] * n_codes + c[ok], weights[ok]
        size *= n_codes
    out = np.bincount(flat, weights=np.nan_to_num(weights), minlength=size)
    return out.reshape(shape)


class _Binned:
    """Values per (cell, window[, code]) over a span of windows (column 0: the latest), zero in
    unobserved windows, with prefix sums along the windows for O(1) window aggregates."""

    def __init__(self, values: np.ndarray, observed: np.ndarray) -> None:
        mask = observed.reshape((1, -1) + (1,) * (values.ndim - 2))
        self.values = values * mask
        self.observed = observed
        zero = np.zeros((values.shape[0], 1, *values.shape[2:]))
        self.prefix = np.concatenate([zero, np.cumsum(self.values, axis=1)], axis=1)
        self.seen = np.concatenate([[0], np.cumsum(observed)])

    def lag(self, shift: int, lag: int) -> np.ndarray:
        """Window ``lag`` (1 = latest) before the lag end ``shift`` windows back; NaN when
        unobserved."""
        j = shift + lag - 1
        if not self.observed[j]:
            return np.full((self.values.shape[0], *self.values.shape[2:]), np.nan)
        return self.values[:, j]

    def mean(self, shift: int, k: int) -> np.ndarray:
        """Mean over the observed windows among the last ``k``; NaN when none."""
        n_obs = int(self.seen[shift + k] - self.seen[shift])
        if n_obs == 0:
            return np.full((self.values.shape[0], *self.values.shape[2:]), np.nan)
        return (self.prefix[:, shift + k] - self.prefix[:, shift]) / n_obs


def _between(frame: pl.DataFrame, lo: datetime, hi: datetime) -> pl.DataFrame:
    return frame.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))


def as_utc(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``frame`` with its datetime ``columns`` in UTC (naive ones are taken as UTC)."""
    exprs = []
    for name in columns:
        dtype = frame.schema[name]
        if not isinstance(dtype, pl.Datetime):
            exprs.append(pl.col(name).cast(pl.Datetime("us", "UTC")))
        elif dtype.time_zone is None:
            exprs.append(pl.col(name).dt.replace_time_zone("UTC"))
        elif dtype.time_zone != "UTC":
            exprs.append(pl.col(name).dt.convert_time_zone("UTC"))
    return frame.with_columns(exprs) if exprs else frame


# ---------------------------------------------------------------------------------------------
# Features
# ---------------------------------------------------------------------------------------------


def window_features(
    data: EventData,
    past: pl.DataFrame,
    *,
    start: datetime,
    horizon: timedelta,
    lags: Sequence[int] = DEFAULT_LAGS,
    rings: Sequence[int] = DEFAULT_RINGS,
    categories: Sequence[str] | None = None,
    categories_top: int = 5,
    holidays: str | None = "FR",
    lag_end: datetime | None = None,
    observed_from: datetime | None = None,
    cache: FeatureCache | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Features of every cell of ``data.area`` (rows, area order) for the window
    ``[start, start + horizon)``; returns ``(X, names)``.

    Args:
        data: the area, resolution, covariates and planned events (``data.events`` is *not*
            read: incidents come from ``past``).
        past: incidents known to the model (those before its training cut); only those strictly
            before the lag end are read.
        start, horizon: the window; lags are counted in windows of length ``horizon``.
        lags: lags (in windows) of the per-cell and ring counts.
        rings: k-rings (centre excluded) over which lags and covariates are also summed.
        categories: categories to count separately; by default the ``categories_top`` most
            frequent in ``past`` before the lag end (give them explicitly so that windows share
            the same columns).
        holidays: country of the public-holiday flag (``"FR"``, ``"CA"``, ``"US"``; ``None``
            for none).
        lag_end: end of the lagged periods (default and maximum: ``start``). A model whose data
            stops at ``until`` < ``start`` passes ``until``: lag 1 is then the window before
            ``until``.
        observed_from: start of the observed history (default: the day of the first incident in
            ``past``); lag windows starting earlier are ``NaN``.
        cache: ring and venue matrices for this area, reused between calls.
    """
    blocks, names = windows_features(
        data, past, starts=[start], horizon=horizon, lags=lags, rings=rings,
        categories=categories, categories_top=categories_top, holidays=holidays,
        lag_ends=None if lag_end is None else [lag_end], observed_from=observed_from,
        cache=cache)
    return blocks[0], names


def windows_features(
    data: EventData,
    past: pl.DataFrame,
    *,
    starts: Sequence[datetime],
    horizon: timedelta,
    lags: Sequence[int] = DEFAULT_LAGS,
    rings: Sequence[int] = DEFAULT_RINGS,
    categories: Sequence[str] | None = None,
    categories_top: int = 5,
    holidays: str | None = "FR",
    lag_ends: Sequence[datetime] | None = None,
    observed_from: datetime | None = None,
    cache: FeatureCache | None = None,
) -> tuple[list[np.ndarray], list[str]]:
    """:func:`window_features` of several windows at once (one ``X`` per start, same columns).

    When the lag ends lie on one grid of step ``horizon`` (as a model's training windows do),
    incidents are binned once into windows over the whole span and each window's features are
    slices of it; otherwise each window is computed on its own. The results are the same.
    Categories and ``observed_from`` default to those of ``past`` before the latest lag end.
    """
    if horizon <= timedelta(0):
        raise ConfigError(f"the forecast horizon must be positive, got {horizon}")
    lags = [int(x) for x in lags]
    rings = [int(k) for k in rings]
    if any(x < 1 for x in lags) or any(k < 1 for k in rings):
        raise ConfigError(f"lags and rings must be ≥ 1, got lags={lags} rings={rings}")
    starts = [utc(s) for s in starts]
    if lag_ends is None:
        ends = starts
    else:
        if len(lag_ends) != len(starts):
            raise ConfigError("give one lag end per window start")
        ends = [min(s, utc(e)) for s, e in zip(starts, lag_ends, strict=True)]
    if not starts:
        return [], []
    area = np.asarray(data.area, dtype=np.int64)
    if cache is None or not cache.matches(area):
        cache = FeatureCache(area)
    h_us = horizon // _US
    latest = max(ends)
    before = as_utc(past, "ts").filter(pl.col("ts") < latest)
    if observed_from is None and before.height:
        first = utc(before["ts"].min())  # type: ignore[arg-type]
        observed_from = datetime(first.year, first.month, first.day, tzinfo=UTC)
    if categories is None:
        categories = top_categories(before, categories_top)
    offsets = [_micros(latest) - _micros(e) for e in ends]
    if len(starts) > 1 and any(o % h_us for o in offsets):
        out: list[np.ndarray] = []
        names: list[str] = []
        for s, e in zip(starts, ends, strict=True):
            blocks, names = windows_features(
                data, past, starts=[s], horizon=horizon, lags=lags, rings=rings,
                categories=categories, holidays=holidays, lag_ends=[e],
                observed_from=observed_from, cache=cache)
            out += blocks
        return out, names
    shifts = [o // h_us for o in offsets]
    check_feature_names(sorted(data.covariates))
    return _aligned(data, before, cache, starts, ends, shifts, latest, horizon, lags, rings,
                    list(categories), holidays, observed_from)


def _aligned(data: EventData, before: pl.DataFrame, cache: FeatureCache,
             starts: list[datetime], ends: list[datetime], shifts: list[int], latest: datetime,
             horizon: timedelta, lags: list[int], rings: list[int], categories: list[str],
             holidays: str | None, observed_from: datetime | None
             ) -> tuple[list[np.ndarray], list[str]]:
    """Features of windows whose lag ends are ``latest − shift × horizon``."""
    area = cache.area
    h_us = horizon // _US
    n_hist = max([*lags, LONG_WINDOWS, SHORT_WINDOWS])
    span = max(shifts) + n_hist
    observed_all = _observed(_micros(latest), h_us, span, observed_from)
    recent = _between(before, latest - span * horizon, latest)
    counts_all = _Binned(window_counts(recent, "weight", area, latest, h_us, span),
                         observed_all)
    per_all = None
    if categories:
        mapping = {c: i for i, c in enumerate(categories)}
        codes = (recent["category"].replace_strict(mapping, default=-1, return_dtype=pl.Int64)
                 .to_numpy())
        per_all = _Binned(window_counts(recent, "weight", area, latest, h_us, span,
                                        codes=codes, n_codes=len(categories)), observed_all)
    category_names = _unique_slugs(categories)

    feeds = sorted(data.covariates)
    covariates = []
    cov_span = max(shifts) + SHORT_WINDOWS
    for feed in feeds:
        frame = as_utc(data.covariates[feed], "ts")
        cov_from = None
        if frame.height:
            first = utc(frame["ts"].min())  # type: ignore[arg-type]
            cov_from = datetime(first.year, first.month, first.day, tzinfo=UTC)
        cov_observed = _observed(_micros(latest), h_us, cov_span, cov_from)
        window = _between(frame, latest - cov_span * horizon, latest)
        values = window_counts(window, "value", area, latest, h_us, cov_span,
                               resolution=data.resolution)
        covariates.append(_Binned(values, cov_observed))
    feed_names = _unique_slugs(feeds)
    last_seen = _last_seen(before, area, latest, h_us, max(shifts) + 1)

    out: list[np.ndarray] = []
    names: list[str] = []
    for start, end, m in zip(starts, ends, shifts, strict=True):
        columns: list[np.ndarray] = []
        names = []
        # Lagged counts, aggregates, and their ring sums.
        base = [counts_all.lag(m, lag) for lag in lags]
        base += [counts_all.mean(m, SHORT_WINDOWS) * SHORT_WINDOWS,
                 counts_all.mean(m, LONG_WINDOWS)]
        base_names = [f"count_lag{lag}" for lag in lags] + [f"count_sum{SHORT_WINDOWS}",
                                                            f"count_mean{LONG_WINDOWS}"]
        columns.append(np.column_stack(base))
        names += base_names
        columns += _ring_sums(cache, rings, columns[-1])
        names += [f"ring{k}_{n}" for k in rings for n in base_names]

        # Per-category counts.
        if per_all is not None:
            short = per_all.mean(m, SHORT_WINDOWS) * SHORT_WINDOWS
            long = per_all.mean(m, LONG_WINDOWS)
            for i, name in enumerate(category_names):
                columns.append(np.column_stack([short[:, i], long[:, i]]))
                names += [f"cat_{name}_sum{SHORT_WINDOWS}", f"cat_{name}_mean{LONG_WINDOWS}"]

        # Covariates (other feeds on the grid).
        for binned, name in zip(covariates, feed_names, strict=True):
            cov = np.column_stack([binned.lag(m, 1),
                                   binned.mean(m, SHORT_WINDOWS) * SHORT_WINDOWS])
            cov_names = [f"cov_{name}_last1", f"cov_{name}_last{SHORT_WINDOWS}"]
            columns.append(cov)
            names += cov_names
            columns += _ring_sums(cache, rings, cov)
            names += [f"ring{k}_{n}" for k in rings for n in cov_names]

        # Planned events overlapping the window (published in advance).
        columns.append(_planned(data, cache, start, start + horizon))
        names += ["planned_attendance", "planned_events"]

        # Calendar.
        week = start.isocalendar().week
        angle = 2.0 * math.pi * (week - 1) / 52.0
        calendar = [math.sin(angle), math.cos(angle), float(start.month),
                    float(start.weekday()), float(holds_holiday(start, start + horizon, holidays))]
        columns.append(np.tile(np.array(calendar), (len(area), 1)))
        names += ["week_sin", "week_cos", "month", "weekday", "holiday"]

        # Recency: windows since the cell's last incident before the lag end.
        last = last_seen[:, m]
        ago = (_micros(end) - last.astype(np.float64)) / h_us
        recency = np.where(last > _NEVER, np.minimum(ago, RECENCY_CAP), RECENCY_CAP)
        columns.append(recency[:, None])
        names.append("windows_since_last")

        out.append(np.column_stack(columns).astype(np.float64, copy=False))
    return out, names


def _ring_sums(cache: FeatureCache, rings: list[int], block: np.ndarray) -> list[np.ndarray]:
    """Σ over each k-ring (centre excluded) of ``block``'s columns; all-NaN columns stay NaN."""
    missing = np.isnan(block).all(axis=0)
    filled = np.nan_to_num(block)
    out = []
    for k in rings:
        summed = np.asarray(cache.ring(k) @ filled)
        summed[:, missing] = np.nan
        out.append(summed)
    return out


_NEVER = np.iinfo(np.int64).min


def _last_seen(before: pl.DataFrame, area: np.ndarray, latest: datetime, h_us: int,
               n: int) -> np.ndarray:
    """``(len(area), n)``: time (µs) of each cell's last incident before ``latest − j h``
    (``_NEVER`` when none)."""
    out = np.full((len(area), n + 1), _NEVER, dtype=np.int64)
    if before.height and len(area):
        cells = before["cell"].to_numpy().astype(np.int64, copy=False)
        pos = np.minimum(np.searchsorted(area, cells), len(area) - 1)
        inside = area[pos] == cells
        ts = before["ts"].dt.epoch("us").to_numpy()[inside]
        j = np.minimum((_micros(latest) - ts) // h_us, n)  # older incidents share column n
        np.maximum.at(out, (pos[inside], j), ts)
    # Column j: the latest incident in windows j, j + 1, … (all before latest − j h).
    return np.maximum.accumulate(out[:, ::-1], axis=1)[:, ::-1][:, :n]


def _planned(data: EventData, cache: FeatureCache, lo: datetime, hi: datetime) -> np.ndarray:
    """Attendance-weighted kernel sum and count of planned events overlapping ``[lo, hi)``."""
    out = np.zeros((len(cache.area), 2))
    planned = data.planned
    if planned is None or not planned.height or not len(cache.area):
        return out
    planned = as_utc(planned, "start", "end")
    overlapping = planned.filter((pl.col("start") < hi) & (pl.col("end") > lo)
                                 & pl.col("cell").is_not_null())
    if not overlapping.height:
        return out
    cells = coarsen(overlapping["cell"].to_numpy().astype(np.int64), data.resolution)
    attendance = np.nan_to_num(overlapping["expected_attendance"].cast(pl.Float64).to_numpy())
    venues, inverse = np.unique(cells, return_inverse=True)
    total = np.bincount(inverse, weights=attendance, minlength=len(venues))
    number = np.bincount(inverse, minlength=len(venues)).astype(np.float64)
    kernel, flat = cache.venues(venues)
    out[:, 0] = kernel @ total
    out[:, 1] = flat @ number
    return out
