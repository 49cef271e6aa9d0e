"""PostgreSQL ingest speed: a million police-log rows through belvedere, against the server's COPY.

Run: ``.venv/bin/python benchmarks/pg_ingest.py`` (options: ``--rows 1000000``, ``--repeat 3``,
``--pg postgresql://postgres@127.0.0.1:5432/postgres`` — a role that may create databases;
``--profile`` to profile belvedere's ingest even when it passes, ``--no-profile`` never).

It writes a police-log export in the native format (:func:`belvedere.simulate.bulk.
write_police_log`: ``;``, decimal commas, local ``dd/mm/yyyy HH:MM``, CRLF, an officer id and a
narrative per row) in a temporary folder; then, ``--repeat`` times, creates a fresh database
``belvedere_bench_<random>`` (dropped at the end of the run, even on error), opens the store on
it by URL (migrations done before any timing) and measures, one after the other:

- **the limit**: PostgreSQL's own ``COPY raw FROM STDIN (FORMAT csv, HEADER, DELIMITER ';')``
  of the same file into a plain table with the CSV's columns as ``text``, the file streamed
  through psycopg's ``cursor.copy`` — no validation, no geography, no minimisation, no key;
- **belvedere end to end**: ``ingest_folder`` (what ``belvedere ingest`` runs) of the folder
  holding the file, with the registered ``police_log`` connector and the deployment's
  pseudonymiser — exact reading (malformed lines kept for quarantine), id, local time → UTC,
  category and origin mapping, every rule, H3 cells and arrondissements, the narrative, address
  and label dropped, then the store's batch: ``COPY`` into a temporary table, the new keys inserted
  into ``incidents`` (primary key and two indexes) by an anti-join under the source's lock,
  the quarantine, the ingest log and the cursor, in one transaction;

and prints rows, seconds and rows/s of the best run of each, their ratio against the target
(at most 2.5: PASS or FAIL) and the store's accounting (every row read is stored, quarantined or
filtered). When the ratio misses the target (or with ``--profile``), belvedere's ingest is run
once more under cProfile, into a second fresh database, and the time is split by phase.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from databases import fresh_database
from psycopg import sql
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from belvedere.simulate.bulk import write_police_log
from belvedere.sources.base import get_source
from belvedere.sources.ingest import IngestReport, ingest_folder
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store import rows
from belvedere.store.factory import open_store

TARGET = 2.5
"""Acceptance target: belvedere's end-to-end ingest at most this many times the server's COPY."""
SOURCE = "police_log"
console = Console(width=130)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description:<46}"), BarColumn(),
                    DownloadColumn(), TimeElapsedColumn(), console=console, transient=True,
                    disable=not console.is_terminal)


def checkpoint(url: str) -> None:
    """Flush the server's dirty buffers, so that one measurement does not pay for the last."""
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CHECKPOINT")


def server_copy(url: str, csv: Path) -> tuple[float, int]:
    """The server's own ``COPY … FROM STDIN (FORMAT csv, HEADER, DELIMITER ';')`` of ``csv``
    into a plain table of its columns as text, the file streamed by psycopg;
    ``(seconds, rows)``."""
    with csv.open("rb") as f:
        header = f.readline().decode("utf-8").rstrip("\r\n").split(";")
    columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in header)
    size = csv.stat().st_size
    with psycopg.connect(url) as con:
        con.execute(sql.SQL("CREATE TABLE raw ({})").format(columns))
        con.commit()
        checkpoint(url)
        with _progress() as bar:
            task = bar.add_task("PostgreSQL COPY FROM STDIN", total=size)
            started = time.perf_counter()
            with con.cursor() as cur:
                with cur.copy("COPY raw FROM STDIN (FORMAT csv, HEADER, DELIMITER ';')") as copy, \
                        csv.open("rb") as f:
                    while chunk := f.read(1 << 20):
                        copy.write(chunk)
                        bar.advance(task, len(chunk))
                copied = cur.rowcount
            con.commit()
            elapsed = time.perf_counter() - started
    return elapsed, copied


