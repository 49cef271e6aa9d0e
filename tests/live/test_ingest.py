"""Live micro-batches go through the batch connectors: same records, same quarantine, every
item accounted for, nothing stored twice, and only new records reach the live windows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from google.transit import gtfs_realtime_pb2 as rt

from belvedere.live.hub import LiveHub
from belvedere.live.ingest import LiveIngestor, LiveResult
from belvedere.live.service import LiveService
from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import IngestReport, ingest_file
from belvedere.store.base import Store
from tests import rawsql
from tests.live.conftest import KEY, cctv_event
from tests.sources.feeds import POLICE_HEADER, police_row, write_police_log
from tests.sources.test_gtfs_rt import NOW, alert, vehicle

COLUMNS = POLICE_HEADER.split(";")


def as_message(row: str) -> bytes:
    """A police-log line as a live message: a JSON object keyed by the export's columns."""
    return json.dumps(dict(zip(COLUMNS, row.split(";"), strict=True))).encode()


def accounted(result: LiveResult) -> bool:
    """Every item read is stored, a duplicate, quarantined or filtered — exactly once."""
    return result.read == (result.stored + result.duplicates + result.quarantined
                           + result.filtered)


def records(store: Store, kind: str = "incidents") -> list[dict[str, Any]]:
    """The stored records of ``kind`` in id order, without the batch they came in."""
    table = rawsql.arrow(store, f"SELECT * FROM {kind} ORDER BY source_id")
    return table.drop_columns(["batch_id"]).to_pylist()


def test_live_police_entries_become_exactly_the_records_batch_ingestion_makes(
        tmp_path: Path, live: LiveService, new_store: Callable[[str], Store]) -> None:
    rows = [police_row("MC-1"), police_row("MC-2", nature="RIXE", when="30/03/2024 23:10"),
            police_row("MC-3", lat=""), police_row("MC-4", when="31/03/2024 02:30"),
            police_row("MC-5", lat="44,5")]
    batch = new_store("batch")
    report = IngestReport()
    ingest_file(batch, IncidentLog.packaged("marseille_police_log"),
                write_police_log(tmp_path / "export", rows), KEY, report)

    result = live.ingestor.ingest("police_log", [as_message(r) for r in rows])

    assert records(live.store) == records(batch)
    assert result.stored == 2 and result.quarantined == 3 and accounted(result)

    def verdicts(store: Store) -> list[tuple[str, str, str]]:
        return sorted((r["rule"], r["reason"], r["raw"]) for r in store.quarantined().to_pylist())

    assert verdicts(live.store) == verdicts(batch)
    text = json.dumps(records(live.store), default=str) + json.dumps(verdicts(live.store))
    assert "Dupont" not in text and "06 12 34 56 78" not in text and "rue de Rome" not in text


def test_bad_messages_are_quarantined_with_their_reason_and_nothing_of_a_red_line_is_kept(
        live: LiveService) -> None:
    messages = [
        json.dumps(cctv_event("ev-1")).encode(),
        b"{not json",
        json.dumps([cctv_event("ev-2"), 42]).encode(),
        json.dumps(cctv_event("ev-3", face="base64-of-a-face")).encode(),
        json.dumps(cctv_event("ev-4", camera="cam-unknown")).encode(),
        json.dumps(cctv_event("", kind="fall", value=None)).encode(),
    ]
    result = live.ingestor.ingest("cctv", messages)

    assert (result.read, result.stored, result.quarantined) == (7, 2, 5) and accounted(result)
    assert sorted(result.ids) == ["ev-1", "ev-2"]
    rows = live.store.quarantined("cctv").to_pylist()
    by_rule = {r["rule"]: r for r in rows}
    assert sorted(r["rule"] for r in rows) == ["bad_json", "bad_json", "no_id", "red_line",
                                                "unknown_site"]
    assert sorted(r["reason"] for r in rows if r["rule"] == "bad_json") == [
        "message 2 of the batch is not JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
        "message 3 of the batch holds a JSON int, not an object"]
    assert "face" in by_rule["red_line"]["reason"] and by_rule["red_line"]["raw"] == "{}"
    assert "base64-of-a-face" not in json.dumps(rows)
    assert "cam-unknown" in by_rule["unknown_site"]["reason"]
    # The batch file is kept for review (its rows were quarantined), beside its camera list.
    kept = Path(rows[0]["file"])
    assert kept.is_file() and (kept.parent / "cameras.json").is_file()


