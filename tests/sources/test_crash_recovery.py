"""A crash mid-ingest (SIGKILL) leaves the store consistent, and re-running the ingest yields
exactly the store an uninterrupted run builds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from belvedere.simulate.bulk import write_police_log
from belvedere.sources.minimise import KEY_ENV
from belvedere.store.duckdb import DuckDBStore

KEY = "00" * 32
INGEST = ("import sys; from pathlib import Path; from belvedere.store.duckdb import "
          "DuckDBStore; from belvedere.sources.ingest import ingest_folder; "
          "print('start', flush=True); ingest_folder(DuckDBStore(sys.argv[1]), Path(sys.argv[2]), "
          "progress=lambda label, done, total: print('done', done, flush=True))")
FILES = 4


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four police-log exports of 150,000 rows each (some rows quarantined)."""
    folder = tmp_path_factory.mktemp("crash")
    (folder / "police").mkdir()
    for i in range(FILES):
        write_police_log(folder / "police" / f"export-{i}.csv", 150_000, seed=i,
                         first_id=i * 150_000)
    return folder


def fingerprint(path: Path) -> tuple[object, ...]:
    """What the store holds, independent of batch numbering."""
    db = DuckDBStore(path)
    con = db._con
    incidents = con.execute(
        "SELECT count(*), count(DISTINCT source || source_id), "
        "sum(hash(source, source_id, ts, cell, zone, category, attrs)) FROM incidents"
    ).fetchall()[0]
    quarantine = con.execute(
        "SELECT count(*), sum(hash(source, file, line, rule, raw)) FROM quarantine "
        "WHERE status = 'open'").fetchall()[0]
    db.close()
    return incidents, quarantine


def consistent(path: Path) -> None:
    """Every logged batch holds exactly the records it counts, nothing is stored outside a
    logged batch, and each file's open quarantine is its latest batch's verdict (a file read
    again does not add its rejected rows twice)."""
    db = DuckDBStore(path)
    stored = db._con.execute(
        "SELECT b.batch_id, b.rows_stored, (SELECT count(*) FROM incidents i "
        "WHERE i.batch_id = b.batch_id) FROM ingest_batches b").fetchall()
    orphans = db._con.execute(
        "SELECT count(*) FROM incidents WHERE batch_id NOT IN "
        "(SELECT batch_id FROM ingest_batches)").fetchall()[0][0]
    quarantine = db._con.execute(
        "SELECT b.file, b.rows_quarantined, (SELECT count(*) FROM quarantine q WHERE "
        "q.file = b.file AND q.status = 'open') FROM ingest_batches b WHERE b.batch_id = "
        "(SELECT max(batch_id) FROM ingest_batches c WHERE c.file = b.file)").fetchall()
    db.close()
    assert orphans == 0
    for batch_id, count, held in stored:
        assert count == held, batch_id
    for file, verdict, held in quarantine:
        assert verdict == held, file


@pytest.fixture(scope="module")
def uninterrupted(feeds: Path, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[tuple[object, ...], float]:
    """The store of a run that is not interrupted, and how long that run took."""
    path = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    proc = start_ingest(path, feeds)
    t = time.perf_counter()
    assert proc.wait(timeout=300) == 0
    return fingerprint(path), time.perf_counter() - t


def start_ingest(path: Path, feeds: Path) -> subprocess.Popen[str]:
    """An ingest in another process, returned once it has started (imports done)."""
    proc = subprocess.Popen([sys.executable, "-c", INGEST, str(path), str(feeds)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, KEY_ENV: KEY})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "start"
    return proc


@pytest.mark.parametrize("files_done", [0, 1, 2])
def test_sigkill_mid_ingest_then_rerun_gives_the_uninterrupted_store(
        feeds: Path, uninterrupted: tuple[tuple[object, ...], float], tmp_path: Path,
        files_done: int) -> None:
    expected, duration = uninterrupted
    path = tmp_path / "crashed.duckdb"
    proc = start_ingest(path, feeds)
    assert proc.stdout is not None
    for _ in range(files_done):
        assert proc.stdout.readline().startswith("done")
    # Killed part-way through the next file (about a third of the time one file takes).
    time.sleep(duration / FILES / 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    consistent(path)
    before = fingerprint(path)
    assert before != expected, "the kill came after the ingest had finished: nothing tested"
    assert start_ingest(path, feeds).wait(timeout=300) == 0
    consistent(path)
    assert fingerprint(path) == expected
