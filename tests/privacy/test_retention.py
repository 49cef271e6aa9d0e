"""Retention: a fake clock moves a small city forward; what is due goes, with receipts."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from belvedere.errors import ConfigError, StoreError
from belvedere.privacy.retention import (
    RetentionJob,
    cutoff,
    load_retention,
    purge,
)
from belvedere.sources.ingest import ingest_folder
from belvedere.store.base import SituationQuery, Store
from tests import rawsql

SITUATION_KEYS = ["bin_start", "place", "source", "metric", "category"]


def digest(keys: list[tuple[object, ...]]) -> str:
    """The receipt digest as docs/retention.md defines it, written out independently."""
    lines = sorted(json.dumps([None if v is None else str(v) for v in k],
                              separators=(",", ":"), ensure_ascii=False) for k in keys)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def keys(store: Store, sql: str) -> list[tuple[object, ...]]:
    return rawsql.query(store, sql)


def missing_table_error(store: Store) -> type[Exception]:
    """What the backend's driver raises for a statement on a table that is not there."""
    if store.deployment.kind == "postgresql":
        import psycopg

        return psycopg.errors.UndefinedTable
    import duckdb

    return duckdb.CatalogException


def receipts(store: Store) -> dict[str, list[dict[str, object]]]:
    """The erasure lines of the access log, by dataset."""
    out: dict[str, list[dict[str, object]]] = {}
    for row in store.audit_rows():
        if row.action == "erasure":
            what = json.loads(row.what)
            assert row.purpose == "retention" and row.rows_released == 0
            out.setdefault(str(what["dataset"]), []).append(what)
    return out


def situation(store: Store, query: SituationQuery) -> pl.DataFrame:
    return pl.DataFrame(store.situation(query)).sort(SITUATION_KEYS)


