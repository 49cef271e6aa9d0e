"""Event impact on real data: Toronto 2014–2016 crimes around Toronto FC home games.

Run: ``.venv/bin/python benchmarks/events_toronto.py`` (under a minute).

Data: ``../shared/data/crime_toronto`` (Major Crime Indicators, hour + intersection-level
point) ingested with the ``toronto_mci`` mapping; Toronto FC home games at BMO Field from the MLS
results (``../shared/data/events/football/mls.csv.gz``) with the ``schedule_toronto_fc`` mapping
(kick-off 19:30 local: the file has no time). The venue's area: the resolution-8 H3 cells within
two rings of BMO Field (about 1.5 km). Same method and outputs as ``events_chicago.py``
(:mod:`belvedere.models.event_validation`): uplift per hour offset against matched controls with
95 % bootstrap intervals, for all crimes and per category; rolling-origin accuracy of the
game window (kick-off to +3 h) against the naive same-weekday baseline.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import h3
import polars as pl
from rich.console import Console
from rich.table import Table

from belvedere.models.base import coarsen
from belvedere.models.event_validation import (
    OFFSETS,
    EventWindows,
    bootstrap_mean,
    event_windows,
    rolling_accuracy,
)
from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.ingest import IngestReport, connector_for, ingest_file
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.factory import open_store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
CRIMES = SHARED / "crime_toronto" / "toronto_mci_2014_2020.csv.gz"
GAMES = SHARED / "events" / "football" / "mls.csv.gz"
BMO_FIELD = (43.6332, -79.4186)
YEARS = (datetime(2014, 1, 1, tzinfo=UTC), datetime(2017, 1, 1, tzinfo=UTC))
CATEGORIES = {"all": None, "assault": ("assault",), "robbery": ("robbery",),
              "burglary": ("burglary",), "vehicle theft": ("vehicle_theft",)}
console = Console()


def main() -> None:
    if not CRIMES.exists() or not GAMES.exists():
        raise SystemExit("the real data lives in ../shared/data (crime_toronto, events)")
    key = Pseudonymiser(b"toronto-events-key-0123456789abc")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "toronto.duckdb")
        report = IngestReport()
        ingest_file(store, IncidentLog.packaged("toronto_mci"), CRIMES, key, report)
        ingest_file(store, connector_for("toronto_fc", "schedule_toronto_fc"), GAMES, key, report)
        for b in report.batches:
            console.print(f"{b.source}: read {b.rows_read:,}, stored {b.rows_stored:,}, "
                          f"quarantined {b.rows_quarantined:,}, filtered {b.rows_filtered:,}")
        events = pl.from_arrow(store.incident_points(("toronto_mci",), start=YEARS[0],
                                                     end=YEARS[1]))
        games = pl.from_arrow(store.planned_events(*YEARS))
        store.close()
    assert isinstance(events, pl.DataFrame) and isinstance(games, pl.DataFrame)
    games = games.with_columns(pl.col("start").dt.convert_time_zone("UTC"),
                               pl.col("end").dt.convert_time_zone("UTC")).sort("start")
    venue = h3.latlng_to_cell(*BMO_FIELD, 8)
    area = [h3.str_to_int(c) for c in h3.grid_disk(venue, 2)]
    events = events.with_columns(cell=pl.Series(coarsen(events["cell"].to_numpy(), 8))).filter(
        pl.col("cell").is_in(area))
    span = (YEARS[0], YEARS[1] - timedelta(hours=7))
    blockers = list(games.select("start", "end").iter_rows())
    starts = games["start"].to_list()
    console.print(f"{games.height} Toronto FC home games 2014–2016; {events.height:,} crimes "
                  f"within two rings of BMO Field")

    def windows(categories: tuple[str, ...] | None) -> EventWindows:
        frame = events if not categories else events.filter(
            pl.col("category").is_in(list(categories)))
        hours = frame.group_by(pl.col("ts").dt.truncate("1h").alias("hour")).len()
        series = {h: float(n) for h, n in hours.iter_rows()}
        return event_windows(series, starts, blockers, span)

    table = Table(title="BMO Field area: uplift per hour offset (count − matched controls), "
                        "mean over games [95 % bootstrap]")
    table.add_column("hour")
    for label in CATEGORIES:
        table.add_column(label, justify="right")
    columns = {label: windows(cats).uplift for label, cats in CATEGORIES.items()}
    for i, o in enumerate(OFFSETS):
        cells = []
        for uplift in columns.values():
            m, lo, hi = bootstrap_mean(uplift[:, i])
            cells.append(f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]" + ("" if lo > 0 or hi < 0 else " ~0"))
        table.add_row(f"{int(o):+d} h", *cells)
    console.print(table)
    score = rolling_accuracy(windows(None))
    accuracy = Table(title="Out-of-sample, game window (kick-off to +3 h), all crimes")
    for col in ("games scored", "MAE naive", "MAE model", "95 % coverage naive",
                "95 % coverage model"):
        accuracy.add_column(col, justify="right")
    accuracy.add_row(str(score.scored), f"{score.mae_naive:.3f}", f"{score.mae_model:.3f}",
                     f"{score.coverage_naive:.1%}", f"{score.coverage_model:.1%}")
    console.print(accuracy)


if __name__ == "__main__":
    main()
