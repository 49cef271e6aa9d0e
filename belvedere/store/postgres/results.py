"""PostgreSQL results as Arrow tables, and the shared SQL in psycopg's placeholders.

The SQL shared with DuckDB (:mod:`belvedere.store.rows`) uses ``?`` placeholders; psycopg takes
``%s`` (and a literal ``%`` doubled): :func:`pg` converts. A result becomes an Arrow table typed
from the columns' PostgreSQL types, so an empty result still has its schema and every time with
a zone is ``timestamp[us, UTC]`` — what the DuckDB store gives, so callers see one shape.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc

# PostgreSQL type OIDs (pg_type) of the columns belvedere stores, and their Arrow types.
_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(), 21: pa.int16(), 23: pa.int32(),
    25: pa.string(), 1043: pa.string(), 19: pa.string(),
    700: pa.float32(), 701: pa.float64(), 1700: pa.float64(),
    1114: pa.timestamp("us"), 1184: pa.timestamp("us", "UTC"),
    1082: pa.date32(),
}


def pg(sql: str) -> str:
    """``sql`` with ``?`` placeholders in psycopg's ``%s`` style (a ``%`` of the text doubled).

    Example:
        >>> pg("SELECT 1 WHERE name LIKE 'a%' AND id = ?")
        "SELECT 1 WHERE name LIKE 'a%%' AND id = %s"
    """
    return sql.replace("%", "%%").replace("?", "%s")


def to_arrow(cur: psycopg.Cursor[Any]) -> pa.Table:
    """The rest of ``cur``'s result as an Arrow table (column types from the result's own)."""
    description = cur.description or []
    found = cur.fetchall()
    columns = list(zip(*found, strict=True)) if found else [() for _ in description]
    arrays = []
    for column, values in zip(description, columns, strict=True):
        kind = _TYPES.get(column.type_code, pa.string())
        if kind == pa.string() and column.type_code not in (25, 1043, 19):
            values = tuple(None if v is None else str(v) for v in values)  # any other type
        arrays.append(pa.array(values, type=kind))
    return pa.Table.from_arrays(arrays, names=[c.name for c in description])


def fetch_arrow(con: psycopg.Connection[Any], sql: str,
                params: list[object] | None = None) -> pa.Table:
    """Run ``sql`` (``?`` placeholders when ``params`` are given) and return its result."""
    with con.cursor() as cur:
        if params:
            cur.execute(pg(sql), params)
        else:
            cur.execute(sql)  # no parameters: psycopg takes the text as it is (% included)
        return to_arrow(cur)


def without_nul(table: pa.Table) -> pa.Table:
    """``table`` with every NUL character of its text replaced by U+FFFD.

    PostgreSQL text cannot hold NUL (DuckDB's can): a connector's value that carries one would
    otherwise fail the whole batch. The replacement is visible, and nothing else changes.
    """
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = table.column(i)
            if pc.any(pc.match_substring(column, "\x00")).as_py():
                table = table.set_column(i, field, pc.replace_substring(column, "\x00", "\ufffd"))
    return table
