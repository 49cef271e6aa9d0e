"""The command line end to end: demo without serving, re-ingest, situation, users, audit."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from belvedere.cli import app
from belvedere.sources.base import registry
from belvedere.store.factory import open_store
from tests import rawsql
from tests.backends import copy_store, discard_store, new_store_url
from tests.tools import need_poppler

WIDE = {"COLUMNS": "200"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The demo's data folder and the URL of its store (of the tests' backend)."""
    tmp = tmp_path_factory.mktemp("demo")
    out, store = tmp / "demo-data", new_store_url(tmp, "demo")
    try:
        result = CliRunner().invoke(app, ["demo", "--no-serve", "--no-backtest", "--days", "14",
                                          "--out", str(out), "--store", store], env=WIDE)
        assert result.exit_code == 0, result.output
        assert "operateur" in result.output and "demo-operateur-2024" in result.output
        yield out, store
    finally:
        discard_store(store)


def test_demo_stores_all_eight_feeds(demo: tuple[Path, str]) -> None:
    db = open_store(demo[1])
    counts = db.counts_by_source()
    db.close()
    assert set(counts) == set(registry()) and len(counts) == 8
    assert all(n > 0 for n in counts.values()), counts


def test_ingesting_the_same_folder_again_stores_nothing_and_says_so(
        demo: tuple[Path, str]) -> None:
    db = open_store(demo[1])
    before = db.counts_by_source()
    db.close()
    result = CliRunner().invoke(app, ["ingest", str(demo[0]), "--store", demo[1]], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "0 new rows stored" in result.output
    db = open_store(demo[1])
    assert db.counts_by_source() == before
    db.close()


def test_situation_prints_a_released_table_and_audits_it(demo: tuple[Path, str]) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["situation", "--store", demo[1], "--source", "police_log"],
                           env=WIDE)
    assert result.exit_code == 0, result.output
    assert "granted zone × day, k = 11" in result.output and "police_log" in result.output
    tail = runner.invoke(app, ["audit", "tail", "-n", "1", "--store", demo[1]], env=WIDE)
    # The line names the person at the terminal by pseudonym; `audit who` finds it.
    who = runner.invoke(app, ["audit", "who", f"cli:{getpass.getuser()}", "--store",
                              demo[1]], env=WIDE)
    me = who.output.split("appears in the access log as ")[1].split(".")[0].strip()
    assert me.startswith("psn-") and me in tail.output and "analysis" in tail.output
    assert getpass.getuser() not in tail.output.replace("Access log", "")
    verify = runner.invoke(app, ["audit", "verify", "--store", demo[1]], env=WIDE)
    assert verify.exit_code == 0 and "intact" in verify.output


@pytest.fixture
def demo_copy(demo: tuple[Path, str], tmp_path: Path) -> Iterator[str]:
    """The URL of a private copy of the demo store, with its key files (a test tampers)."""
    url = copy_store(demo[1], tmp_path)
    yield url
    discard_store(url)


def test_audit_verify_passes_on_the_demo_store_and_names_a_tampered_line(
        demo_copy: str) -> None:
    store = demo_copy
    runner = CliRunner()
    for _ in range(3):
        runner.invoke(app, ["situation", "--store", store], env=WIDE)
    signed = runner.invoke(app, ["audit", "sign", "--store", store], env=WIDE)
    assert signed.exit_code == 0, signed.output
    head = runner.invoke(app, ["audit", "head", "--json", "--store", store], env=WIDE)
    published = json.loads(head.output)
    assert published["public_key"] == runner.invoke(
        app, ["audit", "key", "--store", store]).output.strip()
    ok = runner.invoke(app, ["audit", "verify", "--store", store], env=WIDE)
    assert ok.exit_code == 0 and "intact" in ok.output, ok.output
    assert f"{published['tree_size']} lines chained, 1 signed tree heads match" in ok.output
    db = open_store(store)
    seq = db.audit_rows()[1].seq
    rawsql.execute(db, "UPDATE audit_log SET rows_released = rows_released + 1 WHERE seq = ?",
                   [seq])
    db.close()
    broken = runner.invoke(app, ["audit", "verify", "--store", store], env=WIDE)
    assert broken.exit_code == 1
    assert f"access log broken at line #{seq}" in broken.output
    assert f"line #{seq}: hash mismatch" in broken.output and "head mismatch" in broken.output


