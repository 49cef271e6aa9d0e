"""What every backend does to rows on their way in and out, without SQL.

The store's backends differ in how they reach their database, never in what a row becomes:
the records of a batch are shaped here before any backend stores them (their Arrow schema, the
local wall clock, the first occurrence of a key), a batch's accounting is checked here, and the
rows read back become the same value types (:class:`~belvedere.store.base.AlertRow`,
:class:`~belvedere.store.base.AuditRow`…) and the same Arrow shapes — times with a time zone
in ``UTC`` whatever the database calls it — on every backend.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from belvedere.errors import StoreError
from belvedere.grid.cells import cell_to_str
from belvedere.grid.records import Incident, Measurement, PlannedEvent, arrow_schema
from belvedere.grid.timebins import local_wallclock
from belvedere.store.base import (
    QUARANTINE_SCHEMA,
    AlertRow,
    ApiTokenRow,
    AuditHead,
    AuditRow,
    BatchInput,
    BatchResult,
    LedgerRow,
    PurgeReceipt,
    RecordKind,
    UserRow,
)

RECORD_TYPES: dict[RecordKind, type] = {
    "incidents": Incident,
    "measurements": Measurement,
    "planned_events": PlannedEvent,
}
"""The record kinds and their dataclasses (whose fields are the tables' columns)."""

TIME_COLUMNS: dict[RecordKind, str] = {
    "incidents": "ts",
    "measurements": "start",
    "planned_events": "start",
}
"""The time of a record of each kind (what a source's cursor follows)."""

LOCAL_COLUMNS: dict[RecordKind, tuple[str, str]] = {
    "incidents": ("ts_local", "ts"),
    "measurements": ("start_local", "start"),
}
"""The local wall-clock column each kind derives at append time, from which UTC column."""

PLANNED_EVENT_COLUMNS = tuple(arrow_schema(PlannedEvent).names)
"""What :meth:`~belvedere.store.base.Store.planned_events` returns: the record's fields."""

SITE_COLUMNS = ("site_id", "kind", "name", "lat", "lon", "cell", "zone", "code")
"""The columns of a reference site (what ``upsert_sites`` takes and ``sites`` returns)."""

UTC_TIMESTAMP = pa.timestamp("us", "UTC")


# -- into the store --------------------------------------------------------------------------

def prepare(kind: RecordKind, table: pa.Table) -> tuple[pa.Table, list[str]]:
    """A batch's ``kind`` records as stored, and their columns: the record's fields in its
    Arrow schema, the local wall-clock column, and each ``(source, source_id)`` once — its
    first occurrence in the batch (what every backend keeps of in-batch duplicates).

    Raises:
        pyarrow.ArrowInvalid / KeyError: ``table`` is not a table of ``kind`` records.
    """
    schema = arrow_schema(RECORD_TYPES[kind])
    table = table.select(schema.names).cast(schema)
    columns = list(schema.names)
    if kind in LOCAL_COLUMNS:
        local_name, utc_name = LOCAL_COLUMNS[kind]
        table = table.append_column(local_name, local_wallclock(table.column(utc_name)))
        columns.append(local_name)
    keys = pl.DataFrame(table.select(["source", "source_id"]))
    key = keys.select(pl.struct("source", "source_id").alias("key")).to_series()
    if key.n_unique() < len(key):
        # Checked first: most batches have no duplicate, and filtering is then skipped.
        table = table.filter(key.is_first_distinct().to_arrow())
    return table, columns


def new_result(batch: BatchInput, batch_id: int) -> BatchResult:
    """The result of ``batch`` before anything is stored."""
    return BatchResult(batch_id=batch_id, source=batch.source, file=batch.file,
                       rows_read=batch.rows_read, rows_filtered=batch.rows_filtered,
                       minimised=dict(batch.minimised), notes=list(batch.notes))


def account(result: BatchResult, batch: BatchInput, quarantine: pa.Table) -> None:
    """Complete ``result`` once its records are stored: the quarantined rows and their rules,
    and the duplicates — every row read not stored, quarantined or filtered.

    Raises:
        StoreError: the counts do not add up (the connector lost rows): the batch must be
            refused, whatever was written of it rolled back.
    """
    result.rows_quarantined = quarantine.num_rows
    for rule in quarantine.column("rule").to_pylist():
        result.quarantine_rules[rule] = result.quarantine_rules.get(rule, 0) + 1
    result.rows_duplicate = (batch.rows_read - result.rows_stored - result.rows_quarantined
                             - batch.rows_filtered)
    if result.rows_duplicate < 0:
        raise StoreError(
            f"{batch.source} ({batch.file}): {batch.rows_read} rows read but "
            f"{result.rows_stored} stored, {result.rows_quarantined} quarantined and "
            f"{batch.rows_filtered} filtered — the connector lost count"
        )


def quarantine_of(batch: BatchInput) -> pa.Table:
    """The batch's rejected rows in :data:`~belvedere.store.base.QUARANTINE_SCHEMA`."""
    return batch.quarantine.cast(QUARANTINE_SCHEMA)


def newest(batch: BatchInput) -> datetime | None:
    """The newest record time the batch brings (``None`` when it brings no record)."""
    times = [pc.max(table.column(TIME_COLUMNS[kind])).as_py()
             for kind, table in batch.records.items() if table.num_rows]
    times = [t for t in times if t is not None]
    return max(times) if times else None


# -- out of the store: Arrow -----------------------------------------------------------------

def utc_times(table: pa.Table) -> pa.Table:
    """``table`` with every time-zone-aware column in the zone named ``UTC``: the same
    instants, but databases name it ``Etc/UTC`` or after the session's zone, and polars
    refuses to compare two names of one zone."""
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type) and column.type.tz is not None and (
                column.type.tz != "UTC" or column.type.unit != "us"):
            table = table.set_column(index, column.name,
                                     table.column(index).cast(UTC_TIMESTAMP))
    return table


