"""The retention purge on DuckDB: one transaction per dataset, with its receipt.

What is due, the tables and the digests are in :mod:`belvedere.store.purge`; this module holds
the DuckDB SQL: the hourly coarsening into ``aggregates``, the delete and the receipt.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import duckdb
import pyarrow.compute as pc

from belvedere.errors import StoreError
from belvedere.grid.cells import parent_mask
from belvedere.store import rows
from belvedere.store.base import PurgeReceipt, PurgeRule
from belvedere.store.purge import AGGREGATE_RESOLUTION, TableSpec, spec_of, table_digest, where_of


def _aggregate(con: duckdb.DuckDBPyConnection, rule: PurgeRule, spec: TableSpec, where: str,
               params: list[object], now: datetime) -> int:
    """Add the hourly counts of the due rows to ``aggregates``; returns the rows added."""
    t = rule.table
    and_mask, or_bits = parent_mask(AGGREGATE_RESOLUTION)
    cell = (f"CASE WHEN {t}.cell IS NULL OR (({t}.cell >> 52) & 15) <= {AGGREGATE_RESOLUTION} "
            f"THEN {t}.cell ELSE ({t}.cell & {and_mask}) | {or_bits} END")
    added = con.execute(
        "INSERT INTO aggregates SELECT r.source, r.metric, r.category, r.time_precision, r.hour, "
        "r.hour_local, r.cell, r.zone, sum(r.value), count(*), ? FROM ("
        f"SELECT {t}.source, {(spec.metric or '').format(t=t)} AS metric, {t}.category, "
        f"{spec.precision.format(t=t)} AS time_precision, "
        # The hour is truncated on the epoch: date_trunc would follow the session's time zone.
        f"to_timestamp(floor(epoch({spec.time.format(t=t)}) / 3600) * 3600) AS hour, "
        f"date_trunc('hour', {spec.local.format(t=t)}) AS hour_local, {cell} AS cell, "
        f"{t}.zone, {spec.value.format(t=t)} AS value FROM {t} "
        f"WHERE {where} {spec.only.format(t=t)}) AS r "
        "WHERE NOT EXISTS (SELECT 1 FROM aggregates AS a WHERE a.source = r.source AND "
        "a.metric = r.metric AND a.hour = r.hour) "
        "GROUP BY r.source, r.metric, r.category, r.time_precision, r.hour, r.hour_local, "
        "r.cell, r.zone",
        [now, *params]).fetchall()
    return int(added[0][0]) if added else 0


def purge(con: duckdb.DuckDBPyConnection, rule: PurgeRule, *, now: datetime,
          dry_run: bool = False) -> PurgeReceipt:
    """Delete the rows ``rule`` makes due, coarsening them first when it says so, and record
    the receipt — one transaction. ``rule.before`` should fall on a UTC hour when coarsening
    (an hour is coarsened once). With ``dry_run``, or when nothing is due, nothing changes and
    no receipt is recorded (``receipt_id`` 0)."""
    spec = spec_of(rule)
    where, params = where_of(rule, spec)
    keys_sql = (f"SELECT {spec.time.format(t=rule.table)} AS _time, "
                f"{', '.join(f'{rule.table}.{k}' for k in spec.key)} FROM {rule.table} "
                f"WHERE {where}")

    def due() -> PurgeReceipt:
        keys = con.sql(keys_sql, params=params).to_arrow_table()
        oldest = pc.min(keys.column("_time")).as_py() if keys.num_rows else None
        return PurgeReceipt(0, rule.dataset, rule.table, rule.before, keys.num_rows,
                            table_digest(keys.drop_columns(["_time"])), 0, now,
                            oldest=oldest.astimezone(UTC) if oldest else None)

    if dry_run:
        return due()
    con.begin()
    try:
        aggregated = _aggregate(con, rule, spec, where, params, now) if rule.aggregate else 0
        receipt = due()
        if not receipt.count:  # nothing due: no receipt (the store shows nothing is overdue)
            con.commit()
            return receipt
        deleted = con.execute(f"DELETE FROM {rule.table} WHERE {where}", params).fetchall()
        if int(deleted[0][0]) != receipt.count:
            raise StoreError(f"retention dataset {rule.dataset}: {receipt.count} rows due but "
                             f"{deleted[0][0]} deleted")
        receipt = _insert_receipt(con, dataclasses.replace(receipt, aggregated=aggregated))
        con.commit()
    except Exception:
        con.rollback()
        raise
    return receipt


def _insert_receipt(con: duckdb.DuckDBPyConnection, receipt: PurgeReceipt) -> PurgeReceipt:
    found = con.execute("SELECT coalesce(max(receipt_id), 0) + 1 FROM purge_receipts").fetchall()
    stored = dataclasses.replace(receipt, receipt_id=int(found[0][0]), audit_seq=None)
    con.execute(rows.RECEIPT_INSERT, rows.receipt_params(stored))
    return stored


def add_receipt(con: duckdb.DuckDBPyConnection, receipt: PurgeReceipt) -> PurgeReceipt:
    """Record a receipt (for something erased outside the tables); returns it numbered."""
    con.begin()
    try:
        stored = _insert_receipt(con, receipt)
        con.commit()
    except Exception:
        con.rollback()
        raise
    return stored


def receipts(con: duckdb.DuckDBPyConnection, *, pending: bool = False,
             limit: int | None = None) -> list[PurgeReceipt]:
    """Purge receipts, oldest first (see :func:`belvedere.store.rows.receipts_sql`)."""
    found = con.execute(rows.receipts_sql(pending=pending, limit=limit)).fetchall()
    return [rows.receipt_row(r) for r in (found if limit is None else reversed(found))]


def mark_logged(con: duckdb.DuckDBPyConnection, receipt_id: int, audit_seq: int) -> None:
    """Note the access-log line of a receipt."""
    con.execute("UPDATE purge_receipts SET audit_seq = ? WHERE receipt_id = ?",
                [audit_seq, receipt_id])
