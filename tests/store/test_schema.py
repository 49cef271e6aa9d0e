"""Both backends build the same schema from the same numbered migrations: the same tables, the
same columns in the same order, of the same types — PostgreSQL adding only its PostGIS
geometries (``GEOMETRY_COLUMNS``) and what the schema itself declares (keys, sequences)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from belvedere.store.base import Store
from belvedere.store.factory import open_store
from belvedere.store.migrations import MIGRATIONS
from belvedere.store.postgres.schema import GEOMETRY_COLUMNS, SEQUENCES
from tests import rawsql
from tests.backends import discard_store, new_store_url

# information_schema names one type two ways; these are the same type.
SAME_TYPE = {
    "character varying": "VARCHAR", "text": "VARCHAR", "varchar": "VARCHAR",
    "bigint": "BIGINT", "integer": "INTEGER", "smallint": "SMALLINT",
    "double precision": "DOUBLE", "double": "DOUBLE", "real": "FLOAT", "float": "FLOAT",
    "boolean": "BOOLEAN", "date": "DATE", "bytea": "BLOB", "blob": "BLOB",
    "timestamp with time zone": "TIMESTAMPTZ", "timestamp without time zone": "TIMESTAMP",
    "timestamp": "TIMESTAMP", "json": "JSON", "jsonb": "JSON", "ubigint": "UBIGINT",
}


@pytest.fixture
def both(tmp_path: Path) -> Iterator[dict[str, Store]]:
    """A new store of each backend, migrated."""
    urls = {which: new_store_url(tmp_path, "schema", which=which)
            for which in ("duckdb", "postgresql")}
    stores = {which: open_store(url) for which, url in urls.items()}
    yield stores
    for which, db in stores.items():
        db.close()
        discard_store(urls[which])


def columns(store: Store) -> dict[str, list[tuple[str, str]]]:
    """Per table, its (column, type) in order, types named as one engine would."""
    schema = "public" if store.deployment.kind == "postgresql" else "main"
    tables = set(rawsql.tables(store))  # not PostGIS's own views and table
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rawsql.query(
            store, "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? "
            "ORDER BY table_name, ordinal_position", [schema]):
        if table not in tables or column in GEOMETRY_COLUMNS.get(table, ()):
            continue
        out.setdefault(table, []).append((column, SAME_TYPE.get(kind.lower(), kind.upper())))
    return out


def test_both_backends_have_the_same_tables_columns_and_types(both: dict[str, Store]) -> None:
    duck, pg = columns(both["duckdb"]), columns(both["postgresql"])
    assert sorted(duck) == sorted(pg)
    for table in duck:
        assert duck[table] == pg[table], table
    assert len(duck) >= 15 and sum(len(c) for c in duck.values()) >= 120
    # Each is at the newest migration.
    version = max(m[0] for m in MIGRATIONS)
    for db in both.values():
        assert rawsql.scalar(db, "SELECT max(version) FROM schema_migrations") == version


def test_postgresql_declares_the_record_keys_and_numbers_by_sequences(
        both: dict[str, Store]) -> None:
    pg = both["postgresql"]
    keys = rawsql.query(
        pg, "SELECT tc.table_name, string_agg(k.column_name, ',' ORDER BY k.ordinal_position) "
        "FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage"
        " k ON k.constraint_name = tc.constraint_name AND k.table_name = tc.table_name "
        "WHERE tc.constraint_type = 'PRIMARY KEY' GROUP BY tc.table_name")
    declared = dict(keys)
    for table in ("incidents", "measurements", "planned_events"):
        assert declared[table] == "source,source_id", table
    sequences = {r[0] for r in rawsql.query(
        pg, "SELECT sequence_name FROM information_schema.sequences")}
    assert {name for name, _ in SEQUENCES.values()} <= sequences
    kinds = dict(rawsql.query(
        pg, "SELECT f_table_name || '.' || f_geometry_column, type FROM geometry_columns"))
    assert kinds == {"sites.geom": "POINT", "planned_events.venue_geom": "POINT",
                     "planned_events.route_geom": "GEOMETRY"}