def test_users_add_reads_the_password_from_stdin(store_url: str) -> None:
    store = store_url
    runner = CliRunner()
    ok = runner.invoke(app, ["users", "add", "alice", "--role", "analyst", "--password-stdin",
                             "--store", store], input="a-long-password\n")
    assert ok.exit_code == 0, ok.output
    short = runner.invoke(app, ["users", "add", "bob", "--role", "analyst", "--password-stdin",
                                "--store", store], input="short\n")
    assert short.exit_code == 2 and "at least 10" in short.output
    listed = runner.invoke(app, ["users", "list", "--store", store], env=WIDE)
    assert "alice" in listed.output and "analyst" in listed.output and "bob" not in listed.output
    # Creating an account is an administrative act in the access log; a refused one is not.
    import json

    db = open_store(store)
    created = [json.loads(r.what) for r in db.audit_rows() if r.action == "administration"]
    db.close()
    assert created == [{"resource": "user", "created": "alice", "role": "analyst"}]


def test_ingest_one_file_with_a_mapping_then_review_and_retry_its_quarantine(
        tmp_path: Path, store_url: str) -> None:
    store = store_url
    data = tmp_path / "export.csv"
    data.write_text("numero_fiche;date_heure;latitude;longitude;code_nature;origine;gravite\n"
                    "MC-1;03/02/2018 17:45;43,2951;5,3740;VOL_SIMPLE;patrouille;1\n"
                    "MC-2;03/02/2018 17h45;43,2951;5,3740;VOL_SIMPLE;patrouille;1\n"
                    "MC-3;2018-02-03 17:45;43,2951;5,3740;VOL_SIMPLE;patrouille;1\n")
    runner = CliRunner()
    first = runner.invoke(app, ["ingest", "police_log", str(data), "--mapping",
                                "marseille_police_log", "--store", store], env=WIDE)
    assert first.exit_code == 0, first.output
    assert "2 new rows stored" in first.output and "bad_time" in first.output
    listed = runner.invoke(app, ["quarantine", "list", "--store", store], env=WIDE)
    assert "1 open rows" in listed.output and "2018-02-03 17:45" in listed.output
    batch_line = next(word for word in listed.output.split() if word.endswith(":4"))
    shown = runner.invoke(app, ["quarantine", "show", batch_line, "--store", store], env=WIDE)
    assert shown.exit_code == 0 and '"numero_fiche": "MC-3"' in shown.output
    # Reviewing rejected rows is an access to data: both reads are in the access log.
    db = open_store(store)
    reads = [r for r in db.audit_rows() if '"resource": "quarantine"' in r.what]
    db.close()
    assert [(r.purpose, r.rows_released) for r in reads] == [("data_quality", 1)] * 2
    # The export's third date format, declared in a fixed mapping, recovers the row.
    fixed = tmp_path / "fixed.toml"
    text = (Path(__file__).parent.parent / "belvedere/sources/mappings/"
            "marseille_police_log.toml").read_text()
    fixed.write_text(text.replace('"%d/%m/%Y %Hh%M"]', '"%d/%m/%Y %Hh%M", "%Y-%m-%d %H:%M"]'))
    retried = runner.invoke(app, ["quarantine", "retry", "--mapping", str(fixed),
                                  "--store", store], env=WIDE)
    assert retried.exit_code == 0, retried.output
    assert "1 rows recovered; 0 rows still in quarantine" in retried.output
    history = runner.invoke(app, ["quarantine", "list", "--status", "retried", "--store", store],
                            env=WIDE)
    assert "1 retried rows" in history.output