def belvedere_ingest(url: str, folder: Path, *, profiler: cProfile.Profile | None = None
                     ) -> tuple[float, IngestReport, dict[str, int]]:
    """belvedere's ingest of ``folder`` into the store at ``url`` (opened and migrated before
    the clock starts); ``(seconds, report, what the store then holds)``."""
    store = open_store(url)
    try:
        checkpoint(url)
        size = sum(p.stat().st_size for p in (folder / "police").iterdir())
        with _progress() as bar:
            task = bar.add_task("belvedere ingest_folder → PostgreSQL store", total=size)
            if profiler is not None:
                profiler.enable()
            started = time.perf_counter()
            report = ingest_folder(store, folder, sources=[SOURCE],
                                   progress=lambda *_: bar.update(task, completed=size))
            elapsed = time.perf_counter() - started
            if profiler is not None:
                profiler.disable()
        held = {"incidents": store.count("incidents"),
                "quarantine": store.quarantined(SOURCE).num_rows,
                "batches": store.batches().num_rows}
    finally:
        store.close()
    return elapsed, report, held


# -- profile ---------------------------------------------------------------------------------

Key = tuple[str, int, str]


def _match(path: str, name: str) -> Callable[[Key], bool]:
    return lambda k: k[0].replace(os.sep, "/").endswith(path) and k[2] == name


def _cumulative(stats: pstats.Stats, which: Callable[[Key], bool]) -> float:
    return sum(v[3] for k, v in stats.stats.items() if which(k))  # type: ignore[attr-defined]


def _edge(stats: pstats.Stats, callee: Callable[[Key], bool], caller: Callable[[Key], bool]
          ) -> float:
    """Cumulative seconds of ``callee`` when called directly from ``caller``."""
    total = 0.0
    for k, v in stats.stats.items():  # type: ignore[attr-defined]
        if callee(k):
            total += sum(e[3] for c, e in v[4].items() if caller(c))
    return total


def _own(stats: pstats.Stats, which: Callable[[Key], bool]) -> float:
    return sum(v[2] for k, v in stats.stats.items() if which(k))  # type: ignore[attr-defined]


