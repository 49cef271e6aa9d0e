"""Differential privacy for released counts, with OpenDP: calibrated noise, post-processing,
then the small-count threshold.

**Unit of privacy.** One unit of a count: one incident record, one emergency-department arrival,
one counted presence or boarding in one hour. Adding or removing one such unit changes exactly
one cell of a situation table by 1, so a situation release has sensitivity 1 (L1 and L2) and
spends its ε (or ρ) once, whatever its size. There is no person-level bound: a person who
appears in several records (or is counted in several hours) is protected by the sum of their
units' losses. ``docs/privacy.md`` says so to its readers.

**Key domain.** A noised release covers a domain of keys fixed before looking at the data —
every place (the arrondissements asked, or the city) × every time bin of the window × every
count metric of each allowed feed × its categories (the shared taxonomy for incidents, the
registry's list for measurement feeds) — and adds noise to every key, zeros included. Which keys
appear thus reveals nothing; a figure outside the domain is withheld. Non-count figures
(densities) are withheld too: the mechanism does not cover them.

**Mechanisms.** Discrete Laplace with scale ``1/ε`` (ε-DP) or discrete Gaussian with scale
``1/√(2ρ)`` (ρ-zCDP, accounted in the ledger as (ε, δ) at the policy's δ), both built by OpenDP
(``make_laplace`` / ``make_gaussian`` over integer vectors) which also checks the calibration
(``map(1)``). Production noise comes from OpenDP's secure random source. Tests may swap in a
:class:`SeededSampler` (:func:`use_sampler`) for reproducible figures; it draws from the same
probability mass function (:func:`pmf`).

**Post-processing** (costs no privacy): clamp at 0, integers as they are; then values under the
threshold ``k`` are suppressed (``value`` null, ``suppressed`` true).

Example:
    >>> mech = calibrate("discrete_laplace", epsilon=0.5)
    >>> mech.scale, mech.epsilon, mech.delta
    (2.0, 0.5, 0.0)
    >>> import numpy as np
    >>> with use_sampler(SeededSampler(7)):
    ...     out = noisy_counts(np.array([0, 3, 40]), mech)
    >>> bool((out >= 0).all()), out.dtype.name
    (True, 'int64')
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Protocol

import numpy as np
import opendp.prelude as dp
import polars as pl
import pyarrow as pa

from belvedere.grid.records import INCIDENT_CATEGORIES
from belvedere.grid.timebins import to_local
from belvedere.grid.zones import arrondissements
from belvedere.privacy.policy import COUNT_METRICS
from belvedere.privacy.purposes import Dataset
from belvedere.store.base import SituationQuery

OPENDP_FEATURES = ("contrib",)
"""OpenDP features enabled: ``contrib`` (its mechanisms not yet vetted by its committee)."""
for _feature in OPENDP_FEATURES:
    dp.enable_features(_feature)

_INT = "i64"  # city-wide sums over a year exceed 32 bits


@dataclass(frozen=True, slots=True)
class Mechanism:
    """A calibrated noise mechanism for sensitivity-1 integer counts.

    Attributes:
        name: ``discrete_laplace`` or ``discrete_gaussian``.
        scale: the noise scale (Laplace ``b``; Gaussian ``σ``).
        epsilon, delta: the loss accounted per release ((ε, 0) for Laplace; the zCDP loss
            converted at ``delta`` for Gaussian).
        rho: ρ per release (Gaussian), else ``None``.
    """

    name: str
    scale: float
    epsilon: float
    delta: float
    rho: float | None = None

    def measurement(self) -> dp.Measurement:
        """The OpenDP measurement over integer vectors (L1 or L2 distance)."""
        domain = dp.vector_domain(dp.atom_domain(T=_INT))
        if self.name == "discrete_laplace":
            return dp.m.make_laplace(domain, dp.l1_distance(T=_INT), scale=self.scale)
        return dp.m.make_gaussian(domain, dp.l2_distance(T=_INT), scale=self.scale)


@cache
def calibrate(name: str, *, epsilon: float | None = None, rho: float | None = None,
              delta: float = 0.0) -> Mechanism:
    """The mechanism ``name`` calibrated to ``epsilon`` (Laplace) or ``rho`` (Gaussian, with
    its (ε, δ) at ``delta``), checked against OpenDP's own privacy map."""
    if name == "discrete_laplace":
        if not epsilon or epsilon <= 0:
            raise ValueError("discrete_laplace needs epsilon > 0")
        mech = Mechanism(name, 1.0 / epsilon, epsilon, 0.0)
        spent = float(mech.measurement().map(1))
        if not math.isclose(spent, epsilon, rel_tol=1e-9):
            raise ValueError(f"calibration off: OpenDP maps scale {mech.scale} to ε = {spent}")
        return mech
    if name == "discrete_gaussian":
        if not rho or rho <= 0 or not 0 < delta < 1:
            raise ValueError("discrete_gaussian needs rho > 0 and 0 < delta < 1")
        scale = math.sqrt(1.0 / (2.0 * rho))
        meas = Mechanism(name, scale, 0.0, delta, rho).measurement()
        spent_rho = float(meas.map(1))
        if not math.isclose(spent_rho, rho, rel_tol=1e-6):
            raise ValueError(f"calibration off: OpenDP maps scale {scale} to ρ = {spent_rho}")
        eps = float(dp.c.make_zCDP_to_approxDP(meas).map(1).epsilon(delta))
        return Mechanism(name, scale, eps, delta, rho)
    raise ValueError(f"unknown mechanism {name!r}")