def test_a_redelivered_batch_stores_nothing_twice_and_reaches_the_windows_once(
        live: LiveService) -> None:
    messages = [json.dumps(cctv_event(f"ev-{i}", value=10)).encode() for i in range(30)]
    first = live.ingestor.ingest("cctv", messages)
    again = live.ingestor.ingest(
        "cctv", [*messages[10:], json.dumps(cctv_event("ev-30", value=10)).encode()])

    assert (first.stored, first.duplicates) == (30, 0)
    assert (again.stored, again.duplicates, again.ids) == (1, 20, ["ev-30"])
    assert live.store.count("measurements", "cctv") == 31
    (row,) = live.hub.current().windows["last_60_min"].table.to_pylist()
    assert (row["n"], row["value"]) == (31, 310.0)
    assert [a.ids for a in live.hub.current().arrived] == [("ev-30",)]
    # A committed batch without quarantined rows leaves no file behind.
    assert not list((live.ingestor.staging / "cctv").glob("live-*"))


def test_an_item_that_makes_the_connector_refuse_the_file_does_not_sink_its_neighbours(
        live: LiveService) -> None:
    good = [as_message(police_row(f"MC-{i}")) for i in range(7)]
    poison = json.dumps({"numero_fiche": "MC-X", "": "a column without a name"}).encode()
    result = live.ingestor.ingest("police_log", [*good[:3], poison, *good[3:]])

    assert (result.stored, result.quarantined) == (7, 1) and accounted(result)
    assert len(result.batches) > 1
    (row,) = live.store.quarantined("police_log").to_pylist()
    assert row["rule"] == "refused" and "empty or repeated names" in row["reason"]


def test_without_its_camera_list_every_cctv_message_is_quarantined_saying_so(
        store: Store, tmp_path: Path) -> None:
    ingestor = LiveIngestor(store, LiveHub(), staging=tmp_path / "live",
                            reference=tmp_path / "nowhere", pseudonymiser=KEY)
    result = ingestor.ingest("cctv", [json.dumps(cctv_event(f"ev-{i}")).encode()
                                      for i in range(3)])
    assert (result.read, result.quarantined) == (3, 3)
    assert all("cameras.json" in r["reason"] for r in store.quarantined().to_pylist())
    assert ingestor.missing_references(["cctv"]) == [str(tmp_path / "nowhere/cctv/cameras.json")]


def test_a_gtfs_realtime_message_goes_through_the_transit_connector(live: LiveService) -> None:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = int(NOW.timestamp())
    message.entity.extend([alert("strike", stops=["CAS-1", "STC"]), vehicle("bus-7")])
    result = live.ingestor.ingest("transit", [message.SerializeToString(), b"garbage"])

    assert sorted(result.ids) == ["alert|strike|CAS-1", "alert|strike|STC"]
    assert (result.filtered, result.quarantined) == (1, 1) and accounted(result)
    (row,) = live.store.quarantined("transit").to_pylist()
    assert row["rule"] == "refused" and "not a GTFS-realtime FeedMessage" in row["reason"]
    plate = json.dumps(records(live.store), default=str)
    assert "GH-456-JK" not in plate and "Grève" not in plate


def test_a_whole_native_export_is_one_file(live: LiveService, tmp_path: Path) -> None:
    path = write_police_log(tmp_path / "export", [police_row("MC-1"), police_row("MC-2")])
    result = live.ingestor.ingest_file("police_log", path.read_bytes())
    assert (result.stored, result.ids) == (2, ["MC-1", "MC-2"])


def test_window_rows_count_only_what_was_stored(live: LiveService) -> None:
    live.ingestor.ingest("cctv", [json.dumps(cctv_event("a", kind="fall", value=None,
                                                        camera="cam-b")).encode()])
    table: pa.Table = live.hub.current().windows["current_hour"].table
    assert table.select(["source", "metric", "category", "n"]).to_pylist() == [
        {"source": "cctv", "metric": "incidents", "category": "fall", "n": 1}]