def profile_report(stats: pstats.Stats, wall: float) -> None:
    """belvedere's ingest split by phase (cProfile cumulative seconds: wall time of the calls,
    native work of Polars, Arrow, DuckDB and the server's answers included)."""
    read = _match("belvedere/sources/incident_log.py", "read")
    append = _match("belvedere/store/postgres/store.py", "_append")
    copy = _match("belvedere/store/postgres/store.py", "_copy")
    insert = _match("belvedere/store/postgres/store.py", "_insert")
    execute = _match("psycopg/cursor.py", "execute")
    con_execute = _match("psycopg/connection.py", "execute")
    tabular = "belvedere/sources/tabular.py"
    c = {
        "read": _cumulative(stats, read),
        "read_delimited": _cumulative(stats, _match(tabular, "read_delimited")),
        "locate": _cumulative(stats, _match(tabular, "locate")),
        "apply_rules": _cumulative(stats, _match(tabular, "apply_rules")),
        "_attrs": _cumulative(stats, _match("belvedere/sources/incident_log.py", "_attrs")),
        "to_arrow": _cumulative(stats, _match(tabular, "to_arrow")),
        "append": _cumulative(stats, append),
        "prepared": _cumulative(stats, _match("belvedere/store/rows.py", "prepared_records")),
        "nul": _cumulative(stats, _match("belvedere/store/postgres/results.py", "without_nul")),
        "copy": _cumulative(stats, copy),
        # pyarrow's write_csv is Cython: cProfile sees no call, its time is _copy's own.
        "write_csv": _own(stats, copy),
        "insert": _edge(stats, execute, insert),
        "others": _edge(stats, con_execute, append),
    }
    other_read = c["read"] - sum(c[k] for k in ("read_delimited", "locate", "apply_rules",
                                                 "_attrs", "to_arrow"))
    other_append = c["append"] - c["prepared"] - c["nul"] - c["copy"] - c["insert"] - c["others"]
    table = Table(title=f"where belvedere's ingest spends its time (cProfile, {wall:.2f} s wall "
                        "under the profiler)", title_justify="left")
    for col, justify in (("phase", "left"), ("function", "left"), ("seconds", "right"),
                         ("share", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]

    def line(phase: str, func: str, seconds: float, *, bold: bool = False) -> None:
        style = "bold" if bold else None
        table.add_row(phase, func, f"{seconds:.2f}", f"{seconds / wall:.0%}", style=style)

    line("connector: parse, check, minimise", "IncidentLog.read", c["read"], bold=True)
    line("  CSV parse, exact (DuckDB)", "tabular.read_delimited", c["read_delimited"])
    line("  H3 cells + arrondissements", "tabular.locate", c["locate"])
    line("  rules → quarantine", "tabular.apply_rules", c["apply_rules"])
    line("  minimise (attrs, pseudonyms)", "incident_log._attrs", c["_attrs"])
    line("  Polars → Arrow", "tabular.to_arrow", c["to_arrow"])
    line("  time, id, categories, rest", "(IncidentLog.read itself)", other_read)
    line("store: the batch's transaction", "PostgresStore._append", c["append"], bold=True)
    line("  key dedup, local time, casts", "rows.prepared_records", c["prepared"])
    line("  NUL scan", "results.without_nul", c["nul"])
    line("  COPY into temp tables", "PostgresStore._copy", c["copy"])
    line("    Arrow → CSV in the client", "pyarrow.csv.write_csv (_copy own)", c["write_csv"])
    line("    sent, parsed, stored by server", "Copy.write / Copy.__exit__",
         c["copy"] - c["write_csv"])
    line("  INSERT of the new keys", "Cursor.execute in _insert", c["insert"])
    line("  quarantine, ingest log, cursor…", "Connection.execute in _append", c["others"])
    line("  rest of the batch", "(_append itself)", other_append)
    line("outside both", "ingest_folder, sources, …", wall - c["read"] - c["append"])
    console.print(table)
    console.print("[dim]top functions by own time (native calls included):[/dim]")
    stats.sort_stats("tottime").print_stats(8)


def server_split(url: str, rounds: int = 3) -> None:
    """The server's side of inserting the batch (from the store's former ``INSERT … ON
    CONFLICT``, ordered by key, down to heap and WAL alone): the rows just stored, copied
    into a temporary table (not analysed, as the store's is), inserted by the store's statement
    and by simpler ones into fresh tables with fewer indexes; each timed after a CHECKPOINT
    (best of ``rounds``), with the WAL it wrote. Each line differs from the next by one thing."""
    with psycopg.connect(url, autocommit=True, options="-c TimeZone=UTC") as con:
        cols = ", ".join(
            f'"{r[0]}"' for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = "
                "'incidents' AND column_name <> 'batch_id' ORDER BY ordinal_position"))
        con.execute(f"CREATE TEMP TABLE incoming AS SELECT {cols} FROM incidents "
                    "ORDER BY source, source_id")
        rows_in = con.execute("SELECT count(*) FROM incoming").fetchone()
        n = int(rows_in[0]) if rows_in else 0
        indexes = {"key": "ALTER TABLE t ADD PRIMARY KEY (source, source_id)",
                   "ts": "CREATE INDEX ON t (ts)", "batch": "CREATE INDEX ON t (batch_id)"}
        insert = f"INSERT INTO t ({cols}, batch_id) SELECT {cols}, 1 FROM incoming"
        order = " ORDER BY source, source_id"
        conflict = " ON CONFLICT (source, source_id) DO NOTHING"
        variants = [
            ("former store's: key + ts + batch_id indexes, ORDER BY key, ON CONFLICT",
             ("key", "ts", "batch"), insert + order + conflict),
            ("  without ORDER BY (no sort)", ("key", "ts", "batch"), insert + conflict),
            ("  and without the batch_id index", ("key", "ts"), insert + conflict),
            ("  and without the ts index", ("key",), insert + conflict),
            ("  and without ON CONFLICT (plain INSERT, key index)", ("key",), insert),
            ("  and without the key index: heap and WAL only", (), insert),
        ]
        best = [float("inf")] * len(variants)
        wal = [0.0] * len(variants)
        plan: list[str] = []
        for r in range(rounds):
            for i, (_, wanted, statement) in enumerate(variants):
                con.execute("DROP TABLE IF EXISTS t")
                con.execute("CREATE TABLE t (LIKE incidents INCLUDING DEFAULTS)")
                for name in wanted:
                    con.execute(indexes[name])
                con.execute("CHECKPOINT")
                before = con.execute("SELECT pg_current_wal_lsn()").fetchone()
                started = time.perf_counter()
                if r == 0 and i == 0:
                    plan = [row[0] for row in con.execute(
                        "EXPLAIN (ANALYZE, BUFFERS, WAL) " + statement)]
                else:
                    con.execute(statement)
                best[i] = min(best[i], time.perf_counter() - started)
                written = con.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)",
                                      [before[0] if before else None]).fetchone()
                wal[i] = float(written[0]) / 1e6 if written else float("nan")
        con.execute("DROP TABLE IF EXISTS t")
    table = Table(title=f"server side of the INSERT: {n:,} rows from a temporary table, best of "
                        f"{rounds} (same run)", title_justify="left")
    for col in ("statement", "seconds", "rows/s", "vs the line below", "WAL MB"):
        table.add_column(col, justify="left" if col == "statement" else "right")
    for i, (label, _, _) in enumerate(variants):
        delta = f"{best[i] - best[i + 1]:+.2f} s" if i + 1 < len(variants) else ""
        table.add_row(label, f"{best[i]:.2f}", f"{n / best[i]:,.0f}", delta, f"{wal[i]:.0f}")
    console.print(table)
    keep = ("Insert on", "Sort Method", "Sort  (", "Seq Scan", "WAL:", "Execution Time")
    console.print("[dim]EXPLAIN ANALYZE of the store's statement (excerpt):[/dim]")
    for text in plan:
        if any(k in text for k in keep):
            console.print("  " + text.strip(), markup=False, highlight=False)


