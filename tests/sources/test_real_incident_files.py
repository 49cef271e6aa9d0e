"""The shipped mappings ingest the three real incident files in full, with exact accounting.

These read ``../shared/data`` (not part of the repository); without it they skip, saying so.
"""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from pyproj import Transformer

from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import IngestReport, ingest_file
from belvedere.sources.mapping import load_mapping, parse_mapping, read_mapping_data
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import Store

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
KEY = Pseudonymiser(b"k" * 32)

# Facts of the real files (see each folder's README), and what the mappings make of them.
CASES = {
    "toronto_mci": ("crime_toronto/toronto_mci_2014_2020.csv.gz", 210_844,
                    {"nonexistent_time": 9}),
    "chicago_crimes": ("crime_chicago/chicago_crimes_2022-01_to_2022-08_slim.csv.gz", 151_087,
                       {}),
    "portland_nij": ("crime_portland_nij/NIJ2016_AUG01_AUG31.csv.gz", 19_376,
                     {"bad_time": 1, "outside_area": 1}),
}


def real_file(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/data is not in this checkout)")
    return path


@pytest.mark.parametrize("mapping", sorted(CASES))
def test_real_file_ingests_with_every_row_stored_or_quarantined(
        mapping: str, store: Store) -> None:
    relative, rows, quarantined = CASES[mapping]
    path = real_file(relative)
    report = IngestReport()
    ingest_file(store, IncidentLog.packaged(mapping), path, KEY, report)
    (batch,) = report.batches
    assert batch.rows_read == rows
    assert batch.rows_read == batch.rows_stored + batch.rows_quarantined
    assert batch.rows_duplicate == 0
    assert batch.quarantine_rules == quarantined
    reasons = Counter(r["rule"] for r in store.quarantined(mapping).to_pylist())
    assert reasons == Counter(quarantined)
    assert store.count("incidents", mapping) == rows - sum(quarantined.values())
    again = IngestReport()
    ingest_file(store, IncidentLog.packaged(mapping), path, KEY, again)
    assert again.batches[0].rows_stored == 0
    assert again.batches[0].rows_duplicate == batch.rows_stored


def test_toronto_hours_are_local_and_identical_rows_are_kept_as_distinct_offences() -> None:
    path = real_file(CASES["toronto_mci"][0])
    parsed = IncidentLog.packaged("toronto_mci").read(path, KEY)
    table = pl.from_arrow(parsed.records["incidents"])
    assert isinstance(table, pl.DataFrame)
    first = table.row(0, named=True)
    # 2014/01/01, hour 0, in Toronto (EST, UTC−5) is 05:00 UTC.
    assert first["ts"].isoformat() == "2014-01-01T05:00:00+00:00"
    assert table["source_id"].n_unique() == table.height
    # Rows identical on the identifying columns get a rank suffix: as many as there are repeats.
    keys = list(load_mapping("toronto_mci").id.hash)
    bad = {line - 2 for line in parsed.quarantine.column("line").to_pylist()}
    raw = pl.read_csv(path, infer_schema=False).with_row_index("i").filter(
        ~pl.col("i").is_in(list(bad)))
    repeats = raw.height - raw.select(keys).n_unique()
    assert repeats > 1_000
    assert table.filter(pl.col("source_id").str.contains("-")).height == repeats


def test_chicago_records_are_zones_only() -> None:
    parsed = IncidentLog.packaged("chicago_crimes").read(
        real_file(CASES["chicago_crimes"][0]), KEY)
    table = pl.from_arrow(parsed.records["incidents"])
    assert isinstance(table, pl.DataFrame)
    assert table["cell"].null_count() == table.height
    assert set(table["place_precision"]) == {"zone"}
    assert table["zone"].n_unique() == 77


