"""A crash mid-ingest (SIGKILL) leaves the store consistent, and re-running the ingest yields
exactly the store an uninterrupted run builds — on the embedded DuckDB file and on PostgreSQL
(where the kill can land during the ``COPY`` of a file's rows)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from belvedere.simulate.bulk import write_police_log
from belvedere.sources.minimise import KEY_ENV
from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests import rawsql
from tests.backends import BACKENDS, discard_store, new_store_url

KEY = "00" * 32
INGEST = ("import sys; from pathlib import Path; from belvedere.store.factory import "
          "open_store; from belvedere.sources.ingest import ingest_folder; "
          "print('start', flush=True); ingest_folder(open_store(sys.argv[1]), Path(sys.argv[2]), "
          "progress=lambda label, done, total: print('done', done, flush=True))")
FILES = 4
ROWS = 150_000  # per export


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four police-log exports of 150,000 rows each (some rows quarantined)."""
    folder = tmp_path_factory.mktemp("crash")
    (folder / "police").mkdir()
    for i in range(FILES):
        write_police_log(folder / "police" / f"export-{i}.csv", ROWS, seed=i,
                         first_id=i * ROWS)
    return folder


def _row_hash(store: Store, *columns: str) -> str:
    """An order-free digest of the rows' ``columns``: the sum of a per-row 64-bit hash
    (DuckDB's ``hash``; PostgreSQL's ``hashtextextended`` of the columns as text)."""
    if store.deployment.kind == "postgresql":
        text = " || '|' || ".join(f"coalesce(CAST({c} AS TEXT), '')" for c in columns)
        return f"sum(hashtextextended({text}, 0))"
    return f"sum(hash({', '.join(columns)}))"


def fingerprint(url: str) -> tuple[object, ...]:
    """What the store holds, independent of batch numbering."""
    db = open_store(url)
    incidents = rawsql.query(
        db, "SELECT count(*), count(DISTINCT source || source_id), "
        + _row_hash(db, "source", "source_id", "ts", "cell", "zone", "category", "attrs")
        + " FROM incidents")[0]
    quarantine = rawsql.query(
        db, "SELECT count(*), " + _row_hash(db, "source", "file", "line", "rule", "raw")
        + " FROM quarantine WHERE status = 'open'")[0]
    db.close()
    return tuple(incidents), tuple(quarantine)


def consistent(url: str) -> None:
    """The store is as it was before the file the kill interrupted: every logged batch is a
    whole file (all its rows read) and holds exactly the records it counts, nothing is stored
    outside a logged batch, and each file's open quarantine is its latest batch's verdict (a
    file read again does not add its rejected rows twice)."""
    db = open_store(url)
    read = rawsql.query(db, "SELECT file, rows_read FROM ingest_batches")
    stored = rawsql.query(
        db, "SELECT b.batch_id, b.rows_stored, (SELECT count(*) FROM incidents i "
        "WHERE i.batch_id = b.batch_id) FROM ingest_batches b")
    orphans = rawsql.scalar(
        db, "SELECT count(*) FROM incidents WHERE batch_id NOT IN "
        "(SELECT batch_id FROM ingest_batches)")
    quarantine = rawsql.query(
        db, "SELECT b.file, b.rows_quarantined, (SELECT count(*) FROM quarantine q WHERE "
        "q.file = b.file AND q.status = 'open') FROM ingest_batches b WHERE b.batch_id = "
        "(SELECT max(batch_id) FROM ingest_batches c WHERE c.file = b.file)")
    db.close()
    assert all(rows == ROWS for _, rows in read), read
    assert orphans == 0
    for batch_id, count, held in stored:
        assert count == held, batch_id
    for file, verdict, held in quarantine:
        assert verdict == held, file


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each test runs on both backends, whatever ``BELVEDERE_TEST_BACKEND`` says."""
    return str(request.param)


@pytest.fixture(scope="module")
def uninterrupted(feeds: Path, backend: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[tuple[tuple[object, ...], float]]:
    """The store of a run that is not interrupted, and how long that run took."""
    url = new_store_url(tmp_path_factory.mktemp("clean"), "clean", which=backend)
    proc = start_ingest(url, feeds)
    t = time.perf_counter()
    assert proc.wait(timeout=300) == 0
    duration = time.perf_counter() - t
    yield fingerprint(url), duration
    discard_store(url)


@pytest.fixture
def crashed_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A new store of the backend for one crash."""
    url = new_store_url(tmp_path, "crashed", which=backend)
    yield url
    discard_store(url)


def batches(url: str) -> int:
    """How many files' batches the store logs."""
    db = open_store(url)
    try:
        return int(rawsql.scalar(db, "SELECT count(*) FROM ingest_batches"))
    finally:
        db.close()


def start_ingest(url: str, feeds: Path) -> subprocess.Popen[str]:
    """An ingest in another process, returned once it has started (imports done)."""
    proc = subprocess.Popen([sys.executable, "-c", INGEST, url, str(feeds)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, KEY_ENV: KEY})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "start"
    return proc


@pytest.mark.parametrize("files_done", [0, 1, 2])
def test_sigkill_mid_ingest_then_rerun_gives_the_uninterrupted_store(
        feeds: Path, uninterrupted: tuple[tuple[object, ...], float], crashed_url: str,
        files_done: int) -> None:
    expected, duration = uninterrupted
    proc = start_ingest(crashed_url, feeds)
    assert proc.stdout is not None
    for _ in range(files_done):
        assert proc.stdout.readline().startswith("done")
    # Killed part-way through the next file (about a third of the time one file takes).
    time.sleep(duration / FILES / 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    consistent(crashed_url)
    assert batches(crashed_url) >= files_done
    before = fingerprint(crashed_url)
    assert before != expected, "the kill came after the ingest had finished: nothing tested"
    assert start_ingest(crashed_url, feeds).wait(timeout=300) == 0
    consistent(crashed_url)
    assert fingerprint(crashed_url) == expected
