"""⑤ The release gate: the only way a figure reaches a person.

``release(store, query, actor, purpose)`` coarsens the query to what the actor's role may see,
runs it, suppresses small counts, records the release in the access log, and returns the table
with what was granted. API routes, the dashboard, briefings and the CLI's human-facing outputs
call this, never the store.

Example (an analyst asking for cell × hour gets arrondissement × day, counts under 11 hidden):
    >>> from datetime import datetime, UTC
    >>> from belvedere.store.base import SituationQuery
    >>> q = SituationQuery(datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 9, 8, tzinfo=UTC),
    ...                    level="cell", bin="hour")
    >>> g = grant(q, policy_for("analyst"))
    >>> g.level, g.bin
    ('zone', 'day')
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from belvedere.errors import PolicyDenied
from belvedere.grid.records import PlannedEvent, to_table
from belvedere.models.event_impact import BOUNDS, totals
from belvedere.privacy import audit, ledger, repeats
from belvedere.privacy.dp import calibrate, noise_situation
from belvedere.privacy.policy import (
    ALWAYS_THRESHOLDED,
    BIN_ORDER,
    COUNT_METRICS,
    DEFAULT_K,
    LEVEL_ORDER,
    Policy,
    check_purpose,
    policy_for,
)
from belvedere.privacy.purposes import PolicyRow, output_of, registry
from belvedere.store.base import (
    BatchInput,
    Bin,
    LedgerRow,
    Level,
    SituationQuery,
    Store,
    empty_quarantine,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: a user name and a role."""

    username: str
    role: str


@dataclass(frozen=True, slots=True)
class Release:
    """A released situation table and how it was released.

    ``table`` has the situation columns plus ``suppressed`` (bool); suppressed rows carry a null
    ``value``; ``n`` is null for thresholded roles. A noised release (``mechanism`` set) spent
    ``epsilon`` on ledger line ``ledger_seq`` — or, ``repeated``, is the answer that line
    paid for, served again to an identical request on the same data
    (:mod:`belvedere.privacy.repeats`); its table covers the public key domain
    (:mod:`belvedere.privacy.dp`): with categories, only the keys whose noisy value reached k
    are listed (``suppressed`` counts the others); without, every key is, suppressed or not.
    """

    table: pa.Table
    requested: SituationQuery
    granted: SituationQuery
    k: int | None
    suppressed: int
    audit_seq: int
    mechanism: str | None = None
    epsilon: float | None = None
    ledger_seq: int | None = None
    repeated: bool = False


def authorise(actor: Actor, purpose: str, *, outputs: tuple[str, ...] = (),
              datasets: tuple[str, ...] = ()) -> tuple[Policy, PolicyRow]:
    """``actor``'s policy for ``purpose``: the role's (:data:`POLICIES`), tightened by the
    registry's row for role × purpose, which must allow ``outputs`` from ``datasets``.

    Raises:
        PolicyDenied: undeclared purpose, unknown role, or a registry rule that refuses (the
            message names it).
    """
    check_purpose(purpose)
    policy = policy_for(actor.role)
    row = registry().authorise(actor.role, purpose, outputs=outputs, datasets=datasets)
    k = policy.k if row.k is None else max(row.k, policy.k or 0)
    level, time_bin = policy.finest_level, policy.finest_bin
    if row.level is not None and LEVEL_ORDER[row.level] > LEVEL_ORDER[level]:
        level = cast(Level, row.level)
    if row.bin is not None and BIN_ORDER[row.bin] > BIN_ORDER[time_bin]:
        time_bin = cast(Bin, row.bin)
    return dataclasses.replace(policy, k=k, finest_level=level, finest_bin=time_bin), row


def grant(query: SituationQuery, policy: Policy) -> SituationQuery:
    """``query`` coarsened to the finest granularity ``policy`` allows."""
    level = query.level
    if LEVEL_ORDER[level] < LEVEL_ORDER[policy.finest_level]:
        level = policy.finest_level
    resolution = min(query.resolution, policy.finest_resolution) if level == "cell" else 9
    time_bin = query.bin
    if BIN_ORDER[time_bin] < BIN_ORDER[policy.finest_bin]:
        time_bin = policy.finest_bin
    return dataclasses.replace(query, level=level, resolution=resolution, bin=time_bin)


