"""The store contract: every method of :class:`belvedere.store.base.Store`, checked the same way
on every backend — a real DuckDB file and a fresh PostgreSQL database (``contract_store``,
``tests/store/conftest.py``). Only the protocol is used (no backend's private attributes), with
fixed times and exact figures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

import h3
import pyarrow as pa
import pytest

from belvedere.errors import StoreError
from belvedere.grid.places import HOSPITALS
from belvedere.grid.records import Incident, PlannedEvent, to_table
from belvedere.privacy.audit import GENESIS, pseudonym, record, verify
from belvedere.sources.sites import sites_table
from belvedere.store.base import (
    SITUATION_COLUMNS,
    ApiTokenRow,
    AuditHead,
    AuditRow,
    BatchInput,
    PurgeReceipt,
    PurgeRule,
    SituationQuery,
    Store,
    UserRow,
    empty_quarantine,
)
from belvedere.store.factory import open_store
from belvedere.store.migrations import MIGRATIONS
from belvedere.store.purge import receipt_digest
from tests.store.records import (
    T0,
    VELODROME_CELL,
    VELODROME_CELL8,
    VELODROME_ZONE,
    VIEUX_PORT_CELL,
    VIEUX_PORT_ZONE,
    alert,
    audit_line,
    batch,
    incident,
    ledger_row,
    measurement,
    planned_event,
)

H = timedelta(hours=1)
M = timedelta(minutes=1)
V9, P9, V8 = (h3.int_to_str(c) for c in (VELODROME_CELL, VIEUX_PORT_CELL, VELODROME_CELL8))
T = TypeVar("T")


def rows(table: pa.Table, *columns: str) -> list[tuple[Any, ...]]:
    """``columns`` of every row, in the order the store returned them."""
    return [tuple(r[c] for c in columns) for r in table.to_pylist()]


def json_value(value: Any) -> Any:
    """A JSON column as Python (text on DuckDB; a backend may hand it over decoded)."""
    return json.loads(value) if isinstance(value, str) else value


def local(day: int, hour: int) -> datetime:
    """A naive Marseille wall-clock time in September 2024 (situation bins are local)."""
    return datetime(2024, 9, day, hour)


# -- schema, reopening, close ---------------------------------------------------------------------

def test_migrations_apply_once_and_a_reopened_store_keeps_its_data(
        contract_url: str, backend_name: str) -> None:
    newest = MIGRATIONS[-1][0]
    db = open_store(contract_url)
    assert db.deployment.kind == backend_name
    assert db.schema_version() == newest
    assert db.migrate() == []
    db.append_batch(batch(incidents=[incident(1)]))
    db.close()
    again = open_store(contract_url)
    assert again.migrate() == [] and again.schema_version() == newest
    assert again.count("incidents") == 1 and again.batches().num_rows == 1
    again.close()


# -- ingest: batches, duplicates, quarantine, accounting, cursors ---------------------------------

def test_append_skips_known_keys_across_and_inside_batches(contract_store: Store) -> None:
    db = contract_store
    twin = dataclasses.replace(incident(2), category="assault")  # same key: the first stays
    first = db.append_batch(batch(incidents=[incident(1), incident(2), twin]))
    second = db.append_batch(batch(file="g.csv", incidents=[incident(1), incident(3)]))
    # The same source_id from another source is another record.
    third = db.append_batch(batch("fire_ems", None, incidents=[incident(1, source="fire_ems")]))
    assert [(r.batch_id, r.source, r.file, r.rows_read, r.rows_stored, r.rows_duplicate)
            for r in (first, second, third)] == [
        (1, "police_log", "f.csv", 3, 2, 1), (2, "police_log", "g.csv", 2, 1, 1),
        (3, "fire_ems", None, 1, 1, 0)]
    assert db.count("incidents") == 4
    assert rows(db.batches(), "batch_id", "source", "file", "rows_read", "rows_stored",
                "rows_duplicate", "rows_quarantined", "rows_filtered", "status") == [
        (1, "police_log", "f.csv", 3, 2, 1, 0, 0, "done"),
        (2, "police_log", "g.csv", 2, 1, 1, 0, 0, "done"),
        (3, "fire_ems", None, 1, 1, 0, 0, 0, "done")]
    assert sorted(rows(db.incident_points(("police_log",)), "category")) == [
        ("theft",), ("theft",), ("theft",)]


def test_batch_source_ids_are_what_each_batch_stored(contract_store: Store) -> None:
    db = contract_store
    db.append_batch(batch(incidents=[incident(1), incident(2)],
                          measurements=[measurement(1, T0)]))
    db.append_batch(batch(incidents=[incident(2), incident(3)],
                          planned_events=[planned_event("e1", T0)]))
    db.append_batch(batch(incidents=[incident(1)]))  # only duplicates

    def stored(batch_id: int) -> dict[str, list[str]]:
        ids = db.batch_source_ids(batch_id)
        assert set(ids) <= {"incidents", "measurements", "planned_events"}
        return {kind: sorted(v) for kind, v in ids.items() if v}

    assert stored(1) == {"incidents": ["MC-1", "MC-2"], "measurements": ["m1"]}
    assert stored(2) == {"incidents": ["MC-3"], "planned_events": ["e1"]}
    assert stored(3) == {}
    assert stored(99) == {}


def test_batches_after_a_number_and_a_batchs_records_from_a_time(contract_store: Store) -> None:
    db = contract_store
    first = db.append_batch(batch(incidents=[incident(1, -30), incident(2, 10)],
                                  measurements=[measurement(1, T0 - timedelta(hours=2)),
                                                measurement(2, T0)]))
    second = db.append_batch(batch("mobile_presence", "m.csv", incidents=[incident(1)],
                                   measurements=[measurement(3, T0 + timedelta(minutes=5))]))
    assert db.batches(after=None)["batch_id"].to_pylist() == [first.batch_id, second.batch_id]
    assert db.batches(after=first.batch_id)["batch_id"].to_pylist() == [second.batch_id]
    assert db.batches(after=second.batch_id).num_rows == 0
    started = db.batches()["started_at"].to_pylist()
    assert db.batches(since=started[1])["batch_id"].to_pylist() == [second.batch_id]
    assert db.batches(since=started[1] + timedelta(days=1)).num_rows == 0
    assert db.batches(after=first.batch_id, since=started[0])["batch_id"].to_pylist() == [
        second.batch_id]

    held = db.batch_records(first.batch_id, since=T0)
    assert set(held) == {"incidents", "measurements"}
    assert held["incidents"]["source_id"].to_pylist() == ["MC-2"]
    assert held["measurements"]["source_id"].to_pylist() == ["m2"]
    assert held["incidents"]["ts"].to_pylist() == [T0 + timedelta(minutes=10)]
    assert {"cell", "zone", "category", "source"} <= set(held["incidents"].column_names)
    assert {"start", "metric", "value"} <= set(held["measurements"].column_names)
    # A batch's duplicates are not its records: incident MC-1 was the first batch's.
    later = db.batch_records(second.batch_id, since=T0 - timedelta(days=1))
    assert later["incidents"].num_rows == 0
    assert later["measurements"]["source_id"].to_pylist() == ["m3"]


def test_a_batch_that_fails_midway_leaves_nothing_behind(contract_store: Store) -> None:
    db = contract_store
    good = to_table(Incident, [incident(1)])
    broken = pa.table({"source": ["cctv"]})  # not a measurements table: fails after incidents
    # Whatever the backend raises, nothing of the batch may stay.
    with pytest.raises(Exception):  # noqa: B017
        db.append_batch(BatchInput(source="police_log", file="f.csv",
                                   records={"incidents": good, "measurements": broken},
                                   quarantine=empty_quarantine(), rows_read=2))
    assert db.count("incidents") == 0
    assert db.batches().num_rows == 0 and db.cursors().num_rows == 0


def test_a_connector_that_lost_count_is_refused_and_nothing_is_stored(
        contract_store: Store) -> None:
    db = contract_store
    # 2 stored + 1 quarantined + 1 filtered out of 3 rows read: one row came from nowhere.
    with pytest.raises(StoreError, match="lost count"):
        db.append_batch(batch(incidents=[incident(1), incident(2)],
                              rejected=[(4, "bad_time", "no date", "x;;")], rows_filtered=1,
                              rows_read=3))
    assert db.count("incidents") == 0
    assert db.batches().num_rows == 0
    assert db.quarantined().num_rows == 0
    assert db.cursors().num_rows == 0
    assert db.batch_source_ids(1).get("incidents", []) == []


def test_rows_filtered_on_purpose_are_counted_apart_from_duplicates(
        contract_store: Store) -> None:
    db = contract_store
    minimised = {"dropped:recit": 4, "redacted:phone": 1}
    notes = ("encoding detected: latin-1",)
    # 7 rows read: 2 stored, 1 quarantined, 3 filtered out by the mapping, so 1 duplicate.
    result = db.append_batch(batch(incidents=[incident(1), incident(2)],
                                   rejected=[(7, "bad_time", "no date", "z;;")],
                                   rows_filtered=3, rows_read=7, minimised=minimised,
                                   notes=notes))
    assert (result.rows_read, result.rows_stored, result.rows_quarantined,
            result.rows_filtered, result.rows_duplicate) == (7, 2, 1, 3, 1)
    assert result.quarantine_rules == {"bad_time": 1}
    assert result.minimised == minimised and result.notes == list(notes)
    (logged,) = db.batches().to_pylist()
    assert (logged["rows_read"], logged["rows_stored"], logged["rows_quarantined"],
            logged["rows_filtered"], logged["rows_duplicate"]) == (7, 2, 1, 3, 1)
    assert json_value(logged["minimised"]) == minimised
    assert json_value(logged["notes"]) == list(notes)


QUARANTINE_COLUMNS = ("batch_id", "source", "file", "line", "rule", "reason", "raw", "status")
BAD_TIME = (2, "bad_time", "no date", "x;;")
NO_PLACE = (5, "no_place", "no address", "y;;")


def quarantined(table: pa.Table) -> list[tuple[Any, ...]]:
    return sorted(rows(table, *QUARANTINE_COLUMNS), key=lambda r: (r[0], r[2] or "", r[3]))


def test_quarantine_keeps_a_rejected_row_once_and_a_retry_supersedes_it(
        contract_store: Store) -> None:
    db = contract_store
    first = db.append_batch(batch(incidents=[incident(1)], rejected=[BAD_TIME, NO_PLACE]))
    assert (first.rows_read, first.rows_stored, first.rows_quarantined,
            first.rows_duplicate) == (3, 1, 2, 0)
    assert first.quarantine_rules == {"bad_time": 1, "no_place": 1}
    f1 = [(1, "police_log", "f.csv", *BAD_TIME, "open"), (1, "police_log", "f.csv", *NO_PLACE,
                                                             "open")]
    assert quarantined(db.quarantined()) == f1

    # The same file read again: its rows are rejected again, but not kept twice.
    again = db.append_batch(batch(incidents=[incident(1)], rejected=[BAD_TIME, NO_PLACE]))
    assert (again.rows_stored, again.rows_duplicate, again.rows_quarantined) == (0, 1, 2)
    assert quarantined(db.quarantined()) == f1
    # The same row in another file is another rejection.
    db.append_batch(batch(file="g.csv", rejected=[BAD_TIME]))
    g3 = (3, "police_log", "g.csv", *BAD_TIME, "open")
    assert quarantined(db.quarantined()) == [*f1, g3]

    # Retrying f.csv: its open rows are marked retried; the one still bad comes back open.
    retry = db.append_batch(batch(incidents=[incident(1), incident(5, 5)], rejected=[BAD_TIME],
                                  retry=True))
    assert (retry.batch_id, retry.rows_stored, retry.rows_duplicate,
            retry.rows_quarantined) == (4, 1, 1, 1)
    assert quarantined(db.quarantined(status="open")) == [
        g3, (4, "police_log", "f.csv", *BAD_TIME, "open")]
    assert quarantined(db.quarantined(status="retried")) == [
        (*r[:-1], "retried") for r in f1]
    assert quarantined(db.quarantined("police_log", rule="no_place")) == [
        (1, "police_log", "f.csv", *NO_PLACE, "retried")]
    assert quarantined(db.quarantined(rule="bad_time", status="open")) == [
        g3, (4, "police_log", "f.csv", *BAD_TIME, "open")]
    assert db.quarantined("fire_ems").num_rows == 0
    assert db.quarantined().num_rows == 4


def test_cursors_keep_the_newest_time_and_the_last_file_and_batch(contract_store: Store) -> None:
    db = contract_store
    assert db.cursors().num_rows == 0
    db.append_batch(batch(file="a.csv", incidents=[incident(1, 10), incident(2, 70)]))
    db.append_batch(batch(file="b.csv", incidents=[incident(3, -24 * 60)]))  # older records
    db.append_batch(batch(file="c.csv", rejected=[BAD_TIME]))  # nothing stored
    db.append_batch(batch("mobile_presence", None,
                          measurements=[measurement(1, T0), measurement(2, T0 + 2 * H)]))
    assert rows(db.cursors(), "source", "last_ts", "last_file", "last_batch") == [
        ("mobile_presence", T0 + 2 * H, None, 4),  # a measurement's time is its start
        ("police_log", T0 + 70 * M, "c.csv", 3)]


# -- reference sites ------------------------------------------------------------------------------

def test_upsert_sites_inserts_and_replaces_by_id(contract_store: Store) -> None:
    db = contract_store
    assert db.sites().num_rows == 0
    a, b, c = (HOSPITALS[k] for k in ("timone", "nord", "conception"))
    db.upsert_sites(sites_table([a, b]))
    renamed = dataclasses.replace(b, name="Hôpital Nord (renamed)")
    db.upsert_sites(sites_table([renamed, c]))
    expected = sorted(sites_table([a, renamed, c]).to_pylist(), key=lambda s: s["site_id"])
    assert db.sites().to_pylist() == expected
    assert [s["name"] for s in expected if s["site_id"] == "nord"] == ["Hôpital Nord (renamed)"]


# -- counts and periods ---------------------------------------------------------------------------

def test_count_by_kind_and_source(contract_store: Store) -> None:
    db = contract_store
    assert db.count("incidents") == 0 and db.counts_by_source() == {}
    db.append_batch(batch(incidents=[incident(1), incident(2)]))
    db.append_batch(batch("fire_ems", incidents=[incident(1, source="fire_ems")]))
    db.append_batch(batch("mobile_presence", measurements=[measurement(1, T0),
                                                           measurement(2, T0 + H)]))
    db.append_batch(batch("events", planned_events=[planned_event("e1", T0)]))
    assert db.count("incidents") == 3
    assert db.count("incidents", "police_log") == 2
    assert db.count("incidents", "fire_ems") == 1
    assert db.count("incidents", "mobile_presence") == 0
    assert db.count("measurements") == 2 and db.count("measurements", "mobile_presence") == 2
    assert db.count("planned_events") == 1 and db.count("planned_events", "events") == 1
    assert db.counts_by_source() == {"police_log": 2, "fire_ems": 1, "mobile_presence": 2,
                                     "events": 1}


def test_counts_by_source_adds_up_the_kinds_of_one_source(contract_store: Store) -> None:
    db = contract_store
    # The cameras report both events (incidents) and people counts (measurements).
    db.append_batch(batch("cctv", incidents=[incident(1, source="cctv", origin="sensor")],
                          measurements=[measurement(1, T0, source="cctv", metric="people_count"),
                                        measurement(2, T0 + H, source="cctv",
                                                    metric="people_count")]))
    db.append_batch(batch(incidents=[incident(1)]))
    assert db.counts_by_source() == {"cctv": 3, "police_log": 1}


def test_data_period_spans_incidents_and_measurements(contract_store: Store) -> None:
    db = contract_store
    assert db.data_period() is None
    db.append_batch(batch(incidents=[incident(1, 5), incident(2, 70)]))
    db.append_batch(batch("events", planned_events=[planned_event("later", T0 + 10 * 24 * H)]))
    assert db.data_period() == (T0 + 5 * M, T0 + 70 * M)
    db.append_batch(batch("mobile_presence", measurements=[
        measurement(1, T0 - H), measurement(2, T0 + 2 * H, minutes=120)]))
    period = db.data_period()
    # From the first incident or window start to the last incident or window end, in UTC
    # (planned events are plans, not data held).
    assert period == (T0 - H, T0 + 4 * H)
    assert period is not None and all(t.utcoffset() == timedelta(0) for t in period)


# -- reads for models -----------------------------------------------------------------------------

def test_planned_events_overlapping_a_window(contract_store: Store) -> None:
    db = contract_store
    events = {e.source_id: e for e in (
        planned_event("before", T0 - 2 * H, 2),   # ends when the window starts
        planned_event("match", T0, 2),
        planned_event("concert", T0 + 3 * H, 2),
        planned_event("night", T0 + 5 * H, 3),
    )}
    db.append_batch(batch("events", None, planned_events=list(events.values())))

    def overlapping(start: datetime, end: datetime) -> list[str]:
        return [r["source_id"] for r in db.planned_events(start, end).to_pylist()]

    assert overlapping(T0 + H, T0 + 4 * H) == ["match", "concert"]  # by start
    assert overlapping(T0 + 5 * H, T0 + 6 * H) == ["night"]  # "concert" ends at 5 h
    assert overlapping(T0 - 3 * H, T0) == ["before"]  # "match" starts at the end
    assert overlapping(T0 + 9 * H, T0 + 10 * H) == []
    fields = [f.name for f in dataclasses.fields(PlannedEvent)]
    for row in db.planned_events(T0 - 3 * H, T0 + 9 * H).to_pylist():
        assert {f: row[f] for f in fields} == dataclasses.asdict(events[row["source_id"]])


def test_incident_points_on_cells_by_source_and_time(contract_store: Store) -> None:
    db = contract_store
    db.append_batch(batch(incidents=[
        incident(1, 10),
        incident(2, 70, cell=VIEUX_PORT_CELL, zone=VIEUX_PORT_ZONE, category="assault",
                 origin="discovered_by_patrol"),
        incident(3, 30, cell=None),  # known only to its zone: on no cell
    ]))
    db.append_batch(batch("fire_ems", incidents=[
        incident(1, 40, source="fire_ems", category="fire", origin="fire_ems")]))
    columns = ("cell", "ts", "category", "origin", "source")
    every = db.incident_points()
    assert tuple(every.column_names) == columns
    assert rows(every, *columns) == [
        (VELODROME_CELL, T0 + 10 * M, "theft", "reported_by_public", "police_log"),
        (VELODROME_CELL, T0 + 40 * M, "fire", "fire_ems", "fire_ems"),
        (VIEUX_PORT_CELL, T0 + 70 * M, "assault", "discovered_by_patrol", "police_log")]

    def times(table: pa.Table) -> list[datetime]:
        return [r["ts"] for r in table.to_pylist()]

    assert times(db.incident_points(("police_log",))) == [T0 + 10 * M, T0 + 70 * M]
    assert times(db.incident_points(("fire_ems", "nobody"))) == [T0 + 40 * M]
    assert times(db.incident_points(start=T0 + 40 * M)) == [T0 + 40 * M, T0 + 70 * M]
    assert times(db.incident_points(end=T0 + 40 * M)) == [T0 + 10 * M]
    assert times(db.incident_points(("police_log",), start=T0 + 11 * M,
                                    end=T0 + 71 * M)) == [T0 + 70 * M]


def test_measurement_points_of_one_metric_on_cells(contract_store: Store) -> None:
    db = contract_store
    db.append_batch(batch("mobile_presence", measurements=[
        measurement(1, T0, value=100.0),
        measurement(2, T0 + H, value=None),  # suppressed at source: no figure
        measurement(3, T0 + 2 * H, value=50.0, cell=None),  # on no cell
        measurement(4, T0 - H, value=30.0, cell=VELODROME_CELL),
        measurement(5, T0, value=7.0, metric="people_count"),
    ]))
    points = db.measurement_points("crowd_count")
    assert tuple(points.column_names) == ("cell", "ts", "value")
    assert rows(points, "cell", "ts", "value") == [
        (VELODROME_CELL, T0 - H, 30.0), (VELODROME_CELL8, T0, 100.0)]
    assert rows(db.measurement_points("people_count"), "value") == [(7.0,)]
    assert db.measurement_points("boardings").num_rows == 0


# -- the situation --------------------------------------------------------------------------------

SITUATION_WINDOW = (T0, T0 + 6 * H)


def fill_situation(db: Store) -> None:
    """Seven incidents and three crowd windows around the Vélodrome and the Vieux-Port."""
    db.append_batch(batch(incidents=[
        incident(1, 0), incident(2, 20), incident(3, 70, category="assault"),
        incident(4, 5, cell=VIEUX_PORT_CELL, zone=VIEUX_PORT_ZONE),
        incident(5, 270),  # 22:30 UTC: 00:30 the next local day
        incident(6, 30, cell=None, zone=VIEUX_PORT_ZONE, time_precision="day"),
    ]))
    db.append_batch(batch("fire_ems", incidents=[
        incident(7, 10, source="fire_ems", cell=VIEUX_PORT_CELL, zone=VIEUX_PORT_ZONE,
                 category="fire", origin="fire_ems")]))
    db.append_batch(batch("mobile_presence", None, measurements=[
        measurement(1, T0, value=1200.0), measurement(2, T0 + H, value=None),
        measurement(3, T0 + 2 * H, value=800.0)]))


def situation(db: Store, **query: Any) -> list[tuple[Any, ...]]:
    window = query.pop("window", SITUATION_WINDOW)
    table = db.situation(SituationQuery(*window, **query))
    assert tuple(table.column_names) == SITUATION_COLUMNS
    return sorted(rows(table, *SITUATION_COLUMNS))


def test_situation_by_cell_and_local_hour(contract_store: Store) -> None:
    fill_situation(contract_store)
    # The day-precision incident has no hour, and no cell; the suppressed window no figure;
    # the resolution-8 crowd cell stays at resolution 8 when 9 is asked.
    assert situation(contract_store, level="cell", resolution=9, bin="hour") == sorted([
        (local(7, 20), V9, "police_log", "incidents", "theft", 2.0, 2),
        (local(7, 20), P9, "police_log", "incidents", "theft", 1.0, 1),
        (local(7, 20), P9, "fire_ems", "incidents", "fire", 1.0, 1),
        (local(7, 20), V8, "mobile_presence", "crowd_count", "", 1200.0, 1),
        (local(7, 21), V9, "police_log", "incidents", "assault", 1.0, 1),
        (local(7, 22), V8, "mobile_presence", "crowd_count", "", 800.0, 1),
        (local(8, 0), V9, "police_log", "incidents", "theft", 1.0, 1),
    ])


def test_situation_by_zone_and_local_day(contract_store: Store) -> None:
    fill_situation(contract_store)
    # By day, the incident known only to its day and zone counts.
    assert situation(contract_store, level="zone", bin="day") == sorted([
        (local(7, 0), VELODROME_ZONE, "police_log", "incidents", "theft", 2.0, 2),
        (local(7, 0), VELODROME_ZONE, "police_log", "incidents", "assault", 1.0, 1),
        (local(7, 0), VIEUX_PORT_ZONE, "police_log", "incidents", "theft", 2.0, 2),
        (local(7, 0), VIEUX_PORT_ZONE, "fire_ems", "incidents", "fire", 1.0, 1),
        (local(7, 0), VELODROME_ZONE, "mobile_presence", "crowd_count", "", 2000.0, 2),
        (local(8, 0), VELODROME_ZONE, "police_log", "incidents", "theft", 1.0, 1),
    ])


def test_situation_of_the_city_over_one_window_and_its_filters(contract_store: Store) -> None:
    db = contract_store
    fill_situation(db)
    start = local(7, 20)  # a window's bin starts at the window's local start
    assert situation(db, level="city", bin="window", sources=("police_log",),
                     by_category=False) == [
        (start, "city", "police_log", "incidents", "", 6.0, 6)]
    assert situation(db, level="zone", bin="window", zones=(VIEUX_PORT_ZONE,),
                     metrics=("incidents",)) == [
        (start, VIEUX_PORT_ZONE, "fire_ems", "incidents", "fire", 1.0, 1),
        (start, VIEUX_PORT_ZONE, "police_log", "incidents", "theft", 2.0, 2)]
    assert situation(db, level="city", bin="hour", metrics=("crowd_count",)) == [
        (local(7, 20), "city", "mobile_presence", "crowd_count", "", 1200.0, 1),
        (local(7, 22), "city", "mobile_presence", "crowd_count", "", 800.0, 1)]
    # start included, end excluded: 18:20 (theft) and the day-precision 18:30; not 19:10.
    assert situation(db, window=(T0 + 20 * M, T0 + 70 * M), level="city", bin="window",
                     sources=("police_log",), by_category=False) == [
        (local(7, 20) + 20 * M, "city", "police_log", "incidents", "", 2.0, 2)]
    assert situation(db, sources=("nobody",)) == []


def test_situation_coarsens_cells_to_their_parents(contract_store: Store) -> None:
    fill_situation(contract_store)
    expected: dict[str, float] = {}
    for cell, count in ((V9, 4.0), (P9, 1.0)):  # police incidents on cells: 4 and 1
        parent = h3.cell_to_parent(cell, 5)
        expected[parent] = expected.get(parent, 0.0) + count
    assert len(expected) == 2
    got = situation(contract_store, level="cell", resolution=5, bin="window",
                    sources=("police_log",), by_category=False)
    assert {r[1]: (r[5], r[6]) for r in got} == {p: (v, int(v)) for p, v in expected.items()}


# -- hourly figures (anomaly detection) -----------------------------------------------------------

def test_hourly_figures_per_utc_hour_leave_out_what_is_not_hourly(contract_store: Store) -> None:
    db = contract_store
    db.append_batch(batch(incidents=[
        incident(1, 5), incident(2, 20), incident(3, 70),
        incident(4, 180),  # at the end: outside
        incident(5, -1),  # before the start
        incident(6, 10, time_precision="day"),  # known only to the day
    ]))
    db.append_batch(batch("mobile_presence", measurements=[
        measurement(1, T0, 60, 100.0),
        measurement(2, T0 + H, 30, 40.0), measurement(3, T0 + 90 * M, 30, 60.0),
        measurement(4, T0 + 2 * H, 60, 5.0, site="cam-1"),  # ends at the end: complete
        measurement(5, T0 + 150 * M, 60, 9.0),  # ends after the end: not complete yet
        measurement(6, T0, 120, 9.0),  # longer than an hour
    ]))
    table = db.hourly_figures(T0, T0 + 3 * H)
    columns = ("source", "metric", "category", "zone", "site", "cell", "hour", "value", "n",
               "seconds")
    assert sorted(rows(table, *columns), key=repr) == sorted([
        ("police_log", "incidents", "theft", VELODROME_ZONE, None, VELODROME_CELL, T0,
         2.0, 2, 0.0),
        ("police_log", "incidents", "theft", VELODROME_ZONE, None, VELODROME_CELL, T0 + H,
         1.0, 1, 0.0),
        ("mobile_presence", "crowd_count", "", VELODROME_ZONE, None, VELODROME_CELL8, T0,
         100.0, 1, 3600.0),
        ("mobile_presence", "crowd_count", "", VELODROME_ZONE, None, VELODROME_CELL8, T0 + H,
         100.0, 2, 3600.0),
        ("mobile_presence", "crowd_count", "", VELODROME_ZONE, "cam-1", VELODROME_CELL8,
         T0 + 2 * H, 5.0, 1, 3600.0),
    ], key=repr)
    assert all(r["hour"].utcoffset() == timedelta(0) for r in table.to_pylist())
    assert db.hourly_figures(T0 + 5 * H, T0 + 6 * H).num_rows == 0


# -- users, sessions, API tokens ------------------------------------------------------------------

def test_users_are_added_once_found_listed_and_their_password_replaced(
        contract_store: Store) -> None:
    db = contract_store
    ana = UserRow("ana", "hash-1", "analyst", T0)
    op = UserRow("op", "hash-2", "operator", T0 + H)
    db.add_user(op)
    db.add_user(ana)
    with pytest.raises(StoreError):
        db.add_user(UserRow("ana", "hash-9", "admin", T0 + 2 * H))
    assert db.get_user("ana") == ana
    assert db.get_user("nobody") is None
    assert sorted(db.list_users(), key=lambda u: u.username) == [ana, op]
    db.set_password("ana", "hash-3")
    assert db.get_user("ana") == dataclasses.replace(ana, password_hash="hash-3")
    assert db.get_user("op") == op


def test_sessions_live_until_they_expire_or_are_deleted(contract_store: Store) -> None:
    db = contract_store
    db.add_session("hash-a", "ana", T0 + H)
    db.add_session("hash-b", "op", T0 + 2 * H)
    assert db.session_user("hash-a", T0) == "ana"
    assert db.session_user("hash-a", T0 + H - timedelta(seconds=1)) == "ana"
    assert db.session_user("hash-a", T0 + H) is None  # expired at its expiry
    assert db.session_user("hash-unknown", T0) is None
    db.delete_session("hash-a")
    assert db.session_user("hash-a", T0) is None
    assert db.session_user("hash-b", T0 + H) == "op"
    db.delete_session("hash-unknown")  # nothing to delete: no error


def test_api_tokens_keep_their_name_even_revoked(contract_store: Store) -> None:
    db = contract_store
    sensor = ApiTokenRow("sensor-a", "hash-a", "machine", T0, T0 + 30 * 24 * H)
    backup = ApiTokenRow("backup", "hash-b", "machine", T0 + H, T0 + 24 * H)
    db.add_api_token(sensor)
    db.add_api_token(backup)
    assert db.api_token("hash-a") == sensor
    assert db.api_token("hash-unknown") is None
    assert db.api_tokens() == [backup, sensor]  # by name
    with pytest.raises(StoreError):
        db.add_api_token(ApiTokenRow("sensor-a", "hash-c", "machine", T0, T0 + H))
    assert db.revoke_api_token("sensor-a", T0 + 2 * H) is True
    assert db.revoke_api_token("sensor-a", T0 + 3 * H) is False  # revoked already
    assert db.revoke_api_token("nobody", T0) is False
    revoked = dataclasses.replace(sensor, revoked_at=T0 + 2 * H)
    assert db.api_token("hash-a") == revoked  # found by hash whatever its state
    with pytest.raises(StoreError):
        db.add_api_token(ApiTokenRow("sensor-a", "hash-d", "machine", T0, T0 + H))
    assert db.api_tokens() == [backup, revoked]


# -- the access log -------------------------------------------------------------------------------

def test_append_audit_keeps_lines_as_given_oldest_first(contract_store: Store) -> None:
    db = contract_store
    assert db.audit_rows() == [] and db.last_audit() is None
    lines = [audit_line(1), audit_line(2, prev_hash=f"{1:064x}", justification="incident 42"),
             audit_line(3, prev_hash=f"{2:064x}", actor="op")]
    for line in lines:
        db.append_audit(line)
    assert db.audit_rows() == lines
    assert db.audit_rows(limit=2) == lines[1:]  # the newest two, oldest first
    assert db.audit_rows(limit=1) == lines[2:]
    assert db.audit_rows(limit=9) == lines
    assert db.last_audit() == lines[2]


def test_append_audit_line_builds_on_the_newest_line(contract_store: Store) -> None:
    db = contract_store
    seen: list[AuditRow | None] = []

    def build(last: AuditRow | None) -> AuditRow:
        seen.append(last)
        return audit_line(last.seq + 1 if last else 1, prev_hash=last.hash if last else GENESIS)

    first = db.append_audit_line(build)
    assert seen == [None] and first == audit_line(1, prev_hash=GENESIS)
    other = audit_line(2, prev_hash=first.hash, actor="someone else")
    db.append_audit(other)
    third = db.append_audit_line(build)
    assert seen[-1] == other
    assert third == audit_line(3, prev_hash=other.hash)
    assert db.audit_rows() == [first, other, third] and db.last_audit() == third

    def broken(last: AuditRow | None) -> AuditRow:
        raise RuntimeError("cannot build")

    with pytest.raises(RuntimeError, match="cannot build"):
        db.append_audit_line(broken)
    assert db.audit_rows() == [first, other, third]


def test_audit_heads_smallest_tree_first(contract_store: Store) -> None:
    db = contract_store
    assert db.audit_heads() == []
    heads = [AuditHead(size, f"{size:064x}", T0 + i * H, f"{size:0128x}", "key-1")
             for i, size in enumerate((5, 8, 3))]
    for head in heads:
        db.append_audit_head(head)
    assert db.audit_heads() == sorted(heads, key=lambda h: h.size)
    assert [h.size for h in db.audit_heads()] == [3, 5, 8]


def test_concurrent_audit_lines_chain_without_fork_or_gap(
        contract_store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    db = contract_store
    monkeypatch.setenv("BELVEDERE_AUDIT_SIGN_EVERY", "0")  # the chain only, no tree heads
    threads, per = 8, 25
    pseudonym(db, "warm-up")  # the deployment's pseudonym key is made once, before the threads
    start = threading.Barrier(threads)

    def worker(t: int) -> list[int]:
        start.wait()
        return [record(db, actor=f"user-{t}", role="analyst", purpose="analysis",
                       action="consultation", what={"thread": t, "i": i},
                       rows_released=i).seq for i in range(per)]

    seqs = run_threads(threads, worker)
    lines = db.audit_rows()
    assert [r.seq for r in lines] == list(range(1, threads * per + 1))
    assert sorted(s for ts in seqs for s in ts) == list(range(1, threads * per + 1))
    checked = verify(db)
    assert checked.ok, checked.problems
    assert checked.lines == threads * per
    written = [(json.loads(r.what)["thread"], json.loads(r.what)["i"]) for r in lines]
    assert sorted(written) == [(t, i) for t in range(threads) for i in range(per)]
    for t in range(threads):  # each thread's lines in its own order
        assert [i for w, i in written if w == t] == list(range(per))


def test_a_builder_that_fails_among_concurrent_appends_fails_alone(contract_store: Store) -> None:
    db = contract_store
    threads = 8
    start = threading.Barrier(threads)

    def worker(t: int) -> str:
        def build(last: AuditRow | None) -> AuditRow:
            if t == 3:
                raise ValueError("this line cannot be built")
            return audit_line((last.seq if last else 0) + 1,
                              prev_hash=last.hash if last else "0" * 64, actor=f"user-{t}")

        start.wait()
        try:
            return db.append_audit_line(build).actor
        except ValueError as exc:
            return str(exc)

    got = run_threads(threads, worker)
    assert sorted(got) == sorted([f"user-{t}" for t in range(threads) if t != 3]
                                 + ["this line cannot be built"])
    lines = db.audit_rows()
    assert [r.seq for r in lines] == list(range(1, threads))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(lines))


# -- alerts ---------------------------------------------------------------------------------------

def test_alerts_are_numbered_updated_and_listed_newest_first(contract_store: Store) -> None:
    db = contract_store
    zone_alert = alert(opened_at=T0)
    cell_alert = alert("crowd", V9, level="cell", zone=None, places=(V9, P9), opened_at=T0 + H,
                       observed=16656.0, q_value=None)
    site_alert = alert("ed_arrivals", "timone", level="site", zone="13205", opened_at=T0 + H)
    a1, a2, a3 = (db.open_alert(a) for a in (zone_alert, cell_alert, site_alert))
    assert (a1.alert_id, a2.alert_id, a3.alert_id) == (1, 2, 3)
    assert a2 == dataclasses.replace(cell_alert, alert_id=2)
    assert db.alert(2) == a2 and db.alert(1) == a1
    assert db.alert(99) is None
    # Newest first (by opening; the later number first when opened together).
    assert [a.alert_id for a in db.alerts()] == [3, 2, 1]

    acknowledged = dataclasses.replace(
        a1, status="acknowledged", acknowledged_by="op", acknowledged_at=T0 + 2 * H,
        acknowledge_reason="patrol sent", updated_at=T0 + 2 * H, updates=1, observed=30.0)
    db.update_alert(acknowledged)
    assert db.alert(1) == acknowledged
    with pytest.raises(StoreError):
        db.update_alert(dataclasses.replace(a1, alert_id=99))
    assert db.alert(99) is None

    assert [a.alert_id for a in db.alerts("open")] == [3, 2]
    assert db.alerts("acknowledged") == [acknowledged]
    assert db.alerts("closed") == []
    assert [a.alert_id for a in db.alerts(since=T0 + H)] == [3, 2, 1]  # updated at or after
    assert [a.alert_id for a in db.alerts(since=T0 + 90 * M)] == [1]
    assert db.alerts("open", since=T0 + 90 * M) == []

    closed = dataclasses.replace(acknowledged, status="closed", closed_by="op",
                                 closed_at=T0 + 3 * H, close_reason="resolved",
                                 updated_at=T0 + 3 * H, updates=2)
    db.update_alert(closed)
    assert db.alert(1) == closed and db.alerts("closed") == [closed]
    assert db.open_alert(alert(opened_at=T0 + 4 * H)).alert_id == 4


# -- retention: purge and receipts ----------------------------------------------------------------

NOW = T0 + 400 * 24 * H
DETAIL = PurgeRule("incident_detail", "incidents", before=T0 + 24 * H,
                   exclude_sources=("cctv",), aggregate=True)
DUE = [("police_log", "MC-1"), ("police_log", "MC-2"), ("police_log", "MC-3")]


def fill_purge(db: Store) -> None:
    """Three police incidents due (two in one hour, one the next), one newer; a camera's."""
    db.append_batch(batch(incidents=[incident(1, 5), incident(2, 20),
                                     incident(3, 70, category="assault"),
                                     incident(4, 30 * 60)]))
    db.append_batch(batch("cctv", incidents=[incident(9, 10, source="cctv", origin="sensor")]))


