"""What every backend does the same way on either side of its SQL: rows to and from the value
types of :mod:`belvedere.store.base`, and the preparation and accounting of an ingest batch.

A backend keeps only its dialect (placeholders, transactions, bulk loading); the column lists,
the conversions and the rules of a batch (one record per key, read = stored + duplicate +
quarantined + filtered, the cursor moving to the newest time) are here, once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from belvedere.errors import StoreError
from belvedere.grid.records import Incident, Measurement, PlannedEvent, arrow_schema
from belvedere.grid.timebins import local_wallclock
from belvedere.store.base import (
    AlertRow,
    ApiTokenRow,
    AuditHead,
    AuditRow,
    BatchInput,
    BatchResult,
    LedgerRow,
    PurgeReceipt,
    RecordKind,
    ReleaseRow,
)

RECORD_TYPES: dict[RecordKind, type] = {
    "incidents": Incident,
    "measurements": Measurement,
    "planned_events": PlannedEvent,
}
# The UTC column that gives each kind's time (the source's cursor moves to its newest).
TIME_COLUMNS: dict[RecordKind, str] = {
    "incidents": "ts",
    "measurements": "start",
    "planned_events": "start",
}
LIVE_KINDS: tuple[RecordKind, ...] = ("incidents", "measurements")
"""The kinds a live picture counts (planned events are not arrivals)."""


def batch_records_sql(kind: RecordKind) -> str:
    """The records of one batch (``?`` its number) from a time (``?``) on."""
    return (f'SELECT * FROM {kind} WHERE batch_id = ? AND "{TIME_COLUMNS[kind]}" >= ? '
            "ORDER BY source_id")


def batches_sql(after: int | None, since: datetime | None) -> tuple[str, list[object]]:
    """The ingest log by batch number, only above ``after`` and from ``since`` when given."""
    where, params = filters(("batch_id > ?", after), ("started_at >= ?", since))
    return f"SELECT * FROM ingest_batches WHERE {where} ORDER BY batch_id", params


# The local wall-clock column each kind derives at append time, from which UTC column.
LOCAL_COLUMNS: dict[RecordKind, tuple[str, str]] = {
    "incidents": ("ts_local", "ts"),
    "measurements": ("start_local", "start"),
}


def quote(name: str) -> str:
    """A column name quoted for SQL (``start``, ``end`` are keywords in both dialects)."""
    return f'"{name}"'


# -- ingest ---------------------------------------------------------------------------------------

def prepared_records(kind: RecordKind, table: pa.Table) -> pa.Table:
    """A connector's records of ``kind`` as the table stores them: the record type's columns
    and types, the local wall-clock column added, and one row per ``(source, source_id)`` (a
    key repeated inside the batch keeps its first occurrence)."""
    schema = arrow_schema(RECORD_TYPES[kind])
    table = table.select(schema.names).cast(schema)
    if kind in LOCAL_COLUMNS:
        local_name, utc_name = LOCAL_COLUMNS[kind]
        table = table.append_column(local_name, local_wallclock(table.column(utc_name)))
    keys = pl.DataFrame(table.select(["source", "source_id"]))
    key = keys.select(pl.struct("source", "source_id").alias("key")).to_series()
    if key.n_unique() < len(key):
        # Checked first: most batches have no repeated key, and filtering is then skipped.
        table = table.filter(key.is_first_distinct().to_arrow())
    return table


def new_result(batch: BatchInput, batch_id: int) -> BatchResult:
    """The result of ``batch`` before anything is stored."""
    return BatchResult(batch_id=batch_id, source=batch.source, file=batch.file,
                       rows_read=batch.rows_read, rows_filtered=batch.rows_filtered,
                       minimised=dict(batch.minimised), notes=list(batch.notes))


def account(result: BatchResult, batch: BatchInput, quarantine: pa.Table) -> None:
    """Fill in the quarantine counts and the duplicates of ``result`` (the rows read that are
    neither stored, quarantined nor filtered); :class:`StoreError` when the connector's counts
    do not add up — a row came from nowhere."""
    result.rows_quarantined = quarantine.num_rows
    for rule in quarantine.column("rule").to_pylist():
        result.quarantine_rules[rule] = result.quarantine_rules.get(rule, 0) + 1
    result.rows_duplicate = (batch.rows_read - result.rows_stored
                             - result.rows_quarantined - batch.rows_filtered)
    if result.rows_duplicate < 0:
        raise StoreError(
            f"{batch.source} ({batch.file}): {batch.rows_read} rows read but "
            f"{result.rows_stored} stored, {result.rows_quarantined} quarantined and "
            f"{batch.rows_filtered} filtered — the connector lost count"
        )


BATCH_COLUMNS = ("batch_id, source, file, started_at, finished_at, rows_read, rows_stored, "
                 "rows_duplicate, rows_quarantined, status, rows_filtered, minimised, notes")


def batch_params(result: BatchResult, started: datetime) -> list[object]:
    """The ingest-log line of a finished batch, in :data:`BATCH_COLUMNS` order."""
    return [result.batch_id, result.source, result.file, started, datetime.now(UTC),
            result.rows_read, result.rows_stored, result.rows_duplicate, result.rows_quarantined,
            "done", result.rows_filtered, json.dumps(result.minimised, sort_keys=True),
            json.dumps(result.notes)]


def newest_time(batch: BatchInput) -> datetime | None:
    """The newest record time a batch brings (``None`` when it brings no record)."""
    newest = [pc.max(table.column(TIME_COLUMNS[kind])).as_py()
              for kind, table in batch.records.items() if table.num_rows]
    newest = [t for t in newest if t is not None]
    return max(newest) if newest else None


def cursor_params(batch: BatchInput, batch_id: int) -> list[object]:
    """The source cursor's new values: source, newest time, file, batch, when."""
    return [batch.source, newest_time(batch), batch.file, batch_id, datetime.now(UTC)]


