"""GTFS-realtime through the transit connector: alerts → disruptions at stops, trip updates →
delays, vehicle positions and alert texts dropped, exact accounting, idempotent re-ingest.

Every feed here is a real binary FeedMessage built with the reference bindings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from belvedere.errors import SourceError
from belvedere.sources.base import ParsedFile
from belvedere.sources.ingest import ingest_folder
from belvedere.sources.transit import Transit
from belvedere.store.base import Store
from tests import rawsql
from tests.sources.test_transit import KEY, cell, gtfs_files, write_gtfs, write_validations

NOW = datetime(2024, 3, 2, 16, 50, tzinfo=UTC)  # 17:50 in Marseille
SECRET = "Grève: contactez M. Jean Dupont au 06 12 34 56 78"


def posix(text: str) -> int:
    """POSIX seconds of an ISO time with offset."""
    return int(datetime.fromisoformat(text).timestamp())


def alert(entity_id: str, *, stops: Iterable[str] = (), routes: Iterable[str] = (),
          stop_route: str = "", start: str | None = "2024-03-02T17:45:00+01:00",
          end: str | None = "2024-03-02T19:00:00+01:00", text: str = SECRET,
          effect: rt.Alert.Effect = rt.Alert.NO_SERVICE,
          cause: rt.Alert.Cause = rt.Alert.STRIKE) -> rt.FeedEntity:
    """An alert entity informing ``stops`` (with ``stop_route``) and ``routes``, with free text."""
    entity = rt.FeedEntity(id=entity_id)
    a = entity.alert
    a.effect, a.cause, a.severity_level = effect, cause, rt.Alert.SEVERE
    if start or end:
        period = a.active_period.add()
        if start:
            period.start = posix(start)
        if end:
            period.end = posix(end)
    for stop in stops:
        a.informed_entity.add(stop_id=stop, route_id=stop_route)
    for route in routes:
        a.informed_entity.add(route_id=route)
    if text:
        for field in (a.header_text, a.description_text):
            field.translation.add(text=text, language="fr")
    return entity


def trip_update(entity_id: str, trip_id: str, updates: list[dict[str, object]], *,
                start_date: str = "20240302", plate: str = "") -> rt.FeedEntity:
    """A trip update; each update dict holds ``seq``, ``stop``, and ``arrival``/``departure``
    dicts of ``delay``/``time``."""
    entity = rt.FeedEntity(id=entity_id)
    tu = entity.trip_update
    tu.trip.trip_id = trip_id
    if start_date:
        tu.trip.start_date = start_date
    if plate:
        tu.vehicle.id, tu.vehicle.license_plate = "bus-7", plate
    for u in updates:
        stu = tu.stop_time_update.add()
        if "seq" in u:
            stu.stop_sequence = int(u["seq"])  # type: ignore[call-overload]
        if "stop" in u:
            stu.stop_id = str(u["stop"])
        for kind in ("arrival", "departure"):
            if kind in u:
                getattr(stu, kind).CopyFrom(rt.TripUpdate.StopTimeEvent(**u[kind]))  # type: ignore[arg-type]
    return entity


def vehicle(entity_id: str, plate: str = "GH-456-JK") -> rt.FeedEntity:
    """A vehicle position (with a licence plate, which must never be kept)."""
    entity = rt.FeedEntity(id=entity_id)
    v = entity.vehicle
    v.vehicle.id, v.vehicle.license_plate = entity_id, plate
    v.position.latitude, v.position.longitude = 43.2962, 5.3747
    v.timestamp = int(NOW.timestamp())
    return entity


def write_feed(folder: Path, entities: list[rt.FeedEntity], name: str = "feed-1.pb",
               timestamp: datetime | None = NOW) -> Path:
    """``folder/realtime/<name>``: a FeedMessage of ``entities``."""
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    if timestamp is not None:
        message.header.timestamp = int(timestamp.timestamp())
    message.entity.extend(entities)
    path = folder / "realtime" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(message.SerializeToString())
    return path


def read(tmp_path: Path, entities: list[rt.FeedEntity], *, schedule: bool = True,
         timestamp: datetime | None = NOW) -> ParsedFile:
    """Write a GTFS (with or without trips/stop_times) and a feed, and read the feed."""
    write_gtfs(tmp_path, gtfs_files(schedule=schedule))
    return Transit().read(write_feed(tmp_path, entities, timestamp=timestamp), KEY)


def accounted(parsed: ParsedFile) -> int:
    """Rows the parse accounts for: records + quarantined + filtered."""
    return (sum(t.num_rows for t in parsed.records.values()) + parsed.quarantine.num_rows
            + parsed.rows_filtered)


def test_alerts_at_stops_become_disruptions_at_the_stop_cell_zone_and_utc_time(
        tmp_path: Path) -> None:
    parsed = read(tmp_path, [alert("A1", stops=["STC", "VPO"], stop_route="M1")])
    rows = parsed.records["incidents"].to_pylist()
    assert [r["source_id"] for r in rows] == ["alert|A1|STC", "alert|A1|VPO"]
    stc = rows[0]
    assert (stc["category"], stc["source_category"], stc["origin"], stc["severity"]) == (
        "transit_disruption", "NO_SERVICE/STRIKE", "sensor", 3)
    assert stc["ts"].isoformat() == "2024-03-02T16:45:00+00:00"
    assert (stc["cell"], stc["zone"]) == (cell("43.3025", "5.3807"), "13201")
    assert (stc["lat"], stc["lon"]) == (43.3025, 5.3807)
    assert json.loads(stc["attrs"]) == {"route_id": "M1",
                                        "active_until": "2024-03-02T18:00:00+00:00"}
    assert rows[1]["cell"] == cell("43.2962", "5.3747")
    assert parsed.minimised == {"dropped:alert_text": 1}
    assert parsed.records["measurements"].num_rows == 0


def test_alert_without_a_period_starts_at_the_feed_time_and_is_open_ended(
        tmp_path: Path) -> None:
    parsed = read(tmp_path, [alert("A1", stops=["STC"], start=None, end=None,
                                   effect=rt.Alert.DETOUR, cause=rt.Alert.CONSTRUCTION)])
    (row,) = parsed.records["incidents"].to_pylist()
    assert row["ts"] == NOW and row["source_category"] == "DETOUR/CONSTRUCTION"
    assert json.loads(row["attrs"]) == {"route_id": None, "active_until": None}
    no_time = read(tmp_path, [alert("A2", stops=["STC"], start=None, end=None)], timestamp=None)
    (q,) = no_time.quarantine.to_pylist()
    assert (q["line"], q["rule"]) == (1, "bad_time")


def test_route_alert_is_placed_at_every_stop_the_route_serves(tmp_path: Path) -> None:
    parsed = read(tmp_path, [alert("A1", routes=["M1"], effect=rt.Alert.REDUCED_SERVICE,
                                   cause=rt.Alert.TECHNICAL_PROBLEM)])
    rows = parsed.records["incidents"].to_pylist()
    # CAS-1 and CAS-2 are platforms of one station: one disruption there, not two.
    assert [r["source_id"] for r in rows] == ["alert|A1|STA-CAS", "alert|A1|STC", "alert|A1|VPO"]
    assert {json.loads(r["attrs"])["route_id"] for r in rows} == {"M1"}
    assert {r["source_category"] for r in rows} == {"REDUCED_SERVICE/TECHNICAL_PROBLEM"}


def test_route_alert_without_trips_has_no_place_and_is_quarantined(tmp_path: Path) -> None:
    parsed = read(tmp_path, [vehicle("V1"), alert("A1", routes=["M1"])], schedule=False)
    assert parsed.records["incidents"].num_rows == 0
    (q,) = parsed.quarantine.to_pylist()
    assert (q["line"], q["rule"]) == (2, "no_place")
    assert "M1" in q["reason"] and "trips.txt" in q["reason"]
    assert json.loads(q["raw"]) == {"entity_id": "A1", "effect": "NO_SERVICE",
                                    "cause": "STRIKE", "route_ids": ["M1"], "stop_ids": []}


def test_alert_text_never_reaches_the_records_the_quarantine_or_the_store(
        tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "transports"
    write_gtfs(folder)
    write_feed(folder, [
        alert("A1", stops=["STC"]),                    # stored
        alert("A2", stops=["NOPE"]),                   # quarantined: unknown stop
        alert("A3"),                                   # quarantined: informs nothing
        alert("A4", stops=["STC"], start=None, end=None),  # stored at the feed's time
    ])
    parsed = Transit().read(folder / "realtime" / "feed-1.pb", KEY)
    assert parsed.minimised["dropped:alert_text"] == 4
    dumped = json.dumps([t.to_pylist() for t in parsed.records.values()]
                        + [parsed.quarantine.to_pylist(), parsed.notes], default=str)
    ingest_folder(store, tmp_path, sources=["transit"])
    stored = json.dumps([rawsql.query(store, f"SELECT * FROM {t}")
                         for t in ("incidents", "measurements", "quarantine", "ingest_batches")],
                        default=str)
    for text in (dumped, stored):
        assert "alert|A1|STC" in text
        assert "Dupont" not in text and "Grève" not in text and "06 12" not in text


def test_trip_updates_become_delays_at_the_stop(tmp_path: Path) -> None:
    def at(local: str) -> int:
        return posix(local + "+01:00")

    parsed = read(tmp_path, [trip_update("TU1", "T1", [
        # delay and time both given
        {"seq": 1, "stop": "CAS-1", "arrival": {"delay": 60, "time": at("2024-03-02T17:41:00")}},
        # delay only: time = scheduled 17:44 + 2 min; the stop comes from stop_times
        {"seq": 2, "arrival": {"delay": 120}},
        # departure time only: delay = 17:50:30 − scheduled 17:47:30; after the feed: predicted
        {"seq": 3, "stop": "VPO", "departure": {"time": at("2024-03-02T17:50:30")}},
    ], plate="AB-123-CD"), trip_update("TU2", "T2", [
        # 25:10 on the service day of 2 March is 01:10 on 3 March
        {"seq": 1, "arrival": {"delay": 30}},
    ]), trip_update("TU3", "T3", [
        # 08:00 on 31 March (clocks go forward at 02:00) is 06:00 UTC, not 07:00
        {"seq": 1, "arrival": {"delay": 0}},
    ], start_date="20240331")])
    rows = parsed.records["measurements"].to_pylist()
    assert [(r["source_id"], r["site"], r["start"].isoformat(), r["value"], r["flags"])
            for r in rows] == [
        ("delay|T1|20240302|1", "CAS-1", "2024-03-02T16:41:00+00:00", 60.0, ""),
        ("delay|T1|20240302|2", "STC", "2024-03-02T16:46:00+00:00", 120.0, ""),
        ("delay|T1|20240302|3", "VPO", "2024-03-02T16:50:30+00:00", 180.0, "predicted"),
        ("delay|T2|20240302|1", "VPO", "2024-03-03T00:10:30+00:00", 30.0, "predicted"),
        ("delay|T3|20240331|1", "TIM", "2024-03-31T06:00:00+00:00", 0.0, "predicted"),
    ]
    first = rows[0]
    assert (first["metric"], first["category"], first["zone"]) == ("delay_s", "M1", "13206")
    assert (first["end"] - first["start"]).total_seconds() == 60
    assert first["cell"] == cell("43.2858", "5.3835")
    assert parsed.minimised == {"dropped:trip_vehicle": 1}
    assert "AB-123-CD" not in json.dumps(rows, default=str)


def test_vehicle_positions_are_counted_as_dropped_and_never_kept(tmp_path: Path) -> None:
    parsed = read(tmp_path, [vehicle("V1"), vehicle("V2"), alert("A1", stops=["STC"])])
    assert parsed.minimised["dropped:vehicle_position"] == 2
    assert parsed.rows_filtered == 2 and parsed.rows_read == 3
    assert parsed.records["incidents"].num_rows == 1
    assert parsed.records["measurements"].num_rows == 0
    assert "left out: 2 × vehicle position" in parsed.notes
    assert "GH-456-JK" not in json.dumps(parsed.records["incidents"].to_pylist(), default=str)


def test_entities_naming_unknown_stops_or_no_time_are_quarantined_with_their_index(
        tmp_path: Path) -> None:
    parsed = read(tmp_path, [
        vehicle("V1"),
        alert("A1", stops=["STC", "NOPE"]),
        trip_update("TU1", "T1", [{"stop": "NOPE2", "arrival": {"delay": 5}}]),
        trip_update("TU3", "T3", [{"seq": 2, "arrival": {"delay": 5}}]),  # S9: no coordinates
        trip_update("TU4", "T1", [{"seq": 9, "arrival": {"delay": 5}}]),  # no such sequence
        trip_update("TU5", "T1", [{"seq": 1, "stop": "CAS-1"}]),          # no time at all
        trip_update("TU6", "T1", [{"seq": 1, "arrival": {"delay": 5}}], start_date=""),
        trip_update("TU7", "", [{"seq": 1, "arrival": {"delay": 5}}]),
    ])
    q = parsed.quarantine.to_pylist()
    assert [(r["line"], r["rule"]) for r in q] == [
        (2, "unknown_site"), (3, "unknown_site"), (4, "unknown_site"), (5, "unknown_site"),
        (6, "bad_time"), (7, "bad_time"), (8, "no_id"),
    ]
    assert q[0]["reason"] == "stop NOPE is not in gtfs.zip stops.txt"
    assert json.loads(q[0]["raw"])["stop_ids"] == ["NOPE"]
    assert "no valid coordinates" in q[2]["reason"]
    assert "stop_sequence 9 is not in gtfs.zip stop_times.txt for trip T1" in q[3]["reason"]
    assert "start_date" in q[5]["reason"]
    assert [r["source_id"] for r in parsed.records["incidents"].to_pylist()] == ["alert|A1|STC"]


def test_a_file_that_is_not_a_feed_message_is_refused_naming_it(tmp_path: Path) -> None:
    write_gtfs(tmp_path)
    for name, data in (("corrupt.pb", b"\x0a\xff\xff garbage"), ("empty.pb", b"")):
        path = tmp_path / "realtime" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        with pytest.raises(SourceError, match="not a GTFS-realtime FeedMessage") as caught:
            Transit().read(path, KEY)
        assert caught.value.file == str(path) and name in str(caught.value)


def test_every_row_is_stored_quarantined_or_filtered_exactly_once(tmp_path: Path) -> None:
    deleted = rt.FeedEntity(id="D1", is_deleted=True)
    cancelled = trip_update("TU9", "T2", [])
    cancelled.trip_update.trip.schedule_relationship = rt.TripDescriptor.CANCELED
    skipped = trip_update("TU8", "T1", [{"seq": 1, "arrival": {"delay": 0}}, {"seq": 2}])
    skipped.trip_update.stop_time_update[1].schedule_relationship = (
        rt.TripUpdate.StopTimeUpdate.SKIPPED)
    parsed = read(tmp_path, [
        alert("A1", routes=["M1"]),               # 3 stops → 3 rows
        alert("A2", stops=["STC", "NOPE", "S9"]), # 1 stored + 2 quarantined
        alert("A3"),                              # 1 quarantined (no place)
        skipped,                                  # 1 stored + 1 filtered
        cancelled, deleted, vehicle("V1"),        # 3 filtered
        rt.FeedEntity(id="X1"),                   # empty entity: 1 filtered
    ])
    assert parsed.records["incidents"].num_rows == 4
    assert parsed.records["measurements"].num_rows == 1
    assert parsed.quarantine.num_rows == 3 and parsed.rows_filtered == 5
    assert parsed.rows_read == accounted(parsed) == 13


def test_ingesting_the_transit_folder_twice_stores_nothing_the_second_time(
        tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "transports"
    write_gtfs(folder)
    write_validations(folder, ["STC,2024-03-02,17,120", "XXX,2024-03-02,17,1"])
    write_feed(folder, [alert("A1", stops=["STC", "NOPE"]), vehicle("V1"),
                        trip_update("TU1", "T1", [{"seq": 2, "arrival": {"delay": 90}}])])
    first = ingest_folder(store, tmp_path, sources=["transit"])
    assert not first.refused
    assert first.totals()["transit"] == {"files": 2, "read": 6, "stored": 3, "duplicates": 0,
                                         "quarantined": 2, "filtered": 1}
    (rt_batch,) = [b for b in first.batches if str(b.file).endswith(".pb")]
    assert rt_batch.quarantine_rules == {"unknown_site": 1}
    assert rt_batch.minimised == {"dropped:alert_text": 1, "dropped:vehicle_position": 1}
    second = ingest_folder(store, tmp_path, sources=["transit"])
    assert second.stored == 0
    assert second.totals()["transit"]["duplicates"] == 3
    assert store.count("incidents", "transit") == 1 and store.count("measurements", "transit") == 2
    assert {r["site_id"] for r in store.sites().to_pylist()} >= {"STC", "VPO", "STA-CAS"}