POLICE_BY_ZONE = {"level": "zone", "bin": "day", "sources": ("police_log",),
                  "window": (T0 - 24 * H, T0 + 48 * H)}


def test_a_dry_run_counts_and_digests_what_is_due_and_changes_nothing(
        contract_store: Store) -> None:
    db = contract_store
    fill_purge(db)
    figures = situation(db, **POLICE_BY_ZONE)
    receipt = db.purge(DETAIL, now=NOW, dry_run=True)
    assert receipt == PurgeReceipt(0, "incident_detail", "incidents", DETAIL.before, 3,
                                   receipt_digest(DUE), 0, NOW, None, oldest=T0 + 5 * M)
    assert db.count("incidents") == 5
    assert db.purge_receipts() == [] and db.purge_receipts(pending=True) == []
    assert situation(db, **POLICE_BY_ZONE) == figures


def test_a_purge_erases_what_is_due_with_its_receipt_and_keeps_the_counts(
        contract_store: Store) -> None:
    db = contract_store
    fill_purge(db)
    figures = situation(db, **POLICE_BY_ZONE)
    receipt = db.purge(DETAIL, now=NOW)
    # Two aggregate rows: the two thefts of 18:00 UTC, the assault of 19:00.
    assert receipt == PurgeReceipt(1, "incident_detail", "incidents", DETAIL.before, 3,
                                   receipt_digest(DUE), 2, NOW, None, oldest=T0 + 5 * M)
    assert db.purge_receipts() == [receipt] and db.purge_receipts(pending=True) == [receipt]
    assert db.count("incidents") == 2 and db.count("incidents", "cctv") == 1
    assert sorted(rows(db.incident_points(), "source", "ts")) == [
        ("cctv", T0 + 10 * M), ("police_log", T0 + 30 * H)]
    # The situation still answers for the purged hours, from the aggregates: by zone and day
    # as before, by cell on resolution-8 cells.
    assert situation(db, **POLICE_BY_ZONE) == figures
    assert situation(db, window=(T0 - 24 * H, T0 + 48 * H), level="cell", resolution=9,
                     bin="hour", sources=("police_log",)) == sorted([
        (local(7, 20), V8, "police_log", "incidents", "theft", 2.0, 2),
        (local(7, 21), V8, "police_log", "incidents", "assault", 1.0, 1),
        (local(9, 2), V9, "police_log", "incidents", "theft", 1.0, 1)])

    # Nothing due any more: no receipt (number 0), nothing erased.
    again = db.purge(DETAIL, now=NOW + H)
    assert (again.receipt_id, again.count, again.aggregated) == (0, 0, 0)
    assert again.digest == receipt_digest([]) == hashlib.sha256(b"").hexdigest()
    assert db.purge_receipts() == [receipt] and db.count("incidents") == 2


