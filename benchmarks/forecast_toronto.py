"""Forecasting on real data: Toronto's Major Crime Indicators, weekly windows over 2020.

Run: ``.venv/bin/python benchmarks/forecast_toronto.py`` (about ten minutes on 2 cores), or with
``--tune`` to choose the hyper-parameters on 2019 first (they are read from
``benchmarks/toronto_hyperparameters.json``, written by ``--tune``; the 2020 weeks are never used
to choose anything).

It ingests ``../shared/data/crime_toronto`` with the packaged ``toronto_mci`` mapping into a
temporary store, builds the study area from the cells with incidents before 2020, and backtests
every forecaster on the 52 weeks starting Monday 2020-01-06, for all categories together and for
Assault, Break and Enter, Auto Theft and Robbery. Each model is fitted only on data strictly
before each week; the cross-source model and the ensemble are refitted every four weeks
(``PeriodicRefit``), as a weekly service with monthly retraining would run. It prints, per
category set, every model's mean PAI@1 % and @5 %, PEI*@1 %, Poisson log-likelihood per cell
(95 % bootstrap intervals over the weeks) and fit/predict times, and writes the JSON results and
the HTML report of the all-categories run into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console

from belvedere.cli.picture import summary_table
from belvedere.models.backtest import backtest, weekly_starts
from belvedere.models.base import EventData, PeriodicRefit
from belvedere.models.registry import Factory, forecasters
from belvedere.models.report import write_report
from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import IngestReport, ingest_file
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.factory import open_store

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "crime_toronto" \
    / "toronto_mci_2014_2020.csv.gz"
HYPER = Path(__file__).with_name("toronto_hyperparameters.json")
CATEGORY_SETS = {"all": (), "Assault": ("assault",), "Break and Enter": ("burglary",),
                 "Auto Theft": ("vehicle_theft",), "Robbery": ("robbery",)}
EVALUATION = datetime(2020, 1, 6, tzinfo=UTC)
TUNING = datetime(2019, 1, 7, tzinfo=UTC)
HORIZON = timedelta(days=7)
GRID: dict[str, list[dict[str, Any]]] = {
    "recent": [{"days": d} for d in (28, 56, 112)],
    "kde": [{"bandwidth_rings": k, "days": d} for k in (0, 1, 2) for d in (365, 730)],
    "prospective": [{"bandwidth_rings": k, "weeks": w} for k in (1, 2) for w in (4, 8)],
    "etas": [{"max_lag_days": lag} for lag in (14, 60)],
}
console = Console()


def load() -> EventData:
    """Toronto's incidents, ingested with the shipped mapping, as model input."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "toronto.duckdb")
        report = IngestReport()
        t = time.perf_counter()
        ingest_file(store, IncidentLog.packaged("toronto_mci"), DATA,
                    Pseudonymiser(b"toronto-benchmark-key-0123456789"), report)
        (batch,) = report.batches
        console.print(f"ingested {batch.rows_read:,} rows: {batch.rows_stored:,} stored, "
                      f"{batch.rows_quarantined:,} quarantined {batch.quarantine_rules} "
                      f"({time.perf_counter() - t:.1f} s)")
        events = pl.from_arrow(store.incident_points(("toronto_mci",)))
        store.close()
    assert isinstance(events, pl.DataFrame)
    before = events.filter(pl.col("ts") < EVALUATION)
    area = np.unique(before["cell"].to_numpy())
    return EventData.from_frame(events, resolution=9, area=area)


def factories(hyper: dict[str, dict[str, Any]]) -> dict[str, Factory]:
    """The models, with the slow ones refitted every four weeks (one instance per run)."""
    base = forecasters(horizon_days=7, **hyper)
    boosted = PeriodicRefit(model=base["boosted"]())
    ensemble = PeriodicRefit(model=base["ensemble"]())
    return {**base, "boosted": lambda: boosted, "ensemble": lambda: ensemble}


def tune(data: EventData) -> dict[str, dict[str, Any]]:
    """Choose each model's parameters by mean PAI@1 % over 2019's weeks (every other week)."""
    starts = weekly_starts(TUNING, 52)[::2]
    chosen: dict[str, dict[str, Any]] = {}
    for name, grid in GRID.items():
        scores = []
        for params in grid:
            model = forecasters(**{name: params})[name]
            result = backtest(data, {"naive": forecasters()["naive"], name: model},
                              starts=starts, horizon=HORIZON)
            pai = float(result.windows.filter(pl.col("model") == name)["pai@1%"].mean())
            scores.append(pai)
            console.print(f"  tune {name} {params}: PAI@1% {pai:.2f}")
        chosen[name] = grid[int(np.argmax(scores))]
    HYPER.write_text(json.dumps(chosen, indent=2, sort_keys=True) + "\n")
    console.print(f"chosen on 2019 → {HYPER.name}: {chosen}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tune", action="store_true", help="choose parameters on 2019 first")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--out", type=Path, default=Path("toronto-backtest"))
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} not found: the real data lives in ../shared/data")
    t0 = time.perf_counter()
    data = load()
    console.print(f"{data.events.height:,} incidents on {len(data.area):,} cells (resolution 9)")
    hyper = tune(data) if args.tune else json.loads(HYPER.read_text()) if HYPER.exists() else {}
    starts = weekly_starts(EVALUATION, args.weeks)
    results: dict[str, Any] = {"hyperparameters": hyper, "sets": {}}
    for label, categories in CATEGORY_SETS.items():
        subset = data.categories(*categories)
        t = time.perf_counter()
        models = factories(hyper)
        result = backtest(subset, models, starts=starts, horizon=HORIZON)
        summary = result.summary()
        console.print(summary_table(summary, list(models),
                                    title=f"Toronto 2020, {label}: {args.weeks} weekly windows "
                                          f"({time.perf_counter() - t:.0f} s)"))
        results["sets"][label] = summary.to_dicts()
        if label == "all":
            html = write_report(result, args.out, title="Toronto MCI — 2020 weekly backtest",
                                area_cells=subset.area, resolution=9)
            console.print(f"report → {html}")
    (args.out / "toronto_summary.json").parent.mkdir(parents=True, exist_ok=True)
    (args.out / "toronto_summary.json").write_text(json.dumps(results, indent=2, default=str))
    console.print(f"total {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
