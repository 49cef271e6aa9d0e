"""Emergency-department arrivals, aggregated by the hospitals: ``hopitaux/passages_urgences.csv``.

About 230 arrivals a day for the city (about 15 an hour at the daytime peak), shared between
La Timone (45 %), Hôpital Nord (33 %) and La Conception (22 %), by local hour (low at night,
high 10–19 h) and by reason (``motif``) with a night mix (20 h–07 h) richer in intoxication and
psychiatry; weekends × 1.08. Planned events add arrivals after they end — an OM match about 18,
three quarters at La Timone, 1–4 hours after the final whistle — and planted ED spikes multiply
one hospital's intoxication arrivals for a few hours. Counts are Poisson; zero rows are
written (a complete grid of site × hour × motif).

Format (docs/feeds.md): ``;``-separated ``finess;etablissement;date;heure;motif;nb_passages``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from belvedere.grid.places import HOSPITALS
from belvedere.simulate.clock import HOUR, hour_of_day, wall_seconds, weekday
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import EffectTruth, add_grid_effect, effects_on
from belvedere.simulate.writers import wall_strftime, write_csv

FEED = "hospital_ed"
_NIGHT_FROM, _NIGHT_UNTIL = 20, 7


def hospital_expected(ctx: SimContext) -> tuple[np.ndarray, np.ndarray, list[EffectTruth]]:
    """Wall hours, expected arrivals (hours × site-major (hospital, motif) columns, hospitals
    in ``sorted(params.sites)`` and motifs in ``sorted(params.motifs_day)`` order), events'
    effects and anomalies included, and the truth of the events' effects."""
    p = ctx.params.hospitals
    sites = sorted(p.sites)
    motifs = sorted(p.motifs_day)
    wall = ctx.period.wall_hours()
    hour = hour_of_day(wall)
    hourly = np.asarray(p.hourly) / np.sum(p.hourly)
    per_hour = p.daily * hourly[hour] * np.where(weekday(wall) >= 5, p.weekend_factor, 1.0)
    night = (hour >= _NIGHT_FROM) | (hour < _NIGHT_UNTIL)
    day_mix = np.array([p.motifs_day[m] for m in motifs])
    night_mix = np.array([p.motifs_night[m] for m in motifs])
    mix = np.where(night[:, None], night_mix / night_mix.sum(), day_mix / day_mix.sum())
    site_share = np.array([p.sites[s] for s in sites]) / sum(p.sites.values())
    # Columns are site-major: (site 0, motif 0…4), (site 1, …).
    base = (per_hour[:, None, None] * site_share[None, :, None] * mix[:, None, :]).reshape(
        len(wall), -1)
    extra = np.zeros_like(base)
    truths = []
    for event, effect in effects_on(ctx.events, FEED):
        share = effect.site_shares()
        labels, shares = effect.mix_arrays()
        motif_share = np.array([dict(zip(labels, shares, strict=True)).get(m, 0.0)
                                for m in motifs])
        weights = np.outer([share.get(s, 0.0) for s in sites], motif_share).ravel()
        site_columns = np.repeat([share.get(s, 0.0) > 0 for s in sites], len(motifs))
        truths.append(add_grid_effect(
            event, effect, (wall - wall_seconds(event.start)) / HOUR, 1.0, weights, extra,
            density=True, base=base, scope=np.flatnonzero(site_columns),
            scope_name="hospitals " + ", ".join(sorted(share))))
    expected = base + extra
    for anomaly in ctx.anomalies_of("ed_spike"):
        column = sites.index(anomaly.target) * len(motifs) + motifs.index("intoxication")
        rows = (wall >= anomaly.wall_start) & (wall < anomaly.wall_start + anomaly.hours * HOUR)
        expected[rows, column] *= anomaly.multiplier
    return wall, expected, truths


def simulate_hospitals(ctx: SimContext) -> tuple[pl.DataFrame, list[EffectTruth]]:
    """Arrivals per hospital, local date, hour and motif, and the truth of the event effects."""
    p = ctx.params.hospitals
    rng = ctx.rng(FEED)
    sites, motifs = sorted(p.sites), sorted(p.motifs_day)
    wall, expected, truths = hospital_expected(ctx)
    count = rng.poisson(expected).ravel()
    n_columns = len(sites) * len(motifs)
    hour_of_row = np.repeat(np.arange(len(wall)), n_columns)
    site_of_column = np.repeat(np.array(sites), len(motifs))
    frame = pl.DataFrame({
        "finess": np.tile(np.array([HOSPITALS[s].code for s in site_of_column]), len(wall)),
        "etablissement": np.tile(np.array([HOSPITALS[s].name for s in site_of_column]),
                                 len(wall)),
        "date": wall_strftime(wall, "%Y-%m-%d").gather(hour_of_row),
        "heure": wall_strftime(wall, "%H").gather(hour_of_row),
        "motif": np.tile(np.tile(np.array(motifs), len(sites)), len(wall)),
        "nb_passages": count,
    })
    return frame.sort(["date", "heure", "finess", "motif"]), truths


def write_hospitals(frame: pl.DataFrame, folder: Path) -> int:
    """Write ``passages_urgences.csv``; return the row count."""
    return write_csv(frame, folder / "passages_urgences.csv", separator=";")