def test_rows_back_for_an_hour_already_coarsened_are_not_counted_twice(
        contract_store: Store) -> None:
    db = contract_store
    fill_purge(db)
    figures = situation(db, **POLICE_BY_ZONE)
    db.purge(DETAIL, now=NOW)
    # An old export ingested again brings the purged rows back.
    back = db.append_batch(batch(incidents=[incident(1, 5), incident(2, 20),
                                            incident(3, 70, category="assault")]))
    assert back.rows_stored == 3
    receipt = db.purge(DETAIL, now=NOW + H)
    assert (receipt.receipt_id, receipt.count, receipt.aggregated) == (2, 3, 0)
    assert receipt.digest == receipt_digest(DUE)
    assert situation(db, **POLICE_BY_ZONE) == figures


def test_a_purge_of_some_sources_without_aggregates(contract_store: Store) -> None:
    db = contract_store
    db.append_batch(batch("cctv", measurements=[
        measurement(1, T0, source="cctv", metric="people_count", value=4.0),
        measurement(2, T0 + 2 * H, source="cctv", metric="people_count", value=6.0)]))
    db.append_batch(batch("mobile_presence", measurements=[measurement(3, T0, value=900.0)]))
    rule = PurgeRule("cctv_measurements", "measurements", before=T0 + H, sources=("cctv",))
    receipt = db.purge(rule, now=NOW)
    assert receipt == PurgeReceipt(1, "cctv_measurements", "measurements", T0 + H, 1,
                                   receipt_digest([("cctv", "m1")]), 0, NOW, None, oldest=T0)
    assert db.count("measurements", "cctv") == 1 and db.count("measurements") == 2
    # Not coarsened: the erased window's figure is gone.
    assert situation(db, window=(T0, T0 + 3 * H), level="city", bin="hour",
                     sources=("cctv",)) == [
        (local(7, 22), "city", "cctv", "people_count", "", 6.0, 1)]


