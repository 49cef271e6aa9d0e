"""Mobile-network operator presence counts (Flux Vision-like): ``operateur/presence.csv``.

One row per H3 resolution-8 cell covering the city (322 cells) and local wall-clock hour.
Expected people present in cell *c* at hour *h*::

    μ(h, c) = (1 − a(h))·R_c + a(h)·R·f·J_c  + events + anomalies

- ``R_c`` residents of the cell (:mod:`belvedere.simulate.geography`), ``R`` the city's total;
- ``a(h)`` the share of residents away from home (weekday and weekend tables: up to 42 % on
  weekday office hours), ``f`` = 1.15 for commuters and visitors from outside the city;
- ``J_c`` the daytime attraction of the cell (sums to 1): √R_c, raised up to ×7 near the
  Vieux-Port (Gaussian, 1.8 km) — the centre fills up by day and empties at night;
- planned events add their attendance near the venue or along the route (Gaussian cell
  weights, see :mod:`belvedere.simulate.effects`), from 3 h before a match to 2 h after;
- planted crowd spikes multiply one cell for a few hours.

Counts are Poisson around μ with a 5 % lognormal noise. Values under the operator's threshold
(``seuil_diffusion`` = 20) are written empty, as the operator suppresses them.

Format (docs/feeds.md): ``;``-separated; ``zone_id;date;heure;nb_presents;seuil_diffusion``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from belvedere.simulate.clock import HOUR, hour_of_day, wall_seconds, weekday
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import EffectTruth, add_grid_effect, effects_on
from belvedere.simulate.geo import haversine_m
from belvedere.simulate.writers import wall_strftime, write_csv

FEED = "mobile_presence"


def presence_expected(ctx: SimContext) -> tuple[np.ndarray, np.ndarray, list[EffectTruth]]:
    """Wall hours, expected presence (hours × cells) and the truth of the event effects."""
    p = ctx.params.presence
    city = ctx.city
    wall = ctx.period.wall_hours()
    hour = hour_of_day(wall)
    away = np.where(weekday(wall) >= 5, np.asarray(p.away_weekend)[hour],
                    np.asarray(p.away_weekday)[hour])
    near_centre = np.exp(-0.5 * (haversine_m(city.cell_lat, city.cell_lon, p.centre_lat,
                                             p.centre_lon) / p.centre_sigma_m) ** 2)
    root = np.sqrt(city.residents)
    attraction = np.where(city.natural, p.natural_attraction * np.median(root), root)
    attraction = attraction * (1.0 + p.centre_boost * near_centre)
    attraction /= attraction.sum()
    base = ((1.0 - away)[:, None] * city.residents[None, :]
            + (away * city.residents.sum() * p.inbound_factor)[:, None] * attraction[None, :])

    extra = np.zeros_like(base)
    truths = []
    for event, effect in effects_on(ctx.events, FEED):
        distance = event.distance_m(city.cell_lat, city.cell_lon)
        weights = effect.weights(event, city.cell_lat, city.cell_lon)
        offsets = (wall - wall_seconds(event.start)) / HOUR
        truths.append(add_grid_effect(
            event, effect, offsets, 1.0, weights / weights.sum(), extra, density=False,
            base=base, scope=np.flatnonzero(distance <= effect.truth_radius_m),
            scope_name=f"cells within {effect.truth_radius_m:.0f} m"))
    expected = base + extra
    for anomaly in ctx.anomalies_of("crowd_spike"):
        cell = int(np.searchsorted(city.cells, anomaly.target))
        rows = (wall >= anomaly.wall_start) & (wall < anomaly.wall_start + anomaly.hours * HOUR)
        expected[rows, cell] *= anomaly.multiplier
    return wall, expected, truths


def simulate_presence(ctx: SimContext) -> tuple[pl.DataFrame, list[EffectTruth]]:
    """The presence rows (by date, hour, cell) and the truth of the event effects."""
    p = ctx.params.presence
    rng = ctx.rng(FEED)
    wall, expected, truths = presence_expected(ctx)
    noisy = expected * rng.lognormal(0.0, p.noise_sigma, expected.shape)
    count = rng.poisson(noisy).ravel()
    cells = len(ctx.city.cells)
    hour_of_row = np.repeat(np.arange(len(wall)), cells)
    frame = pl.DataFrame({
        "zone_id": np.tile(ctx.city.cells, len(wall)),
        "date": wall_strftime(wall, "%Y-%m-%d").gather(hour_of_row),
        "heure": wall_strftime(wall, "%H").gather(hour_of_row),
        "nb_presents": pl.Series(count, dtype=pl.Int64),
        "seuil_diffusion": pl.repeat(p.threshold, len(count), dtype=pl.Int64, eager=True),
    })
    frame = frame.with_columns(
        pl.when(pl.col("nb_presents") >= p.threshold).then(pl.col("nb_presents"))
        .alias("nb_presents"))
    return frame, truths


def write_presence(frame: pl.DataFrame, folder: Path) -> int:
    """Write ``presence.csv`` (suppressed values empty); return the row count."""
    return write_csv(frame, folder / "presence.csv", separator=";")
