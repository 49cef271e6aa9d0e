"""Planted anomalies are labelled in truth/anomalies.csv and visible in their feeds."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from belvedere.grid.places import HOSPITALS
from belvedere.grid.zones import arrondissements, assign_zones
from belvedere.simulate import SimulationSummary


@pytest.fixture(scope="module")
def anomalies(simulated: SimulationSummary) -> pl.DataFrame:
    frame = pl.read_csv(simulated.out / "truth" / "anomalies.csv", separator=";",
                        schema_overrides={"zone_or_site": pl.String})
    local = [pl.col(c).str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
             .dt.convert_time_zone("Europe/Paris").dt.replace_time_zone(None).alias(c)
             for c in ("start_utc", "end_utc")]
    return frame.with_columns(local)


def _one(anomalies: pl.DataFrame, feed: str) -> tuple[str, datetime, datetime, float]:
    row = anomalies.filter(pl.col("feed") == feed).row(0, named=True)
    return row["zone_or_site"], row["start_utc"], row["end_utc"], row["multiplier"]


def _ratio(frame: pl.DataFrame, value: str, start: datetime, end: datetime) -> float:
    """Window total over the mean total of the same clock window on the other days."""
    days = frame["ts"].dt.date().unique().to_list()
    totals = {}
    for day in days:
        shift = datetime.combine(day, start.time()) - start
        window = frame.filter(pl.col("ts") >= start + shift, pl.col("ts") < end + shift)
        totals[day] = float(window[value].fill_null(0).sum())
    observed = totals.pop(start.date())
    return observed / max(float(np.mean(list(totals.values()))), 1e-9)


def test_anomalies_are_labelled_on_quiet_days(anomalies: pl.DataFrame,
                                              events: pl.DataFrame) -> None:
    assert anomalies.height == 6
    assert set(anomalies["feed"]) == {"police_log", "mobile_presence", "hospital_ed", "cctv"}
    event_days = {d.date() for d in events["debut"].to_list()}
    assert not {d.date() for d in anomalies["start_utc"].to_list()} & event_days
    assert (anomalies["end_utc"] > anomalies["start_utc"]).all()


def test_incident_burst_shows_in_its_arrondissement(anomalies: pl.DataFrame,
                                                    police: pl.DataFrame) -> None:
    zone, start, end, _ = _one(anomalies, "police_log")
    zones = assign_zones(arrondissements(), police["lat"].to_numpy(), police["lon"].to_numpy())
    inside = police.filter(pl.Series(zones == zone)).with_columns(one=pl.lit(1))
    assert _ratio(inside, "one", start, end) >= 3


def test_crowd_spike_shows_in_its_cell(anomalies: pl.DataFrame, presence: pl.DataFrame) -> None:
    cell, start, end, multiplier = _one(anomalies, "mobile_presence")
    ratio = _ratio(presence.filter(pl.col("zone_id") == cell), "nb_presents", start, end)
    assert ratio >= multiplier * 0.7


def test_ed_spike_shows_in_intoxication_arrivals(anomalies: pl.DataFrame,
                                                 ed: pl.DataFrame) -> None:
    site, start, end, _ = _one(anomalies, "hospital_ed")
    arrivals = ed.filter(pl.col("finess") == HOSPITALS[site].code,
                         pl.col("motif") == "intoxication")
    assert _ratio(arrivals, "nb_passages", start, end) >= 3


def test_cctv_density_spike_shows_at_its_camera(anomalies: pl.DataFrame,
                                                cctv: pl.DataFrame) -> None:
    camera, start, end, multiplier = _one(anomalies, "cctv")
    density = cctv.filter(pl.col("camera_id") == camera, pl.col("type") == "crowd_density")
    ratio = _ratio(density, "value", start, end)
    assert ratio >= multiplier * 0.6
    end_of_day = start.replace(hour=0) + timedelta(days=1)
    assert end <= end_of_day
