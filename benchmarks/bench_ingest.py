"""Ingest speed: one million police-log rows, against DuckDB's own CSV reader in the same run.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/bench_ingest.py --rows 1000000``).

Prints the time of each stage of belvedere's ingest (parse + validate + H3 + zones, then the
de-duplicating transactional append), the time DuckDB's ``read_csv`` takes to load the same file
into a table (the practical floor: no validation, no geography), and the ratio. A re-ingest of the
same file is timed too (it must store 0 rows).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import batch_input
from belvedere.sources.mapping import load_mapping
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.duckdb_store import DuckDBStore

HEADER = ["numero_fiche", "date_heure", "adresse", "latitude", "longitude", "code_nature",
          "libelle_nature", "origine", "gravite", "recit"]


def write_police_log(path: Path, rows: int, seed: int = 1) -> None:
    """A police-log export of ``rows`` rows in the native format (vectorised)."""
    rng = np.random.default_rng(seed)
    # Points around the centre of Marseille; a few percent fall in the sea (quarantined).
    lat = rng.normal(43.300, 0.02, rows)
    lon = rng.normal(5.400, 0.02, rows)
    minutes = rng.integers(0, 365 * 24 * 60, rows)
    ts = pl.Series((np.datetime64("2024-01-01T00:00") + minutes.astype("timedelta64[m]"))
                   .astype("datetime64[ms]"))
    codes = np.array(sorted(load_mapping("marseille_police_log").category.map))
    df = pl.DataFrame({
        "numero_fiche": pl.Series([f"MC-{i:08d}" for i in range(rows)]),
        "date_heure": ts.dt.strftime("%d/%m/%Y %H:%M"),
        "adresse": "1 rue de la République, 13002 Marseille",
        "latitude": pl.Series(np.round(lat, 5)).cast(pl.String).str.replace(".", ",", literal=True),
        "longitude": pl.Series(np.round(lon, 5)).cast(pl.String).str.replace(".", ",",
                                                                             literal=True),
        "code_nature": codes[rng.integers(0, len(codes), rows)],
        "libelle_nature": "libellé",
        "origine": "appel_public",
        "gravite": rng.integers(1, 4, rows).astype(str),
        "recit": "Requérant signale des faits.",
    })
    df.write_csv(path, separator=";", line_terminator="\r\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv = folder / "main_courante.csv"
        t = time.perf_counter()
        write_police_log(csv, args.rows)
        print(f"wrote {args.rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - t:.1f} s")

        con = duckdb.connect(str(folder / "reference.duckdb"))
        t = time.perf_counter()
        con.execute(f"CREATE TABLE raw AS SELECT * FROM read_csv('{csv}', delim=';', "
                    "header=true, all_varchar=true)")
        reference = time.perf_counter() - t
        con.close()

        store = DuckDBStore(folder / "belvedere.duckdb")
        source = IncidentLog.packaged("marseille_police_log")
        t = time.perf_counter()
        parsed = source.read(csv, Pseudonymiser.ephemeral())
        parse = time.perf_counter() - t
        t = time.perf_counter()
        result = store.append_batch(batch_input("police_log", csv, parsed))
        append = time.perf_counter() - t
        t = time.perf_counter()
        again = source.read(csv, Pseudonymiser.ephemeral())
        second = store.append_batch(batch_input("police_log", csv, again))
        reingest = time.perf_counter() - t
        store.close()

    total = parse + append
    print(f"DuckDB read_csv into a table (reference): {reference:6.2f} s")
    print(f"belvedere parse+validate+H3+zones:        {parse:6.2f} s")
    print(f"belvedere transactional de-dup append:    {append:6.2f} s")
    print(f"belvedere ingest total:                   {total:6.2f} s "
          f"({args.rows / total:,.0f} rows/s; {total / reference:.1f}× the reference)")
    print(f"  stored {result.rows_stored:,}, quarantined {result.rows_quarantined:,}, "
          f"duplicates {result.rows_duplicate:,}")
    print(f"re-ingest of the same file:               {reingest:6.2f} s, "
          f"stored {second.rows_stored:,} (must be 0)")


if __name__ == "__main__":
    main()