def csv_split(csv: Path) -> None:
    """The client side of the store's ``COPY``: Arrow writing the prepared incidents as CSV
    (as ``PostgresStore._copy`` does, in chunks of 50,000 rows), whole and by column."""
    parsed = get_source(SOURCE).read(csv, Pseudonymiser(b"benchmark-key-0123456789abcdef"))
    table = rows.prepared_records("incidents", parsed.records["incidents"])
    options = pacsv.WriteOptions(include_header=False)

    def write(t: pa.Table) -> float:
        started = time.perf_counter()
        for chunk in t.to_batches(max_chunksize=50_000):
            pacsv.write_csv(chunk, io.BytesIO(), options)
        return time.perf_counter() - started

    whole = write(table)
    out = Table(title=f"Arrow → CSV of the {table.num_rows:,} prepared incidents (same run)",
                title_justify="left")
    out.add_column("columns")
    out.add_column("seconds", justify="right")
    out.add_row("all 15 (what _copy writes)", f"{whole:.2f}")
    others = [n for n in table.schema.names if n != "ts"]
    out.add_row("all but ts", f"{write(table.select(others)):.2f}")
    out.add_row(escape(f"ts alone ({table.schema.field('ts').type})"),
                f"{write(table.select(['ts'])):.2f}")
    naive = pc.cast(table.column("ts"), pa.timestamp("us"))  # the same instants, zone dropped
    out.add_row(escape("ts alone as timestamp[us], no zone (the same UTC instants)"),
                f"{write(pa.table({'ts': naive})):.2f}")
    console.print(out)


