"""The fairness audit: exposure ratios with intervals, concentration, flags; a forecaster forced
onto one zone is flagged, the simulated city is reported for its 16 arrondissements with every
benchmark, and Toronto (real data, no benchmark but area) runs."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from belvedere.cli import app as cli_app
from belvedere.errors import ConfigError
from belvedere.models.base import EventData, GridForecaster
from belvedere.models.fairness import Zoning, exposure, fairness_audit, gini
from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import IngestReport, ingest_file
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests.backends import copy_store, discard_store

TORONTO = (Path(__file__).resolve().parents[3] / "shared" / "data" / "crime_toronto"
           / "toronto_mci_2014_2020.csv.gz")
ZONES = [f"132{i:02d}" for i in range(1, 17)]


class OneZone(GridForecaster):
    """A forecaster forced onto the cells of one arrondissement (the rest: small noise)."""

    def __init__(self, *, zone: str = "13207", random_state: int = 0) -> None:
        self.zone = zone
        self.random_state = random_state

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        self.target_ = Zoning.parse("arrondissements").of(data.area) == self.zone
        self.rng_ = np.random.default_rng(self.random_state)

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        return np.where(self.target_, 10.0, 0.0) + self.rng_.random(len(self.target_))


def test_exposure_ratios_are_shares_over_shares_with_intervals_over_windows() -> None:
    attention = np.array([[6, 2, 2], [4, 4, 2], [5, 3, 2], [7, 1, 2]], dtype=float)
    benchmark = np.array([[2, 4, 4], [3, 3, 4], [2, 4, 4], [3, 3, 4]], dtype=float)
    result = exposure(attention, benchmark, ["a", "b", "c"], replicates=4000)
    a, b, c = result.zones
    # 22/40 of the attention over 10/40 of the benchmark.
    assert (a.attention_share, a.benchmark_share, a.ratio) == (0.55, 0.25, 2.2)
    assert a.low < 2.2 < a.high and a.low > 1.25 and a.flag == "over"
    assert c.ratio == pytest.approx(0.5) and c.flag == "under"
    assert b.ratio == pytest.approx(0.25 / 0.35) and b.low < 0.8 < b.high and b.flag == ""
    assert result.gini_attention.value == pytest.approx(float(gini(np.array([22, 10, 8]))))
    assert 0 < result.relative_concentration.low <= result.relative_concentration.value
    # The same figures twice: the same intervals (a fixed seed).
    again = exposure(attention, benchmark, ["a", "b", "c"], replicates=4000)
    assert again.zones == result.zones


def test_a_single_window_has_no_interval_and_flags_nothing() -> None:
    result = exposure(np.array([[9.0, 1.0]]), np.array([[1.0, 9.0]]), ["a", "b"])
    assert result.zones[0].ratio == 9.0 and math.isnan(result.zones[0].low)
    assert result.flagged == []
    with pytest.raises(ConfigError):
        exposure(np.zeros((2, 2)), np.ones((2, 2)), ["a", "b"])


def test_a_forecaster_forced_onto_one_arrondissement_is_flagged_and_the_others_are_not(
        city_store: Store) -> None:
    args = {"weeks": 5, "horizon": timedelta(days=2), "feedback_seeds": (), "replicates": 500}
    forced = fairness_audit(city_store, make=lambda: OneZone(zone="13207"), **args)
    honest = fairness_audit(city_store, model="naive", **args)

    assert len(forced.windows) == 5 and forced.model == "custom"
    for name in ("fire_ems", "crowd", "population", "area"):
        seventh = forced.benchmarks[name].zones[ZONES.index("13207")]
        fair = honest.benchmarks[name].zones[ZONES.index("13207")]
        assert seventh.flag == "over" and seventh.low > 3, (name, seventh)
        assert seventh.attention_share > 0.4 and seventh.low > fair.high
        # Trained on the incidents, the 7e gets no more than its share of the people and their
        # calls (against area alone it does: a dense arrondissement).
        assert fair.flag != "over" or name == "area", (name, fair)
    assert (forced.benchmarks["population"].relative_concentration.value
            > honest.benchmarks["population"].relative_concentration.value + 0.2)


@pytest.fixture
def city_copy(city_store_url: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a private copy of the ingested city (the audit writes to its access log)."""
    url = copy_store(city_store_url, tmp_path)
    yield url
    discard_store(url)


def test_the_audit_of_the_simulated_city_reports_its_16_arrondissements(
        city_copy: str, tmp_path: Path) -> None:
    store = city_copy
    runner = CliRunner()
    result = runner.invoke(cli_app, ["audit", "fairness", "--store", store, "--no-feedback",
                                     "--out", str(tmp_path / "fairness.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "fairness.json").read_text())
    assert list(report["benchmarks"]) == ["fire_ems", "crowd", "population", "area"]
    for bench in report["benchmarks"].values():
        assert [z["zone"] for z in bench["zones"]] == ZONES
        assert sum(z["attention_share"] for z in bench["zones"]) == pytest.approx(1.0)
        assert sum(z["benchmark_share"] for z in bench["zones"]) == pytest.approx(1.0)
    # Fourteen days hold one week to learn from and one to audit: no interval, no flag.
    assert len(report["windows"]) == 1 and report["notes"]
    assert report["top_cells"] == math.ceil(0.05 * report["area_cells"])
    assert "16e" in result.output and "audit line" in result.output
    html = runner.invoke(cli_app, ["audit", "fairness", "--store", store, "--no-feedback",
                                   "--model", "kde", "--out", str(tmp_path / "fairness.html")])
    assert html.exit_code == 0, html.output
    page = (tmp_path / "fairness.html").read_text()
    assert page.startswith("<!doctype html>") and page.count("<tr class=") == 4 * 16
    db = open_store(store)
    lines = [json.loads(r.what) for r in db.audit_rows() if "fairness" in r.what]
    db.close()
    assert [line["model"] for line in lines] == ["naive", "kde"]


def test_the_report_carries_the_feedback_loop_simulation(city_store: Store) -> None:
    report = fairness_audit(city_store, weeks=1, feedback_seeds=(0, 1), feedback_days=200,
                            replicates=100)
    loop = report.feedback
    assert loop is not None and len(loop.naive_forecast_share) == 2
    # Trained on patrol discoveries the forecast runs away from the truth (0.5); guarded not.
    assert min(abs(s - 0.5) for s in loop.naive_forecast_share) > 0.25
    assert max(abs(s - 0.5) for s in loop.guarded_forecast_share) < 0.2
    assert report.patrol_left_out > 0  # the city's patrol discoveries, left out of training
    assert json.loads(json.dumps(report.to_dict()))["feedback"]["days"] == 200


@pytest.mark.skipif(not TORONTO.exists(), reason=f"real data not found at {TORONTO}")
def test_the_audit_runs_on_toronto_with_the_area_benchmark_only(store: Store) -> None:
    ingest_file(store, IncidentLog.packaged("toronto_mci"), TORONTO,
                Pseudonymiser(b"toronto-fairness-key-0123456789ab"), IngestReport())
    report = fairness_audit(store, source="toronto_mci", area="observed", weeks=3,
                            feedback_seeds=(), replicates=500)
    assert report.zoning == "h3:6" and list(report.benchmarks) == ["area"]
    assert any("uniform by area" in n for n in report.notes)
    zones = report.benchmarks["area"].zones
    assert len(zones) > 15 and sum(z.attention_share for z in zones) == pytest.approx(1.0)
    assert report.windows[-1] < datetime.fromisoformat("2021-01-01T00:00:00+00:00")