def test_a_purge_of_expired_sessions(contract_store: Store) -> None:
    db = contract_store
    db.add_session("hash-old", "ana", T0 - H)
    db.add_session("hash-live", "ana", T0 + H)
    receipt = db.purge(PurgeRule("sessions", "sessions", before=T0), now=NOW)
    assert (receipt.receipt_id, receipt.count, receipt.digest, receipt.oldest) == (
        1, 1, receipt_digest([("hash-old",)]), T0 - H)
    assert db.session_user("hash-live", T0) == "ana"
    assert db.purge(PurgeRule("sessions", "sessions", before=T0), now=NOW).receipt_id == 0


def test_purge_receipts_pending_until_logged_and_receipts_for_files(
        contract_store: Store) -> None:
    db = contract_store
    fill_purge(db)
    erased = db.purge(DETAIL, now=NOW)
    files = PurgeReceipt(0, "field_files", "files", T0, 2,
                         receipt_digest([("a.csv",), ("b.csv",)]), 0, NOW + H, oldest=T0 - H)
    stored = db.add_purge_receipt(files)
    assert stored == dataclasses.replace(files, receipt_id=2)
    assert db.purge_receipts() == [erased, stored]  # oldest first
    assert db.purge_receipts(limit=1) == [stored] and db.purge_receipts(limit=5) == [
        erased, stored]
    assert db.purge_receipts(pending=True) == [erased, stored]
    db.mark_receipt_logged(1, 7)
    assert db.purge_receipts(pending=True) == [stored]
    assert db.purge_receipts() == [dataclasses.replace(erased, audit_seq=7), stored]
    db.mark_receipt_logged(2, 8)
    assert db.purge_receipts(pending=True) == []
    assert [r.audit_seq for r in db.purge_receipts()] == [7, 8]


