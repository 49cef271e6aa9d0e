"""The server store: PostgreSQL with PostGIS, shared by every process of a deployment.

Any number of processes — ``belvedere serve`` with several workers, ``belvedere live``, the
analysts' CLI, the DPO's ``audit verify`` — open the same database at once. What DuckDB gets
from owning its file, this store gets from the server:

- **one record per key**: a batch is copied (``COPY``) into a temporary table, then its new
  keys are inserted by an anti-join while the batch holds its source's record lock (one writer
  of a source's records at a time, every process), so two processes ingesting overlapping
  exports store each record once, and the count of rows stored is the server's own; the
  declared primary key ``(source, source_id)`` guards it all the same;
- **one batch, one transaction**: a batch is all stored or not at all (a process killed mid-file
  leaves the store as it was; PostgreSQL rolls the open transaction back);
- **numbers from sequences** (batches, alerts, receipts): never given twice;
- **one chain** for the access log and **one sum** for the privacy ledger: each append runs
  under a transaction-scoped advisory lock (:mod:`belvedere.store.postgres.schema`), so no two
  processes build on the same previous line or charge against the same spent budget;
- **deadlocks retried**: locks are taken in one order (the file's, then its kinds' in one
  order), so batches wait rather than deadlock; should the server still abort one, it is run
  again (a few times, then :class:`~belvedere.errors.StoreError`).

Connections come from a pool (``psycopg_pool``) shared by the process's threads; every session
runs in UTC, so times read back are UTC whatever the server's zone.
"""

from __future__ import annotations

import dataclasses
import io
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import ibis
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import errors as pgerrors
from psycopg.types.numeric import FloatLoader
from psycopg_pool import ConnectionPool, PoolTimeout

from belvedere.errors import StoreError
from belvedere.grid.cells import cell_to_str
from belvedere.store import queries, rows
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
    PurgeRule,
    RecordKind,
    ReleaseRow,
    SituationQuery,
    UserRow,
)
from belvedere.store.combine import Combiner
from belvedere.store.deployment import Deployment
from belvedere.store.migrations import MIGRATIONS
from belvedere.store.postgres import purge as purging
from belvedere.store.postgres.results import fetch_arrow, pg, without_nul
from belvedere.store.postgres.schema import (
    AUDIT_LOCK,
    EXTRAS,
    GEOMETRY_COLUMNS,
    LEDGER_LOCK,
    MIGRATION_LOCK,
    POSTGIS,
    RECORDS_LOCK,
)

POOL_SIZE = 10
"""Connections a process keeps at most. The API's worker threads wait for one (up to
:data:`POOL_TIMEOUT`); the server's own ``max_connections`` bounds the deployment's sum."""
POOL_TIMEOUT = 30.0
"""Seconds a caller waits for a connection of the pool before :class:`StoreError`."""
RETRIES = 6
"""Times a batch is tried when the server aborts it for a deadlock or a serialisation failure."""
_COPY_ROWS = 50_000  # rows per CSV chunk sent to COPY: bounded memory for a million-row file
_RETRYABLE = (pgerrors.DeadlockDetected, pgerrors.SerializationFailure)


def _configure(con: psycopg.Connection[Any]) -> None:
    """Each new connection of the pool reads ``numeric`` (what PostgreSQL's ``sum`` of
    integers gives) as a float, as DuckDB does, rather than as ``Decimal``."""
    con.adapters.register_loader("numeric", FloatLoader)


def _user(r: tuple[Any, ...]) -> UserRow:
    return UserRow(r[0], r[1], r[2], r[3].astimezone(UTC))