def suppress(table: pa.Table, policy: Policy) -> tuple[pa.Table, int]:
    """Hide count values under k; returns the table with ``suppressed`` and how many were hidden.

    Thresholded rows: count metrics when the role has a ``k``, and every count of a source in
    :data:`ALWAYS_THRESHOLDED` (with the role's k, or the default).
    """
    metric = table.column("metric")
    source = table.column("source")
    is_count = pc.is_in(metric, pa.array(sorted(COUNT_METRICS)))
    always = pc.is_in(source, pa.array(sorted(ALWAYS_THRESHOLDED)))
    k = policy.k if policy.k is not None else DEFAULT_K
    applies = pc.and_(is_count, always) if policy.k is None else is_count
    hidden = pc.and_(applies, pc.less(table.column("value"), k))
    hidden = pc.fill_null(hidden, False)
    value = pc.if_else(hidden, pa.scalar(None, pa.float64()), table.column("value"))
    n = table.column("n")
    if policy.k is not None:
        # Record counts would leak small numbers too: thresholded roles never receive them.
        n = pa.nulls(table.num_rows, pa.int64())
    out = (
        table.set_column(table.schema.get_field_index("value"), "value", value)
        .set_column(table.schema.get_field_index("n"), "n", n)
        .append_column("suppressed", hidden)
    )
    return out, int(pc.sum(hidden).as_py() or 0)


def applied_k(query: SituationQuery, policy: Policy) -> int | None:
    """The threshold that applies to some rows of ``query``'s answer, or ``None``."""
    if policy.k is not None:
        return policy.k
    sources = set(query.sources)
    return DEFAULT_K if not sources or sources & ALWAYS_THRESHOLDED else None


def release(store: Store, query: SituationQuery, actor: Actor, purpose: str) -> Release:
    """Release the situation for ``query`` to ``actor`` for ``purpose`` (audited).

    The registry's row for the role and purpose decides: exact figures (the controller's
    agents; counts about residents still thresholded), or noised ones — the release is charged
    to the purpose's budget in the ledger first (:class:`PolicyDenied` when it would pass the
    cap), then every key of its domain gets calibrated noise, is clamped at 0 and suppressed
    under k (:mod:`belvedere.privacy.dp`). An identical request on the same data gets that
    answer again, uncharged (:mod:`belvedere.privacy.repeats`). A query naming no feed covers
    the feeds the purpose allows.
    """
    policy, rule = authorise(actor, purpose, outputs=("situation",), datasets=query.sources)
    reg = registry()
    if not query.sources and (rule.noised or not set(reg.datasets) <= set(rule.datasets)):
        query = dataclasses.replace(query, sources=rule.datasets)
    granted = grant(query, policy)
    what: dict[str, object] = {"resource": "situation", "requested": query.describe(),
                               "granted": granted.describe()}
    charged = None
    kept: repeats.Kept | None = None
    if not rule.noised:
        k = applied_k(query, policy)
        key = repeats.key_of(store, role=actor.role, purpose=purpose, granted=granted,
                             mech=None, k=k)
        exact = repeats.recall_exact(key)
        if exact is None:
            answer, hidden = suppress(store.situation(granted), policy)
            exact = repeats.keep_exact(key, answer, {"suppressed": hidden})
        table, hidden = exact.table, int(exact.meta["suppressed"])
    else:
        mech = calibrate(rule.mechanism, epsilon=rule.epsilon, rho=rule.rho,
                         delta=rule.delta or 0.0)
        k = policy.k if policy.k is not None else DEFAULT_K
        key = repeats.key_of(store, role=actor.role, purpose=purpose, granted=granted,
                             mech=mech, k=k)
        kept = repeats.find(store, key)
        if kept is not None:
            # The same request on the same data: the answer already released, at no cost.
            what.update(mechanism=mech.name, epsilon=0.0, delta=0.0,
                        repeat_of=kept.meta["ledger"], withheld=kept.meta["withheld"])
        else:
            charged = ledger.charge(store, actor=actor.username, role=actor.role,
                                    purpose=purpose, datasets=list(granted.sources),
                                    query=granted.describe(), mech=mech, reg=reg)
            noised = noise_situation(store.situation(granted), granted,
                                     [reg.datasets[d] for d in granted.sources], k, mech,
                                     keep_suppressed=not granted.by_category)
            kept = repeats.keep(store, key, noised.table, {
                "ledger": charged.seq, "suppressed": noised.suppressed,
                "withheld": noised.withheld, "mechanism": mech.name,
                "epsilon": charged.epsilon})
            what.update(mechanism=mech.name, epsilon=mech.epsilon, delta=mech.delta,
                        ledger=charged.seq, withheld=noised.withheld)
        table, hidden = kept.table, int(kept.meta["suppressed"])
    what.update(k=k, suppressed=hidden)
    row = audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                       action="consultation", what=what, rows_released=table.num_rows)
    if kept is None:
        return Release(table=table, requested=query, granted=granted, k=k, suppressed=hidden,
                       audit_seq=row.seq)
    return Release(table=table, requested=query, granted=granted, k=k, suppressed=hidden,
                   audit_seq=row.seq, mechanism=str(kept.meta["mechanism"]),
                   epsilon=float(kept.meta["epsilon"]), ledger_seq=int(kept.meta["ledger"]),
                   repeated=charged is None)


