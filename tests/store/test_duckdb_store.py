"""The DuckDB store: migrations, de-duplicated atomic batches, the situation query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import pyarrow as pa
import pytest

from belvedere.errors import StoreBusy
from belvedere.grid.cells import str_to_cell
from belvedere.grid.records import Incident, Measurement, to_table
from belvedere.store.base import BatchInput, SituationQuery, empty_quarantine
from belvedere.store.duckdb import DuckDBStore
from belvedere.store.migrations import MIGRATIONS

T0 = datetime(2024, 9, 7, 18, 0, tzinfo=UTC)  # 20:00 in Marseille (CEST)
VELODROME_CELL = str_to_cell(h3.latlng_to_cell(43.2698, 5.3959, 9))


def incident(i: int, minutes: int = 0, cell: int = VELODROME_CELL, zone: str = "13208",
             category: str = "theft") -> Incident:
    return Incident(source="police_log", source_id=f"MC-{i}", category=category,
                    source_category="VOL_SIMPLE", ts=T0 + timedelta(minutes=minutes),
                    lat=43.2698, lon=5.3959, cell=cell, zone=zone, origin="reported_by_public")


def append(db: DuckDBStore, rows: list[Incident]) -> int:
    result = db.append_batch(BatchInput(source="police_log", file="f.csv",
                             records={"incidents": to_table(Incident, rows)},
                             quarantine=empty_quarantine(), rows_read=len(rows)))
    return result.rows_stored


def test_migrations_apply_once_and_record_their_version(tmp_path: Path) -> None:
    db = DuckDBStore(tmp_path / "a.duckdb")
    assert db.schema_version() == MIGRATIONS[-1][0]
    assert db.migrate() == []
    db.close()
    again = DuckDBStore(tmp_path / "a.duckdb")
    assert again.migrate() == [] and again.schema_version() == MIGRATIONS[-1][0]
    again.close()


def test_append_skips_known_keys_and_duplicates_inside_a_batch(store: DuckDBStore) -> None:
    assert append(store, [incident(1), incident(2), incident(2)]) == 2
    assert append(store, [incident(1), incident(3)]) == 1
    assert store.count("incidents") == 3
    batches = store.batches().to_pylist()
    assert [(b["rows_read"], b["rows_stored"], b["rows_duplicate"]) for b in batches] == [
        (3, 2, 1), (2, 1, 1)]


def test_a_batch_that_fails_midway_leaves_nothing_behind(store: DuckDBStore) -> None:
    good = to_table(Incident, [incident(1)])
    broken = pa.table({"source": ["cctv"]})  # not a measurements table: fails after incidents
    with pytest.raises(KeyError):
        store.append_batch(BatchInput(source="police_log", file="f.csv",
                           records={"incidents": good, "measurements": broken},
                           quarantine=empty_quarantine(), rows_read=2))
    assert store.count("incidents") == 0
    assert store.batches().num_rows == 0


def test_a_second_process_gets_a_clear_busy_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "busy.duckdb"
    DuckDBStore(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(30)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusy, match="belvedere serve"):
            DuckDBStore(path)
    finally:
        holder.kill()
        holder.wait()


def test_situation_counts_by_cell_hour_and_coarsens_to_parents(store: DuckDBStore) -> None:
    other = str_to_cell(h3.latlng_to_cell(43.2951, 5.3740, 9))  # Vieux-Port
    append(store, [incident(1), incident(2, 20), incident(3, 70), incident(4, 5, other, "13201")])
    q = SituationQuery(start=T0, end=T0 + timedelta(hours=3), level="cell", bin="hour")
    rows = store.situation(q).to_pylist()
    velodrome = [r for r in rows if r["place"] == h3.int_to_str(VELODROME_CELL)]
    assert [(r["bin_start"], r["value"], r["n"]) for r in velodrome] == [
        (datetime(2024, 9, 7, 20, 0), 2.0, 2), (datetime(2024, 9, 7, 21, 0), 1.0, 1)]
    coarse = store.situation(SituationQuery(start=T0, end=T0 + timedelta(hours=3), level="cell",
                                            resolution=5, bin="window")).to_pylist()
    expected: dict[str, float] = {}
    for cell, count in ((VELODROME_CELL, 3.0), (other, 1.0)):
        parent = h3.cell_to_parent(h3.int_to_str(cell), 5)
        expected[parent] = expected.get(parent, 0.0) + count
    assert {r["place"]: r["value"] for r in coarse} == expected
    by_zone = store.situation(SituationQuery(start=T0, end=T0 + timedelta(hours=3), level="zone",
                                             bin="day")).to_pylist()
    assert {(r["place"], r["value"]) for r in by_zone} == {("13208", 3.0), ("13201", 1.0)}


def test_situation_sums_measurements_and_skips_values_suppressed_at_source(
        store: DuckDBStore) -> None:
    cell8 = str_to_cell(h3.latlng_to_cell(43.2698, 5.3959, 8))
    rows = [Measurement(source="mobile_presence", source_id=f"m{i}", metric="crowd_count",
                        category="", site=None, zone="13208", cell=cell8,
                        start=T0 + timedelta(hours=i), end=T0 + timedelta(hours=i + 1),
                        value=v, flags="" if v is not None else "suppressed_at_source")
            for i, v in enumerate([1200.0, None, 800.0])]
    store.append_batch(BatchInput(source="mobile_presence", file=None,
                       records={"measurements": to_table(Measurement, rows)},
                       quarantine=empty_quarantine(), rows_read=3))
    q = SituationQuery(start=T0, end=T0 + timedelta(hours=3), level="cell", resolution=9,
                       bin="window")
    (row,) = store.situation(q).to_pylist()
    # A resolution-8 measurement stays at resolution 8 when resolution 9 is asked.
    assert row["place"] == h3.int_to_str(cell8)
    assert (row["metric"], row["value"], row["n"]) == ("crowd_count", 2000.0, 2)
