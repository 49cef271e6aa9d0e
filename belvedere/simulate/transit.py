"""Public transport: ``transports/gtfs.zip`` (static GTFS) and ``transports/validations.csv``.

The GTFS holds the operator (RTM), the metro stations of :data:`belvedere.grid.places.STATIONS`
(``stop_id`` = the station's code) and lines M1 and M2.

Boardings per station and local hour: the station's daily volume (18,000 at Saint-Charles …
3,500 at Sainte-Marguerite Dromel) shared over the hours by a weekday profile with commuting
peaks at 7–9 h and 16–19 h, or a flatter weekend profile (× 0.65 of the weekday volume); the
metro does not run from 01:00 to 05:00 (zero boardings). OM matches add boardings along M2
before the match (mostly in the centre) and at Rond-Point du Prado, Sainte-Marguerite Dromel
and Périer after it (see :mod:`belvedere.simulate.effects`). Counts are Poisson around the
expectation with a 10 % lognormal noise.

Format (docs/feeds.md): ``,``-separated ``stop_id,date,heure,validations``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from belvedere.grid.places import STATIONS
from belvedere.simulate.clock import HOUR, TZ_NAME, hour_of_day, wall_seconds, weekday
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import EffectTruth, add_grid_effect, effects_on
from belvedere.simulate.writers import wall_strftime, write_csv, write_zip

FEED = "transit"
_ROUTES = (
    ("M1", "M1", "La Rose – La Fourragère", "0066CC"),
    ("M2", "M2", "Bougainville – Sainte-Marguerite Dromel", "E2001A"),
)


def transit_expected(ctx: SimContext) -> tuple[np.ndarray, np.ndarray, list[EffectTruth]]:
    """Wall hours, expected boardings (hours × stations, in ``sorted(STATIONS)`` order) and
    the truth of the event effects."""
    p = ctx.params.transit
    stations = sorted(STATIONS)
    wall = ctx.period.wall_hours()
    hour = hour_of_day(wall)
    weekend = weekday(wall) >= 5
    weekday_shape = np.asarray(p.weekday_hourly) / np.sum(p.weekday_hourly)
    weekend_shape = np.asarray(p.weekend_hourly) / np.sum(p.weekend_hourly) * p.weekend_factor
    shape = np.where(weekend, weekend_shape[hour], weekday_shape[hour])
    daily = np.array([p.daily[s] for s in stations])
    base = shape[:, None] * daily[None, :]
    extra = np.zeros_like(base)
    truths = []
    for event, effect in effects_on(ctx.events, FEED):
        share = effect.site_shares()
        weights = np.array([share.get(s, 0.0) for s in stations])
        truths.append(add_grid_effect(
            event, effect, (wall - wall_seconds(event.start)) / HOUR, 1.0, weights, extra,
            density=True, base=base, scope=np.flatnonzero(weights > 0),
            scope_name="stations " + ", ".join(sorted(share))))
    # No metro, no boarding: the closed hours stay at zero whatever happens.
    return wall, (base + extra) * (shape > 0)[:, None], truths


def simulate_validations(ctx: SimContext) -> tuple[pl.DataFrame, list[EffectTruth]]:
    """Boardings per station code, local date and hour, and the truth of the event effects."""
    p = ctx.params.transit
    rng = ctx.rng(FEED)
    stations = sorted(STATIONS)
    wall, expected, truths = transit_expected(ctx)
    count = rng.poisson(expected * rng.lognormal(0.0, p.noise_sigma, expected.shape)).ravel()
    hour_of_row = np.repeat(np.arange(len(wall)), len(stations))
    frame = pl.DataFrame({
        "stop_id": np.tile(np.array([STATIONS[s].code for s in stations]), len(wall)),
        "date": wall_strftime(wall, "%Y-%m-%d").gather(hour_of_row),
        "heure": wall_strftime(wall, "%H").gather(hour_of_row),
        "validations": count,
    })
    return frame.sort(["date", "heure", "stop_id"]), truths


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def gtfs_members() -> dict[str, str]:
    """The text files of the static GTFS: agency, stops and routes (metro: route_type 1)."""
    stations = sorted(STATIONS.values(), key=lambda s: s.code)
    return {
        "agency.txt": _csv_text([
            ("agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"),
            ("RTM", "Régie des Transports Métropolitains", "https://www.rtm.fr", TZ_NAME, "fr"),
        ]),
        "stops.txt": _csv_text([("stop_id", "stop_name", "stop_lat", "stop_lon")] + [
            (s.code, s.name, f"{s.lat:.4f}", f"{s.lon:.4f}") for s in stations]),
        "routes.txt": _csv_text(
            [("route_id", "agency_id", "route_short_name", "route_long_name", "route_type",
              "route_color")]
            + [(rid, "RTM", short, name, 1, color) for rid, short, name, color in _ROUTES]),
    }


def write_transit(frame: pl.DataFrame, folder: Path) -> int:
    """Write ``gtfs.zip`` and ``validations.csv``; return the validation row count."""
    write_zip(gtfs_members(), folder / "gtfs.zip")
    return write_csv(frame, folder / "validations.csv", separator=",")