def same_figures(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Same rows, same counts; values equal up to the order of float sums."""
    assert a.height == b.height > 0
    columns = [*SITUATION_KEYS, "n"]
    assert a.select(columns).equals(b.select(columns))
    assert (a["value"] - b["value"]).abs().max() < 1e-9  # type: ignore[operator]


def test_a_fake_clock_erases_cctv_after_30_days_then_incidents_after_a_year(
        city_store: Store) -> None:
    period = city_store.data_period()
    assert period is not None
    start, end = period
    window = (start - timedelta(days=1), end + timedelta(days=1))
    by_zone_day = SituationQuery(*window, level="zone", bin="day")
    by_cell8_hour = SituationQuery(*window, level="cell", resolution=8, bin="hour")
    figures = {q: situation(city_store, q) for q in (by_zone_day, by_cell8_hour)}
    cctv_events = keys(city_store, "SELECT source, source_id FROM incidents WHERE source='cctv'")
    cctv_measures = keys(city_store,
                         "SELECT source, source_id FROM measurements WHERE source='cctv'")
    detail = keys(city_store, "SELECT source, source_id FROM incidents WHERE source<>'cctv'")
    ((first_window,),) = keys(city_store,
                              "SELECT min(\"start\") FROM measurements WHERE source='cctv'")
    other_measures = city_store.count("measurements") - len(cctv_measures)
    assert len(cctv_events) > 10 and len(cctv_measures) > 1000 and len(detail) > 1000

    clock = [end + timedelta(days=31)]
    job = RetentionJob(city_store, timedelta(hours=24), clock=lambda: clock[0])
    job.start()
    assert job.ran.wait(30), "the retention job did not run"
    job.stop()
    assert job.runs == 1 and job.last_error is None

    # 31 days on: the cameras' events and measurements are gone, the incidents are not.
    assert city_store.count("incidents", "cctv") == 0
    assert city_store.count("measurements", "cctv") == 0
    assert city_store.count("incidents") == len(detail)
    assert city_store.count("measurements") == other_measures
    log = receipts(city_store)
    assert set(log) == {"cctv_events", "cctv_measurements"}
    (events,), (measures,) = log["cctv_events"], log["cctv_measurements"]
    assert events["count"] == len(cctv_events) and events["digest"] == digest(cctv_events)
    assert measures["count"] == len(cctv_measures) and measures["digest"] == digest(cctv_measures)
    # The erased period: from the oldest window to the cutoff, a day after the data's end.
    assert measures["oldest"] == first_window.astimezone(UTC).isoformat()
    assert measures["before"] == (end + timedelta(days=1)).replace(
        minute=0, second=0, microsecond=0).isoformat()

    # A year on: the incidents' detail goes too; hourly aggregates keep the situation's counts.
    clock[0] = end + timedelta(days=366)
    job.run_once()
    assert city_store.count("incidents") == 0
    (incidents,) = receipts(city_store)["incident_detail"]
    assert incidents["count"] == len(detail) and incidents["digest"] == digest(detail)
    assert int(incidents["aggregated"]) > 0  # type: ignore[call-overload]
    assert len(receipts(city_store)) == 3  # the aggregate feeds are kept five years
    for query, before in figures.items():
        same_figures(situation(city_store, query), before)

    # A second run at the same time has nothing left to erase and writes no receipt.
    lines = len(city_store.audit_rows())
    job.run_once()
    assert len(city_store.audit_rows()) == lines
    assert [o.receipt.count for o in job.last if o.status == "erased"] == [0] * 9


def test_a_dry_run_counts_what_is_due_and_erases_nothing(city_store: Store) -> None:
    period = city_store.data_period()
    assert period is not None
    before = city_store.count("incidents")
    outcomes = {o.dataset.name: o for o in
                purge(city_store, now=period[1] + timedelta(days=400), dry_run=True)}
    assert outcomes["incident_detail"].status == "due"
    assert outcomes["incident_detail"].receipt.count == city_store.count("incidents") - \
        city_store.count("incidents", "cctv") == before - city_store.count("incidents", "cctv")
    assert city_store.count("incidents") == before and city_store.audit_rows() == []
    assert city_store.purge_receipts() == []


def test_a_purge_that_fails_midway_leaves_the_dataset_whole(city_store: Store) -> None:
    period = city_store.data_period()
    assert period is not None
    rule = next(d for d in load_retention().datasets if d.name == "incident_detail")
    stored = city_store.count("incidents")
    # The receipt is the transaction's last statement: without its table, the delete and the
    # aggregates written before it must be rolled back.
    rawsql.execute(city_store, "ALTER TABLE purge_receipts RENAME TO receipts_away")
    with pytest.raises(missing_table_error(city_store)):
        city_store.purge(rule.rule(period[1] + timedelta(days=400)),
                         now=period[1] + timedelta(days=400))
    assert city_store.count("incidents") == stored
    assert keys(city_store, "SELECT count(*) FROM aggregates") == [(0,)]


def test_a_receipt_left_out_of_the_log_by_a_crash_is_logged_by_the_next_purge(
        city_store: Store) -> None:
    period = city_store.data_period()
    assert period is not None
    now = period[1] + timedelta(days=31)
    rule = next(d for d in load_retention().datasets if d.name == "cctv_events")
    # The store's transaction committed, then the process died before the access log.
    receipt = city_store.purge(rule.rule(now), now=now)
    assert receipt.count > 0 and city_store.purge_receipts(pending=True) == [receipt]
    purge(city_store, now=now)
    assert city_store.purge_receipts(pending=True) == []
    (line,) = receipts(city_store)["cctv_events"]
    assert line["receipt"] == receipt.receipt_id and line["digest"] == receipt.digest


def test_an_old_export_ingested_again_is_erased_again_but_not_counted_twice(
        city_store: Store, city_dir: Path) -> None:
    period = city_store.data_period()
    assert period is not None
    now = period[1] + timedelta(days=366)
    query = SituationQuery(period[0] - timedelta(days=1), period[1] + timedelta(days=1),
                           level="zone", bin="day", sources=("police_log",))
    before = situation(city_store, query)
    purge(city_store, now=now)
    report = ingest_folder(city_store, city_dir, sources=["police_log"])
    assert report.stored == city_store.count("incidents", "police_log") > 0
    purge(city_store, now=now)
    assert city_store.count("incidents", "police_log") == 0
    assert [r["count"] for r in receipts(city_store)["incident_detail"]][1] == report.stored
    same_figures(situation(city_store, query), before)


def test_old_live_files_are_erased_with_a_receipt_and_reference_files_kept(
        store: Store, tmp_path: Path) -> None:
    staging = tmp_path / "live"
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    files = {"cctv/events/live-old.json": 8, "cctv/events/live-new.json": 2,
             "cctv/cameras.json": 400}
    for name, age_days in files.items():
        path = staging / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("[]")
        stamp = (now - timedelta(days=age_days)).timestamp()
        os.utime(path, (stamp, stamp))
    (outcome,) = [o for o in purge(store, now=now, staging=staging)
                  if o.dataset.name == "live_files"]
    assert not (staging / "cctv/events/live-old.json").exists()
    assert (staging / "cctv/events/live-new.json").exists()
    assert (staging / "cctv/cameras.json").exists()
    assert outcome.receipt.count == 1
    assert outcome.receipt.digest == digest([("cctv/events/live-old.json",)])
    assert receipts(store)["live_files"][0]["count"] == 1


def test_the_retention_table_covers_every_table_of_the_store(store: Store) -> None:
    tables = set(rawsql.tables(store))
    assert {"incidents", "audit_log", "purge_receipts"} <= tables
    retention = load_retention()
    covered = {d.table for d in retention.datasets} | set(retention.kept)
    missing = sorted(tables - covered)
    assert not missing, (f"tables without a retention: {missing}; add a dataset or a [kept] "
                         "line to belvedere/privacy/retention.toml")
    for d in retention.datasets:
        assert len(d.basis) > 40, d.name
    durations = {d.name: d.keep.days for d in retention.datasets}
    assert durations["cctv_events"] == durations["cctv_measurements"] == 30
    assert durations["incident_detail"] == 365 and durations["access_log"] == 365


def test_every_dataset_is_documented_with_its_duration() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "retention.md").read_text()
    for d in load_retention().datasets:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{d.name}` |")),
                   "")
        assert f"{d.keep.days} days" in row, d.name
        assert ("not enforced" in row) == (not d.enforced), d.name


def test_cutoffs_are_counted_back_from_now_and_cut_to_the_hour() -> None:
    datasets = {d.name: d for d in load_retention().datasets}
    now = datetime(2025, 3, 30, 2, 59, 59, tzinfo=UTC)
    assert cutoff(datasets["incident_detail"], now) == datetime(2024, 3, 30, 2, tzinfo=UTC)
    assert cutoff(datasets["sessions"], now) == datetime(2025, 3, 30, 2, tzinfo=UTC)
    with pytest.raises(ConfigError):
        cutoff(datasets["sessions"], datetime(2025, 3, 30))


@pytest.mark.parametrize(("entry", "problem"), [
    ('table = "people"\nkeep_days = 3\nbasis = "x"', "table 'people'"),
    ('table = "alerts"\nbasis = "x"', "keep_days"),
    ('table = "alerts"\nkeep_days = 3\nbasis = "x"\nenforced = false', "reason"),
    ('table = "alerts"\nkeep_days = 3\nbasis = "x"\nkeep_forever = true', "unknown keys"),
])
def test_a_bad_retention_table_is_refused(tmp_path: Path, entry: str, problem: str) -> None:
    path = tmp_path / "retention.toml"
    path.write_text(f"[datasets.x]\n{entry}\n")
    with pytest.raises(ConfigError, match=problem):
        load_retention(path)


def test_the_store_refuses_a_rule_it_cannot_apply(store: Store) -> None:
    from belvedere.store.base import PurgeRule

    at = datetime(2025, 1, 1, tzinfo=UTC)
    with pytest.raises(StoreError, match="no source column"):
        store.purge(PurgeRule("x", "alerts", at, sources=("cctv",)), now=at)
    with pytest.raises(StoreError, match="cannot be coarsened"):
        store.purge(PurgeRule("x", "quarantine", at, aggregate=True), now=at)
