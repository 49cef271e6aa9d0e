"""``belvedere serve --workers N`` on PostgreSQL: several web processes, one live picture.

The MQTT bridge runs in the parent process, which answers no HTTP: a worker can only show the
camera events it brings through its store follower (:mod:`belvedere.live.follow`). A push lands
on one worker; every worker must show it too. On the embedded store, several workers are
refused with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from belvedere.cli import app as cli_app
from belvedere.privacy.release import Actor
from belvedere.privacy.users import add_user, open_session
from belvedere.store.factory import open_store
from tests.backends import create_database, discard_store
from tests.live.conftest import BROKER_URL, Publisher, Topics, cctv_event, wait_for
from tests.live.test_api import police_entries
from tests.live.test_many_writers import free_port

BELVEDERE = Path(sys.executable).parent / "belvedere"
WORKERS = 3
READS = 12  # fresh connections per look: the kernel spreads them over the workers


@pytest.fixture
def deployment() -> Iterator[str]:
    url = create_database()
    yield url
    discard_store(url)


def _total(headers: dict[str, str], url: str, source: str) -> float | None:
    """The operator's figure of ``source`` in the last 60 min, from one new connection."""
    try:
        answer = httpx.get(f"{url}/api/v1/live/situation", headers=headers, timeout=30)
    except httpx.HTTPError:
        return None
    if answer.status_code != 200:
        return None
    rows = answer.json()["windows"]["last_60_min"]["rows"]
    return sum(r["value"] or 0 for r in rows if r["source"] == source)


def _everywhere(headers: dict[str, str], url: str, source: str, value: float) -> bool:
    return all(_total(headers, url, source) == value for _ in range(READS))


def test_every_worker_shows_what_the_bridge_and_the_other_workers_commit(
        deployment: str, reference: Path, tmp_path: Path, broker: Topics,
        publisher: Publisher) -> None:
    db = open_store(deployment)
    add_user(db, "op", "workers-password-1", role="operator")
    headers = {"Authorization": f"Bearer {open_session(db, Actor('op', 'operator'))}"}
    db.close()
    port = free_port()
    env = {**os.environ, "BELVEDERE_STORE": deployment, "PYTHONUNBUFFERED": "1",
           "BELVEDERE_MQTT_CLIENT_ID": broker.client_id, "BELVEDERE_MQTT_PREFIX": broker.prefix,
           "BELVEDERE_LIVE_REFERENCE": str(reference), "BELVEDERE_LIVE_BATCH_MS": "100",
           "BELVEDERE_LIVE_DIR": str(tmp_path / "live")}
    server = subprocess.Popen([str(BELVEDERE), "serve", "--port", str(port), "--workers",
                               str(WORKERS), "--mqtt", BROKER_URL], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: _total(headers, url, "cctv") == 0, timeout=120, step=0.5)
        # Camera events through the parent's bridge: 30 people counts of 1 … 30.
        publisher.send(broker.cctv(), [json.dumps(cctv_event(f"wk-{i}", value=i)).encode()
                                       for i in range(1, 31)])
        assert wait_for(lambda: _everywhere(headers, url, "cctv", 465.0), timeout=60)
        # A push lands on one worker; the others follow.
        pushed = httpx.post(f"{url}/api/v1/push/police_log", headers=headers, timeout=60,
                            json=police_entries([f"MC-W{i}" for i in range(5)]))
        assert pushed.status_code == 200 and pushed.json()["stored"] == 5, pushed.text
        assert wait_for(lambda: _everywhere(headers, url, "police_log", 5.0), timeout=30)
        # Counted once, however many times and by whom it was published.
        seen = [_total(headers, url, "cctv") for _ in range(READS)]
        assert seen == [465.0] * READS, seen
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=120)
    assert server.returncode == 0, output
    assert f"{WORKERS} web workers" in output


def test_several_workers_on_the_embedded_store_are_refused_with_the_reason(
        tmp_path: Path) -> None:
    result: Any = CliRunner().invoke(cli_app, ["serve", "--store", str(tmp_path / "x.duckdb"),
                                               "--workers", "2"])
    assert result.exit_code != 0
    assert "needs the PostgreSQL store" in result.output
    assert not (tmp_path / "x.duckdb").exists()
