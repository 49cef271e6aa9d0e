"""One simulated city shared by the simulator's tests, and readers of its files.

The city is simulated once per test session (90 days from the default start: four real OM
home matches); every fixture reads the *written files*, as an ingest would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from belvedere.simulate import SimulationSummary, simulate_city

DAYS = 90
SEED = 42
EARTH_RADIUS_M = 6_371_008.8


@pytest.fixture(scope="session")
def haversine_m() -> Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]:
    """Great-circle distance in metres from points to one point (independent of the package)."""
    def distance(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
        p1, p2 = np.radians(lat), np.radians(lat0)
        a = (np.sin((p2 - p1) / 2) ** 2
             + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon0 - np.asarray(lon)) / 2) ** 2)
        return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)))

    return distance


@pytest.fixture(scope="session")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> SimulationSummary:
    """The summary of a 90-day simulation (its folder is ``simulated.out``)."""
    return simulate_city(tmp_path_factory.mktemp("city"), days=DAYS, seed=SEED)


@pytest.fixture(scope="session")
def events(simulated: SimulationSummary) -> pl.DataFrame:
    """The events calendar, with ``debut``/``fin`` parsed to local datetimes."""
    frame = pl.read_csv(simulated.out / "evenements" / "evenements.csv", separator=";",
                        infer_schema_length=0)
    return frame.with_columns(
        pl.col("debut").str.to_datetime("%Y-%m-%d %H:%M"),
        pl.col("fin").str.to_datetime("%Y-%m-%d %H:%M"),
        pl.col("affluence_prevue").cast(pl.Int64),
    )


@pytest.fixture(scope="session")
def matches(events: pl.DataFrame) -> pl.DataFrame:
    """The OM home matches of the calendar."""
    return events.filter(pl.col("type") == "match_football")


@pytest.fixture(scope="session")
def police(simulated: SimulationSummary) -> pl.DataFrame:
    """The police log with ``ts`` (local datetime) and float ``lat``/``lon``."""
    frame = pl.read_csv(simulated.out / "police" / "main_courante.csv", separator=";",
                        infer_schema_length=0)
    return frame.with_columns(
        ts=pl.col("date_heure").str.to_datetime("%d/%m/%Y %H:%M"),
        lat=pl.col("latitude").str.replace(",", ".").cast(pl.Float64),
        lon=pl.col("longitude").str.replace(",", ".").cast(pl.Float64),
    )


def _hourly(path: Path, separator: str) -> pl.DataFrame:
    frame = pl.read_csv(path, separator=separator, infer_schema_length=0)
    return frame.with_columns(
        ts=pl.concat_str([pl.col("date"), pl.lit(" "), pl.col("heure"), pl.lit(":00")])
        .str.to_datetime("%Y-%m-%d %H:%M"))


@pytest.fixture(scope="session")
def presence(simulated: SimulationSummary) -> pl.DataFrame:
    """Presence rows with ``ts`` (local hour start); ``nb_presents`` null when suppressed."""
    frame = _hourly(simulated.out / "operateur" / "presence.csv", ";")
    return frame.with_columns(pl.col("nb_presents").cast(pl.Int64))


@pytest.fixture(scope="session")
def ed(simulated: SimulationSummary) -> pl.DataFrame:
    """ED arrivals with ``ts`` (local hour start)."""
    frame = _hourly(simulated.out / "hopitaux" / "passages_urgences.csv", ";")
    return frame.with_columns(pl.col("nb_passages").cast(pl.Int64))


@pytest.fixture(scope="session")
def validations(simulated: SimulationSummary) -> pl.DataFrame:
    """Metro boardings with ``ts`` (local hour start)."""
    frame = _hourly(simulated.out / "transports" / "validations.csv", ",")
    return frame.with_columns(pl.col("validations").cast(pl.Int64))


@pytest.fixture(scope="session")
def cctv(simulated: SimulationSummary) -> pl.DataFrame:
    """Every CCTV event of every day; ``ts`` parsed to naive local time, absent keys null."""
    frame = pl.read_ndjson(simulated.out / "cctv" / "events-*.jsonl", infer_schema_length=None)
    return frame.with_columns(
        pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z")
        .dt.convert_time_zone("Europe/Paris").dt.replace_time_zone(None))
