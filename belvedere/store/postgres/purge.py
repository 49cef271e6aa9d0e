"""The retention purge on PostgreSQL: one transaction per dataset, with its receipt.

The same steps as the DuckDB purge (:mod:`belvedere.store.duckdb.purge`) — what is due, the
tables and the digests come from :mod:`belvedere.store.purge` — in PostgreSQL's SQL: the hour
truncated with ``date_trunc(…, 'UTC')``, counts from the cursor's ``rowcount``, receipt numbers
from a sequence. The caller holds the connection's transaction.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import psycopg
import pyarrow.compute as pc

from belvedere.errors import StoreError
from belvedere.grid.cells import parent_mask
from belvedere.store import rows
from belvedere.store.base import PurgeReceipt, PurgeRule
from belvedere.store.postgres.results import fetch_arrow, pg
from belvedere.store.purge import AGGREGATE_RESOLUTION, TableSpec, spec_of, table_digest, where_of


def _aggregate(con: psycopg.Connection[Any], rule: PurgeRule, spec: TableSpec, where: str,
               params: list[object], now: datetime) -> int:
    """Add the hourly counts of the due rows to ``aggregates``; returns the rows added."""
    t = rule.table
    and_mask, or_bits = parent_mask(AGGREGATE_RESOLUTION)
    cell = (f"CASE WHEN {t}.cell IS NULL OR (({t}.cell >> 52) & 15) <= {AGGREGATE_RESOLUTION} "
            f"THEN {t}.cell ELSE ({t}.cell & {and_mask}) | {or_bits} END")
    sql = (
        "INSERT INTO aggregates SELECT r.source, r.metric, r.category, r.time_precision, r.hour, "
        "r.hour_local, r.cell, r.zone, sum(r.value), count(*), ? FROM ("
        f"SELECT {t}.source, {(spec.metric or '').format(t=t)} AS metric, {t}.category, "
        f"{spec.precision.format(t=t)} AS time_precision, "
        f"date_trunc('hour', {spec.time.format(t=t)}, 'UTC') AS hour, "
        f"date_trunc('hour', {spec.local.format(t=t)}) AS hour_local, {cell} AS cell, "
        f"{t}.zone, {spec.value.format(t=t)} AS value FROM {t} "
        f"WHERE {where} {spec.only.format(t=t)}) AS r "
        "WHERE NOT EXISTS (SELECT 1 FROM aggregates AS a WHERE a.source = r.source AND "
        "a.metric = r.metric AND a.hour = r.hour) "
        "GROUP BY r.source, r.metric, r.category, r.time_precision, r.hour, r.hour_local, "
        "r.cell, r.zone")
    with con.cursor() as cur:
        cur.execute(pg(sql), [now, *params])
        return cur.rowcount


def purge(con: psycopg.Connection[Any], rule: PurgeRule, *, now: datetime,
          dry_run: bool = False) -> PurgeReceipt:
    """Delete the rows ``rule`` makes due, coarsening them first when it says so, and record
    the receipt, in the caller's transaction (see :func:`belvedere.store.duckdb.purge.purge`
    for the rules)."""
    spec = spec_of(rule)
    where, params = where_of(rule, spec)
    keys_sql = (f"SELECT {spec.time.format(t=rule.table)} AS _time, "
                f"{', '.join(f'{rule.table}.{k}' for k in spec.key)} FROM {rule.table} "
                f"WHERE {where}")

    def due() -> PurgeReceipt:
        keys = fetch_arrow(con, keys_sql, params)
        oldest = pc.min(keys.column("_time")).as_py() if keys.num_rows else None
        return PurgeReceipt(0, rule.dataset, rule.table, rule.before, keys.num_rows,
                            table_digest(keys.drop_columns(["_time"])), 0, now,
                            oldest=oldest.astimezone(UTC) if oldest else None)

    if dry_run:
        return due()
    aggregated = _aggregate(con, rule, spec, where, params, now) if rule.aggregate else 0
    receipt = due()
    if not receipt.count:  # nothing due: no receipt (the store shows nothing is overdue)
        return receipt
    with con.cursor() as cur:
        cur.execute(pg(f"DELETE FROM {rule.table} WHERE {where}"), params)
        deleted = cur.rowcount
    if deleted != receipt.count:
        raise StoreError(f"retention dataset {rule.dataset}: {receipt.count} rows due but "
                         f"{deleted} deleted")
    return add_receipt(con, dataclasses.replace(receipt, aggregated=aggregated))


def add_receipt(con: psycopg.Connection[Any], receipt: PurgeReceipt) -> PurgeReceipt:
    """Record a receipt under the sequence's next number, in the caller's transaction."""
    found = con.execute("SELECT nextval('purge_receipts_receipt_id_seq')").fetchone()
    assert found is not None
    stored = dataclasses.replace(receipt, receipt_id=int(found[0]), audit_seq=None)
    con.execute(pg(rows.RECEIPT_INSERT), rows.receipt_params(stored))
    return stored


def receipts(con: psycopg.Connection[Any], *, pending: bool = False,
             limit: int | None = None) -> list[PurgeReceipt]:
    """Purge receipts, oldest first (see :func:`belvedere.store.rows.receipts_sql`)."""
    found = con.execute(rows.receipts_sql(pending=pending, limit=limit)).fetchall()
    return [rows.receipt_row(r) for r in (found if limit is None else reversed(found))]


def mark_logged(con: psycopg.Connection[Any], receipt_id: int, audit_seq: int) -> None:
    """Note the access-log line of a receipt."""
    con.execute("UPDATE purge_receipts SET audit_seq = %s WHERE receipt_id = %s",
                [audit_seq, receipt_id])
