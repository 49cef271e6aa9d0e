"""The rolling-origin backtest and its report, on a small synthetic city with trivial models."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import h3
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from belvedere.errors import ConfigError
from belvedere.models.backtest import CURVE_FRACTIONS, BacktestResult, backtest, weekly_starts
from belvedere.models.base import EventData, GridForecaster, cell_counts
from belvedere.models.report import write_report

RESOLUTION = 8
FIRST = datetime(2024, 1, 1, tzinfo=UTC)
HORIZON = timedelta(days=7)


class LastWeeks(GridForecaster):
    """The naive baseline: each cell's count over the last weeks, scaled to the horizon."""

    def __init__(self, *, weeks: int = 4) -> None:
        self.weeks = weeks

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        self.lookback_ = timedelta(weeks=self.weeks)
        self.counts_ = cell_counts(past, data.area, until - self.lookback_, until)

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        return self.counts_ * (horizon / self.lookback_)


class Uniform(GridForecaster):
    """The city-wide past rate, shared equally among cells."""

    def __init__(self) -> None:
        pass

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        self.n_ = len(data.area)
        self.rate_ = float(past["weight"].sum()) / max((until - FIRST) / timedelta(days=1), 1.0)

    def _predict(self, start: datetime, horizon: timedelta) -> np.ndarray:
        return np.full(self.n_, self.rate_ * (horizon / timedelta(days=1)) / self.n_)


class Spy(LastWeeks):
    """Records, at every fit, the training cut-off and the latest event it was given."""

    def __init__(self, *, log: list[tuple[datetime, datetime]]) -> None:
        self.log = log

    def _fit(self, data: EventData, past: pl.DataFrame, until: datetime) -> None:
        self.log.append((until, past["ts"].max()))  # type: ignore[arg-type]
        self.weeks = 4
        super()._fit(data, past, until)


@pytest.fixture(scope="module")
def data() -> EventData:
    """Ten weeks of events on 19 cells around the Vieux-Port, with stable hot spots."""
    rng = np.random.default_rng(3)
    centre = h3.latlng_to_cell(43.2951, 5.3745, RESOLUTION)
    area = np.array(sorted(h3.str_to_int(c) for c in h3.grid_disk(centre, 2)), dtype=np.int64)
    rates = rng.gamma(0.6, 1.5, size=len(area))  # events per cell per day
    cells: list[int] = []
    times: list[datetime] = []
    for day in range(70):
        counts = rng.poisson(rates)
        for i, n in enumerate(counts):
            cells.extend([area[i]] * n)
            times.extend(FIRST + timedelta(days=day, seconds=float(s))
                         for s in rng.uniform(0, 86_400, n))
    frame = pl.DataFrame({"cell": cells, "ts": times}, schema={
        "cell": pl.Int64, "ts": pl.Datetime("us", "UTC")})
    frame = frame.with_columns(category=pl.lit("theft"), origin=pl.lit("reported_by_public"))
    return EventData.from_frame(frame, resolution=RESOLUTION, area=area)


STARTS = weekly_starts(FIRST + timedelta(weeks=5), 4)


@pytest.fixture(scope="module")
def result(data: EventData) -> BacktestResult:
    return backtest(data, {"uniform": Uniform, "naive": LastWeeks}, starts=STARTS,
                    horizon=HORIZON)


def test_weekly_starts_are_a_week_apart() -> None:
    starts = weekly_starts(FIRST, 3)
    assert starts == [FIRST, FIRST + timedelta(weeks=1), FIRST + timedelta(weeks=2)]
    assert weekly_starts(FIRST, 0) == []


def test_backtest_tables_have_one_row_per_model_and_window(result: BacktestResult,
                                                            data: EventData) -> None:
    n_windows, n_cells = len(STARTS), len(data.area)
    assert result.models == ("naive", "uniform")
    assert result.windows.height == 2 * n_windows
    assert result.windows.columns[:2] == ["model", "window_start"]
    assert result.windows.columns[-2:] == ["fit_s", "predict_s"]
    assert {"hit@1%", "pai@5%", "pei*@10%", "loglik", "loglik_per_cell", "observed_total",
            "expected_total"} <= set(result.metric_names)
    assert result.windows["window_start"].dtype == pl.Datetime("us", "UTC")
    assert result.starts == STARTS
    assert (result.windows["fit_s"] >= 0).all()
    for name in result.models:
        assert result.curves[name].shape == (n_windows, len(CURVE_FRACTIONS))
        assert result.expected[name].shape == (n_windows * n_cells,)
        assert result.last_scores[name].shape == (n_cells,)
    assert result.observed.shape == (n_windows * n_cells,)
    assert result.observed[-n_cells:] == pytest.approx(
        cell_counts(data.events, data.area, STARTS[-1], STARTS[-1] + HORIZON))


def test_every_fit_uses_only_data_strictly_before_the_window(data: EventData) -> None:
    log: list[tuple[datetime, datetime]] = []
    backtest(data, {"naive": LastWeeks, "spy": lambda: Spy(log=log)}, starts=STARTS,
             horizon=HORIZON)
    assert [until for until, _ in log] == STARTS
    for until, latest in log:
        assert latest < until
        assert latest > until - timedelta(days=1)  # it did get the recent past