CURSOR_UPSERT = (
    "INSERT INTO source_cursors VALUES (?, ?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET "
    "last_ts = greatest(coalesce(source_cursors.last_ts, excluded.last_ts), "
    "coalesce(excluded.last_ts, source_cursors.last_ts)), last_file = excluded.last_file, "
    "last_batch = excluded.last_batch, updated_at = excluded.updated_at")
"""Move a source's cursor (never back in time); the same SQL in both dialects."""


# -- rows of the small tables ----------------------------------------------------------------------

def utc(value: datetime | None) -> datetime | None:
    """A stored time as an aware UTC datetime (``None`` stays ``None``)."""
    return value.astimezone(UTC) if value is not None else None


ALERT_FIELDS = tuple(f.name for f in dataclasses.fields(AlertRow))
_ALERT_TIMES = frozenset({"window_start", "window_end", "opened_at", "updated_at",
                          "acknowledged_at", "closed_at"})


def alert_params(alert: AlertRow) -> list[object]:
    """The alert's values in :data:`ALERT_FIELDS` order (``places`` as a JSON list)."""
    return [json.dumps(list(alert.places)) if f == "places" else getattr(alert, f)
            for f in ALERT_FIELDS]


def alert_row(values: Sequence[Any]) -> AlertRow:
    """An alert from its stored values (in :data:`ALERT_FIELDS` order)."""
    row = dict(zip(ALERT_FIELDS, values, strict=True))
    row["places"] = tuple(json.loads(row["places"]))
    for name in _ALERT_TIMES:
        row[name] = utc(row[name])
    return AlertRow(**row)


TOKEN_COLUMNS = "name, token_hash, role, created_at, expires_at, revoked_at"


def token_row(row: Sequence[Any]) -> ApiTokenRow:
    """An API token from its stored values (:data:`TOKEN_COLUMNS`)."""
    return ApiTokenRow(row[0], row[1], row[2], row[3].astimezone(UTC), row[4].astimezone(UTC),
                       utc(row[5]))


def token_params(token: ApiTokenRow) -> list[object]:
    """An API token's values in :data:`TOKEN_COLUMNS` order."""
    return [token.name, token.token_hash, token.role, token.created_at, token.expires_at,
            token.revoked_at]


AUDIT_COLUMNS = ("seq, ts, actor, role, purpose, action, what, rows_released, prev_hash, hash, "
                 "justification")
AUDIT_INSERT = f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ({', '.join('?' * 11)})"


def audit_params(row: AuditRow) -> list[object]:
    """An access-log line's values in :data:`AUDIT_COLUMNS` order."""
    return [row.seq, row.ts, row.actor, row.role, row.purpose, row.action, row.what,
            row.rows_released, row.prev_hash, row.hash, row.justification]


def audit_row(r: Sequence[Any]) -> AuditRow:
    """An access-log line from its stored values (:data:`AUDIT_COLUMNS`)."""
    return AuditRow(r[0], r[1].astimezone(UTC), *r[2:])


