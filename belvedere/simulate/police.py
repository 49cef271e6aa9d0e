"""The municipal police log (*main courante*): ``police/main_courante.csv``.

Incidents come from four sources, all then subject to near-repeat self-excitation
(:func:`~belvedere.simulate.intensity.near_repeat`):

1. background immigrants, Poisson per UTC hour and arrondissement with the intensity of
   :mod:`belvedere.simulate.intensity`, uniform within the hour;
2. planned events' effects (:mod:`belvedere.simulate.effects`): e.g. 15 extra incidents around
   the Vélodrome for a 60,000-people match, public-order incidents along a demonstration route;
3. planted incident bursts (:mod:`belvedere.simulate.anomalies`);
4. offspring of all the above (30 % of them change category).

Marks: the incident code is drawn from a mix that blends a day and a night mix with the local
hour (tapage and ivresse at night, parking and accidents by day); events draw from their own
mix. ``origine`` (patrols find most drug, parking and drunkenness cases), ``gravite`` (1–3,
violent codes more serious), a French narrative (some with fake personal data) and a synthetic
address come with each incident.

Format (docs/feeds.md): ``;``-separated, UTF-8 with BOM, CRLF, decimal commas, local
``dd/mm/yyyy HH:MM``; ``numero_fiche`` ``MC-YYYY-NNNNNN`` numbered in time order per year.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from belvedere.simulate.anomalies import Anomaly
from belvedere.simulate.clock import HOUR, hour_of_day, utc_to_wall
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import (
    EffectTruth,
    point_truths,
    sample_event_points,
)
from belvedere.simulate.intensity import (
    ZoneHourRate,
    near_repeat,
    police_relative,
    zone_hour_rate,
    zone_shares,
)
from belvedere.simulate.narratives import LIBELLES, addresses, narratives
from belvedere.simulate.parameters import PoliceParams
from belvedere.simulate.streams import draw_rows
from belvedere.simulate.writers import wall_strftime, write_csv

FEED = "police_log"
_SUB_REFERENCE, _SUB_MAIN = 0, 1


def category_mix(params: PoliceParams) -> tuple[np.ndarray, np.ndarray]:
    """Incident codes and their probabilities per local hour (24 × codes)."""
    codes = np.array(sorted(params.categories_day))
    day = np.array([params.categories_day[c] for c in codes])
    night = np.array([params.categories_night[c] for c in codes])
    level = np.asarray(params.night_level)[:, None]
    mix = (1 - level) * day / day.sum() + level * night / night.sum()
    return codes, mix / mix.sum(axis=1, keepdims=True)


def police_rate(ctx: SimContext) -> ZoneHourRate:
    """The background immigrant intensity of the run (expected per UTC hour and zone)."""
    p = ctx.params.police
    return zone_hour_rate(ctx.period, ctx.city, p.background_daily, zone_shares(ctx.city, p),
                          police_relative(ctx.period, p), ctx.rng(FEED, _SUB_REFERENCE),
                          hotspot_share=p.hotspot_share, hotspot_sigma_m=p.hotspot_sigma_m)


def simulate_police(ctx: SimContext) -> tuple[pl.DataFrame, list[EffectTruth]]:
    """The police log rows (sorted by time) and the truth of every planted event effect."""
    p = ctx.params.police
    rng = ctx.rng(FEED, _SUB_MAIN)
    rate = police_rate(ctx)
    codes, mix = category_mix(p)

    counts = rng.poisson(rate.rate)
    hour_idx, zone = np.nonzero(counts)
    reps = counts[hour_idx, zone]
    zone = np.repeat(zone, reps)
    utc = np.repeat(rate.hours_utc[hour_idx], reps) + rng.integers(0, HOUR, len(zone))
    lat, lon = ctx.city.sample_in_zones(rng, zone, hotspot_share=p.hotspot_share,
                                        hotspot_sigma_m=p.hotspot_sigma_m)
    parts = [(utc, lat, lon, np.full(len(utc), ""))]
    parts.append(sample_event_points(rng, ctx.city, ctx.events, FEED))
    parts += [_burst(rng, ctx, rate, a) for a in ctx.anomalies_of("incident_burst")]
    utc, lat, lon, code = (np.concatenate(column) for column in zip(*parts, strict=True))
    code = code.astype(object)
    # Background and bursts draw their codes from the hourly mix; events brought their own.
    todo = code == ""
    hours = hour_of_day(utc_to_wall(utc[todo]))
    code[todo] = codes[draw_rows(rng, mix[hours])]

    kid_utc, kid_lat, kid_lon, kid_code = near_repeat(rng, utc, lat, lon, code, p)
    change = rng.random(len(kid_code)) > p.offspring_keep_category
    kid_hours = hour_of_day(utc_to_wall(kid_utc[change]))
    kid_code[change] = codes[draw_rows(rng, mix[kid_hours])]
    utc = np.concatenate([utc, kid_utc])
    lat, lon = np.concatenate([lat, kid_lat]), np.concatenate([lon, kid_lon])
    code = np.concatenate([code, kid_code]).astype(str)

    # Round as written (about 1 m) before the city test, so written points are all inside.
    lat, lon = np.round(lat, 5), np.round(lon, 5)
    zone = ctx.city.zone_index(lat, lon)
    keep = (zone >= 0) & (utc >= ctx.period.start_utc) & (utc < ctx.period.end_utc)
    order = np.lexsort((lon[keep], lat[keep], utc[keep]))
    frame = _rows(rng, ctx, utc[keep][order], lat[keep][order], lon[keep][order],
                  code[keep][order], zone[keep][order])
    triggered = 1.0 / (1.0 - p.branching_ratio)
    return frame, point_truths(ctx.events, FEED, rate, triggered)


def _burst(rng: np.random.Generator, ctx: SimContext, rate: ZoneHourRate,
           anomaly: Anomaly) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Extra incidents of an anomalous burst, ``(utc, lat, lon, code)`` with codes left blank:
    (multiplier − 1) × the zone's expected background, around the burst's centre."""
    zone = int(np.searchsorted(ctx.city.zone_ids, anomaly.target))
    only = np.zeros(len(ctx.city.zone_ids))
    only[zone] = 1.0
    expected = rate.expected(anomaly.start_utc, anomaly.end_utc, only)
    n = int(rng.poisson((anomaly.multiplier - 1.0) * expected))
    utc = anomaly.start_utc + rng.integers(0, anomaly.hours * HOUR, n)
    lat, lon = ctx.city.sample_near(rng, np.full(n, anomaly.lat), np.full(n, anomaly.lon),
                                    ctx.params.police.burst_sigma_m)
    return utc, lat, lon, np.full(n, "")


