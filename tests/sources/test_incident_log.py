"""Mapping-driven incident logs: ids, time precision, place precision, encodings, minimisation."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from belvedere.errors import ConfigError, SourceError
from belvedere.simulate.bulk import write_police_log
from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import IngestReport, ingest_file
from belvedere.sources.mapping import load_mapping, parse_mapping, read_mapping_data
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import SituationQuery, Store
from tests import rawsql

KEY = Pseudonymiser(b"k" * 32)

ZONE_MAPPING = """
[source]
name = "town_log"
label_fr = "Journal"
label_en = "Log"
[file]
separator = ","
[id]
hash = ["when", "area", "kind"]
identical_rows = "distinct"
[time]
column = "when"
format = "%Y-%m-%d"
timezone = "America/Chicago"
precision = "day"
[place]
kind = "zone"
zone = "area"
zone_prefix = "town-"
zone_range = [1, 9]
[category]
column = "kind"
[category.map]
THEFT = "theft"
"""


def mapping_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


def test_zone_only_day_only_records_are_counted_by_zone_and_day_never_by_cell_or_hour(
        tmp_path: Path, store: Store) -> None:
    source = IncidentLog(load_mapping(mapping_file(tmp_path, ZONE_MAPPING)))
    data = tmp_path / "log.csv"
    data.write_text("when,area,kind\n2022-05-01,3,THEFT\n2022-05-01,3,THEFT\n"
                    "2022-05-01,12,THEFT\n2022-05-02,,THEFT\n")
    report = IngestReport()
    ingest_file(store, source, data, KEY, report)
    (batch,) = report.batches
    assert (batch.rows_read, batch.rows_stored, batch.rows_quarantined) == (4, 2, 2)
    assert sorted(batch.quarantine_rules.items()) == [("no_place", 2)]
    window = dict(start=datetime(2022, 5, 1, tzinfo=UTC), end=datetime(2022, 5, 3, tzinfo=UTC))
    by_zone = store.situation(SituationQuery(level="zone", bin="day", **window)).to_pylist()
    assert [(r["place"], r["bin_start"], r["value"]) for r in by_zone] == [
        ("town-3", datetime(2022, 5, 1), 2.0)]
    assert store.situation(SituationQuery(level="cell", bin="day", **window)).num_rows == 0
    assert store.situation(SituationQuery(level="zone", bin="hour", **window)).num_rows == 0
    again = IngestReport()
    ingest_file(store, source, data, KEY, again)
    assert again.batches[0].rows_stored == 0 and again.batches[0].rows_duplicate == 2


def test_latin1_export_with_french_hours_is_read_when_declared_and_detected_when_auto(
        tmp_path: Path) -> None:
    text = ("numero_fiche;date_heure;latitude;longitude;code_nature;origine;gravite;recit\n"
            "MC-1;03/02/2018 17h45;43,2951;5,3740;DEGRADATION;patrouille;2;Vitre brisée\n")
    data = tmp_path / "police.csv"
    data.write_bytes(text.encode("latin-1"))
    raw, _ = read_mapping_data("marseille_police_log")
    for encoding, note in (("latin-1", None), ("auto", "encoding: latin-1 (detected")):
        raw["file"]["encoding"] = encoding
        parsed = IncidentLog(parse_mapping(raw, "test")).read(data, KEY)
        (row,) = parsed.records["incidents"].to_pylist()
        assert row["ts"] == datetime(2018, 2, 3, 16, 45, tzinfo=UTC)
        assert row["category"] == "vandalism" and row["origin"] == "discovered_by_patrol"
        assert (note is None) == (not parsed.notes)
        if note:
            assert parsed.notes[0].startswith(note)
    raw["file"]["encoding"] = "utf-8"
    parsed = IncidentLog(parse_mapping(raw, "test")).read(data, KEY)
    assert parsed.quarantine.column("rule").to_pylist() == ["bad_encoding"]
    assert parsed.rows_read == 1


def test_narrative_is_dropped_by_default_and_redacted_when_the_mapping_keeps_it(
        tmp_path: Path) -> None:
    text = ("numero_fiche;date_heure;latitude;longitude;code_nature;origine;gravite;recit\n"
            "MC-1;03/02/2018 17:45;43,2951;5,3740;VOL_SIMPLE;appel_public;1;"
            "Mme Dupont joignable au 06 12 34 56 78, véhicule AB-123-CD\n")
    data = tmp_path / "police.csv"
    data.write_text(text)
    raw, _ = read_mapping_data("marseille_police_log")
    dropped = IncidentLog(parse_mapping(raw, "test")).read(data, KEY)
    assert dropped.minimised["dropped:recit"] == 1
    assert json.loads(dropped.records["incidents"].column("attrs")[0].as_py()) == {}
    raw["narrative"]["mode"] = "redact"
    kept = IncidentLog(parse_mapping(raw, "test")).read(data, KEY)
    narrative = json.loads(kept.records["incidents"].column("attrs")[0].as_py())["narrative"]
    assert "Dupont" not in narrative and "06 12" not in narrative and "AB-123" not in narrative
    assert kept.minimised.get("redacted:phone") == 1 and kept.minimised.get("redacted:plate") == 1


def test_pseudonymised_columns_never_reach_the_store_in_clear(tmp_path: Path) -> None:
    raw, _ = read_mapping_data("marseille_police_log")
    raw["attrs"] = {"pseudonymise": ["agent"]}
    data = tmp_path / "police.csv"
    data.write_text("numero_fiche;date_heure;latitude;longitude;code_nature;origine;gravite;agent\n"
                    "MC-1;03/02/2018 17:45;43,2951;5,3740;VOL_SIMPLE;patrouille;1;matricule-77\n")
    parsed = IncidentLog(parse_mapping(raw, "test")).read(data, KEY)
    attrs = json.loads(parsed.records["incidents"].column("attrs")[0].as_py())
    assert attrs == {"agent": KEY("matricule-77")}
    assert parsed.minimised["pseudonymised:agent"] == 1


@pytest.mark.parametrize(("change", "message"), [
    (("place", "kind", "polar"), r"\[place.kind\] must be one of latlon, xy, zone"),
    (("category", "map", {"X": "murder"}), r"\[category.map.X\] 'murder' is not one of"),
    (("time", "precision", 5), r"\[time.precision\] must be str"),
    (("time", "colour", "red"), r"\[time.colour\] is not a known key"),
])
def test_a_bad_mapping_names_the_file_and_the_key(change: tuple[str, str, object],
                                                  message: str) -> None:
    raw, _ = read_mapping_data("marseille_police_log")
    table, key, value = change
    raw[table][key] = value
    with pytest.raises(ConfigError, match=message) as err:
        parse_mapping(raw, "my-city.toml")
    assert "my-city.toml" in str(err.value)


def test_a_file_without_a_required_column_is_refused_whole_with_the_column_named(
        tmp_path: Path) -> None:
    data = tmp_path / "police.csv"
    data.write_text("numero_fiche;date_heure;longitude;code_nature\nMC-1;03/02/2018 17:45;5,3;X\n")
    with pytest.raises(SourceError, match=r"missing column\(s\) latitude") as err:
        IncidentLog.packaged("marseille_police_log").read(data, KEY)
    assert str(data) in str(err.value)


def test_an_overlapping_later_export_adds_only_its_new_rows_and_moves_the_cursor(
        tmp_path: Path, store: Store) -> None:
    source = IncidentLog.packaged("marseille_police_log")
    first, later = tmp_path / "export-1.csv", tmp_path / "export-2.csv"
    write_police_log(first, 100, seed=1, first_id=0)
    write_police_log(later, 100, seed=1, first_id=0)  # the same 100 rows…
    extra = tmp_path / "extra.csv"
    write_police_log(extra, 50, seed=2, first_id=100)  # …plus 50 new ones
    later.write_bytes(later.read_bytes() + extra.read_bytes().split(b"\r\n", 1)[1])
    reports = []
    for path in (first, later):
        report = IngestReport()
        ingest_file(store, source, path, KEY, report)
        reports.append(report.batches[0])
    kept_first = reports[0].rows_stored
    assert reports[1].rows_read == 150
    assert reports[1].rows_duplicate == kept_first
    assert reports[1].rows_stored == store.count("incidents") - kept_first
    assert 40 <= reports[1].rows_stored <= 50  # the new rows (a few land in the sea)
    (cursor,) = store.cursors().to_pylist()
    newest = rawsql.scalar(store, "SELECT max(ts) FROM incidents")
    assert cursor["source"] == "police_log" and cursor["last_ts"] == newest
    assert cursor["last_file"] == str(later)