def release_events(store: Store, start: datetime, end: datetime, actor: Actor,
                   purpose: str) -> pa.Table:
    """Planned events overlapping ``[start, end)`` (public calendar data; audited all the same)."""
    authorise(actor, purpose, outputs=("events",), datasets=("events",))
    table = store.planned_events(start, end)
    audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                 action="consultation",
                 what={"resource": "events", "start": start.isoformat(), "end": end.isoformat()},
                 rows_released=table.num_rows)
    return table


def store_status(store: Store) -> dict[str, object]:
    """Schema version and data period: metadata, no figure about anyone (not audited)."""
    period = store.data_period()
    return {
        "schema_version": store.schema_version(),
        "data_period": {"start": period[0].isoformat(), "end": period[1].isoformat()}
        if period else None,
    }


def record_release(store: Store, actor: Actor, purpose: str, *, what: dict[str, object],
                   rows: int) -> int:
    """Record that something other than a situation table was given to ``actor`` — a model's
    output (forecast scores per cell, a backtest report), quarantined input rows under review,
    lines of the access log — audited like every other release. Returns the audit line's
    number. The registry must let the role produce the resource's output for ``purpose``."""
    resource = what.get("resource")
    authorise(actor, purpose, outputs=(output_of(str(resource)),) if resource else ())
    row = audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                       action="consultation", what=what, rows_released=rows)
    return row.seq


def release_ledger(store: Store, actor: Actor, purpose: str, *, limit: int | None = None,
                   ledger_purpose: str | None = None
                   ) -> tuple[list[LedgerRow], list[ledger.Spending]]:
    """The privacy-loss ledger (the newest ``limit`` rows, of ``ledger_purpose`` only when
    given) and the spending per purpose and period against the caps, for ``actor`` (the DPO);
    audited."""
    authorise(actor, purpose, outputs=("privacy_ledger",))
    rows = store.ledger_rows(purpose=ledger_purpose, limit=limit)
    spent = ledger.spending(store)
    audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                 action="consultation",
                 what={"resource": "privacy_ledger", "purpose": ledger_purpose, "limit": limit},
                 rows_released=len(rows))
    return rows, spent


def release_anticipation(store: Store, rows: pl.DataFrame, actor: Actor, purpose: str, *,
                         event: dict[str, object]) -> tuple[pl.DataFrame, str, int | None]:
    """An event's anticipation (rows ``zone, cell, hour, offset_h, feed, baseline, expected,
    lo80…hi95``) as ``actor``'s role may see it; returns ``(rows, granted level, k)``.

    A role with cell detail gets the rows as they are. Other roles get zone × hour totals of
    the baseline, the expected count and its intervals (:func:`totals`), and totals
    whose baseline, expected count or lower 80 % bound is under ``k`` are suppressed.
    Audited.
    """
    policy, _ = authorise(actor, purpose, outputs=("anticipation",))
    if policy.finest_level == "cell":
        out, level = rows.with_columns(suppressed=pl.lit(False)), "cell"
    else:
        out = (totals(rows.filter(pl.col("zone").is_not_null()), by=("zone",))
               .select("zone", "feed", "hour", "offset_h", "baseline", "expected", *BOUNDS)
               .sort("feed", "zone", "offset_h"))
        level = "zone"
        if policy.k is not None:
            hidden = pl.min_horizontal("expected", "baseline", "lo80") < policy.k
            out = out.with_columns(
                *(pl.when(hidden).then(None).otherwise(pl.col(c)).alias(c)
                  for c in ("baseline", "expected", *BOUNDS)),
                suppressed=hidden)
        else:
            out = out.with_columns(suppressed=pl.lit(False))
    audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                 action="consultation",
                 what={"resource": "anticipation", "event": event, "granted": level,
                       "k": policy.k}, rows_released=out.height)
    return out, level, policy.k


def collect_planned_event(store: Store, actor: Actor, purpose: str, event: PlannedEvent) -> int:
    """Store a planned event entered by a user (crowd-safety data, no person), audited as a
    *collection*; returns 1 if stored, 0 if an event with the same id was already known."""
    policy, _ = authorise(actor, purpose, outputs=("events",), datasets=("events",))
    if policy.role not in ("operator", "analyst"):
        raise PolicyDenied(f"role {actor.role!r} may not enter planned events")
    result = store.append_batch(BatchInput(
        source=event.source, file=None, records={"planned_events": to_table(PlannedEvent,
                                                                            [event])},
        quarantine=empty_quarantine(), rows_read=1))
    audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                 action="collection",
                 what={"resource": "planned_event", "id": event.source_id, "kind": event.kind},
                 rows_released=result.rows_stored)
    return result.rows_stored
