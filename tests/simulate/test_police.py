"""The police log's volume, spatial shares, hour mix and near-repeat clustering."""

from __future__ import annotations

import numpy as np
import polars as pl

from belvedere.grid.cells import latlng_to_cells
from belvedere.grid.zones import arrondissements, assign_zones
from belvedere.simulate import SimulationSummary


def test_daily_volume_is_within_the_documented_range(police: pl.DataFrame) -> None:
    daily = police.group_by(pl.col("ts").dt.date()).len()["len"].to_numpy()
    assert len(daily) == 90
    assert 250 <= daily.mean() <= 400
    assert ((daily >= 250) & (daily <= 400)).mean() >= 0.9


def test_arrondissement_shares_follow_the_truth_table(
        simulated: SimulationSummary, police: pl.DataFrame) -> None:
    table = pl.read_csv(simulated.out / "truth" / "intensity_by_zone_hour.csv", separator=";",
                        schema_overrides={"zone_id": pl.String})
    expected = table.group_by("zone_id").agg(pl.col("expected_incidents").sum()).sort("zone_id")
    share_expected = (expected["expected_incidents"] / expected["expected_incidents"].sum())
    zone = assign_zones(arrondissements(), police["lat"].to_numpy(), police["lon"].to_numpy())
    observed = pl.Series("zone_id", zone.astype(str)).value_counts().sort("zone_id")
    assert observed["zone_id"].to_list() == expected["zone_id"].to_list()
    share_observed = observed["count"] / observed["count"].sum()
    gap = np.abs(share_observed.to_numpy() - share_expected.to_numpy())
    assert gap.max() < 0.02
    centre = dict(zip(observed["zone_id"], share_observed, strict=True))
    population_share = 40202 / sum(float(z.properties["population"]) for z in arrondissements())
    assert centre["13201"] > 1.5 * population_share  # the 1er's centre boost shows


def test_night_brings_noise_and_drunkenness(police: pl.DataFrame) -> None:
    hour = pl.col("ts").dt.hour()
    night = police.filter((hour >= 22) | (hour < 4))
    day = police.filter(hour.is_between(9, 17))
    rowdy = ["TAPAGE", "IVRESSE"]
    night_share = night["code_nature"].is_in(rowdy).to_numpy().mean()
    assert night_share > 2 * day["code_nature"].is_in(rowdy).to_numpy().mean()
    evening = police.filter(hour.is_between(18, 22)).height / 5
    early = police.filter(hour.is_between(3, 6)).height / 4
    assert evening > 2.5 * early


def test_incidents_cluster_in_space_and_time_beyond_chance(police: pl.DataFrame) -> None:
    """Knox-style test: pairs sharing a res-9 cell and a 6-hour bin, vs shuffled times."""
    cell = latlng_to_cells(police["lat"].to_numpy(), police["lon"].to_numpy(), 9)
    hours = (police["ts"].dt.epoch("s").to_numpy() // (6 * 3600))

    def close_pairs(time_bin: np.ndarray) -> float:
        counts = pl.DataFrame({"c": cell, "t": time_bin}).group_by("c", "t").len()["len"]
        return float((counts * (counts - 1) / 2).sum())

    rng = np.random.default_rng(0)
    shuffled = np.mean([close_pairs(rng.permutation(hours)) for _ in range(10)])
    assert close_pairs(hours) > 1.2 * shuffled