def test_portland_state_plane_feet_land_on_the_published_lon_lat() -> None:
    path = real_file(CASES["portland_nij"][0])
    parsed = IncidentLog.packaged("portland_nij").read(path, KEY)
    mine = pl.from_arrow(parsed.records["incidents"])
    assert isinstance(mine, pl.DataFrame)
    published = pl.read_csv(path, infer_schema=False).with_columns(
        pl.col("lon").cast(pl.Float64, strict=False), pl.col("lat").cast(pl.Float64, strict=False))
    to_m = Transformer.from_crs("EPSG:4326", "EPSG:32610", always_xy=True)
    x1, y1 = to_m.transform(mine["lon"].to_numpy()[:2000], mine["lat"].to_numpy()[:2000])
    theirs = published.filter(pl.col("lat").is_not_null()).head(2000)
    x2, y2 = to_m.transform(theirs["lon"].to_numpy(), theirs["lat"].to_numpy())
    assert float(max(abs(x1 - x2).max(), abs(y1 - y2).max())) < 1.0  # metres
    assert set(mine["time_precision"]) == {"day"}


def test_a_corrupted_copy_of_a_real_file_is_accounted_for_row_by_row(
        tmp_path: Path, store: Store) -> None:
    source_path = real_file(CASES["toronto_mci"][0])
    lines = gzip.decompress(source_path.read_bytes()).split(b"\n")[:3001]  # header + 3,000 rows
    header, rows = lines[0], lines[1:]
    fields = header.decode().split(",")
    date_i, lat_i, hood_i = (fields.index(c) for c in ("occurrencedate", "Lat", "Neighbourhood"))

    def edit(k: int, column: int, value: bytes) -> None:
        parts = rows[k].split(b",")
        parts[column] = value
        rows[k] = b",".join(parts)

    for k in range(10, 20):  # bad dates
        edit(k, date_i, b"2015/13/45 05:00:00+00")
    for k in range(20, 30):  # coordinates outside the city (Paris)
        edit(k, lat_i, b"48.8566")
    for k in range(30, 35):  # missing columns
        rows[k] = b",".join(rows[k].split(b",")[:-2])
    for k in range(40, 45):  # wrong encoding: Latin-1 bytes in a UTF-8 file
        edit(k, hood_i, "Côte-des-Neiges".encode("latin-1"))
    duplicated = rows[50:60]  # duplicated rows, appended
    rows[-1] = rows[-1][: len(rows[-1]) // 2]  # truncated last line, no final newline
    body = rows[:-1] + duplicated + [rows[-1]]
    path = tmp_path / "toronto_corrupted.csv"
    path.write_bytes(b"\n".join([header, *body]))
    # Identical rows count once here, so that the injected copies show as duplicates.
    raw, _ = read_mapping_data("toronto_mci")
    raw["id"]["identical_rows"] = "same"
    source = IncidentLog(parse_mapping(raw, "toronto_mci, identical rows as one"))
    corrupted = {*range(10, 35), *range(40, 45)}
    keys = [fields.index(c) for c in raw["id"]["hash"]]
    valid = [tuple(row.split(b",")[i] for i in keys)
             for k, row in enumerate(rows[:-1]) if k not in corrupted]
    natural_repeats = len(valid) - len(set(valid))
    report = IngestReport()
    ingest_file(store, source, path, KEY, report)
    (batch,) = report.batches
    assert batch.rows_read == len(body) == 3_010
    assert batch.quarantine_rules == {"bad_time": 10, "outside_area": 10, "ragged_row": 6,
                                      "bad_encoding": 5}
    assert batch.rows_read == batch.rows_stored + batch.rows_duplicate + batch.rows_quarantined
    assert batch.rows_duplicate == 10 + natural_repeats
    reasons = {r["line"]: r["reason"] for r in store.quarantined("toronto_mci").to_pylist()}
    assert "2015/13/45" in reasons[12] and "48.8566" in reasons[22]
    assert "does not have 14 fields" in reasons[32] and "not valid utf-8" in reasons[42]
    assert max(reasons) == len(body) + 1  # the truncated last line, named by its line number
    again = IngestReport()
    ingest_file(store, source, path, KEY, again)
    assert again.batches[0].rows_stored == 0