def test_observed_totals_are_the_windows_events(result: BacktestResult, data: EventData) -> None:
    naive = result.windows.filter(pl.col("model") == "naive")
    for start, total in zip(naive["window_start"], naive["observed_total"], strict=True):
        assert total == data.events.filter(
            (pl.col("ts") >= start) & (pl.col("ts") < start + HORIZON)).height


def test_uniform_scores_give_pai_near_one_and_the_naive_beats_them(
        result: BacktestResult) -> None:
    summary = result.summary()
    pai = {r["model"]: r["mean"] for r in summary.filter(pl.col("metric") == "pai@10%").to_dicts()}
    assert pai["naive"] > pai["uniform"]


def test_summary_gives_each_metric_a_mean_within_its_interval(result: BacktestResult) -> None:
    summary = result.summary()
    assert summary.columns == ["model", "metric", "mean", "low", "high", "windows"]
    assert summary["model"].unique(maintain_order=True).to_list() == ["naive", "uniform"]
    assert summary.height == 2 * (len(result.metric_names) + 2)
    finite = summary.filter(pl.col("mean").is_not_nan())
    assert finite.height == summary.height
    assert (finite["low"] <= finite["mean"]).all()
    assert (finite["mean"] <= finite["high"]).all()
    assert result.summary(random_state=5).equals(result.summary(random_state=5))


def test_to_json_round_trips_the_tables(result: BacktestResult, tmp_path: Path) -> None:
    path = result.to_json(tmp_path / "bt.json")
    loaded = json.loads(path.read_text())
    assert loaded["training_rule"] == (
        "each model is fitted only on data strictly before each window")
    assert loaded["starts"] == [s.isoformat() for s in STARTS]
    assert loaded["models"] == ["naive", "uniform"]
    windows = pl.DataFrame(loaded["windows"]).with_columns(
        pl.col("window_start").str.to_datetime(time_zone="UTC", time_unit="us"))
    assert_frame_equal(windows.select(result.windows.columns), result.windows)
    assert_frame_equal(pl.DataFrame(loaded["summary"]), result.summary(), check_column_order=False)
    assert len(loaded["curves"]["pai"]["naive"]) == len(CURVE_FRACTIONS)
    assert list(loaded) == sorted(loaded)  # stable, sorted keys
    assert path.read_text() == result.to_json(tmp_path / "again.json").read_text()


def test_backtest_refuses_to_run_without_the_naive_baseline(data: EventData) -> None:
    with pytest.raises(ConfigError, match="naive"):
        backtest(data, {"uniform": Uniform}, starts=STARTS, horizon=HORIZON)


@pytest.mark.parametrize(("starts", "horizon"), [
    ([], HORIZON),
    (STARTS, timedelta(0)),
    ([datetime(2024, 2, 5)], HORIZON),  # no time zone
])
def test_backtest_refuses_unusable_windows(data: EventData, starts: list[datetime],
                                           horizon: timedelta) -> None:
    with pytest.raises(ConfigError):
        backtest(data, {"naive": LastWeeks}, starts=starts, horizon=horizon)


def test_progress_is_reported_after_each_fit(data: EventData) -> None:
    calls: list[tuple[str, int, int]] = []
    backtest(data, {"naive": LastWeeks, "uniform": Uniform}, starts=STARTS[:2],
             horizon=HORIZON, progress=lambda label, done, total: calls.append(
                 (label, done, total)))
    assert [(done, total) for _, done, total in calls] == [(i, 4) for i in range(1, 5)]
    assert calls[0][0].startswith("naive @ ")


def test_report_writes_html_figures_and_json_without_observed_maps(
        data: EventData, tmp_path: Path) -> None:
    models: dict[str, Callable[[], GridForecaster]] = {"naive": LastWeeks, "uniform": Uniform}
    for w in (1, 2, 3, 5):
        models[f"weeks_{w}"] = partial(LastWeeks, weeks=w)
    result = backtest(data, models, starts=STARTS, horizon=HORIZON)
    page = write_report(result, tmp_path / "report", title="Backtest — Marseille",
                        area_cells=data.area, resolution=RESOLUTION)
    folder = page.parent
    assert page.name == "report.html"
    assert {p.name for p in folder.glob("*.png")} == {
        "pai_curve.png", "hit_rate_curve.png", "calibration.png",
        *(f"forecast_map_{m}.png" for m in result.models)}
    assert not any("observed" in p.name for p in folder.iterdir())
    assert json.loads((folder / "report.json").read_text()) == result.to_dict()
    text = page.read_text()
    for heading in ("Taux de réussite / Hit rate", "PAI selon la surface / PAI vs area",
                    "Calibration / Calibration", "Cartes des prévisions / Forecast maps",
                    "Résumé / Summary", "Règle d'entraînement / Training rule"):
        assert heading in text
    assert "each model is fitted only on data strictly before each window" in text
    assert text.count("data:image/png;base64,") == 3 + len(result.models)
    assert "src=\"http" not in text  # self-contained
    assert page.stat().st_size < 3 * 1024 * 1024


def test_report_refuses_an_area_of_the_wrong_size(result: BacktestResult,
                                                  data: EventData, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        write_report(result, tmp_path, title="x", area_cells=data.area[:-1],
                     resolution=RESOLUTION)
