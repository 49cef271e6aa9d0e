"""Deleting what retention makes due: the tables a rule may name, and the receipts' digests.

Each backend's purge (``belvedere/store/duckdb/purge.py``, ``belvedere/store/postgres/purge.py``)
deletes the rows of one table older than a cutoff. For incidents and measurements
it can first *coarsen* them: their hourly counts per source, metric, category, H3 cell at
:data:`AGGREGATE_RESOLUTION` (or coarser, when the record was) and zone go to the ``aggregates``
table, which the situation reads beside the raw rows (:func:`belvedere.store.queries.observations`),
so the counts of a purged period still answer. The receipt — how many rows, and the SHA-256 of
their sorted keys (:func:`receipt_digest`) — is written in the same transaction, so a crash
leaves either the rows and no receipt, or the receipt and no rows; the access-log line that
publishes it is written afterwards by :mod:`belvedere.privacy.retention`, which also publishes
receipts a crash left pending.

A (source, metric, hour) is coarsened once: raw rows that come back later for an hour already in
the aggregates (an old export ingested again after its rows were purged) are deleted without
being counted a second time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from belvedere.errors import StoreError
from belvedere.store.base import PurgeRule

AGGREGATE_RESOLUTION = 8
"""H3 resolution of the aggregates' cells (~0.7 km², edge ~460 m): finer detail is not kept."""


@dataclass(frozen=True, slots=True)
class TableSpec:
    """How to purge one table: the SQL time of a row (``{t}`` is the table's name), its key
    columns (for the digest), whether it has a ``source`` column, and, for tables that can be
    coarsened, the SQL of an aggregate row's metric, time precision, local time and value."""

    time: str
    key: tuple[str, ...]
    has_source: bool = True
    metric: str | None = None
    precision: str = "'hour'"
    local: str = ""
    value: str = "1.0"
    only: str = ""


TABLES: dict[str, TableSpec] = {
    "incidents": TableSpec("{t}.ts", ("source", "source_id"), metric="'incidents'",
                        precision="{t}.time_precision", local="{t}.ts_local"),
    # Measurements suppressed at source (no value) carry no figure: they are not counted.
    "measurements": TableSpec('{t}."start"', ("source", "source_id"), metric="{t}.metric",
                           local="{t}.start_local", value="{t}.value",
                           only="AND {t}.value IS NOT NULL"),
    "planned_events": TableSpec('{t}."end"', ("source", "source_id")),
    # A quarantined row is as old as the ingest batch that rejected it.
    "quarantine": TableSpec("(SELECT b.started_at FROM ingest_batches AS b "
                         "WHERE b.batch_id = {t}.batch_id)", ("source", "batch_id", "line")),
    "sessions": TableSpec("{t}.expires_at", ("token_hash",), has_source=False),
    "alerts": TableSpec("{t}.updated_at", ("alert_id",), has_source=False),
    "aggregates": TableSpec("{t}.hour", ("source", "metric", "category", "time_precision", "hour",
                                      "cell", "zone")),
    "api_tokens": TableSpec("coalesce({t}.revoked_at, {t}.expires_at)", ("name",),
                         has_source=False),
    "audit_log": TableSpec("{t}.ts", ("seq",), has_source=False),
    "privacy_ledger": TableSpec("{t}.ts", ("seq",), has_source=False),
}
"""The tables a retention rule may name."""

PURGEABLE_TABLES = tuple(TABLES)


def _key_text(value: Any) -> Any:
    """A key value as the digest writes it: text, UTC ISO 8601 for times, null for none."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def receipt_digest(keys: Iterable[Sequence[Any]]) -> str:
    """SHA-256 (hex) of erased rows' keys, to prove later what was erased without keeping it.

    Each key becomes a compact JSON array of its values as text (times in UTC ISO 8601, a
    missing value ``null``); the lines are sorted (by code point) and joined with ``\\n``.
    Nothing erased gives the SHA-256 of the empty string.

    Example:
        >>> receipt_digest([("police_log", "PM-2"), ("police_log", "PM-1")]) == hashlib.sha256(
        ...     b'["police_log","PM-1"]\\n["police_log","PM-2"]').hexdigest()
        True
    """
    lines = sorted(json.dumps([_key_text(v) for v in key], ensure_ascii=False,
                              separators=(",", ":")) for key in keys)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


_CONTROL = r"[\x00-\x1f]"


def table_digest(keys: pa.Table) -> str:
    """:func:`receipt_digest` of a table's rows (one column per key field), vectorised: the
    same result, about ten times faster on a million keys. Text without control characters
    and integers are escaped by polars; anything else goes through :func:`receipt_digest`'s
    own JSON."""
    frame = pl.DataFrame(keys)
    fields: list[pl.Series] = []
    for name, dtype in frame.schema.items():
        column = frame[name]
        if dtype.is_integer() or (dtype == pl.String and not column.str.contains(_CONTROL).any()):
            text = column.cast(pl.String)
            quoted = ('"' + text.str.replace_all("\\", "\\\\", literal=True)
                      .str.replace_all('"', '\\"', literal=True) + '"')
        else:
            quoted = pl.Series([json.dumps(_key_text(v), ensure_ascii=False)
                                for v in column.to_list()], dtype=pl.String)
        fields.append(quoted.fill_null("null").alias(f"k{len(fields)}"))
    if not fields or frame.height == 0:
        return receipt_digest(())
    lines = pl.DataFrame(fields).select(
        ("[" + pl.concat_str(pl.all(), separator=",") + "]").alias("line"))["line"]
    # Polars orders text by its UTF-8 bytes: the same order as Python's, by code point.
    return hashlib.sha256("\n".join(lines.sort().to_list()).encode("utf-8")).hexdigest()


def spec_of(rule: PurgeRule) -> TableSpec:
    spec = TABLES.get(rule.table)
    if spec is None:
        raise StoreError(f"retention dataset {rule.dataset}: no table {rule.table!r} to purge; "
                         f"tables: {', '.join(TABLES)}")
    if (rule.sources or rule.exclude_sources) and not spec.has_source:
        raise StoreError(f"retention dataset {rule.dataset}: {rule.table} has no source column")
    if rule.aggregate and spec.metric is None:
        raise StoreError(f"retention dataset {rule.dataset}: {rule.table} cannot be coarsened "
                         "into aggregates")
    return spec


def where_of(rule: PurgeRule, spec: TableSpec) -> tuple[str, list[object]]:
    """The SQL condition of the rows ``rule`` makes due, and its parameters."""
    t = rule.table
    clauses = [f"{spec.time.format(t=t)} < ?"]
    params: list[object] = [rule.before]
    for names, op in ((rule.sources, "IN"), (rule.exclude_sources, "NOT IN")):
        if names:
            clauses.append(f"{t}.source {op} ({', '.join('?' * len(names))})")
            params.extend(names)
    return " AND ".join(clauses), params