def _rows(rng: np.random.Generator, ctx: SimContext, utc: np.ndarray, lat: np.ndarray,
          lon: np.ndarray, code: np.ndarray, zone: np.ndarray) -> pl.DataFrame:
    p = ctx.params.police
    wall = utc_to_wall(utc)
    origins = np.array(sorted(p.origine))
    base = np.array([p.origine[o] for o in origins])
    base /= base.sum()
    is_patrol = origins == "patrouille"
    patrol = np.where(is_patrol, p.origine_patrol_share,
                      base * (1 - p.origine_patrol_share) / base[~is_patrol].sum())
    by_patrol = np.isin(code, p.origine_patrol_categories)
    origin = origins[draw_rows(rng, np.where(by_patrol[:, None], patrol, base))]
    serious = np.isin(code, p.serious_categories)
    gravity = 1 + draw_rows(rng, np.where(serious[:, None], np.asarray(p.gravite_serious),
                                           np.asarray(p.gravite)))
    frame = pl.DataFrame({
        "year": wall_strftime(wall, "%Y"),
        "date_heure": wall_strftime(wall, "%d/%m/%Y %H:%M"),
        "adresse": addresses(rng, ctx.city.postcodes[zone]),
        "latitude": lat, "longitude": lon,
        "code_nature": pl.Series(code, dtype=pl.String),
        "origine": origin, "gravite": gravity,
        "recit": narratives(rng, code, p.pii_share),
    })
    libelle = pl.col("code_nature").replace_strict(LIBELLES, return_dtype=pl.String)
    number = pl.int_range(1, pl.len() + 1).over("year").cast(pl.String).str.zfill(6)
    return frame.select(
        pl.format("MC-{}-{}", "year", number).alias("numero_fiche"),
        "date_heure", "adresse", "latitude", "longitude", "code_nature",
        libelle.alias("libelle_nature"), "origine", "gravite", "recit",
    )


def write_police(frame: pl.DataFrame, folder: Path) -> int:
    """Write ``main_courante.csv`` in the police software's dialect; return the row count."""
    return write_csv(frame, folder / "main_courante.csv", separator=";", bom=True, crlf=True,
                     decimal_comma=True, float_precision=5)
