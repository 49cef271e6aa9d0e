"""The police-log connector: French CSV in, minimised incidents out, bad rows quarantined."""

from __future__ import annotations

import json
from pathlib import Path

from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import ingest_folder
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import Store
from tests import rawsql
from tests.sources.feeds import police_row, write_police_log

POLICE = IncidentLog.packaged("marseille_police_log")


def test_police_log_reads_french_export_in_utc(tmp_path: Path) -> None:
    path = write_police_log(tmp_path, [police_row("MC-1")])
    parsed = POLICE.read(path, Pseudonymiser.ephemeral())
    row = parsed.records["incidents"].to_pylist()[0]
    assert row["source_id"] == "MC-1"
    assert row["category"] == "theft" and row["source_category"] == "VOL_SIMPLE"
    # 17:45 in Paris in March (CET, UTC+1) is 16:45 UTC.
    assert row["ts"].isoformat() == "2024-03-02T16:45:00+00:00"
    assert abs(row["lat"] - 43.29512) < 1e-9 and row["zone"] == "13201"
    assert row["origin"] == "reported_by_public"


def test_police_log_drops_narrative_and_address(tmp_path: Path) -> None:
    path = write_police_log(tmp_path, [police_row("MC-1"), police_row("MC-2", lat="")])
    parsed = POLICE.read(path, Pseudonymiser.ephemeral())
    stored_text = json.dumps(parsed.records["incidents"].to_pylist(), default=str)
    quarantined_text = json.dumps(parsed.quarantine.to_pylist())
    for text in (stored_text, quarantined_text):
        assert "Dupont" not in text and "06 12 34 56 78" not in text and "rue de Rome" not in text


def test_police_log_quarantines_rows_without_a_place(tmp_path: Path) -> None:
    path = write_police_log(tmp_path, [police_row("MC-1"), police_row("MC-2", lat="")])
    parsed = POLICE.read(path, Pseudonymiser.ephemeral())
    q = parsed.quarantine.to_pylist()
    assert [(r["line"], r["rule"]) for r in q] == [(3, "no_place")]
    assert parsed.records["incidents"].num_rows == 1


def test_police_log_quarantines_bad_and_nonexistent_times(tmp_path: Path) -> None:
    rows = [police_row("MC-1", when="2024-03-02 17:45"),  # wrong format
            police_row("MC-2", when="31/03/2024 02:30"),  # in the spring DST gap
            police_row("MC-3", when="27/10/2024 02:30")]  # in the autumn overlap: earlier
    parsed = POLICE.read(write_police_log(tmp_path, rows), Pseudonymiser.ephemeral())
    rules = {r["line"]: r["rule"] for r in parsed.quarantine.to_pylist()}
    assert rules == {2: "bad_time", 3: "nonexistent_time"}
    (kept,) = parsed.records["incidents"].to_pylist()
    assert kept["ts"].isoformat() == "2024-10-27T00:30:00+00:00"


def test_police_log_quarantines_points_outside_the_city(tmp_path: Path) -> None:
    path = write_police_log(tmp_path, [police_row("MC-1", lat="48,8566", lon="2,3522")])
    parsed = POLICE.read(path, Pseudonymiser.ephemeral())
    (q,) = parsed.quarantine.to_pylist()
    assert q["rule"] == "outside_area" and "48.8566" in q["reason"]


def test_every_police_row_is_stored_duplicate_or_quarantined(tmp_path: Path,
                                                             store: Store) -> None:
    rows = [police_row("MC-1"), police_row("MC-1"), police_row("MC-2", lat="x"),
            police_row("MC-3", nature="INCONNU"), police_row("", when="01/01/2024 10:00")]
    write_police_log(tmp_path / "police", rows)
    report = ingest_folder(store, tmp_path, sources=["police_log"])
    (batch,) = report.batches
    assert (batch.rows_read, batch.rows_stored, batch.rows_duplicate,
            batch.rows_quarantined) == (5, 2, 1, 2)
    assert batch.quarantine_rules == {"no_place": 1, "no_id": 1}
    assert store.count("incidents", "police_log") == 2
    cats = dict(rawsql.query(store, "SELECT source_category, category FROM incidents"))
    assert cats["INCONNU"] == "other"
    q = store.quarantined("police_log").to_pylist()
    assert {r["file"] for r in q} == {str(tmp_path / "police" / "main_courante.csv")}