# -- the privacy-loss ledger ----------------------------------------------------------------------

def test_charge_ledger_keeps_each_purpose_and_period_within_its_caps(
        contract_store: Store) -> None:
    db = contract_store

    def charge(eps: float, **row: Any) -> tuple[int | None, float, float]:
        stored, spent_eps, spent_delta = db.charge_ledger(
            ledger_row(eps, **row), epsilon_cap=1.0, delta_cap=1e-6)
        if stored is not None:
            assert stored == dataclasses.replace(ledger_row(eps, **row), seq=stored.seq)
        return (stored.seq if stored else None), spent_eps, spent_delta

    # (seq or None, ε spent before, δ spent before)
    assert charge(0.5) == (1, 0.0, 0.0)
    assert charge(0.25, delta=5e-7) == (2, 0.5, 0.0)
    assert charge(0.5) == (None, 0.75, 5e-7)  # over the ε cap
    assert charge(0.125, delta=1e-6) == (None, 0.75, 5e-7)  # over the δ cap
    assert charge(0.25, delta=5e-7) == (3, 0.75, 5e-7)  # exactly at both caps
    assert charge(0.125) == (None, 1.0, 1e-6)
    # Another purpose, or another period, has a budget of its own.
    assert charge(1.0, purpose="event_preparation") == (4, 0.0, 0.0)
    assert charge(1.0, period="day:2024-09-08", at=T0 + 24 * H) == (5, 0.0, 0.0)
    assert [(r.seq, r.purpose, r.period, r.epsilon) for r in db.ledger_rows()] == [
        (1, "analysis", "day:2024-09-07", 0.5), (2, "analysis", "day:2024-09-07", 0.25),
        (3, "analysis", "day:2024-09-07", 0.25), (4, "event_preparation", "day:2024-09-07", 1.0),
        (5, "analysis", "day:2024-09-08", 1.0)]