def pmf(mech: Mechanism, support: np.ndarray) -> np.ndarray:
    """The noise's probability mass on the integers ``support`` (normalised over it: pass a
    support wide enough, e.g. :func:`support_of`)."""
    x = np.abs(support.astype(float))
    logp = -x / mech.scale if mech.name == "discrete_laplace" else -(x**2) / (2 * mech.scale**2)
    p = np.exp(logp - logp.max())
    return p / p.sum()


def support_of(mech: Mechanism) -> np.ndarray:
    """Integers carrying all but a negligible (< 1e-15) share of the noise's mass."""
    width = math.ceil((40 if mech.name == "discrete_laplace" else 9) * mech.scale) + 2
    return np.arange(-width, width + 1)


class Sampler(Protocol):
    """Draws noise for a vector of counts."""

    def noise(self, mech: Mechanism, values: np.ndarray) -> np.ndarray:
        """``values`` (int64) plus noise from ``mech``."""
        ...


class OpenDPSampler:
    """Production noise: OpenDP's measurement, with its cryptographically secure randomness."""

    def noise(self, mech: Mechanism, values: np.ndarray) -> np.ndarray:
        """``values`` plus noise drawn by OpenDP."""
        if values.size == 0:
            return values.astype(np.int64)
        return np.asarray(mech.measurement()([int(v) for v in values]), dtype=np.int64)


@dataclass
class SeededSampler:
    """Reproducible noise for tests: the same distribution (:func:`pmf`), numpy's generator
    under a fixed seed. Keeps every draw in ``draws`` so a test can recompute a release."""

    seed: int
    draws: list[np.ndarray] = field(default_factory=list)
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def noise(self, mech: Mechanism, values: np.ndarray) -> np.ndarray:
        """``values`` plus noise drawn from the mechanism's mass function."""
        support = support_of(mech)
        drawn = self._rng.choice(support, size=values.size, p=pmf(mech, support))
        self.draws.append(drawn)
        return values.astype(np.int64) + drawn


_sampler: Sampler = OpenDPSampler()
_sampler_lock = threading.Lock()


@contextmanager
def use_sampler(sampler: Sampler) -> Iterator[Sampler]:
    """Draw noise from ``sampler`` inside the block (tests); OpenDP's again after it."""
    global _sampler
    with _sampler_lock:
        previous, _sampler = _sampler, sampler
    try:
        yield sampler
    finally:
        with _sampler_lock:
            _sampler = previous


def noisy_counts(values: np.ndarray, mech: Mechanism) -> np.ndarray:
    """Integer counts plus calibrated noise, clamped at 0 (post-processing)."""
    noisy = _sampler.noise(mech, np.asarray(values, dtype=np.int64))
    return np.maximum(noisy, 0)


