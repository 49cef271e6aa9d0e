"""The README's command lines while ``belvedere serve`` holds the embedded store.

A real server (``belvedere serve`` in a subprocess, on a copy of the ingested 14-day city) keeps
the DuckDB file open; each README line then runs as a newcomer types it — the ``belvedere``
executable, from another working directory, relative paths — and must complete: the command is
handed to the server (docs/deployment.md) and works on the very store the dashboard shows. Where
the README's arguments need more than 14 days of data (the backtest's 8 weeks of history), the
line keeps its command and shrinks its arguments.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from belvedere.cli.handoff import forward, server_of
from belvedere.privacy import audit
from belvedere.store.deployment import Deployment
from belvedere.store.factory import open_store
from tests.backends import backend

BELVEDERE = str(Path(sys.executable).with_name("belvedere"))
TORONTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "crime_toronto" / \
    "toronto_mci_2014_2020.csv.gz"

pytestmark = pytest.mark.skipif(backend() != "duckdb",
                                reason="the hand-off is the embedded DuckDB store's")


def _http(url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
    """Status and body of a GET (or a form POST) on loopback."""
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(city_store_url: str, city_dir: Path, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Path, str, Path]]:
    """A copy of the city store served by a real ``belvedere serve``: (store, base URL, the
    newcomer's working directory holding ``demo-data``)."""
    from tests.backends import copy_store

    tmp = tmp_path_factory.mktemp("served")
    store = Path(copy_store(city_store_url, tmp))
    port = _free_port()
    env = {**os.environ, "COLUMNS": "200", "BELVEDERE_LIVE_REFERENCE": str(city_dir),
           "BELVEDERE_REPORTS": str(tmp / "reports"), "BELVEDERE_MQTT_URL": ""}
    server = subprocess.Popen([BELVEDERE, "serve", "--store", str(store), "--port", str(port)],
                              cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        if server.poll() is not None:
            pytest.fail(f"serve stopped: {server.stdout.read() if server.stdout else ''}")
        try:
            if _http(f"{base}/api/v1/health")[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "serve did not answer within 120 s"
        time.sleep(0.5)
    home = tmp / "newcomer"
    home.mkdir()
    (home / "demo-data").symlink_to(city_dir)
    yield store, base, home
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _run(served: tuple[Path, str, Path], *args: str, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    store, _, home = served
    env = {**os.environ, "COLUMNS": "200", "BELVEDERE_STORE": str(store)}
    return subprocess.run([BELVEDERE, *args], cwd=home, env=env, input=stdin, text=True,
                          capture_output=True, timeout=600)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "held by another process" not in result.stdout + result.stderr
    return " ".join(result.stdout.split())


def test_the_readme_lines_run_while_the_dashboard_is_served(
        served: tuple[Path, str, Path]) -> None:
    store, base, home = served
    assert server_of(["audit", "verify", "--store", str(store)]) is not None

    assert "0 new rows stored" in _ok(_run(served, "ingest", "demo-data"))
    assert "audit line #" in _ok(_run(served, "situation", "--source", "police_log",
                                      "--bin", "day"))
    assert "user alice (analyst) created" in _ok(
        _run(served, "users", "add", "alice", "--role", "analyst", "--password-stdin",
             stdin="alice-long-password\n"))
    tail = _ok(_run(served, "audit", "tail"))
    assert "administration" in tail
    assert "access log intact" in _ok(_run(served, "audit", "verify"))
    assert "Exposure ratio" in _ok(_run(served, "audit", "fairness", "--weeks", "1",
                                        "--no-feedback"))
    if TORONTO.exists():  # a slice of the real export, in the newcomer's folder
        with gzip.open(TORONTO, "rt", encoding="utf-8") as src, \
                gzip.open(home / "toronto.csv.gz", "wt", encoding="utf-8") as dst:
            for _, line in zip(range(301), src, strict=False):
                dst.write(line)
        assert "new rows stored" in _ok(_run(served, "ingest", "toronto_mci", "toronto.csv.gz",
                                             "--mapping", "toronto_mci"))
    assert "Quarantine" in _ok(_run(served, "quarantine", "list"))
    forecast = _ok(_run(served, "forecast", "--model", "naive", "--start",
                        _data_start(served, days=7), "--out", "forecast.csv"))
    assert "expected incidents" in forecast and (home / "forecast.csv").exists()
    backtest = _ok(_run(served, "backtest", "--models", "naive,kde", "--windows", "2",
                        "--horizon", "2d", "--out", "belvedere-reports/backtest"))
    assert "pai@1%" in backtest and (home / "belvedere-reports/backtest/report.html").exists()
    token = _run(served, "tokens", "create", "bridge-1")
    assert token.returncode == 0 and len(token.stdout.strip().splitlines()[-1]) >= 32
    assert "bridge-1" in _ok(_run(served, "tokens", "list"))
    assert "signed tree head" in _ok(_run(served, "audit", "sign"))
    assert "dry run" in _ok(_run(served, "purge", "--dry-run"))
    assert (home / "daily.pdf").exists() is False
    _ok(_run(served, "brief", "--daily", _data_start(served, days=2)[:10], "--out", "daily.pdf",
             "--lang", "en"))
    assert (home / "daily.pdf").stat().st_size > 1000

    # The commands ran on the served store: alice logs in on the dashboard at once, and the
    # access log holds the commands' lines under this terminal's user, chained intact.
    status, body = _http(f"{base}/api/v1/auth/login",
                         {"username": "alice", "password": "alice-long-password"})
    assert status in (200, 204), body
    assert _http(f"{base}/api/v1/health")[0] == 200


def _data_start(served: tuple[Path, str, Path], *, days: int) -> str:
    """An ISO time ``days`` before the end of the served data (read through the API)."""
    from datetime import datetime

    _, base, _ = served
    health = json.loads(_http(f"{base}/api/v1/health")[1])
    end = datetime.fromisoformat(str(health["data_period"]["end"]))
    return (end - timedelta(days=days)).replace(minute=0, second=0, microsecond=0).isoformat()


def test_a_socket_left_by_a_dead_server_runs_the_command_here(tmp_path: Path) -> None:
    store = tmp_path / "alone.duckdb"
    open_store(store).close()
    path = Deployment.from_url(str(store)).socket_path
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # bound, never listening: what a killed server leaves
    stale.close()
    try:
        assert server_of(["audit", "verify", "--store", str(store)]) == path
        assert forward(["audit", "verify", "--store", str(store)]) is None
    finally:
        path.unlink(missing_ok=True)
    db = open_store(store)
    assert audit.verify(db).ok
    db.close()


def test_commands_that_own_the_store_are_never_handed_over(tmp_path: Path) -> None:
    store = str(tmp_path / "own.duckdb")
    for argv in (["serve", "--store", store], ["live", "--store", store],
                 ["demo", "--store", store], ["simulate"], ["sources"], ["--help"], []):
        assert server_of(argv) is None, argv