def test_ledger_rows_of_a_purpose_and_period_newest_limit(contract_store: Store) -> None:
    db = contract_store
    given = [ledger_row(0.125), ledger_row(0.25, purpose="event_preparation"),
             ledger_row(0.5, period="day:2024-09-08", at=T0 + 24 * H),
             dataclasses.replace(ledger_row(0.0625, delta=1e-7, at=T0 + H),
                                 mechanism="discrete_gaussian", rho=0.02)]
    stored = []
    for row in given:
        charged, _, _ = db.charge_ledger(row, epsilon_cap=10.0, delta_cap=1e-3)
        assert charged is not None
        stored.append(charged)
    assert [r.seq for r in stored] == [1, 2, 3, 4]
    assert db.ledger_rows() == stored
    assert db.ledger_rows(purpose="analysis") == [stored[0], stored[2], stored[3]]
    assert db.ledger_rows(period="day:2024-09-07") == [stored[0], stored[1], stored[3]]
    assert db.ledger_rows(purpose="analysis", period="day:2024-09-07") == [stored[0],
                                                                           stored[3]]
    assert db.ledger_rows(limit=2) == stored[2:]
    assert db.ledger_rows(purpose="analysis", limit=1) == [stored[3]]
    assert db.ledger_rows(purpose="nobody") == []