# -- the situation table ----------------------------------------------------------------------

_KEYS = ["bin_start", "place", "source", "metric", "category"]


def time_bins(query: SituationQuery) -> list[datetime]:
    """The local bin starts a situation over ``query``'s window can have (naive wall clock),
    as the store computes them: every local hour or day touched by ``[start, end)``, or the
    window's own start."""
    if query.bin == "window":
        return [to_local(query.start)]
    hour = query.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    seen: dict[datetime, None] = {}
    while hour < query.end:
        local = to_local(hour)
        key = local if query.bin == "hour" else local.replace(hour=0)
        seen[key] = None
        hour += timedelta(hours=1)
    return list(seen)


def key_domain(query: SituationQuery, datasets: list[Dataset]) -> pl.DataFrame:
    """Every key of a noised situation release for ``query`` over ``datasets`` (see the module
    docstring): ``bin_start, place, source, metric, category``."""
    if query.level == "cell":
        raise ValueError("a noised release is at zone or city level (no public cell domain)")
    places = ["city"] if query.level == "city" else (
        list(query.zones) or [z.zone_id for z in arrondissements()])
    triples = []
    for d in datasets:
        for metric in d.counts:
            if query.metrics and metric not in query.metrics:
                continue
            if not query.by_category:
                categories: tuple[str, ...] = ("",)
            elif metric == "incidents":
                categories = tuple(INCIDENT_CATEGORIES)
            else:
                categories = d.categories or ("",)
            triples += [(d.id, metric, c) for c in categories]
    bins = pl.DataFrame({"bin_start": time_bins(query)},
                        schema={"bin_start": pl.Datetime("us")})
    return (bins.join(pl.DataFrame({"place": places}), how="cross")
            .join(pl.DataFrame(triples, schema=["source", "metric", "category"], orient="row"),
                  how="cross"))


@dataclass(frozen=True, slots=True)
class NoisedTable:
    """A noised situation: the table, how many keys were suppressed, and how many stored
    figures were withheld because the domain does not cover them (non-counts, unknown
    categories)."""

    table: pa.Table
    suppressed: int
    withheld: int


def noise_situation(raw: pa.Table, query: SituationQuery, datasets: list[Dataset], k: int,
                    mech: Mechanism, *, keep_suppressed: bool = True) -> NoisedTable:
    """The situation ``raw`` (as the store answers ``query``) released with ``mech`` over the
    key domain: every key noised, clamped at 0, suppressed under ``k``; ``n`` withheld.
    Without ``keep_suppressed``, suppressed keys are left out of the table (post-processing:
    a category split makes a large domain of mostly empty keys)."""
    domain = key_domain(query, datasets)
    data = pl.DataFrame(raw).with_columns(pl.col("bin_start").cast(pl.Datetime("us")))
    counts = data.filter(pl.col("metric").is_in(sorted(COUNT_METRICS)))
    joined = domain.join(counts.select(*_KEYS, "value"), on=_KEYS, how="left")
    withheld = data.height - (joined.height - joined["value"].null_count())
    exact = joined["value"].fill_null(0).round().cast(pl.Int64).to_numpy()
    noisy = noisy_counts(exact, mech)
    hidden = noisy < k
    out = joined.with_columns(
        value=pl.Series(np.where(hidden, np.nan, noisy.astype(float))).fill_nan(None),
        n=pl.lit(None, dtype=pl.Int64),
        suppressed=pl.Series(hidden))
    if not keep_suppressed:
        out = out.filter(~pl.col("suppressed"))
    table = out.sort(_KEYS).to_arrow()
    return NoisedTable(table=table.cast(_schema(raw, table)), suppressed=int(hidden.sum()),
                       withheld=int(withheld))


def _schema(raw: pa.Table, table: pa.Table) -> pa.Schema:
    """The released table's schema: the store's column types, ``suppressed`` boolean."""
    fields: list[Any] = [raw.schema.field(name) if name in raw.schema.names
                         else table.schema.field(name) for name in table.schema.names]
    return pa.schema([f.with_type(pa.int64()) if f.name == "n" else f for f in fields])
