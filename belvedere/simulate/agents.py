"""Field agents' reports (green spaces, cleanliness, lighting): ``agents/signalements.json``.

About 48 reports on weekdays and half as many at the weekend, created only between 07:00 and
18:59 local (the agents' shifts), uniform within those hours; arrondissements by population,
positions uniform over resident-weighted cells. Categories: ``depot_sauvage`` 28 %, ``tag``
22 %, ``degradation`` 18 %, ``eclairage`` 15 %, ``voirie`` 12 %, ``squat`` 5 %. Each report
names one of a pool of 40 agents (``agent-0001``…) — a personal identifier that belvedere
pseudonymises at the door — and has a short comment and, for 40 % of them, a photo file name.

Format (docs/feeds.md): a JSON array; ``created_at`` in UTC (``…Z``); ids are 32 hex digits
drawn from the run's seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from belvedere.simulate.clock import hour_of_day, utc_to_wall, weekday
from belvedere.simulate.context import SimContext
from belvedere.simulate.writers import utc_strftime

FEED = "field_reports"
_COMMENTS = {
    "degradation": ("Banc dégradé dans le square.", "Abribus vandalisé.",
                    "Grillage du jardin arraché."),
    "tag": ("Tags sur la façade de l'école.", "Graffitis sur le mur du parking."),
    "eclairage": ("Lampadaire éteint depuis plusieurs jours.",
                  "Éclairage du passage hors service."),
    "squat": ("Local désaffecté occupé.", "Installation de fortune sous le pont."),
    "depot_sauvage": ("Dépôt d'encombrants sur le trottoir.", "Sacs de gravats abandonnés."),
    "voirie": ("Nid-de-poule sur la chaussée.", "Plaque d'égout descellée."),
}


def simulate_agents(ctx: SimContext) -> pl.DataFrame:
    """The field reports, sorted by creation time."""
    p = ctx.params.agents
    rng = ctx.rng(FEED)
    hours = ctx.period.utc_hours()
    wall = utc_to_wall(hours)
    local_hour = hour_of_day(wall)
    on_shift = (local_hour >= p.first_hour) & (local_hour <= p.last_hour)
    per_day = np.where(weekday(wall) >= 5, p.weekday_daily * p.weekend_factor, p.weekday_daily)
    counts = rng.poisson(on_shift * per_day / (p.last_hour - p.first_hour + 1))
    utc = np.sort(np.repeat(hours, counts) + rng.integers(0, 3600, counts.sum()))
    n = len(utc)
    zone = rng.choice(len(ctx.city.zone_ids), size=n,
                      p=ctx.city.population / ctx.city.population.sum())
    lat, lon = ctx.city.sample_in_zones(rng, zone, hotspot_share=0.0, hotspot_sigma_m=0.0)

    categories = np.array(sorted(p.categories))
    shares = np.array([p.categories[c] for c in categories])
    category = categories[rng.choice(len(categories), size=n, p=shares / shares.sum())]
    comment = np.empty(n, dtype=object)
    for c, options in _COMMENTS.items():
        mask = category == c
        comment[mask] = np.array(options)[rng.integers(0, len(options), int(mask.sum()))]
    ids = np.frombuffer(rng.bytes(16 * n).hex().encode("ascii"), dtype="S32").astype(str)
    photo = pl.Series(np.char.add(np.char.add("IMG_", ids.astype("<U8")), ".jpg"))
    has_photo = rng.random(n) < p.photo_share
    agent = np.char.add("agent-", np.char.zfill(rng.integers(1, p.agents + 1, n).astype(str), 4))
    return pl.DataFrame({
        "agent": agent,
        "category": category,
        "comment": comment.astype(str),
        "created_at": utc_strftime(utc, "%Y-%m-%dT%H:%M:%SZ", local=False),
        "id": ids,
        "location": pl.DataFrame({"lat": np.round(lat, 6), "lon": np.round(lon, 6)}).to_struct(),
        "photo": photo.zip_with(pl.Series(has_photo), pl.Series([None] * n, dtype=pl.String)),
    })


def write_agents(frame: pl.DataFrame, folder: Path) -> int:
    """Write ``signalements.json`` (a JSON array, keys in name order); return its length."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_json(folder / "signalements.json")
    return frame.height
