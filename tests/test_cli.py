"""The command line end to end: demo without serving, re-ingest, situation, users, audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from belvedere.cli import app
from belvedere.sources.base import registry
from belvedere.store.duckdb_store import DuckDBStore

WIDE = {"COLUMNS": "200"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("demo")
    out, store = tmp / "demo-data", tmp / "demo.duckdb"
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--days", "14", "--out", str(out),
                                      "--store", str(store)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "operateur" in result.output and "demo-operateur-2024" in result.output
    return out, store


def test_demo_stores_all_eight_feeds(demo: tuple[Path, Path]) -> None:
    db = DuckDBStore(demo[1])
    counts = db.counts_by_source()
    db.close()
    assert set(counts) == set(registry()) and len(counts) == 8
    assert all(n > 0 for n in counts.values()), counts


def test_ingesting_the_same_folder_again_stores_nothing_and_says_so(
        demo: tuple[Path, Path]) -> None:
    db = DuckDBStore(demo[1])
    before = db.counts_by_source()
    db.close()
    result = CliRunner().invoke(app, ["ingest", str(demo[0]), "--store", str(demo[1])], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "0 new rows stored" in result.output
    db = DuckDBStore(demo[1])
    assert db.counts_by_source() == before
    db.close()


def test_situation_prints_a_released_table_and_audits_it(demo: tuple[Path, Path]) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["situation", "--store", str(demo[1]), "--source", "police_log"],
                           env=WIDE)
    assert result.exit_code == 0, result.output
    assert "granted zone × day, k = 11" in result.output and "police_log" in result.output
    tail = runner.invoke(app, ["audit", "tail", "-n", "1", "--store", str(demo[1])], env=WIDE)
    assert "cli:" in tail.output and "analysis" in tail.output
    verify = runner.invoke(app, ["audit", "verify", "--store", str(demo[1])], env=WIDE)
    assert verify.exit_code == 0 and "intact" in verify.output


def test_users_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    store = tmp_path / "u.duckdb"
    runner = CliRunner()
    ok = runner.invoke(app, ["users", "add", "alice", "--role", "analyst", "--password-stdin",
                             "--store", str(store)], input="a-long-password\n")
    assert ok.exit_code == 0, ok.output
    short = runner.invoke(app, ["users", "add", "bob", "--role", "analyst", "--password-stdin",
                                "--store", str(store)], input="short\n")
    assert short.exit_code == 2 and "at least 10" in short.output
    listed = runner.invoke(app, ["users", "list", "--store", str(store)], env=WIDE)
    assert "alice" in listed.output and "analyst" in listed.output and "bob" not in listed.output