def chain_lines(builds: Sequence[Callable[[AuditRow | None], AuditRow]], last: AuditRow | None,
                insert: Callable[[AuditRow], object]) -> list[AuditRow | BaseException]:
    """Build each line on the one before (the first on ``last``, the newest stored) and
    ``insert`` it; a builder that raises fails its own line only (nothing of it inserted)."""
    out: list[AuditRow | BaseException] = []
    for build in builds:
        try:
            row = build(last)
        except Exception as exc:  # its caller gets it; the lines after build on ``last``
            out.append(exc)
            continue
        insert(row)
        out.append(row)
        last = row
    return out


HEAD_COLUMNS = "size, root, ts, signature, key_id"


def head_row(r: Sequence[Any]) -> AuditHead:
    """A signed tree head from its stored values (:data:`HEAD_COLUMNS`)."""
    return AuditHead(r[0], r[1], r[2].astimezone(UTC), r[3], r[4])


LEDGER_FIELDS = tuple(f.name for f in dataclasses.fields(LedgerRow))
LEDGER_INSERT = (f"INSERT INTO privacy_ledger ({', '.join(LEDGER_FIELDS)}) VALUES "
                 f"({', '.join('?' * len(LEDGER_FIELDS))})")
LEDGER_SPENT = ("SELECT coalesce(sum(epsilon), 0), coalesce(sum(delta), 0) FROM privacy_ledger "
                "WHERE purpose = ? AND period = ?")


def within_caps(eps: float, delta: float, row: LedgerRow, epsilon_cap: float,
                delta_cap: float) -> bool:
    """Whether ``row`` fits in what is left of its purpose's period."""
    # A tolerance of 1e-9 absorbs floating-point sums (0.1 + 0.2 …), no more.
    return eps + row.epsilon <= epsilon_cap + 1e-9 and delta + row.delta <= delta_cap + 1e-15


def ledger_row(r: Sequence[Any]) -> LedgerRow:
    """A ledger row from its stored values (:data:`LEDGER_FIELDS`)."""
    return LedgerRow(r[0], r[1].astimezone(UTC), *r[2:])


def filters(*pairs: tuple[str, object]) -> tuple[str, list[object]]:
    """``WHERE`` text (``TRUE`` when nothing applies) and parameters for the pairs of a column
    condition with ``?`` and its value whose value is not ``None``."""
    where: list[str] = ["TRUE"]
    params: list[object] = []
    for clause, value in pairs:
        if value is not None:
            where.append(clause)
            params.append(value)
    return " AND ".join(where), params


RELEASE_COLUMNS = "release_key, released_at, meta, payload"
RELEASE_SELECT = f"SELECT {RELEASE_COLUMNS} FROM releases WHERE release_key = ?"
RELEASE_INSERT = (f"INSERT INTO releases ({RELEASE_COLUMNS}) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (release_key) DO NOTHING")
RELEASE_DROP = "DELETE FROM releases WHERE released_at < ?"


def release_row(r: tuple[Any, ...]) -> ReleaseRow:
    """A ``releases`` row as stored."""
    return ReleaseRow(str(r[0]), r[1].astimezone(UTC), str(r[2]), str(r[3]))


RECEIPT_COLUMNS = ('receipt_id, dataset, "table", "before", count, digest, aggregated, '
                   "purged_at, audit_seq, oldest")
def receipts_sql(*, pending: bool, limit: int | None) -> str:
    """Purge receipts, oldest first: those not yet in the access log (``pending``), only the
    newest ``limit`` (read back to front, so the caller reverses them)."""
    where = " WHERE audit_seq IS NULL" if pending else ""
    if limit is None:
        return f"SELECT {RECEIPT_COLUMNS} FROM purge_receipts{where} ORDER BY receipt_id"
    return (f"SELECT {RECEIPT_COLUMNS} FROM purge_receipts{where} ORDER BY receipt_id DESC "
            f"LIMIT {int(limit)}")


RECEIPT_INSERT = (f"INSERT INTO purge_receipts ({RECEIPT_COLUMNS}) VALUES "
                  f"({', '.join('?' * 10)})")


def receipt_params(stored: PurgeReceipt) -> list[object]:
    """A new receipt's values in :data:`RECEIPT_COLUMNS` order (not yet in the access log)."""
    return [stored.receipt_id, stored.dataset, stored.table, stored.before, stored.count,
            stored.digest, stored.aggregated, stored.purged_at, None, stored.oldest]


def receipt_row(r: Sequence[Any]) -> PurgeReceipt:
    """A receipt from its stored values (:data:`RECEIPT_COLUMNS`)."""
    return PurgeReceipt(r[0], r[1], r[2], r[3].astimezone(UTC), r[4], r[5], r[6],
                        r[7].astimezone(UTC), r[8], utc(r[9]))