def test_sources_lists_every_connector_and_packaged_mapping() -> None:
    result = CliRunner().invoke(app, ["sources"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for name in registry():
        assert name in result.output
    for mapping in ("toronto_mci", "chicago_crimes", "portland_nij", "schedule_om_home"):
        assert mapping in result.output


def test_forecast_writes_every_study_area_cell_with_the_models_expected_total(
        demo: tuple[Path, str], tmp_path: Path) -> None:
    import h3
    import polars as pl

    from belvedere.models.data import city_area, load_event_data
    from belvedere.models.registry import forecaster

    out = tmp_path / "forecast.csv"
    start = "2024-09-12T00:00:00+00:00"
    result = CliRunner().invoke(app, ["forecast", "--model", "kde", "--start", start,
                                      "--horizon", "2d", "--out", str(out),
                                      "--store", demo[1]], env=WIDE)
    assert result.exit_code == 0, result.output
    frame = pl.read_csv(out)
    assert frame.columns == ["cell", "score"]
    area = {h3.int_to_str(int(c)) for c in city_area(9)}
    assert set(frame["cell"]) == area and frame.height == len(area)
    assert (frame["score"] >= 0).all()
    # The file's total is the model's expected total over the window, fitted the same way.
    db = open_store(demo[1])
    data = load_event_data(db, covariates=False).without_patrol_discoveries()
    db.close()
    from datetime import datetime, timedelta

    begin = datetime.fromisoformat(start)
    expected = forecaster("kde").fit(data, until=begin).predict(begin, timedelta(days=2))
    assert abs(frame["score"].sum() - expected.sum()) < 1e-6 * max(1.0, expected.sum())
    assert "patrol discoveries left out of training" in result.output


def test_backtest_report_is_built_and_served_to_a_logged_in_analyst(
        demo: tuple[Path, str], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from belvedere.api.main import create_app
    from belvedere.privacy.users import add_user

    reports = tmp_path / "reports"
    result = CliRunner().invoke(app, ["backtest", "--models", "naive,kde,etas", "--windows", "2",
                                      "--horizon", "2d", "--out", str(reports / "backtest"),
                                      "--store", demo[1]], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "pai@1%" in result.output and "kde" in result.output
    html = (reports / "backtest" / "report.html").read_text()
    assert "PAI" in html and "data:image/png;base64" in html
    db = open_store(demo[1])
    if db.get_user("ana-report") is None:
        add_user(db, "ana-report", "analyst-password", role="analyst")
    with TestClient(create_app(db, reports_dir=reports)) as client:
        assert client.get("/reports/backtest").status_code == 401
        client.post("/api/v1/auth/login", data={"username": "ana-report",
                                                "password": "analyst-password"})
        before = len(db.audit_rows())
        page = client.get("/reports/backtest")
        assert page.status_code == 200 and "PAI" in page.text
        assert len(db.audit_rows()) == before + 1
        assert client.get("/reports/backtest?lang=en").status_code == 200
    db.close()


def test_anticipate_writes_hourly_rows_per_feed_and_cell_with_ordered_intervals(
        demo: tuple[Path, str], tmp_path: Path) -> None:
    import polars as pl

    out = tmp_path / "anticipation.csv"
    result = CliRunner().invoke(app, ["anticipate", "--venue", "velodrome", "--start",
                                      "2024-09-21T19:00:00+00:00", "--attendance", "60000",
                                      "--out", str(out), "--store", demo[1]], env=WIDE)
    assert result.exit_code == 0, result.output
    rows = pl.read_csv(out)
    assert rows.columns == ["zone", "cell", "hour", "offset_h", "feed", "baseline", "expected",
                            "lo80", "hi80", "lo95", "hi95"]
    assert set(rows["offset_h"]) == set(range(-6, 7))
    assert {"police_log", "crowd", "transit", "ed_arrivals", "fire_ems"} <= set(rows["feed"])
    ordered = rows.filter((pl.col("lo95") <= pl.col("lo80")) & (pl.col("lo80") <= pl.col("hi80"))
                          & (pl.col("hi80") <= pl.col("hi95")))
    assert ordered.height == rows.height
    # (The size of the effect is tested on 120 simulated days in tests/models; this store has
    # two weeks and one match.)
    assert (rows["expected"] >= 0).all() and rows["zone"].null_count() < rows.height


def test_brief_writes_the_event_briefing_pdf(demo: tuple[Path, str], tmp_path: Path) -> None:
    import subprocess

    db = open_store(demo[1])
    period = db.data_period()
    assert period is not None
    match = next(r["source_id"] for r in db.planned_events(*period).to_pylist()
                 if r["kind"] == "match_football")
    db.close()
    out = tmp_path / "brief.pdf"
    result = CliRunner().invoke(app, ["brief", "--event", match, "--lang", "en", "--out",
                                      str(out), "--store", demo[1]], env=WIDE)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:5] == b"%PDF-"
    need_poppler()
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
    assert "Olympique" in text and "k = 11" in text


def test_basemap_builds_a_pmtiles_file_from_an_extract(tmp_path: Path) -> None:
    tiny = Path(__file__).parent / "grid" / "data" / "tiny.osm"
    out = tmp_path / "city.pmtiles"
    runner = CliRunner()
    result = runner.invoke(app, ["basemap", "--osm", str(tiny), "--out", str(out)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "1 water, 1 building, 1 road" in result.output
    assert out.stat().st_size > 0
    missing = runner.invoke(app, ["basemap", "--osm", str(tmp_path / "no.osm"), "--out",
                                  str(out)], env=WIDE)
    assert missing.exit_code != 0 and "no OpenStreetMap extract" in missing.output


def test_the_dpo_writes_the_daily_report_under_their_own_purpose(
        demo: tuple[Path, str], tmp_path: Path) -> None:
    import json

    out = tmp_path / "daily.pdf"
    result = CliRunner().invoke(app, ["brief", "--daily", "2024-09-10", "--role", "dpo",
                                      "--out", str(out), "--store", demo[1]], env=WIDE)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")
    db = open_store(demo[1])
    lines = [r for r in db.audit_rows() if '"daily_brief"' in r.what or "daily" in r.what]
    db.close()
    assert lines and lines[-1].role == "dpo" and lines[-1].purpose == "dpo_review"
    assert json.loads(lines[-1].what)
