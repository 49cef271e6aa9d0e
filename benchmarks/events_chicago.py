"""Event impact on real data: Chicago 2022 crimes around Cubs and White Sox home games.

Run: ``.venv/bin/python benchmarks/events_chicago.py`` (about a minute).

Data: ``../shared/data/crime_chicago`` (Jan–Aug 2022, community areas only) ingested with the
``chicago_crimes`` mapping; home games from Retrosheet's 2022 game log with the
``schedule_chicago_mlb`` mapping (start times from the day/night flag: 13:20 / 19:05 local).
Wrigley Field is in community area 6 (Lake View), Guaranteed Rate Field in 34 (Armour Square).

For every home game and every hour from 6 h before to 6 h after the start, the venue zone's
count is compared with **matched controls** (``belvedere.models.event_impact.matched_controls``:
the same weekday and hour, up to six weeks away, no game of that park within ±12 h). It prints:

1. the uplift per hour offset (mean over games of count − control mean) with a 95 % bootstrap
   interval, for all crimes and for theft, assault and vandalism;
2. out-of-sample accuracy, rolling origin over the season: each game's window (start to +3 h)
   predicted as its controls' mean plus the mean uplift of the *earlier* games of the same park
   (pooled toward the other park's with ``pool``), against the naive same-weekday baseline (the
   controls' mean alone): mean absolute error and the coverage of the 95 % interval.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

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
CRIMES = SHARED / "crime_chicago" / "chicago_crimes_2022-01_to_2022-08_slim.csv.gz"
GAMES = SHARED / "events" / "mlb_retrosheet" / "gl2022.txt.gz"
# Venue ids of belvedere/sources/data/venues.csv (Retrosheet parks CHI11 and CHI12).
VENUE_ZONE = {"wrigley_field": "chicago-ca-6", "guaranteed_rate_field": "chicago-ca-34"}
VENUE_NAME = {"wrigley_field": "Wrigley Field (Cubs)",
              "guaranteed_rate_field": "Guaranteed Rate Field (White Sox)"}
WINDOW = (0, 3)  # the game itself, start to +3 h, for the accuracy test
HOUR = timedelta(hours=1)
CATEGORIES = {"all": None, "theft": ("theft",), "assault": ("assault",),
              "vandalism": ("vandalism",)}
console = Console()


def load() -> tuple[pl.DataFrame, pl.DataFrame, tuple[datetime, datetime]]:
    """Hourly crime counts per (zone, category) and the 2022 home games at the two parks."""
    key = Pseudonymiser(b"chicago-benchmark-key-0123456789")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "chicago.duckdb")
        report = IngestReport()
        ingest_file(store, IncidentLog.packaged("chicago_crimes"), CRIMES, key, report)
        ingest_file(store, connector_for("mlb_chicago", "schedule_chicago_mlb"), GAMES, key,
                    report)
        for b in report.batches:
            console.print(f"{b.source}: read {b.rows_read:,}, stored {b.rows_stored:,}, "
                          f"quarantined {b.rows_quarantined:,}, filtered {b.rows_filtered:,}")
        crimes = pl.from_arrow(store._con.sql(
            "SELECT zone, category, date_trunc('hour', ts) AS hour FROM incidents "
            "WHERE source = 'chicago_crimes'").to_arrow_table())
        games = pl.from_arrow(store.planned_events(datetime(2022, 1, 1, tzinfo=UTC),
                                                   datetime(2023, 1, 1, tzinfo=UTC)))
        period = store.data_period()
        store.close()
    assert isinstance(crimes, pl.DataFrame) and isinstance(games, pl.DataFrame) and period
    crimes = crimes.with_columns(pl.col("hour").dt.convert_time_zone("UTC"))
    games = games.with_columns(pl.col("start").dt.convert_time_zone("UTC"),
                               pl.col("end").dt.convert_time_zone("UTC"),
                               park=pl.col("venue"))
    return crimes, games, period


def hourly_series(crimes: pl.DataFrame, zone: str, categories: tuple[str, ...] | None,
                  span: tuple[datetime, datetime]) -> dict[datetime, float]:
    """Hour → count in ``zone`` (hours without a crime are 0)."""
    frame = crimes.filter(pl.col("zone") == zone)
    if categories:
        frame = frame.filter(pl.col("category").is_in(list(categories)))
    counts = frame.group_by("hour").len()
    return {h: float(n) for h, n in counts.iter_rows()}


def main() -> None:
    if not CRIMES.exists() or not GAMES.exists():
        raise SystemExit("the real data lives in ../shared/data (crime_chicago, events)")
    crimes, games, period = load()
    span = (period[0], period[1])
    games = games.filter(pl.col("start") < span[1] - 7 * HOUR)
    for park, zone in VENUE_ZONE.items():
        park_games = games.filter(pl.col("park") == park).sort("start")
        table = Table(title=f"{VENUE_NAME[park]}, zone {zone}: uplift per hour offset "
                            f"(count − matched controls), mean over {park_games.height} games "
                            "[95 % bootstrap]")
        table.add_column("hour")
        for label in CATEGORIES:
            table.add_column(label, justify="right")
        rows: dict[int, list[str]] = {int(o): [] for o in OFFSETS}
        for categories in CATEGORIES.values():
            uplift = park_windows(crimes, games, park, categories, span).uplift
            for i, o in enumerate(OFFSETS):
                m, lo, hi = bootstrap_mean(uplift[:, i])
                flag = "" if lo > 0 or hi < 0 else " ~0"
                rows[int(o)].append(f"{m:+.2f} [{lo:+.2f}, {hi:+.2f}]{flag}")
        for o, cells in rows.items():
            table.add_row(f"{o:+d} h", *cells)
        console.print(table)
    accuracy(crimes, games, span)


def accuracy(crimes: pl.DataFrame, games: pl.DataFrame, span: tuple[datetime, datetime]) -> None:
    """Rolling origin over the season: earlier games' uplift vs the naive same-weekday baseline."""
    table = Table(title="Out-of-sample, game window (start to +3 h), all crimes in the venue zone")
    for col in ("park", "games scored", "MAE naive", "MAE model", "95 % coverage naive",
                "95 % coverage model"):
        table.add_column(col, justify="left" if col == "park" else "right")
    per_park = {park: park_windows(crimes, games, park, None, span) for park in VENUE_ZONE}
    for park, windows in per_park.items():
        other = next(w for p, w in per_park.items() if p != park)
        score = rolling_accuracy(windows, window=WINDOW, prior=other)
        table.add_row(VENUE_NAME[park], str(score.scored), f"{score.mae_naive:.3f}",
                      f"{score.mae_model:.3f}", f"{score.coverage_naive:.1%}",
                      f"{score.coverage_model:.1%}")
    console.print(table)


def park_windows(crimes: pl.DataFrame, games: pl.DataFrame, park: str,
                 categories: tuple[str, ...] | None, span: tuple[datetime, datetime]
                 ) -> EventWindows:
    """The park's games around their start, in its community area."""
    park_games = games.filter(pl.col("park") == park).sort("start")
    blockers = list(park_games.select("start", "end").iter_rows())
    return event_windows(hourly_series(crimes, VENUE_ZONE[park], categories, span),
                         park_games["start"].to_list(), blockers, span)


if __name__ == "__main__":
    main()