class PostgresStore:
    """The :class:`~belvedere.store.base.Store` on a PostgreSQL database with PostGIS.

    Open it with :func:`belvedere.store.factory.open_store` and a ``postgresql://`` URL. The
    database must exist; the schema is created or brought up to date on opening (unless
    ``read_only``, which opens every session read-only: a command that only reads cannot
    write by mistake).
    """

    def __init__(self, deployment: Deployment | str, *, read_only: bool = False) -> None:
        if not isinstance(deployment, Deployment):
            deployment = Deployment.from_url(deployment)
        if deployment.kind != "postgresql":
            raise StoreError(f"{deployment.display} is not a PostgreSQL store")
        self.deployment = deployment
        self.read_only = read_only
        options = "-c TimeZone=UTC" + (" -c default_transaction_read_only=on" if read_only
                                        else "")
        try:  # one direct connection first: a clear error now, not a pool timeout later
            psycopg.connect(deployment.url, connect_timeout=10, options=options).close()
        except psycopg.Error as exc:
            raise StoreError(f"cannot reach the store {deployment.display}: "
                             f"{str(exc).strip()}") from exc
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            deployment.url, min_size=1, max_size=POOL_SIZE, timeout=POOL_TIMEOUT,
            kwargs={"options": options, "connect_timeout": 10}, configure=_configure, open=True,
            name=f"belvedere {deployment.identity}")
        self._schemas: dict[str, ibis.Schema] = {}
        self._schemas_lock = threading.Lock()
        self._audit_appends = Combiner(self._append_audit_lines)
        if read_only:
            if self.schema_version() == 0:
                self.close()
                raise StoreError(f"no belvedere store in {deployment.display} (no migration "
                                 "applied): a command that writes creates it")
        else:
            self.migrate()

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection of the pool, committed when the block ends (rolled back if it raises);
        a server or pool failure becomes :class:`StoreError` naming the store."""
        try:
            with self._pool.connection() as con:
                yield con
        except PoolTimeout as exc:
            raise StoreError(f"the store {self.deployment.display} gave no connection within "
                             f"{POOL_TIMEOUT:.0f} s (server down, or every connection "
                             "busy)") from exc
        except pgerrors.ReadOnlySqlTransaction as exc:
            raise StoreError(f"the store {self.deployment.display} was opened read-only: "
                             f"{exc}") from exc
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreError(f"the store {self.deployment.display} failed: "
                             f"{str(exc).strip()}") from exc

    def _one(self, sql: str, params: list[object] | None = None) -> Any:
        """The first column of the first row (``None`` when no row)."""
        with self._connection() as con:
            found = con.execute(pg(sql), params).fetchone() if params else \
                con.execute(sql).fetchone()
        return found[0] if found else None

    def _all(self, sql: str, params: list[object] | None = None) -> list[tuple[Any, ...]]:
        with self._connection() as con:
            cur = con.execute(pg(sql), params) if params else con.execute(sql)
            return cur.fetchall()

    def _run(self, sql: str, params: list[object] | None = None) -> int:
        """Run one statement; returns the rows it touched."""
        with self._connection() as con:
            cur = con.execute(pg(sql), params) if params else con.execute(sql)
            return cur.rowcount

    def _arrow(self, sql: str, params: list[object] | None = None) -> pa.Table:
        with self._connection() as con:
            return fetch_arrow(con, sql, params)

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending migrations in order, each with its PostgreSQL additions, in one
        transaction under an advisory lock (two processes opening a new database migrate it
        once); returns the versions applied."""
        applied: list[int] = []
        with self._connection() as con, con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK])
            self._postgis(con)
            con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY "
                        "KEY, description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
            done = {r[0] for r in con.execute("SELECT version FROM schema_migrations")}
            for version, description, sql in MIGRATIONS:
                if version in done:
                    continue
                try:
                    with con.transaction():
                        con.execute(sql)
                        if version in EXTRAS:
                            con.execute(EXTRAS[version])
                        con.execute("INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                                    [version, description, datetime.now(UTC)])
                except psycopg.Error as exc:
                    raise StoreError(f"{self.deployment.display}: migration {version} "
                                     f"({description}) failed: {exc}") from exc
                applied.append(version)
        return applied

    def _postgis(self, con: psycopg.Connection[Any]) -> None:
        """Make sure PostGIS is in the database, or say plainly what is missing."""
        if con.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone():
            return
        if not con.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'"
                           ).fetchone():
            raise StoreError(f"{self.deployment.display}: PostGIS is not installed on the "
                             "PostgreSQL server (Debian: apt-get install postgresql-15-postgis-3,"
                             " the major version of your server)")
        try:
            with con.transaction():
                con.execute(POSTGIS)
        except psycopg.Error as exc:
            raise StoreError(f"{self.deployment.display}: cannot create the PostGIS extension "
                             f"({str(exc).strip()}); a superuser can, once: "
                             "CREATE EXTENSION postgis") from exc

    def schema_version(self) -> int:
        """The newest applied migration (0 in an empty database)."""
        if self._one("SELECT to_regclass('schema_migrations') IS NOT NULL") is not True:
            return 0
        version = self._one("SELECT max(version) FROM schema_migrations")
        return int(version) if version is not None else 0

    def _columns(self, table: str, con: psycopg.Connection[Any] | None = None) -> str:
        """The table's columns that both backends have (its PostGIS geometries left out)."""
        if table not in self._schemas:
            probe = (fetch_arrow(con, f"SELECT * FROM {table} LIMIT 0") if con is not None
                     else self._arrow(f"SELECT * FROM {table} LIMIT 0"))
            keep = [n for n in probe.schema.names if n not in GEOMETRY_COLUMNS.get(table, ())]
            with self._schemas_lock:
                self._schemas[table] = ibis.Schema.from_pyarrow(
                    pa.schema([probe.schema.field(n) for n in keep]))
        return ", ".join(rows.quote(n) for n in self._schemas[table].names)

    # -- ingest -----------------------------------------------------------------------------

    def append_batch(self, batch: BatchInput) -> BatchResult:
        """Store one batch in one transaction (see :meth:`Store.append_batch`); a deadlock
        with another process's batch is retried."""
        for attempt in range(RETRIES):
            try:
                return self._append(batch)
            except _RETRYABLE:
                if attempt == RETRIES - 1:
                    raise StoreError(f"{batch.source} ({batch.file}): the server aborted the "
                                     f"batch {RETRIES} times (deadlock with concurrent "
                                     "ingests); nothing of it was stored — run it again"
                                     ) from None
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
        raise AssertionError("unreachable")

    def _append(self, batch: BatchInput) -> BatchResult:
        with self._connection() as con, con.transaction():
            found = con.execute("SELECT nextval('ingest_batches_batch_id_seq')").fetchone()
            assert found is not None
            batch_id = int(found[0])
            # One batch of a given file at a time: the quarantine's "not twice" check and the
            # retry's supersession read what an earlier batch of the same file wrote.
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                        [f"{batch.source}\x1f{batch.file or ''}".replace("\x00", "")])
            result = rows.new_result(batch, batch_id)
            started = datetime.now(UTC)
            for kind in rows.RECORD_TYPES:  # the one order of the record locks
                if kind in batch.records:
                    result.rows_stored += self._insert(con, kind, batch.records[kind], batch_id,
                                                       batch.source)
            if batch.retry:
                # The file's earlier rejections are superseded by this batch's verdicts.
                con.execute("UPDATE quarantine SET status = 'retried' WHERE source = %s AND "
                            "file = %s AND status = 'open'", [batch.source, batch.file])
            q = without_nul(batch.quarantine.cast(QUARANTINE_SCHEMA))
            if q.num_rows:
                self._copy(con, "incoming_quarantine", "quarantine", q)
                # A row already waiting in quarantine (the same file read again) is not added
                # twice.
                con.execute(
                    "INSERT INTO quarantine (batch_id, source, file, line, rule, reason, raw, "
                    "status) SELECT %s, %s, %s, line, rule, reason, raw, 'open' FROM "
                    "incoming_quarantine AS i WHERE NOT EXISTS (SELECT 1 FROM quarantine AS q "
                    "WHERE q.status = 'open' AND q.source = %s AND q.file IS NOT DISTINCT FROM "
                    "%s AND q.line = i.line AND q.rule = i.rule AND q.raw = i.raw)",
                    [batch_id, batch.source, batch.file, batch.source, batch.file])
            rows.account(result, batch, q)
            con.execute(pg(f"INSERT INTO ingest_batches ({rows.BATCH_COLUMNS}) VALUES "
                           f"({', '.join('?' * 13)})"), rows.batch_params(result, started))
            con.execute(pg(rows.CURSOR_UPSERT), rows.cursor_params(batch, batch_id))
        return result

    def _copy(self, con: psycopg.Connection[Any], temp: str, like: str, table: pa.Table) -> None:
        """Create the transaction's temporary table ``temp`` with ``table``'s columns typed as
        in ``like``, and fill it with ``COPY`` (CSV written by Arrow, in chunks)."""
        cols = ", ".join(rows.quote(n) for n in table.schema.names)
        con.execute(f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {cols} FROM {like} "
                    "WITH NO DATA")
        options = pacsv.WriteOptions(include_header=False)
        # Arrow writes zoned timestamps about 30 times slower than plain ones: the session runs
        # in UTC, so the same instants go as UTC wall-clock times.
        table = table.cast(pa.schema([
            pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type)
            and f.type.tz is not None else f for f in table.schema]))
        with con.cursor() as cur, cur.copy(f"COPY {temp} ({cols}) FROM STDIN (FORMAT csv)"
                                           ) as copy:
            for chunk in table.to_batches(max_chunksize=_COPY_ROWS):
                buffer = io.BytesIO()
                pacsv.write_csv(chunk, buffer, options)
                copy.write(buffer.getbuffer())

    def _insert(self, con: psycopg.Connection[Any], kind: RecordKind, table: pa.Table,
                batch_id: int, source: str) -> int:
        if table.num_rows == 0:
            return 0
        table = without_nul(rows.prepared_records(kind, table))
        temp = f"incoming_{kind}"
        self._copy(con, temp, kind, table)
        con.execute(f"ANALYZE {temp}")  # a planner that knows the batch's size joins it well
        cols = ", ".join(rows.quote(c) for c in table.schema.names)
        # One writer of a source's records at a time, every process (batches of other sources
        # and the parsing before this transaction go on in parallel): so the keys already
        # stored are skipped by a plain anti-join, without ON CONFLICT's speculative insertion
        # (measured: 2.4–4.5 s of a million rows). The declared key still guards: a row it
        # refused would fail the batch, never be stored twice. Locks are taken per file, then
        # per kind in one order (incidents, measurements, planned events): no deadlock.
        con.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    [RECORDS_LOCK, f"{kind}\x1f{source}".replace("\x00", "")])
        with con.cursor() as cur:
            cur.execute(f"INSERT INTO {kind} ({cols}, batch_id) SELECT {cols}, %s FROM {temp} "
                        f"AS i WHERE NOT EXISTS (SELECT 1 FROM {kind} AS t WHERE "
                        "t.source = i.source AND t.source_id = i.source_id)", [batch_id])
            stored = cur.rowcount
        con.execute(f"DROP TABLE {temp}")
        return stored

    def cursors(self) -> pa.Table:
        """Per source: the newest record time held, the last file and batch ingested."""
        return self._arrow("SELECT * FROM source_cursors ORDER BY source")

    def upsert_sites(self, sites: pa.Table) -> None:
        """Insert or replace reference sites."""
        names = ("site_id", "kind", "name", "lat", "lon", "cell", "zone", "code")
        table = without_nul(sites.select(list(names)))
        with self._connection() as con, con.transaction():
            self._copy(con, "incoming_sites", "sites", table)
            cols = ", ".join(names)
            con.execute(f"INSERT INTO sites ({cols}) SELECT DISTINCT ON (site_id) {cols} FROM "
                        "incoming_sites ON CONFLICT (site_id) DO UPDATE SET "
                        + ", ".join(f"{n} = excluded.{n}" for n in names[1:]))

    def sites(self) -> pa.Table:
        """Every reference site (its PostGIS point left out: ``lat``/``lon`` hold it)."""
        return self._arrow(f"SELECT {self._columns('sites')} FROM sites ORDER BY site_id")

    # -- reads ------------------------------------------------------------------------------

    def situation(self, query: SituationQuery) -> pa.Table:
        """The situation table for ``query`` (no privacy applied: callers go through the gate),
        from the same Ibis expression as every backend, compiled to PostgreSQL."""
        for name in ("incidents", "measurements", "aggregates"):
            self._columns(name)
        tables = {n: ibis.table(self._schemas[n], name=n)
                  for n in ("incidents", "measurements", "aggregates")}
        expr = queries.situation(queries.observations(tables["incidents"],
                                                      tables["measurements"],
                                                      tables["aggregates"]), query)
        table = self._arrow(str(ibis.to_sql(expr, dialect="postgres")))
        table = table.cast(expr.schema().to_pyarrow())
        if query.level == "cell" and table.num_rows:
            # Render cell keys as the hex ids maps use.
            hexes = [cell_to_str(int(c)) for c in table.column("place").to_pylist()]
            table = table.set_column(
                table.schema.get_field_index("place"), "place", pa.array(hexes, pa.string()))
        return table

    def count(self, kind: RecordKind, source: str | None = None) -> int:
        """Number of stored records of a kind (optionally of one source)."""
        sql = f"SELECT count(*) FROM {kind}" + (" WHERE source = ?" if source else "")
        return int(self._one(sql, [source] if source else None) or 0)

    def counts_by_source(self) -> dict[str, int]:
        """Stored records per source, over every kind."""
        counts: dict[str, int] = {}
        for source, n in self._all(" UNION ALL ".join(
                f"SELECT source, count(*) FROM {k} GROUP BY source" for k in rows.RECORD_TYPES)):
            counts[source] = counts.get(source, 0) + int(n)
        return counts

    def data_period(self) -> tuple[datetime, datetime] | None:
        """First and last UTC timestamps of incidents and measurements."""
        found = self._all(
            'SELECT min(t0), max(t1) FROM (SELECT min(ts) t0, max(ts) t1 FROM incidents '
            'UNION ALL SELECT min("start"), max("end") FROM measurements) AS spans')
        if not found or found[0][0] is None:
            return None
        return found[0][0].astimezone(UTC), found[0][1].astimezone(UTC)

    def batches(self, *, after: int | None = None, since: datetime | None = None) -> pa.Table:
        """The ingest log, oldest first (only above ``after``, from ``since``)."""
        return self._arrow(*rows.batches_sql(after, since))

    def batch_records(self, batch_id: int, *, since: datetime) -> dict[RecordKind, pa.Table]:
        """The live kinds' records of batch ``batch_id`` from ``since`` on."""
        return {kind: self._arrow(rows.batch_records_sql(kind), [batch_id, since])
                for kind in rows.LIVE_KINDS}

    def batch_source_ids(self, batch_id: int) -> dict[RecordKind, list[str]]:
        """Per record kind, the ``source_id`` of the records batch ``batch_id`` stored."""
        return {kind: [r[0] for r in self._all(
                    f"SELECT source_id FROM {kind} WHERE batch_id = ? ORDER BY source_id",
                    [batch_id])]
                for kind in rows.RECORD_TYPES}

    def quarantined(self, source: str | None = None, *, status: str | None = None,
                    rule: str | None = None) -> pa.Table:
        """Quarantined rows with their reason (optionally of one source, status or rule)."""
        where, params = rows.filters(("source = ?", source), ("status = ?", status),
                                     ("rule = ?", rule))
        return self._arrow(f"SELECT * FROM quarantine WHERE {where} ORDER BY batch_id, line",
                           params)

    def incident_points(self, sources: tuple[str, ...] = (), *, start: datetime | None = None,
                        end: datetime | None = None) -> pa.Table:
        """Incidents placed on a cell (``cell, ts, category, origin, source``), for models."""
        where, params = rows.filters(("ts >= ?", start), ("ts < ?", end))
        if sources:
            where += f" AND source IN ({', '.join('?' * len(sources))})"
            params.extend(sources)
        return self._arrow("SELECT cell, ts, category, origin, source FROM incidents WHERE "
                           f"cell IS NOT NULL AND {where} ORDER BY ts", params)

    def measurement_points(self, metric: str) -> pa.Table:
        """A metric's values on cells (``cell, ts, value``), for cross-source models."""
        return self._arrow(
            'SELECT cell, "start" AS ts, value FROM measurements WHERE metric = ? AND '
            "value IS NOT NULL AND cell IS NOT NULL ORDER BY ts", [metric])

    def planned_events(self, start: datetime, end: datetime) -> pa.Table:
        """Planned events overlapping ``[start, end)``."""
        cols = ", ".join(c for c in self._columns("planned_events").split(", ")
                         if c != '"batch_id"')
        return self._arrow(f'SELECT {cols} FROM planned_events WHERE "end" > ? AND "start" < ? '
                           'ORDER BY "start"', [start, end])

    # -- users and sessions -----------------------------------------------------------------

    def add_user(self, user: UserRow) -> None:
        """Create a user; :class:`StoreError` if the name exists."""
        try:
            self._run("INSERT INTO users VALUES (?, ?, ?, ?)",
                      [user.username, user.password_hash, user.role, user.created_at])
        except pgerrors.UniqueViolation as exc:
            raise StoreError(f"user {user.username!r} already exists") from exc

    def set_password(self, username: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        self._run("UPDATE users SET password_hash = ? WHERE username = ?",
                  [password_hash, username])

    def get_user(self, username: str) -> UserRow | None:
        """A user by name."""
        found = self._all("SELECT username, password_hash, role, created_at FROM users "
                          "WHERE username = ?", [username])
        return _user(found[0]) if found else None

    def list_users(self) -> list[UserRow]:
        """Every user, by name."""
        return [_user(r) for r in self._all(
            "SELECT username, password_hash, role, created_at FROM users ORDER BY username")]

    def add_session(self, token_hash: str, username: str, expires_at: datetime) -> None:
        """Record a session by the hash of its token (the token itself is never stored)."""
        self._run("INSERT INTO sessions VALUES (?, ?, ?, ?)",
                  [token_hash, username, datetime.now(UTC), expires_at])

    def session_user(self, token_hash: str, now: datetime) -> str | None:
        """The user of a live session."""
        user = self._one("SELECT username FROM sessions WHERE token_hash = ? AND "
                         "expires_at > ?", [token_hash, now])
        return str(user) if user is not None else None

    def delete_session(self, token_hash: str) -> None:
        """End a session."""
        self._run("DELETE FROM sessions WHERE token_hash = ?", [token_hash])

    # -- API tokens -------------------------------------------------------------------------

    def add_api_token(self, token: ApiTokenRow) -> None:
        """Record an API token by its hash; :class:`StoreError` if the name exists."""
        try:
            self._run(f"INSERT INTO api_tokens ({rows.TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                      rows.token_params(token))
        except pgerrors.UniqueViolation as exc:
            raise StoreError(f"an API token named {token.name!r} exists already (revoked "
                             "tokens keep their name so the access log stays unambiguous)"
                             ) from exc

    def api_token(self, token_hash: str) -> ApiTokenRow | None:
        """The API token with this hash, whatever its state."""
        found = self._all(f"SELECT {rows.TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?",
                          [token_hash])
        return rows.token_row(found[0]) if found else None

    def api_tokens(self) -> list[ApiTokenRow]:
        """Every API token, by name."""
        return [rows.token_row(r) for r in
                self._all(f"SELECT {rows.TOKEN_COLUMNS} FROM api_tokens ORDER BY name")]

    def revoke_api_token(self, name: str, at: datetime) -> bool:
        """Mark the token ``name`` revoked; ``False`` when there is no unrevoked one."""
        return self._run("UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND "
                         "revoked_at IS NULL", [at, name]) > 0

    # -- audit ------------------------------------------------------------------------------

    def append_audit(self, row: AuditRow) -> None:
        """Append one access-log line as given (the chain is the caller's: prefer
        :meth:`append_audit_line`)."""
        self._run(rows.AUDIT_INSERT, rows.audit_params(row))

    def append_audit_line(self, build: Callable[[AuditRow | None], AuditRow]) -> AuditRow:
        """Read the newest line, build the next one from it and append it, as one serialised
        step (see :meth:`Store.append_audit_line`): the advisory lock :data:`AUDIT_LOCK`
        orders every process's appenders, and the read happens after it is held. Lines that
        this process's threads append at once share one transaction
        (:mod:`belvedere.store.combine`)."""
        return self._audit_appends(build)

    def _append_audit_lines(self, builds: list[Callable[[AuditRow | None], AuditRow]]
                            ) -> list[AuditRow | BaseException]:
        with self._connection() as con, con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK])
            found = con.execute(f"SELECT {rows.AUDIT_COLUMNS} FROM audit_log "
                                "ORDER BY seq DESC LIMIT 1").fetchone()
            last = rows.audit_row(found) if found else None
            insert = pg(rows.AUDIT_INSERT)
            return rows.chain_lines(builds, last, lambda row: con.execute(
                insert, rows.audit_params(row)))

    def last_audit(self) -> AuditRow | None:
        """The newest access-log line."""
        found = self.audit_rows(limit=1)
        return found[-1] if found else None

    def audit_rows(self, limit: int | None = None) -> list[AuditRow]:
        """Access-log lines, oldest first (only the newest ``limit`` when given)."""
        sql = f"SELECT {rows.AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [rows.audit_row(r) for r in reversed(self._all(sql))]

    def append_audit_head(self, head: AuditHead) -> None:
        """Keep one signed tree head."""
        self._run(f"INSERT INTO audit_heads ({rows.HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                  [head.size, head.root, head.ts, head.signature, head.key_id])

    def audit_heads(self) -> list[AuditHead]:
        """The signed tree heads, smallest tree first (then oldest first)."""
        return [rows.head_row(r) for r in self._all(
            f"SELECT {rows.HEAD_COLUMNS} FROM audit_heads ORDER BY size, ts")]

    # -- hourly figures and alerts (anomaly detection) ----------------------------------------

    def hourly_figures(self, start: datetime, end: datetime) -> pa.Table:
        """Figures per UTC hour, source, metric, category, zone, site and cell (see
        :meth:`Store.hourly_figures`)."""
        return self._arrow(
            "SELECT source, 'incidents'::VARCHAR AS metric, category, zone, NULL::VARCHAR AS "
            "site, cell, date_trunc('hour', ts, 'UTC') AS hour, count(*)::DOUBLE PRECISION AS "
            "value, count(*) AS n, 0::DOUBLE PRECISION AS seconds FROM incidents WHERE ts >= ? "
            "AND ts < ? AND time_precision <> 'day' GROUP BY 1, 2, 3, 4, 5, 6, 7 "
            "UNION ALL "
            "SELECT source, metric, category, zone, site, cell, date_trunc('hour', \"start\", "
            "'UTC') AS hour, sum(value) AS value, count(*) AS n, "
            'sum(extract(epoch FROM "end" - "start"))::DOUBLE PRECISION AS seconds '
            'FROM measurements WHERE value IS NOT NULL AND "start" >= ? AND "end" <= ? AND '
            '"end" - "start" <= interval \'1 hour\' GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY hour',
            [start, end, start, end])

    def open_alert(self, alert: AlertRow) -> AlertRow:
        """Store a new alert under the sequence's next number; returns it with that number."""
        with self._connection() as con, con.transaction():
            found = con.execute("SELECT nextval('alerts_alert_id_seq')").fetchone()
            assert found is not None
            stored = dataclasses.replace(alert, alert_id=int(found[0]))
            con.execute(f"INSERT INTO alerts ({', '.join(rows.ALERT_FIELDS)}) VALUES "
                        f"({', '.join(['%s'] * len(rows.ALERT_FIELDS))})",
                        rows.alert_params(stored))
        return stored

    def update_alert(self, alert: AlertRow) -> None:
        """Replace a stored alert's fields; :class:`StoreError` if it is not stored."""
        fields = rows.ALERT_FIELDS[1:]
        changed = self._run(f"UPDATE alerts SET {', '.join(f'{f} = ?' for f in fields)} "
                            "WHERE alert_id = ?", [*rows.alert_params(alert)[1:], alert.alert_id])
        if changed != 1:
            raise StoreError(f"no alert {alert.alert_id} to update")

    def alerts(self, status: str | None = None, *, since: datetime | None = None
               ) -> list[AlertRow]:
        """Alerts, newest first (of one status; updated at or after ``since``)."""
        where, params = rows.filters(("status = ?", status), ("updated_at >= ?", since))
        return [rows.alert_row(r) for r in self._all(
            f"SELECT {', '.join(rows.ALERT_FIELDS)} FROM alerts WHERE {where} "
            "ORDER BY opened_at DESC, alert_id DESC", params)]

    def alert(self, alert_id: int) -> AlertRow | None:
        """One alert by number."""
        found = self._all(f"SELECT {', '.join(rows.ALERT_FIELDS)} FROM alerts WHERE "
                          "alert_id = ?", [alert_id])
        return rows.alert_row(found[0]) if found else None

    # -- retention (see belvedere/store/purge.py) ---------------------------------------------

    def purge(self, rule: PurgeRule, *, now: datetime, dry_run: bool = False) -> PurgeReceipt:
        """Delete what ``rule`` makes due, with its receipt, in one transaction."""
        with self._connection() as con, con.transaction():
            return purging.purge(con, rule, now=now, dry_run=dry_run)

    def add_purge_receipt(self, receipt: PurgeReceipt) -> PurgeReceipt:
        """Record a receipt for something erased outside the tables (files)."""
        with self._connection() as con, con.transaction():
            return purging.add_receipt(con, receipt)

    def purge_receipts(self, *, pending: bool = False,
                       limit: int | None = None) -> list[PurgeReceipt]:
        """Purge receipts, oldest first (only those not yet in the access log: ``pending``;
        only the newest ``limit``)."""
        with self._connection() as con:
            return purging.receipts(con, pending=pending, limit=limit)

    def mark_receipt_logged(self, receipt_id: int, audit_seq: int) -> None:
        """Note the access-log line of a receipt."""
        with self._connection() as con:
            purging.mark_logged(con, receipt_id, audit_seq)

    # -- the privacy-loss ledger (see belvedere/privacy/ledger.py) -----------------------------

    def charge_ledger(self, row: LedgerRow, *, epsilon_cap: float, delta_cap: float
                      ) -> tuple[LedgerRow | None, float, float]:
        """Append ``row`` if its purpose's period stays within the caps (see
        :meth:`Store.charge_ledger`): the advisory lock :data:`LEDGER_LOCK` serialises the
        charges of every process, so no two read the same sums."""
        with self._connection() as con, con.transaction():
            con.execute("SELECT pg_advisory_xact_lock(%s)", [LEDGER_LOCK])
            spent = con.execute(pg(rows.LEDGER_SPENT), [row.purpose, row.period]).fetchone()
            assert spent is not None
            eps, delta = float(spent[0]), float(spent[1])
            if not rows.within_caps(eps, delta, row, epsilon_cap, delta_cap):
                return None, eps, delta
            found = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM privacy_ledger"
                                ).fetchone()
            assert found is not None
            stored = dataclasses.replace(row, seq=int(found[0]))
            con.execute(pg(rows.LEDGER_INSERT), [getattr(stored, f) for f in rows.LEDGER_FIELDS])
        return stored, eps, delta

    def kept_release(self, key: str) -> ReleaseRow | None:
        """The answer kept under ``key``."""
        found = self._all(rows.RELEASE_SELECT, [key])
        return rows.release_row(found[0]) if found else None

    def keep_release(self, row: ReleaseRow, *, drop_before: datetime) -> ReleaseRow:
        """Keep ``row`` unless its key is kept already (then return that one): the primary
        key decides between two processes keeping the same request at once."""
        with self._connection() as con, con.transaction():
            con.execute(pg(rows.RELEASE_DROP), [drop_before])
            con.execute(pg(rows.RELEASE_INSERT), [row.key, row.released_at, row.meta,
                                                  row.payload])
            found = con.execute(pg(rows.RELEASE_SELECT), [row.key]).fetchone()
        assert found is not None
        return rows.release_row(found)

    def ledger_rows(self, *, purpose: str | None = None, period: str | None = None,
                    limit: int | None = None) -> list[LedgerRow]:
        """Ledger rows, oldest first (of one purpose and period; only the newest ``limit``)."""
        where, params = rows.filters(("purpose = ?", purpose), ("period = ?", period))
        sql = (f"SELECT {', '.join(rows.LEDGER_FIELDS)} FROM privacy_ledger WHERE {where} "
               "ORDER BY seq DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [rows.ledger_row(r) for r in reversed(self._all(sql, params))]

    def close(self) -> None:
        """Close the pool's connections."""
        self._pool.close()

