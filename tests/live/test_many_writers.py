"""One PostgreSQL deployment, eight writer processes at once for a minute — two API servers
answering operators and analysts, the live MQTT bridge, three CLI ingests of overlapping
exports, the retention purge, and the DPO's `audit sign`/`audit verify` — and afterwards nothing
is doubled, nothing is lost, the access log verifies, and the privacy ledger is within its caps.

Every process is the real ``belvedere`` command on one real PostgreSQL database (the test
creates and drops it); the messages go through the real Mosquitto broker.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from belvedere.privacy import audit
from belvedere.privacy.ledger import spending
from belvedere.privacy.release import Actor
from belvedere.privacy.users import add_user, open_session
from belvedere.simulate.bulk import write_police_log
from belvedere.sources.ingest import ingest_folder
from belvedere.sources.minimise import KEY_ENV
from belvedere.store.factory import open_store
from tests import rawsql
from tests.backends import create_database, discard_store
from tests.live.conftest import BROKER_URL, Publisher, Topics, cctv_event, wait_for

BELVEDERE = Path(sys.executable).parent / "belvedere"
SECONDS = 60.0
KEY = "11" * 32
ROWS, WINDOW, STEP = 36_000, 12_000, 6_000  # five exports of 12,000 rows, each overlapping
INGESTERS = 3
PASSWORD = "writers-password-1"
# One week of the exports' year, as the dashboard asks for it.
WEEK = {"start": "2024-03-04T00:00:00+00:00", "end": "2024-03-11T00:00:00+00:00"}


@dataclass
class Tally:
    """What one kind of writer did, counted by the threads that drive it."""

    codes: Counter[object] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, code: object, failure: str | None = None) -> None:
        with self.lock:
            self.codes[code] += 1
            if failure:
                self.failures.append(failure)


def day(offset: int) -> str:
    """Midnight UTC of the exports' year's day ``offset``, for a URL."""
    return (datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=offset)).isoformat().replace(
        "+", "%2B")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def deployment() -> Iterator[str]:
    """A new PostgreSQL database, migrated, with one analyst, one operator and one DPO."""
    url = create_database()
    db = open_store(url)
    for name, role in (("ana", "analyst"), ("op", "operator"), ("dpo", "dpo")):
        add_user(db, name, PASSWORD, role=role)
    db.close()
    yield url
    discard_store(url)


def exports(root: Path) -> tuple[Path, list[Path]]:
    """One police-log export, and five overlapping slices of it (rows 0–12k, 6k–18k, …), as
    successive exports of one police station overlap."""
    full = root / "full" / "police.csv"
    full.parent.mkdir(parents=True)
    write_police_log(full, ROWS, seed=3)
    header, *lines = full.read_bytes().split(b"\r\n")
    lines = [line for line in lines if line]
    slices = []
    for i, first in enumerate(range(0, ROWS - WINDOW + 1, STEP)):
        path = root / "slices" / f"export-{i}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\r\n".join([header, *lines[first:first + WINDOW]]) + b"\r\n")
        slices.append(path)
    return full, slices


def run_until(deadline: float, commands: list[list[str]], env: dict[str, str],
              tally: Tally, expect: str | None = None) -> None:
    """Run ``commands`` one after another, round and round, until ``deadline`` — the first
    round whole, however long it takes on a loaded machine."""
    rounds = 0
    while rounds == 0 or time.monotonic() < deadline:
        rounds += 1
        for command in commands:
            done = subprocess.run([str(BELVEDERE), *command], env=env, capture_output=True,
                                  text=True, timeout=300)
            output = done.stdout + done.stderr
            bad = done.returncode != 0 or (expect is not None and command[-1] == "verify"
                                           and expect not in output)
            tally.add(done.returncode, f"{command}: {output[-2000:]}" if bad else None)
            if rounds > 1 and time.monotonic() >= deadline:
                return


def request(urls: list[str], token: str, tally: Tally, deadline: float) -> None:
    """Ask ``urls`` in turn, round and round, until ``deadline``; count the answers by
    status."""
    for url in itertools.cycle(urls):
        if time.monotonic() >= deadline:
            return
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, timeout=60) as answer:
                answer.read()
                tally.add(answer.status)
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            tally.add(exc.code, None if exc.code < 500 else f"{url}: {exc.code} {body[:500]}")
        except OSError as exc:
            tally.add("connection", f"{url}: {exc}")


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen([str(BELVEDERE), "serve", "--port", str(port), "--mqtt", ""],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    health = f"http://127.0.0.1:{port}/api/v1/health"

    def up() -> bool:
        try:
            with urllib.request.urlopen(health, timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    assert wait_for(up, timeout=90, step=0.5), f"the server on {port} did not start"
    return process


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out or ""


def test_eight_writer_processes_for_a_minute_double_lose_and_overspend_nothing(
        deployment: str, reference: Path, tmp_path: Path, broker: Topics,
        publisher: Publisher, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)  # one pseudonymisation key for every process
    full, slices = exports(tmp_path / "exports")
    env = {**os.environ, "BELVEDERE_STORE": deployment, "COLUMNS": "200",
           "BELVEDERE_MQTT_CLIENT_ID": broker.client_id, "BELVEDERE_MQTT_PREFIX": broker.prefix,
           "BELVEDERE_LIVE_REFERENCE": str(reference), "BELVEDERE_LIVE_BATCH_MS": "100",
           "BELVEDERE_LIVE_DIR": str(tmp_path / "live"), "PYTHONUNBUFFERED": "1"}
    db = open_store(deployment)
    tokens = {name: open_session(db, Actor(name, role))
              for name, role in (("ana", "analyst"), ("op", "operator"))}
    db.close()

    # Writers 1–2: two API servers; writer 3: the live bridge.
    ports = [free_port(), free_port()]
    servers = [start_server(env, port) for port in ports]
    bridge = subprocess.Popen([str(BELVEDERE), "live", "--mqtt", BROKER_URL], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert bridge.stdout is not None
    for line in bridge.stdout:  # started once it says where it listens
        if "MQTT bridge" in line:
            break

    deadline = time.monotonic() + SECONDS
    ingests, chores, answers = Tally(), Tally(), {name: Tally() for name in tokens}
    threads = []
    # Writers 4–6: CLI ingests, each of its own copies of the overlapping exports, in its order.
    for w in range(INGESTERS):
        mine = []
        for path in slices[w:] + slices[:w]:
            copy = tmp_path / f"ingester-{w}" / path.name
            copy.parent.mkdir(exist_ok=True)
            copy.write_bytes(path.read_bytes())
            mine.append(["ingest", "police_log", str(copy)])
        threads.append(threading.Thread(target=run_until, args=(deadline, mine, env, ingests)))
    # Writer 7: the retention purge (counted back from a time at which nothing of the exports
    # is due, so that it erases nothing the accounting below expects, yet takes its locks and
    # writes its receipts); writer 8: the DPO signing and verifying the log.
    threads.append(threading.Thread(target=run_until, args=(
        deadline, [["purge", "--now", "2024-12-30T00:00:00"]], env, chores)))
    threads.append(threading.Thread(target=run_until, args=(
        deadline, [["audit", "sign"], ["audit", "verify"]], env, chores, "intact")))
    # The dashboards: an analyst and an operator on each server. The analyst asks for a new
    # day each time (a repeat would be its kept answer, free): each answer is charged to the
    # day's budget, and the two servers' charges race for the same cap until it refuses.
    for s, port in enumerate(ports):
        base = f"http://127.0.0.1:{port}/api/v1"
        query = "&".join(f"{k}={v}" for k, v in WEEK.items()).replace("+", "%2B")
        days = [f"{base}/situation?start={day(d)}&end={day(d + 1)}&source=police_log"
                "&purpose=analysis" for d in range(s * 180, s * 180 + 180)]
        for name, urls in (
                ("ana", days),
                ("op", [f"{base}/situation/map?{query}&source=police_log&level=cell"]),
                ("op", [f"{base}/alerts"])):
            threads.append(threading.Thread(target=request, args=(
                urls, tokens[name], answers[name], deadline)))
    # The cameras: 25 events a second over MQTT for the whole minute.
    events = [json.dumps(cctv_event(f"w-{i}", value=i % 40,
                                    ts=datetime.now(UTC))).encode()
              for i in range(int(SECONDS * 25))]
    threads.append(threading.Thread(target=publisher.send, args=(broker.cctv(), events),
                                    kwargs={"rate": 25}))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 400)
    db = open_store(deployment)
    try:
        assert wait_for(lambda: rawsql.scalar(
            db, "SELECT count(*) FROM measurements WHERE source = 'cctv'") >= len(events),
            timeout=60)
        for process in [*servers, bridge]:  # each stops cleanly when told to
            output = stop(process)
            assert process.returncode == 0, output

        # Every command ran to completion; no request met a server error.
        assert ingests.failures == [] and chores.failures == [], ingests.failures + chores.failures
        assert sum(ingests.codes.values()) >= INGESTERS * len(slices), ingests.codes
        assert sum(chores.codes.values()) >= 3, chores.codes
        for name, tally in answers.items():
            assert tally.failures == [], tally.failures[:5]
            assert tally.codes[200] > 0, (name, tally.codes)

        # Nothing doubled, nothing lost: the police records are exactly those of the whole
        # export ingested once, in one process; each batch accounts for every row it read.
        reference_url = str(tmp_path / "reference.duckdb")
        (tmp_path / "one" / "police").mkdir(parents=True)
        (tmp_path / "one" / "police" / "police.csv").write_bytes(full.read_bytes())
        ref = open_store(reference_url)
        ingest_folder(ref, tmp_path / "one")
        expected = sorted(r[0] for r in rawsql.query(
            ref, "SELECT source_id FROM incidents WHERE source = 'police_log'"))
        ref.close()
        stored = sorted(r[0] for r in rawsql.query(
            db, "SELECT source_id FROM incidents WHERE source = 'police_log'"))
        assert len(stored) == len(set(stored)) and stored == expected
        assert 0.9 * ROWS < len(expected) < ROWS  # a few rows fall in the sea: quarantined
        batches = rawsql.query(
            db, "SELECT source, file, rows_read, rows_stored, rows_duplicate, rows_quarantined, "
            "rows_filtered FROM ingest_batches")
        for source, file, read, *parts in batches:
            assert read == sum(parts), (source, file, read, parts)
            if source == "police_log":
                assert read == WINDOW, file
        police = [b for b in batches if b[0] == "police_log"]
        assert sum(b[3] for b in police) == len(expected)  # each record stored by one batch
        assert sum(b[2] for b in police) == sum(ingests.codes.values()) * WINDOW
        ids = sorted(r[0] for r in rawsql.query(
            db, "SELECT source_id FROM measurements WHERE source = 'cctv'"))
        assert ids == sorted(f"w-{i}" for i in range(len(events)))

        # The access log: intact, with one line per answered request of each dashboard.
        verification = audit.verify(db)
        assert verification.ok, verification.problems
        lines = Counter(r.actor for r in db.audit_rows())
        for name, tally in answers.items():
            assert lines[audit.pseudonym(db, name)] >= tally.codes[200], (name, tally.codes)

        # The ledger: the two servers' concurrent charges reached the cap, never passed it,
        # and what it refused was refused (403), not an error.
        spent = spending(db)
        assert [s.purpose for s in spent] == ["analysis"]
        for s in spent:
            assert s.epsilon <= s.cap_epsilon * (1 + 1e-9), s
            assert s.delta <= s.cap_delta * (1 + 1e-9), s
            assert s.epsilon > s.cap_epsilon - 1.0, s  # the cap was reached: it was tested
        assert answers["ana"].codes[403] > 0, answers["ana"].codes
        # Each charge is one answered request; the other answers repeat a day already released
        # (the analyst's round came back to it), free, and their lines say which.
        charged = [json.loads(r.what) for r in db.audit_rows()
                   if r.actor == audit.pseudonym(db, "ana") and r.action == "consultation"]
        paid = [w for w in charged if "ledger" in w]
        assert spent[0].releases == len(paid)
        assert len(paid) + sum("repeat_of" in w for w in charged) == answers["ana"].codes[200]
        print(f"\n{sum(ingests.codes.values())} ingests, {sum(chores.codes.values())} purges, "
              f"signatures and verifications; answers {dict(answers['ana'].codes)} (analyst), "
              f"{dict(answers['op'].codes)} (operator); {len(expected):,} police records, "
              f"{len(ids):,} camera events; {sum(lines.values()):,} access-log lines, intact; "
              + "; ".join(f"{s.purpose}: ε {s.epsilon:g} of {s.cap_epsilon:g}" for s in spent))
    finally:
        db.close()
