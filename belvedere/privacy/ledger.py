"""The privacy-loss ledger: every noised release, what it cost, and the cap per purpose.

Each noised release (:mod:`belvedere.privacy.dp`) is charged here *before* its figures are
computed: one ledger row with the actor, role, purpose, datasets, the granted query, the
mechanism and its (ε, δ) — and, for the discrete Gaussian, ρ. The charge is refused when the
purpose's spending in the current period (UTC day, month or year, from the registry's budget)
plus this release would pass the cap; the check and the append are one transaction under the
store's write lock, so concurrent releases can never overspend. Losses add up by basic
composition (ε₁ + ε₂ + …), a valid upper bound whatever the queries.

The budget is the purpose's, shared by everyone who declares it: it bounds what all releases
for that purpose together can reveal about one unit (one record) in a period.

Example:
    >>> period_of(datetime(2025, 3, 14, 23, 59, tzinfo=UTC), "day")
    'day:2025-03-14'
    >>> period_of(datetime(2025, 3, 14, tzinfo=UTC), "month")
    'month:2025-03'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from belvedere.errors import PolicyDenied
from belvedere.privacy.dp import Mechanism
from belvedere.privacy.purposes import Registry, registry
from belvedere.store.base import LedgerRow, Store

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def period_of(ts: datetime, period: str) -> str:
    """The budget period ``ts`` (UTC) falls in: ``day:YYYY-MM-DD``, ``month:YYYY-MM`` or
    ``year:YYYY``."""
    ts = ts.astimezone(UTC)
    key = {"day": f"{ts:%Y-%m-%d}", "month": f"{ts:%Y-%m}", "year": f"{ts:%Y}"}[period]
    return f"{period}:{key}"


def charge(store: Store, *, actor: str, role: str, purpose: str, datasets: list[str],
           query: dict[str, Any], mech: Mechanism, reg: Registry | None = None,
           clock: Clock = _now) -> LedgerRow:
    """Record a noised release of ``mech`` for ``purpose`` and return its ledger row, or
    raise :class:`PolicyDenied` (naming purpose, period, spent and cap) if it would pass the
    purpose's cap for the current period."""
    reg = reg or registry()
    budget = reg.check_purpose(purpose).budget
    if budget is None:
        raise PolicyDenied(f"purpose {purpose!r} has no privacy budget: it may not release "
                           f"noised figures (registry rule: purposes.{purpose}.budget)")
    ts = clock()
    period = period_of(ts, budget.period)
    row = LedgerRow(seq=0, ts=ts, actor=actor, role=role, purpose=purpose,
                    dataset=",".join(datasets),
                    query=json.dumps(query, sort_keys=True, default=str), mechanism=mech.name,
                    epsilon=mech.epsilon, delta=mech.delta, rho=mech.rho, period=period)
    stored, eps, delta = store.charge_ledger(row, epsilon_cap=budget.epsilon,
                                             delta_cap=budget.delta)
    if stored is None:
        raise PolicyDenied(
            f"privacy budget exhausted for purpose {purpose!r} in period {period}: spent "
            f"ε = {eps:.4g} (δ = {delta:.2g}) of the cap ε = {budget.epsilon:g} "
            f"(δ = {budget.delta:g}); this release needs ε = {mech.epsilon:.4g}. It is refused; "
            f"the budget renews with the next {budget.period} (or ask the DPO).")
    return stored


@dataclass(frozen=True, slots=True)
class Spending:
    """What one purpose spent in one period, against its cap."""

    purpose: str
    period: str
    releases: int
    epsilon: float
    delta: float
    cap_epsilon: float
    cap_delta: float


def spending(store: Store, reg: Registry | None = None) -> list[Spending]:
    """Per purpose and period present in the ledger: releases, ε and δ spent, and the caps."""
    reg = reg or registry()
    totals: dict[tuple[str, str], list[float]] = {}
    for row in store.ledger_rows():
        t = totals.setdefault((row.purpose, row.period), [0, 0.0, 0.0])
        t[0] += 1
        t[1] += row.epsilon
        t[2] += row.delta
    out = []
    for (purpose, period), (n, eps, delta) in sorted(totals.items()):
        budget = reg.purposes[purpose].budget if purpose in reg.purposes else None
        out.append(Spending(purpose, period, int(n), eps, delta,
                            budget.epsilon if budget else 0.0, budget.delta if budget else 0.0))
    return out