def test_concurrent_charges_never_pass_the_cap(contract_store: Store) -> None:
    db = contract_store
    threads, per, cap, eps = 8, 10, 5.0, 0.25
    start = threading.Barrier(threads)

    def worker(_: int) -> list[tuple[int | None, float]]:
        start.wait()
        out = []
        for _ in range(per):
            stored, spent, _delta = db.charge_ledger(ledger_row(eps), epsilon_cap=cap,
                                                     delta_cap=0.0)
            out.append((stored.seq if stored else None, spent))
        return out

    results = [r for rs in run_threads(threads, worker) for r in rs]
    accepted = [r for r in results if r[0] is not None]
    refused = [r for r in results if r[0] is None]
    assert len(accepted) == math.floor(cap / eps) == 20 and len(refused) == 60
    rows_ = db.ledger_rows()
    assert math.fsum(r.epsilon for r in rows_) <= cap and len(rows_) == 20
    assert sorted(seq for seq, _ in accepted) == [r.seq for r in rows_] == list(range(1, 21))
    # Serialised: no two charges read the same sum, and every refusal saw the cap reached.
    assert sorted(spent for _, spent in accepted) == [i * eps for i in range(20)]
    assert {spent for _, spent in refused} == {cap}


def run_threads(threads: int, worker: Callable[[int], T]) -> list[T]:
    """``worker(0)`` … ``worker(threads - 1)``, each on a thread of its own, all at once;
    re-raises the first error a worker met."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(worker, t) for t in range(threads)]
        return [f.result(timeout=120) for f in futures]
