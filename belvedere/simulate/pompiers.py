"""Fire brigade / EMS interventions (Bataillon de marins-pompiers): ``pompiers/interventions.csv``.

About 125 interventions a day, Poisson per UTC hour and arrondissement (shares by population,
a daytime-high hourly profile), positions uniform over resident-weighted cells (no hotspots).
Types: SAP (secours à personne) 70 %, ASSISTANCE 10 %, INCENDIE 8 % (more in the dry summer:
its weight follows an annual cycle peaking late July), ACCIDENT 8 %, AUTRE 4 %; ``sous_type`` is
the brigade's own wording. Durations are 20 + Gamma(2, 18 min), at most 120 minutes. Planned
events add interventions around their venue (see :mod:`belvedere.simulate.effects`).

Format (docs/feeds.md): ``;``-separated UTF-8, Lambert-93 metres (``x_l93``, ``y_l93``), local
``YYYY-MM-DD HH:MM:SS``; ids ``BMPM-YY-NNNNNN`` in time order per year.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from belvedere.simulate.clock import HOUR, hour_of_day, seasonal_factor, utc_to_wall
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import EffectTruth, point_truths, sample_event_points
from belvedere.simulate.geo import to_lambert93
from belvedere.simulate.intensity import ZoneHourRate, zone_hour_rate
from belvedere.simulate.streams import draw_rows
from belvedere.simulate.writers import wall_strftime, write_csv

FEED = "fire_ems"
_SUB_REFERENCE, _SUB_MAIN = 0, 1
SOUS_TYPES = {
    "SAP": ("Malaise sur voie publique", "Chute de personne", "Détresse respiratoire",
            "Personne blessée", "Malaise à domicile"),
    "INCENDIE": ("Feu de poubelle", "Feu de véhicule", "Feu de broussailles",
                 "Feu d'appartement"),
    "ACCIDENT": ("Accident véhicule léger", "Accident deux-roues", "Piéton renversé"),
    "ASSISTANCE": ("Ouverture de porte", "Ascenseur bloqué", "Fuite d'eau", "Animal en danger"),
    "AUTRE": ("Fausse alerte", "Reconnaissance", "Odeur suspecte"),
}


def fire_rate(ctx: SimContext) -> ZoneHourRate:
    """The background intensity of the run (expected interventions per UTC hour and zone)."""
    p = ctx.params.fire
    wall_hours = utc_to_wall(ctx.period.utc_hours())
    hourly = np.asarray(p.hourly) / np.mean(p.hourly)
    shares = ctx.city.population / ctx.city.population.sum()
    return zone_hour_rate(ctx.period, ctx.city, p.daily, shares,
                          hourly[hour_of_day(wall_hours)], ctx.rng(FEED, _SUB_REFERENCE),
                          hotspot_share=0.0, hotspot_sigma_m=0.0)


def simulate_pompiers(ctx: SimContext) -> tuple[pl.DataFrame, list[EffectTruth]]:
    """The interventions (sorted by alert time) and the truth of the planted event effects."""
    p = ctx.params.fire
    rng = ctx.rng(FEED, _SUB_MAIN)
    rate = fire_rate(ctx)
    counts = rng.poisson(rate.rate)
    hour_idx, zone = np.nonzero(counts)
    reps = counts[hour_idx, zone]
    zone = np.repeat(zone, reps)
    utc = np.repeat(rate.hours_utc[hour_idx], reps) + rng.integers(0, HOUR, len(zone))
    lat, lon = ctx.city.sample_in_zones(rng, zone, hotspot_share=0.0, hotspot_sigma_m=0.0)

    types = np.array(sorted(p.types))
    weights = np.array([p.types[t] for t in types])
    fire_season = seasonal_factor(utc_to_wall(utc), p.fire_seasonal_amplitude, p.fire_peak_day)
    probs = np.tile(weights, (len(utc), 1))
    probs[:, types == "INCENDIE"] *= fire_season[:, None]
    probs /= probs.sum(axis=1, keepdims=True)
    kind = types[draw_rows(rng, probs)]

    ev_utc, ev_lat, ev_lon, ev_kind = sample_event_points(rng, ctx.city, ctx.events, FEED)
    utc = np.concatenate([utc, ev_utc])
    lat, lon = np.concatenate([lat, ev_lat]), np.concatenate([lon, ev_lon])
    kind = np.concatenate([kind, ev_kind]).astype(str)
    order = np.lexsort((lon, lat, utc))
    utc, lat, lon, kind = utc[order], lat[order], lon[order], kind[order]

    sous_type = np.empty(len(kind), dtype=object)
    for t, options in SOUS_TYPES.items():
        mask = kind == t
        sous_type[mask] = np.array(options)[rng.integers(0, len(options), int(mask.sum()))]
    minutes = np.clip(p.duration_min_minutes
                      + rng.gamma(p.duration_gamma_shape, p.duration_gamma_scale_minutes, len(utc)),
                      p.duration_min_minutes, p.duration_max_minutes)
    end = utc + np.round(minutes * 60).astype(np.int64)
    x, y = to_lambert93(lat, lon)
    frame = pl.DataFrame({
        "year": wall_strftime(utc_to_wall(utc), "%y"),
        "date_alerte": wall_strftime(utc_to_wall(utc), "%Y-%m-%d %H:%M:%S"),
        "date_fin": wall_strftime(utc_to_wall(end), "%Y-%m-%d %H:%M:%S"),
        "x_l93": np.round(x).astype(np.int64), "y_l93": np.round(y).astype(np.int64),
        "type_intervention": kind, "sous_type": sous_type.astype(str),
    })
    number = pl.int_range(1, pl.len() + 1).over("year").cast(pl.String).str.zfill(6)
    frame = frame.select(pl.format("BMPM-{}-{}", "year", number).alias("id_intervention"),
                         pl.exclude("year"))
    return frame, point_truths(ctx.events, FEED, rate)


def write_pompiers(frame: pl.DataFrame, folder: Path) -> int:
    """Write ``interventions.csv``; return the row count."""
    return write_csv(frame, folder / "interventions.csv", separator=";")
