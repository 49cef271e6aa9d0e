"""Ingest speed: a million police-log rows end to end, against DuckDB's own CSV reader.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/ingest.py --rows 1000000 --repeat 3``).

It writes a police-log export in the native format (``;``, decimal commas, local
``dd/mm/yyyy HH:MM``, CRLF, a narrative and an officer id per row), then, alternately and
``--repeat`` times each, measures:

- **the limit**: DuckDB's ``read_csv`` loading the same file into a table of a DuckDB file, every
  column as text — no validation, no geography, no minimisation;
- **belvedere end to end**: ``ingest_file`` into a fresh store file — exact reading (malformed
  lines kept for quarantine), id, local time → UTC, category and origin mapping, rule checks,
  H3 indexing, arrondissement assignment, officer ids pseudonymised (HMAC), the narrative
  dropped, de-duplication and the transactional append with its ingest log;

and prints the best time of each and their ratio (the issue's target: at most 3). A re-ingest of
the same file is timed last (it must store 0 rows).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import duckdb

from belvedere.simulate.bulk import write_police_log
from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import IngestReport, ingest_file
from belvedere.sources.mapping import load_mapping
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.factory import open_store


def reference(csv: Path, folder: Path, run: int) -> float:
    """DuckDB's read_csv of the file into a table of a DuckDB file (the practical limit)."""
    con = duckdb.connect(str(folder / f"reference-{run}.duckdb"))
    t = time.perf_counter()
    con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{csv}', delim=';', header=true, "
                "all_varchar=true)")
    elapsed = time.perf_counter() - t
    con.close()
    return elapsed


def belvedere(csv: Path, folder: Path, run: int, source: IncidentLog) -> tuple[float, IngestReport]:
    """belvedere's ingest of the file into a fresh store, end to end."""
    store = open_store(folder / f"belvedere-{run}.duckdb")
    report = IngestReport()
    t = time.perf_counter()
    ingest_file(store, source, csv, Pseudonymiser(b"benchmark-key-0123456789abcdef"), report)
    elapsed = time.perf_counter() - t
    store.close()
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    mapping = load_mapping("marseille_police_log")
    source = IncidentLog(replace(mapping, pseudonymise=("agent",)))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "main_courante.csv"
        t = time.perf_counter()
        write_police_log(csv, args.rows)
        print(f"wrote {args.rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - t:.1f} s")
        limits, ours = [], []
        report = IngestReport()
        for run in range(args.repeat):
            limits.append(reference(csv, folder, run))
            elapsed, report = belvedere(csv, folder, run, source)
            ours.append(elapsed)
            print(f"  run {run + 1}: DuckDB read_csv {limits[-1]:.2f} s, "
                  f"belvedere {ours[-1]:.2f} s")
        store = open_store(folder / "belvedere-0.duckdb")
        again = IngestReport()
        t = time.perf_counter()
        ingest_file(store, source, csv, Pseudonymiser(b"benchmark-key-0123456789abcdef"), again)
        reingest = time.perf_counter() - t
        store.close()
    (batch,) = report.batches
    best_limit, best_ours = min(limits), min(ours)
    print(f"DuckDB read_csv into a table (the limit), best of {args.repeat}: {best_limit:6.2f} s")
    print(f"belvedere end-to-end ingest, best of {args.repeat}:             {best_ours:6.2f} s "
          f"({args.rows / best_ours:,.0f} rows/s)")
    print(f"end-to-end / limit ratio: {best_ours / best_limit:.2f} (target: at most 3)")
    print(f"  read {batch.rows_read:,}: stored {batch.rows_stored:,}, quarantined "
          f"{batch.rows_quarantined:,} {batch.quarantine_rules}, "
          f"duplicates {batch.rows_duplicate:,}")
    print(f"  minimised: {batch.minimised}")
    print(f"re-ingest of the same file: {reingest:.2f} s, stored "
          f"{again.batches[0].rows_stored:,} (must be 0)")


if __name__ == "__main__":
    main()
