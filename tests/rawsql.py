"""Raw SQL on a test's store, whatever its backend — for what a test must see or break behind
the store's back (tamper with the access log, read a stored column, count orphans).

The store's own connection stays private: these helpers open their own, by the store's URL
(a second DuckDB connection in the same process shares the open database; PostgreSQL gets an
ordinary client session, in UTC). SQL uses ``?`` placeholders on both backends.

Example::

    from tests import rawsql
    rawsql.execute(store, "DELETE FROM audit_log WHERE seq = ?", [4])
    assert rawsql.scalar(store, "SELECT count(*) FROM audit_log") == 5
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from belvedere.store.base import Store


@contextmanager
def _cursor(store: Store) -> Iterator[Any]:
    deployment = store.deployment
    if deployment.kind == "postgresql":
        import psycopg

        with psycopg.connect(deployment.url, autocommit=True,
                             options="-c TimeZone=UTC") as con, con.cursor() as cur:
            yield cur
        return
    import duckdb

    if deployment.path is None:
        raise ValueError("rawsql needs a store on disk (an in-memory DuckDB has no URL to "
                         "reach it by)")
    con = duckdb.connect(str(deployment.path))
    try:
        yield con
    finally:
        con.close()


def _run(cur: Any, store: Store, sql: str, params: Sequence[object]) -> Any:
    if store.deployment.kind == "postgresql":
        if params:
            return cur.execute(sql.replace("%", "%%").replace("?", "%s"), list(params))
        return cur.execute(sql)
    return cur.execute(sql, list(params))


def query(store: Store, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Every row of ``sql``."""
    with _cursor(store) as cur:
        return [tuple(r) for r in _run(cur, store, sql, params).fetchall()]


def scalar(store: Store, sql: str, params: Sequence[object] = ()) -> Any:
    """The first column of the first row (``None`` when there is no row)."""
    found = query(store, sql, params)
    return found[0][0] if found else None


def execute(store: Store, sql: str, params: Sequence[object] = ()) -> None:
    """Run a statement that returns nothing (committed at once)."""
    with _cursor(store) as cur:
        _run(cur, store, sql, params)


def arrow(store: Store, sql: str, params: Sequence[object] = ()) -> pa.Table:
    """``sql``'s result as an Arrow table."""
    with _cursor(store) as cur:
        if store.deployment.kind == "postgresql":
            found = _run(cur, store, sql, params).fetchall()
            names = [c.name for c in cur.description]
            return pa.table({n: [r[i] for r in found] for i, n in enumerate(names)})
        return cur.sql(sql, params=list(params) or None).to_arrow_table()


def tables(store: Store) -> list[str]:
    """The store's tables, by name (not PostGIS's own ``spatial_ref_sys``)."""
    schema = "public" if store.deployment.kind == "postgresql" else "main"
    return [r[0] for r in query(
        store, "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
        "AND table_type = 'BASE TABLE' AND table_name <> 'spatial_ref_sys' "
        "ORDER BY table_name", [schema])]
