"""``belvedere demo --store postgresql://…`` builds the same city as the embedded default and
serves it: the same records per feed, the demo logins, the dashboard's figures read from the
server store — and SIGTERM stops it cleanly.

The dashboard's browser tests run on PostgreSQL too (``BELVEDERE_TEST_BACKEND=postgresql
pytest tests/web``, as ``.ci/run`` does).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from belvedere.store.factory import open_store
from tests import rawsql
from tests.backends import create_database, discard_store
from tests.live.conftest import wait_for

BELVEDERE = str(Path(sys.executable).with_name("belvedere"))
DAYS, SEED = "14", "7"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")}
    except OSError:
        return 0, {}


@pytest.fixture
def pg_url() -> Iterator[str]:
    url = create_database()
    yield url
    discard_store(url)


def test_the_demo_on_postgresql_builds_the_embedded_city_and_serves_it(
        pg_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    env.pop("BELVEDERE_STORE", None)
    embedded = tmp_path / "embedded"
    embedded.mkdir()
    built = subprocess.run([BELVEDERE, "demo", "--no-serve", "--no-backtest", "--days", DAYS,
                            "--seed", SEED, "--store", "demo.duckdb"], cwd=embedded, env=env,
                           capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr

    port = _free_port()
    served = tmp_path / "served"
    served.mkdir()
    demo = subprocess.Popen([BELVEDERE, "demo", "--no-backtest", "--days", DAYS, "--seed", SEED,
                             "--store", pg_url, "--port", str(port)], cwd=served, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        assert wait_for(lambda: _get(f"{base}/health")[0] == 200, timeout=900, step=1)
        # The same city: record for record per feed.
        pg, duck = open_store(pg_url), open_store(str(embedded / "demo.duckdb"))
        try:
            assert pg.counts_by_source() == duck.counts_by_source()
            assert sum(pg.counts_by_source().values()) > 50_000
            assert pg.data_period() == duck.data_period()
        finally:
            duck.close()
        # The demo login works, and the operator's map is the server store's own count.
        form = urllib.parse.urlencode({"username": "operateur",
                                       "password": "demo-operateur-2024"}).encode()
        with urllib.request.urlopen(f"{base}/auth/login", data=form, timeout=30) as answer:
            token = json.loads(answer.read())["token"]
        start, end = pg.data_period()
        params = urllib.parse.urlencode({"source": "police_log", "level": "zone",
                                         "start": start.isoformat(), "end": end.isoformat()})
        status, geo = _get(f"{base}/situation/map?{params}", token)
        assert status == 200, geo
        features = geo["features"]
        assert isinstance(features, list)
        shown = sum(f["properties"]["value"] or 0 for f in features)
        held = rawsql.scalar(pg, "SELECT count(*) FROM incidents WHERE source = 'police_log' "
                             "AND zone IS NOT NULL AND ts >= ? AND ts < ?", [start, end])
        assert shown == held and held > 100
        pg.close()
    finally:
        demo.send_signal(signal.SIGTERM)
        output, _ = demo.communicate(timeout=120)
    assert demo.returncode == 0, output
    assert "signed tree head" in output