def cells_as_hex(table: pa.Table, column: str = "place") -> pa.Table:
    """``column`` (int64 H3 cells) as the hex ids maps use."""
    if not table.num_rows:
        return table.set_column(table.schema.get_field_index(column), column,
                                pa.array([], pa.string()))
    hexes = [cell_to_str(int(c)) for c in table.column(column).to_pylist()]
    return table.set_column(table.schema.get_field_index(column), column,
                            pa.array(hexes, pa.string()))


# -- out of the store: value types -----------------------------------------------------------

def _aware(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


ALERT_FIELDS = tuple(f.name for f in dataclasses.fields(AlertRow))
_ALERT_TIMES = frozenset({"window_start", "window_end", "opened_at", "updated_at",
                          "acknowledged_at", "closed_at"})


def alert_params(alert: AlertRow) -> list[object]:
    """The alert's values in column order (``places`` as a JSON list)."""
    return [json.dumps(list(alert.places)) if f == "places" else getattr(alert, f)
            for f in ALERT_FIELDS]


def alert_row(values: Sequence[Any]) -> AlertRow:
    """An alert read back (columns :data:`ALERT_FIELDS`)."""
    row = dict(zip(ALERT_FIELDS, values, strict=True))
    row["places"] = tuple(json.loads(row["places"]))
    for name in _ALERT_TIMES:
        row[name] = _aware(row[name])
    return AlertRow(**row)


USER_COLUMNS = "username, password_hash, role, created_at"


def user_row(r: Sequence[Any]) -> UserRow:
    """A user read back (columns :data:`USER_COLUMNS`)."""
    return UserRow(r[0], r[1], r[2], r[3].astimezone(UTC))


TOKEN_COLUMNS = "name, token_hash, role, created_at, expires_at, revoked_at"


def token_params(token: ApiTokenRow) -> list[object]:
    """An API token's values (columns :data:`TOKEN_COLUMNS`)."""
    return [token.name, token.token_hash, token.role, token.created_at, token.expires_at,
            token.revoked_at]


def token_row(r: Sequence[Any]) -> ApiTokenRow:
    """An API token read back (columns :data:`TOKEN_COLUMNS`)."""
    return ApiTokenRow(r[0], r[1], r[2], r[3].astimezone(UTC), r[4].astimezone(UTC),
                       _aware(r[5]))


AUDIT_COLUMNS = ("seq, ts, actor, role, purpose, action, what, rows_released, prev_hash, "
                 "hash, justification")


def audit_params(row: AuditRow) -> list[object]:
    """An access-log line's values (columns :data:`AUDIT_COLUMNS`)."""
    return [row.seq, row.ts, row.actor, row.role, row.purpose, row.action, row.what,
            row.rows_released, row.prev_hash, row.hash, row.justification]


def audit_row(r: Sequence[Any]) -> AuditRow:
    """An access-log line read back (columns :data:`AUDIT_COLUMNS`)."""
    return AuditRow(r[0], r[1].astimezone(UTC), *r[2:])


HEAD_COLUMNS = "size, root, ts, signature, key_id"


def head_row(r: Sequence[Any]) -> AuditHead:
    """A signed tree head read back (columns :data:`HEAD_COLUMNS`)."""
    return AuditHead(r[0], r[1], r[2].astimezone(UTC), r[3], r[4])


LEDGER_FIELDS = tuple(f.name for f in dataclasses.fields(LedgerRow))


def ledger_row(r: Sequence[Any]) -> LedgerRow:
    """A ledger row read back (columns :data:`LEDGER_FIELDS`)."""
    return LedgerRow(r[0], r[1].astimezone(UTC), *r[2:])


RECEIPT_COLUMNS = ('receipt_id, dataset, "table", "before", count, digest, aggregated, '
                   "purged_at, audit_seq, oldest")


def receipt_params(receipt: PurgeReceipt) -> list[object]:
    """A receipt's values (columns :data:`RECEIPT_COLUMNS`)."""
    return [receipt.receipt_id, receipt.dataset, receipt.table, receipt.before, receipt.count,
            receipt.digest, receipt.aggregated, receipt.purged_at, receipt.audit_seq,
            receipt.oldest]


def receipt_row(r: Sequence[Any]) -> PurgeReceipt:
    """A purge receipt read back (columns :data:`RECEIPT_COLUMNS`)."""
    return PurgeReceipt(r[0], r[1], r[2], r[3].astimezone(UTC), r[4], r[5], r[6],
                        r[7].astimezone(UTC), r[8], _aware(r[9]))
