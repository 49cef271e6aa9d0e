"""The embedded store: one DuckDB file, no server.

One process may open a DuckDB file at a time; a second process that finds the file held gets
:class:`~belvedere.errors.StoreBusy`. The CLI does not stop there: while ``belvedere serve`` (or
``belvedere live``) holds the file, it hands its command to that process over a local socket
(:mod:`belvedere.cli.handoff`), which runs it on this store. Within a process, each call works
on its own cursor, so the API's worker threads never share one, and writes that allocate numbers
or keep keys unique are serialised by one lock.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pyarrow as pa

from belvedere.errors import StoreBusy, StoreError
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
    empty_quarantine,
)
from belvedere.store.combine import Combiner
from belvedere.store.deployment import Deployment
from belvedere.store.duckdb import purge as purging
from belvedere.store.migrations import MIGRATIONS

__all__ = ["QUARANTINE_SCHEMA", "DuckDBStore", "empty_quarantine"]

def _utc(table: pa.Table, *columns: str) -> pa.Table:
    """``columns`` as timestamps in the time zone named ``UTC`` (DuckDB says ``Etc/UTC``:
    the same instant, but polars refuses to compare the two names)."""
    for name in columns:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(name).cast(pa.timestamp("us", "UTC")))
    return table


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> Any:
    """The first column of the first row (``None`` when no row); consumes the whole result,
    as DuckDB requires before the connection runs anything else."""
    found = con.execute(sql, params or []).fetchall()
    return found[0][0] if found else None


class DuckDBStore:
    """The :class:`~belvedere.store.base.Store` on a DuckDB file (or ``:memory:``).

    Open it with :func:`belvedere.store.factory.open_store`; ``deployment`` is the
    :class:`~belvedere.store.deployment.Deployment` of a DuckDB URL (a path is accepted too).
    """

    def __init__(self, deployment: Deployment | str | Path = "belvedere.duckdb", *,
                 read_only: bool = False) -> None:
        if not isinstance(deployment, Deployment):
            deployment = Deployment.from_url(str(deployment))
        if deployment.kind != "duckdb":
            raise StoreError(f"{deployment.display} is not a DuckDB store")
        self.deployment = deployment
        target = str(deployment.path) if deployment.path is not None else ":memory:"
        # Serialises appends within this process: the anti-join that keeps (source, source_id)
        # unique must not run concurrently with another append (DuckDB locks out other processes).
        self._write_lock = threading.Lock()
        self._audit_appends = Combiner(self._append_audit_lines)
        try:
            self._con = duckdb.connect(target, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreBusy(
                    f"the store {target} is held by another process. `belvedere serve` and "
                    "`belvedere live` take the other commands while they run (the CLI hands "
                    "them over); this one does not — another program, or a `belvedere` still "
                    "starting or stopping: try again in a moment (docs/deployment.md)."
                ) from exc
            raise StoreError(f"cannot open the store {target}: {exc}") from exc
        if not read_only:
            self.migrate()

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply pending migrations in order; returns the versions applied."""
        con = self._con.cursor()
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "description VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()}
        applied = []
        for version, description, sql in MIGRATIONS:
            if version in done:
                continue
            con.begin()
            try:
                con.execute(sql)
                con.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [version, description, datetime.now(UTC)],
                )
                con.commit()
            except duckdb.Error as exc:
                con.rollback()
                raise StoreError(f"migration {version} ({description}) failed: {exc}") from exc
            applied.append(version)
        return applied

    def schema_version(self) -> int:
        """The newest applied migration."""
        version = _one(self._con.cursor(), "SELECT max(version) FROM schema_migrations")
        return int(version) if version is not None else 0

    # -- ingest -----------------------------------------------------------------------------

    def append_batch(self, batch: BatchInput) -> BatchResult:
        """Store one batch in one transaction (see :meth:`Store.append_batch`)."""
        with self._write_lock:
            return self._append(batch)

    def _append(self, batch: BatchInput) -> BatchResult:
        con = self._con.cursor()
        con.begin()
        try:
            batch_id = int(_one(con, "SELECT coalesce(max(batch_id), 0) + 1 FROM ingest_batches"))
            result = rows.new_result(batch, batch_id)
            started = datetime.now(UTC)
            for kind, table in batch.records.items():
                result.rows_stored += self._insert(con, kind, table, batch_id)
            if batch.retry:
                # The file's earlier rejections are superseded by this batch's verdicts.
                con.execute("UPDATE quarantine SET status = 'retried' WHERE source = ? AND "
                            "file = ? AND status = 'open'", [batch.source, batch.file])
            q = batch.quarantine.cast(QUARANTINE_SCHEMA)
            con.register("incoming_quarantine", q)
            # A row already waiting in quarantine (the same file read again) is not added twice.
            con.execute(
                "INSERT INTO quarantine (batch_id, source, file, line, rule, reason, raw, status) "
                "SELECT ?, ?, ?, line, rule, reason, raw, 'open' FROM incoming_quarantine AS i "
                "WHERE NOT EXISTS (SELECT 1 FROM quarantine AS q WHERE q.status = 'open' AND "
                "q.source = ? AND q.file IS NOT DISTINCT FROM ? AND q.line = i.line AND "
                "q.rule = i.rule AND q.raw = i.raw)",
                [batch_id, batch.source, batch.file, batch.source, batch.file],
            )
            con.unregister("incoming_quarantine")
            rows.account(result, batch, q)
            con.execute(f"INSERT INTO ingest_batches ({rows.BATCH_COLUMNS}) VALUES "
                        f"({', '.join('?' * 13)})", rows.batch_params(result, started))
            con.execute(rows.CURSOR_UPSERT, rows.cursor_params(batch, batch_id))
            con.commit()
        except Exception:
            con.rollback()
            raise
        return result

    def cursors(self) -> pa.Table:
        """Per source: the newest record time held, the last file and batch ingested."""
        return self._arrow("SELECT * FROM source_cursors ORDER BY source")

    def _insert(self, con: duckdb.DuckDBPyConnection, kind: RecordKind, table: pa.Table,
                batch_id: int) -> int:
        if table.num_rows == 0:
            return 0
        table = rows.prepared_records(kind, table)
        con.register("incoming", table)
        cols = ", ".join(rows.quote(c) for c in table.schema.names)
        # The key (source, source_id) is enforced here (see migrations.py for why it is not a
        # declared primary key): keys already stored are skipped by the anti-join.
        stored = _one(
            con,
            f"INSERT INTO {kind} ({cols}, batch_id) SELECT {cols}, ? FROM incoming AS i "
            f"WHERE NOT EXISTS (SELECT 1 FROM {kind} AS t "
            f"WHERE t.source = i.source AND t.source_id = i.source_id)",
            [batch_id],
        )
        con.unregister("incoming")
        return int(stored or 0)

    def upsert_sites(self, sites: pa.Table) -> None:
        """Insert or replace reference sites."""
        con = self._con.cursor()
        con.register("incoming_sites", sites)
        con.execute(
            "INSERT OR REPLACE INTO sites SELECT site_id, kind, name, lat, lon, cell, zone, code "
            "FROM incoming_sites"
        )
        con.unregister("incoming_sites")

    def sites(self) -> pa.Table:
        """Every reference site."""
        return self._arrow("SELECT * FROM sites ORDER BY site_id")

    # -- reads ------------------------------------------------------------------------------

    def _arrow(self, sql: str, params: list[object] | None = None) -> pa.Table:
        return self._con.cursor().sql(sql, params=params or None).to_arrow_table()

    def _ibis(self) -> ibis.BaseBackend:
        return ibis.duckdb.from_connection(self._con.cursor())

    def situation(self, query: SituationQuery) -> pa.Table:
        """The situation table for ``query`` (no privacy applied: callers go through the gate)."""
        backend = self._ibis()
        obs = queries.observations(backend.table("incidents"), backend.table("measurements"),
                                   backend.table("aggregates"))
        table = queries.situation(obs, query).to_pyarrow()
        if query.level == "cell" and table.num_rows:
            # Render cell keys as the hex ids maps use.
            hexes = [cell_to_str(int(c)) for c in table.column("place").to_pylist()]
            table = table.set_column(
                table.schema.get_field_index("place"), "place", pa.array(hexes, pa.string())
            )
        return table

    def count(self, kind: RecordKind, source: str | None = None) -> int:
        """Number of stored records of a kind (optionally of one source)."""
        sql = f"SELECT count(*) FROM {kind}" + (" WHERE source = ?" if source else "")
        return int(_one(self._con.cursor(), sql, [source] if source else []) or 0)

    def counts_by_source(self) -> dict[str, int]:
        """Stored records per source, over every kind."""
        sql = " UNION ALL ".join(
            f"SELECT source, count(*) FROM {k} GROUP BY source" for k in rows.RECORD_TYPES
        )
        counts: dict[str, int] = {}
        for source, n in self._con.cursor().execute(sql).fetchall():
            # One row per kind and source: a source of two kinds adds both.
            counts[source] = counts.get(source, 0) + int(n)
        return counts

    def data_period(self) -> tuple[datetime, datetime] | None:
        """First and last UTC timestamps of incidents and measurements."""
        found = self._con.cursor().execute(
            'SELECT min(t0), max(t1) FROM (SELECT min(ts) t0, max(ts) t1 FROM incidents '
            'UNION ALL SELECT min("start"), max("end") FROM measurements)'
        ).fetchall()
        row = found[0] if found else None
        if not row or row[0] is None:
            return None
        return row[0].astimezone(UTC), row[1].astimezone(UTC)

    def batches(self, *, after: int | None = None, since: datetime | None = None) -> pa.Table:
        """The ingest log, oldest first (only above ``after``, from ``since``)."""
        return self._arrow(*rows.batches_sql(after, since))

    def batch_records(self, batch_id: int, *, since: datetime) -> dict[RecordKind, pa.Table]:
        """The live kinds' records of batch ``batch_id`` from ``since`` on."""
        return {kind: self._arrow(rows.batch_records_sql(kind), [batch_id, since])
                for kind in rows.LIVE_KINDS}

    def batch_source_ids(self, batch_id: int) -> dict[RecordKind, list[str]]:
        """Per record kind, the ``source_id`` of the records batch ``batch_id`` stored."""
        con = self._con.cursor()
        return {kind: [r[0] for r in con.execute(
                    f"SELECT source_id FROM {kind} WHERE batch_id = ?", [batch_id]).fetchall()]
                for kind in rows.RECORD_TYPES}

    def quarantined(self, source: str | None = None, *, status: str | None = None,
                    rule: str | None = None) -> pa.Table:
        """Quarantined rows with their reason (optionally of one source, status or rule)."""
        where: list[str] = []
        params: list[object] = []
        for column, value in (("source", source), ("status", status), ("rule", rule)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM quarantine" + (" WHERE " + " AND ".join(where) if where else "")
        return self._arrow(sql + " ORDER BY batch_id, line", params)

    def incident_points(self, sources: tuple[str, ...] = (), *, start: datetime | None = None,
                        end: datetime | None = None) -> pa.Table:
        """Incidents placed on a cell (``cell, ts, category, origin, source``), for models."""
        where: list[str] = ["cell IS NOT NULL"]
        params: list[object] = []
        if sources:
            where.append(f"source IN ({', '.join('?' * len(sources))})")
            params.extend(sources)
        if start is not None:
            where.append("ts >= ?")
            params.append(start)
        if end is not None:
            where.append("ts < ?")
            params.append(end)
        table = self._arrow(
            "SELECT cell, ts, category, origin, source FROM incidents WHERE "
            + " AND ".join(where) + " ORDER BY ts", list(params))
        return _utc(table, "ts")

    def measurement_points(self, metric: str) -> pa.Table:
        """A metric's values on cells (``cell, ts, value``), for cross-source models."""
        return _utc(self._arrow(
            'SELECT cell, "start" AS ts, value FROM measurements WHERE metric = ? AND '
            "value IS NOT NULL AND cell IS NOT NULL ORDER BY ts", [metric]), "ts")

    def planned_events(self, start: datetime, end: datetime) -> pa.Table:
        """Planned events overlapping ``[start, end)``."""
        return self._arrow(
            'SELECT * EXCLUDE (batch_id) FROM planned_events WHERE "end" > ? AND "start" < ? '
            'ORDER BY "start"',
            [start, end],
        )

    # -- users and sessions -----------------------------------------------------------------

    def add_user(self, user: UserRow) -> None:
        """Create a user; :class:`StoreError` if the name exists."""
        try:
            self._con.cursor().execute(
                "INSERT INTO users VALUES (?, ?, ?, ?)",
                [user.username, user.password_hash, user.role, user.created_at],
            )
        except duckdb.ConstraintException as exc:
            raise StoreError(f"user {user.username!r} already exists") from exc

    def set_password(self, username: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        self._con.cursor().execute(
            "UPDATE users SET password_hash = ? WHERE username = ?", [password_hash, username]
        )

    def get_user(self, username: str) -> UserRow | None:
        """A user by name."""
        found = self._con.cursor().execute(
            "SELECT username, password_hash, role, created_at FROM users WHERE username = ?",
            [username],
        ).fetchall()
        return UserRow(*found[0]) if found else None

    def list_users(self) -> list[UserRow]:
        """Every user, by name."""
        found = self._con.cursor().execute(
            "SELECT username, password_hash, role, created_at FROM users ORDER BY username"
        ).fetchall()
        return [UserRow(*r) for r in found]

    def add_session(self, token_hash: str, username: str, expires_at: datetime) -> None:
        """Record a session by the hash of its token (the token itself is never stored)."""
        self._con.cursor().execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?)",
            [token_hash, username, datetime.now(UTC), expires_at],
        )

    def session_user(self, token_hash: str, now: datetime) -> str | None:
        """The user of a live session."""
        user = _one(
            self._con.cursor(),
            "SELECT username FROM sessions WHERE token_hash = ? AND expires_at > ?",
            [token_hash, now],
        )
        return str(user) if user is not None else None

    def delete_session(self, token_hash: str) -> None:
        """End a session."""
        self._con.cursor().execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])

    # -- API tokens -------------------------------------------------------------------------

    def add_api_token(self, token: ApiTokenRow) -> None:
        """Record an API token by its hash; :class:`StoreError` if the name exists."""
        try:
            self._con.cursor().execute(
                f"INSERT INTO api_tokens ({rows.TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                rows.token_params(token))
        except duckdb.ConstraintException as exc:
            raise StoreError(f"an API token named {token.name!r} exists already (revoked "
                             "tokens keep their name so the access log stays unambiguous)"
                             ) from exc

    def api_token(self, token_hash: str) -> ApiTokenRow | None:
        """The API token with this hash, whatever its state."""
        found = self._con.cursor().execute(
            f"SELECT {rows.TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = ?", [token_hash]
        ).fetchall()
        return rows.token_row(found[0]) if found else None

    def api_tokens(self) -> list[ApiTokenRow]:
        """Every API token, by name."""
        found = self._con.cursor().execute(
            f"SELECT {rows.TOKEN_COLUMNS} FROM api_tokens ORDER BY name").fetchall()
        return [rows.token_row(r) for r in found]

    def revoke_api_token(self, name: str, at: datetime) -> bool:
        """Mark the token ``name`` revoked; ``False`` when there is no unrevoked one."""
        revoked = _one(
            self._con.cursor(),
            "UPDATE api_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            [at, name],
        )
        return bool(revoked)

    # -- audit ------------------------------------------------------------------------------

    def append_audit(self, row: AuditRow) -> None:
        """Append one access-log line as given (the chain is the caller's: prefer
        :meth:`append_audit_line`)."""
        self._con.cursor().execute(rows.AUDIT_INSERT, rows.audit_params(row))

    def append_audit_line(self, build: Callable[[AuditRow | None], AuditRow]) -> AuditRow:
        """Read the newest line, build the next one from it and append it, as one serialised
        step (see :meth:`Store.append_audit_line`): the write lock orders this process's
        writers, and DuckDB admits one process per file. Lines that threads append at once
        share one transaction (:mod:`belvedere.store.combine`)."""
        return self._audit_appends(build)

    def _append_audit_lines(self, builds: list[Callable[[AuditRow | None], AuditRow]]
                            ) -> list[AuditRow | BaseException]:
        with self._write_lock:
            con = self._con.cursor()
            con.begin()
            try:
                found = con.execute(
                    f"SELECT {rows.AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"
                ).fetchall()
                last = rows.audit_row(found[0]) if found else None
                out = rows.chain_lines(builds, last, lambda row: con.execute(
                    rows.AUDIT_INSERT, rows.audit_params(row)))
                con.commit()
            except Exception:
                con.rollback()
                raise
        return out

    def last_audit(self) -> AuditRow | None:
        """The newest access-log line."""
        found = self.audit_rows(limit=1)
        return found[-1] if found else None

    def audit_rows(self, limit: int | None = None) -> list[AuditRow]:
        """Access-log lines, oldest first (only the newest ``limit`` when given)."""
        sql = f"SELECT {rows.AUDIT_COLUMNS} FROM audit_log ORDER BY seq DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        found = self._con.cursor().execute(sql).fetchall()
        return [rows.audit_row(r) for r in reversed(found)]

    def append_audit_head(self, head: AuditHead) -> None:
        """Keep one signed tree head."""
        self._con.cursor().execute(
            f"INSERT INTO audit_heads ({rows.HEAD_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            [head.size, head.root, head.ts, head.signature, head.key_id],
        )

    def audit_heads(self) -> list[AuditHead]:
        """The signed tree heads, smallest tree first (then oldest first)."""
        found = self._con.cursor().execute(
            f"SELECT {rows.HEAD_COLUMNS} FROM audit_heads ORDER BY size, ts").fetchall()
        return [rows.head_row(r) for r in found]

    # -- hourly figures and alerts (anomaly detection) ----------------------------------------

    def hourly_figures(self, start: datetime, end: datetime) -> pa.Table:
        """Figures per UTC hour, source, metric, category, zone, site and cell (see
        :meth:`Store.hourly_figures`)."""
        # The hour is truncated on the epoch, not with date_trunc: that one follows the
        # session's time zone.
        table = self._arrow(
            "SELECT source, 'incidents' AS metric, category, zone, NULL::VARCHAR AS site, cell, "
            "to_timestamp(floor(epoch(ts) / 3600) * 3600) AS hour, count(*)::DOUBLE AS value, "
            "count(*) AS n, 0::DOUBLE AS seconds FROM incidents WHERE ts >= ? AND ts < ? "
            "AND time_precision <> 'day' GROUP BY ALL "
            "UNION ALL "
            'SELECT source, metric, category, zone, site, cell, to_timestamp(floor(epoch("start")'
            " / 3600) * 3600) AS hour, sum(value) AS value, count(*) AS n, "
            'sum(epoch("end") - epoch("start")) AS seconds FROM measurements WHERE value IS NOT '
            'NULL AND "start" >= ? AND "end" <= ? AND epoch("end") - epoch("start") <= 3600 '
            "GROUP BY ALL ORDER BY hour",
            [start, end, start, end])
        return _utc(table, "hour")

    def open_alert(self, alert: AlertRow) -> AlertRow:
        """Store a new alert under the next number; returns it with that number."""
        with self._write_lock:
            con = self._con.cursor()
            alert_id = int(_one(con, "SELECT coalesce(max(alert_id), 0) + 1 FROM alerts"))
            stored = dataclasses.replace(alert, alert_id=alert_id)
            con.execute(f"INSERT INTO alerts ({', '.join(rows.ALERT_FIELDS)}) VALUES "
                        f"({', '.join('?' * len(rows.ALERT_FIELDS))})", rows.alert_params(stored))
        return stored

    def update_alert(self, alert: AlertRow) -> None:
        """Replace a stored alert's fields; :class:`StoreError` if it is not stored."""
        fields = rows.ALERT_FIELDS[1:]
        with self._write_lock:
            con = self._con.cursor()
            if _one(con, "SELECT count(*) FROM alerts WHERE alert_id = ?", [alert.alert_id]) != 1:
                raise StoreError(f"no alert {alert.alert_id} to update")
            con.execute(f"UPDATE alerts SET {', '.join(f'{f} = ?' for f in fields)} "
                        "WHERE alert_id = ?", [*rows.alert_params(alert)[1:], alert.alert_id])

    def alerts(self, status: str | None = None, *, since: datetime | None = None
               ) -> list[AlertRow]:
        """Alerts, newest first (of one status; updated at or after ``since``)."""
        where, params = rows.filters(("status = ?", status), ("updated_at >= ?", since))
        found = self._con.cursor().execute(
            f"SELECT {', '.join(rows.ALERT_FIELDS)} FROM alerts WHERE {where} "
            "ORDER BY opened_at DESC, alert_id DESC", params).fetchall()
        return [rows.alert_row(r) for r in found]

    def alert(self, alert_id: int) -> AlertRow | None:
        """One alert by number."""
        found = self._con.cursor().execute(
            f"SELECT {', '.join(rows.ALERT_FIELDS)} FROM alerts WHERE alert_id = ?",
            [alert_id]).fetchall()
        return rows.alert_row(found[0]) if found else None

    # -- retention (see belvedere/store/purge.py) ---------------------------------------------

    def purge(self, rule: PurgeRule, *, now: datetime, dry_run: bool = False) -> PurgeReceipt:
        """Delete what ``rule`` makes due, with its receipt, in one transaction."""
        with self._write_lock:
            return purging.purge(self._con.cursor(), rule, now=now, dry_run=dry_run)

    def add_purge_receipt(self, receipt: PurgeReceipt) -> PurgeReceipt:
        """Record a receipt for something erased outside the tables (files)."""
        with self._write_lock:
            return purging.add_receipt(self._con.cursor(), receipt)

    def purge_receipts(self, *, pending: bool = False,
                       limit: int | None = None) -> list[PurgeReceipt]:
        """Purge receipts, oldest first (only those not yet in the access log: ``pending``;
        only the newest ``limit``)."""
        return purging.receipts(self._con.cursor(), pending=pending, limit=limit)

    def mark_receipt_logged(self, receipt_id: int, audit_seq: int) -> None:
        """Note the access-log line of a receipt."""
        purging.mark_logged(self._con.cursor(), receipt_id, audit_seq)

    # -- the privacy-loss ledger (see belvedere/privacy/ledger.py) -----------------------------

    def charge_ledger(self, row: LedgerRow, *, epsilon_cap: float, delta_cap: float
                      ) -> tuple[LedgerRow | None, float, float]:
        """Append ``row`` if its purpose's period stays within the caps (see
        :meth:`Store.charge_ledger`): the write lock serialises charges in this process and
        DuckDB admits one writing process, so no two charges read the same sums."""
        with self._write_lock:
            con = self._con.cursor()
            con.begin()
            try:
                spent = con.execute(rows.LEDGER_SPENT, [row.purpose, row.period]).fetchall()[0]
                eps, delta = float(spent[0]), float(spent[1])
                if not rows.within_caps(eps, delta, row, epsilon_cap, delta_cap):
                    con.rollback()
                    return None, eps, delta
                seq = int(_one(con, "SELECT coalesce(max(seq), 0) + 1 FROM privacy_ledger"))
                stored = dataclasses.replace(row, seq=seq)
                con.execute(rows.LEDGER_INSERT, [getattr(stored, f) for f in rows.LEDGER_FIELDS])
                con.commit()
            except Exception:
                con.rollback()
                raise
        return stored, eps, delta

    def kept_release(self, key: str) -> ReleaseRow | None:
        """The answer kept under ``key``."""
        found = self._con.cursor().execute(rows.RELEASE_SELECT, [key]).fetchall()
        return rows.release_row(found[0]) if found else None

    def keep_release(self, row: ReleaseRow, *, drop_before: datetime) -> ReleaseRow:
        """Keep ``row`` unless its key is kept already (then return that one)."""
        with self._write_lock:
            con = self._con.cursor()
            con.begin()
            try:
                con.execute(rows.RELEASE_DROP, [drop_before])
                con.execute(rows.RELEASE_INSERT, [row.key, row.released_at, row.meta,
                                                  row.payload])
                kept = rows.release_row(con.execute(rows.RELEASE_SELECT, [row.key]).fetchall()[0])
                con.commit()
            except Exception:
                con.rollback()
                raise
        return kept

    def ledger_rows(self, *, purpose: str | None = None, period: str | None = None,
                    limit: int | None = None) -> list[LedgerRow]:
        """Ledger rows, oldest first (of one purpose and period; only the newest ``limit``)."""
        where, params = rows.filters(("purpose = ?", purpose), ("period = ?", period))
        sql = (f"SELECT {', '.join(rows.LEDGER_FIELDS)} FROM privacy_ledger WHERE {where} "
               "ORDER BY seq DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        found = self._con.cursor().execute(sql, params).fetchall()
        return [rows.ledger_row(r) for r in reversed(found)]

    def close(self) -> None:
        """Close the file."""
        self._con.close()