# -- main ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs, each on a fresh database; the best time of each is kept")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="a server URL whose role may CREATE DATABASE")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--profile", action="store_true", default=None,
                       help="profile belvedere's ingest even when it meets the target")
    group.add_argument("--no-profile", dest="profile", action="store_false")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="belvedere-pg-bench-") as tmp:
        folder = Path(tmp)
        # The deployment's own files (its pseudonymisation key) stay in the temporary folder.
        os.environ["BELVEDERE_HOME"] = str(folder / "home")
        feed = folder / "police"
        feed.mkdir()
        csv = feed / "main_courante.csv"
        assert get_source(SOURCE).files(feed) == [] and get_source(SOURCE).info.folder == "police"
        with console.status(f"writing {args.rows:,} police-log rows"):
            started = time.perf_counter()
            write_police_log(csv, args.rows)
        console.print(f"wrote {args.rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB) in "
                      f"{time.perf_counter() - started:.1f} s; load average before: "
                      + ", ".join(f"{x:.1f}" for x in os.getloadavg()))

        copies: list[float] = []
        ingests: list[float] = []
        for run in range(args.repeat):
            # Each run on a fresh database: the server's COPY, then belvedere's ingest.
            with fresh_database(args.pg) as url:
                if run == 0:
                    with psycopg.connect(url) as con:
                        server = con.execute("SHOW server_version").fetchone()
                        settings = {k: con.execute(sql.SQL("SHOW {}").format(
                            sql.Identifier(k))).fetchone() for k in (
                                "shared_buffers", "synchronous_commit", "max_wal_size")}
                    console.print(f"PostgreSQL {server[0] if server else '?'} ("
                                  + ", ".join(f"{k} {v[0] if v else '?'}"
                                              for k, v in settings.items()) + ")")
                ref_seconds, ref_rows = server_copy(url, csv)
                ours, report, held = belvedere_ingest(url, folder)
                copies.append(ref_seconds)
                ingests.append(ours)
                console.print(f"  run {run + 1} ({url.rsplit('/', 1)[1]}): PostgreSQL COPY "
                              f"{ref_seconds:.2f} s, belvedere ingest {ours:.2f} s "
                              f"(ratio {ours / ref_seconds:.2f})")
        ref_seconds, ours = min(copies), min(ingests)

        (batch,) = report.batches
        ratio = ours / ref_seconds
        table = Table(title=f"{args.rows:,} police-log rows into PostgreSQL "
                            f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
                            f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())})",
                      title_justify="left")
        for col in ("", "rows", "seconds", "rows/s"):
            table.add_column(col, justify="left" if not col else "right")
        best = f", best of {args.repeat}" if args.repeat > 1 else ""
        table.add_row(f"PostgreSQL COPY FROM STDIN (csv, text columns) — the limit{best}",
                      f"{ref_rows:,}", f"{ref_seconds:.2f}", f"{ref_rows / ref_seconds:,.0f}")
        table.add_row(f"belvedere ingest_folder → PostgreSQL store, end to end{best}",
                      f"{batch.rows_read:,}", f"{ours:.2f}", f"{batch.rows_read / ours:,.0f}")
        console.print(table)
        verdict = "[bold green]PASS[/]" if ratio <= TARGET else "[bold red]FAIL[/]"
        console.print(f"belvedere / COPY ratio{best}: [bold]{ratio:.2f}[/] (target: at most "
                      f"{TARGET}) {verdict}")
        if args.repeat > 1:
            each = sorted(o / c for o, c in zip(ingests, copies, strict=True))
            console.print("  ratio within each run: " + ", ".join(f"{r:.2f}" for r in each)
                          + f" (median {each[len(each) // 2]:.2f})")

        lost = (batch.rows_read - batch.rows_stored - batch.rows_quarantined
                - batch.rows_filtered - batch.rows_duplicate)
        console.print(
            f"accounting: read {batch.rows_read:,} = stored {batch.rows_stored:,} + quarantined "
            f"{batch.rows_quarantined:,} {batch.quarantine_rules} + filtered "
            f"{batch.rows_filtered:,} + duplicates {batch.rows_duplicate:,}; lost: {lost:,}")
        agree = (held["incidents"] == batch.rows_stored
                 and held["quarantine"] == batch.rows_quarantined and held["batches"] == 1)
        console.print(
            f"the store holds {held['incidents']:,} incidents, {held['quarantine']:,} quarantined "
            f"rows, {held['batches']} ingest-log line — "
            + ("[green]as reported[/]" if agree else "[bold red]NOT as reported[/]"))
        console.print(f"minimised: {batch.minimised}")
        if ref_rows != args.rows or batch.rows_read != args.rows or lost or not agree:
            console.print("[bold red]rows went missing: see the figures above[/]")

        if args.profile or (args.profile is None and ratio > TARGET):
            profiler = cProfile.Profile()
            with fresh_database(args.pg) as url:
                wall, _, _ = belvedere_ingest(url, folder, profiler=profiler)
                profile_report(pstats.Stats(profiler, stream=console.file), wall)
                server_split(url)
            csv_split(csv)


if __name__ == "__main__":
    main()
