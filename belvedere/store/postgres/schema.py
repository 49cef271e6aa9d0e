"""The PostgreSQL schema: the shared numbered migrations, and what only the server store adds.

The migrations of :mod:`belvedere.store.migrations` are written in the SQL both engines take, so
both stores have the same tables and columns (``tests/store/test_schema.py`` compares them).
After each one, PostgreSQL applies its own additions for that version, in the same transaction:

- the **declared primary key** ``(source, source_id)`` of each record table — the DuckDB store
  enforces it itself (see :mod:`belvedere.store.migrations`); here concurrent ingests of
  overlapping exports rely on it, besides the per-source record lock (:data:`RECORDS_LOCK`);
- **sequences** for the numbers several processes allocate at once (ingest batches, alerts,
  purge receipts): a number is never given twice, and one a rolled-back transaction took is
  not reused (the log shows a gap, never a duplicate);
- **PostGIS geometries** computed from the stored columns (``GENERATED … STORED``, so no writer
  has to know of them): each site's point, each planned event's venue point and route line, in
  WGS 84, with GiST indexes for spatial queries (``ST_DWithin`` on ``geography``); a route that
  PostGIS cannot read gets no geometry rather than failing its batch. H3 cells stay integer
  columns, computed at ingest like on DuckDB;
- indexes the server's concurrent readers need (record times, batches).

The access-log chain and the privacy ledger need no schema of their own: their appends are
serialised by transaction-scoped advisory locks (:data:`AUDIT_LOCK`, :data:`LEDGER_LOCK`).
"""

from __future__ import annotations

POSTGIS = "CREATE EXTENSION IF NOT EXISTS postgis"

MIGRATION_LOCK = 0x62656C7601
"""Advisory lock held while migrating: two processes opening a new database do it once."""
AUDIT_LOCK = 0x62656C7602
"""Advisory lock of the access-log chain: one appender at a time, every process."""
LEDGER_LOCK = 0x62656C7603
"""Advisory lock of the privacy ledger: one charge at a time, every process."""
RECORDS_LOCK = 0x62656C76
"""First key of the two-key advisory locks of the record tables, one per (kind, source): one
batch at a time writes a source's records (the second key hashes kind and source)."""

SEQUENCES = {
    "ingest_batches": ("ingest_batches_batch_id_seq", "batch_id"),
    "alerts": ("alerts_alert_id_seq", "alert_id"),
    "purge_receipts": ("purge_receipts_receipt_id_seq", "receipt_id"),
}
"""Per table numbered by a sequence: the sequence and the column."""

_KEYS = "".join(
    f"ALTER TABLE {t} ADD CONSTRAINT {t}_pkey PRIMARY KEY (source, source_id);\n"
    f"CREATE INDEX {t}_batch ON {t} (batch_id);\n"
    for t in ("incidents", "measurements", "planned_events"))


def _sequence(table: str) -> str:
    name, column = SEQUENCES[table]
    return (f"CREATE SEQUENCE {name} OWNED BY {table}.{column};\n"
            f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT nextval('{name}');\n")


EXTRAS: dict[int, str] = {
    1: _KEYS + _sequence("ingest_batches") + """
        CREATE INDEX incidents_ts ON incidents (ts);
        CREATE INDEX measurements_start ON measurements ("start");
        CREATE INDEX planned_events_span ON planned_events ("start", "end");
        CREATE INDEX quarantine_file ON quarantine (source, file);
        ALTER TABLE sites ADD COLUMN geom geometry(Point, 4326)
            GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED;
        CREATE INDEX sites_geom ON sites USING gist (geom);
        ALTER TABLE planned_events ADD COLUMN venue_geom geometry(Point, 4326)
            GENERATED ALWAYS AS (CASE WHEN lat IS NOT NULL AND lon IS NOT NULL
                                 THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END) STORED;
        CREATE FUNCTION belvedere_route_geom(route text) RETURNS geometry
            LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        BEGIN
            RETURN ST_SetSRID(ST_GeomFromGeoJSON(route), 4326);
        EXCEPTION WHEN OTHERS THEN
            -- A route PostGIS cannot read keeps its text and has no geometry: one bad value
            -- must not stop the batch that brings it.
            RETURN NULL;
        END $$;
        ALTER TABLE planned_events ADD COLUMN route_geom geometry(Geometry, 4326)
            GENERATED ALWAYS AS (belvedere_route_geom(route)) STORED;
        CREATE INDEX planned_events_venue_geom ON planned_events USING gist (venue_geom);
        CREATE INDEX planned_events_route_geom ON planned_events USING gist (route_geom);
    """,
    2: "CREATE INDEX audit_log_ts ON audit_log (ts);",
    4: _sequence("alerts") + "CREATE INDEX alerts_updated ON alerts (updated_at);",
    8: _sequence("purge_receipts") + "CREATE INDEX aggregates_hour ON aggregates (hour);",
}
"""What PostgreSQL adds after the shared migration of the same version."""

GEOMETRY_COLUMNS = {"sites": ("geom",), "planned_events": ("venue_geom", "route_geom")}
"""Columns only the PostgreSQL schema has (PostGIS geometries): left out of reads and of the
schema comparison with DuckDB."""
