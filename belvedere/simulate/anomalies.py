"""Planted anomalies: unusual episodes with no planned event behind them, with their labels.

About one anomaly every 15 days (at least one), the kinds in turn:

- ``incident_burst`` (police_log): an arrondissement's incident intensity × 6 for 4 hours, the
  extra incidents concentrated around one of its hotspots;
- ``crowd_spike`` (mobile_presence): one populated cell far from every venue × 4 for 3 hours;
- ``ed_spike`` (hospital_ed): intoxication arrivals at one hospital × 8 for 3 hours;
- ``cctv_density_spike`` (cctv): one camera's crowd density × 5 for 2 hours.

Anomalies start on the hour, between 10:00 and 19:00 local, on days without a planned event
(nor one the day before), so that a detector's hit is unambiguous. ``truth/anomalies.csv``
lists them (``zone_or_site``: INSEE code, H3 cell, hospital site id or camera id).

Example:
    >>> from datetime import date
    >>> from belvedere.simulate.clock import Period
    >>> from belvedere.simulate.geography import build_city
    >>> found = plan_anomalies(Period(date(2024, 9, 1), 60), [], build_city(), seed=1)
    >>> [a.kind for a in found]
    ['incident_burst', 'crowd_spike', 'ed_spike', 'cctv_density_spike']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from belvedere.grid.places import CAMERAS, HOSPITALS, VENUES
from belvedere.simulate.calendar import SimEvent
from belvedere.simulate.clock import HOUR, Period, wall_seconds, wall_to_utc
from belvedere.simulate.geo import haversine_m
from belvedere.simulate.geography import City
from belvedere.simulate.parameters import AnomalyParams, CctvParams
from belvedere.simulate.streams import stream
from belvedere.simulate.writers import utc_strftime, write_csv

FEED_OF = {"incident_burst": "police_log", "crowd_spike": "mobile_presence",
           "ed_spike": "hospital_ed", "cctv_density_spike": "cctv"}
_LABELS = {"incident_burst": "burst of incidents in one arrondissement",
           "crowd_spike": "crowd spike with no planned event",
           "ed_spike": "spike of ED intoxication arrivals",
           "cctv_density_spike": "CCTV crowd-density spike"}


@dataclass(frozen=True)
class Anomaly:
    """One planted anomaly.

    Attributes:
        anomaly_id: ``ANOM-001``…
        kind: see the module docstring.
        feed: the source name of the affected feed.
        target: INSEE code, H3 cell, hospital site id or camera id.
        start: naive local start (on the hour).
        hours: duration.
        multiplier: factor on the target's expected intensity during the window.
        lat, lon: centre of an incident burst (0 for the other kinds).
    """

    anomaly_id: str
    kind: str
    feed: str
    target: str
    start: datetime
    hours: int
    multiplier: float
    lat: float = 0.0
    lon: float = 0.0

    @property
    def label(self) -> str:
        """Human-readable label."""
        return _LABELS[self.kind]

    @property
    def start_utc(self) -> int:
        """UTC seconds of the start."""
        return wall_to_utc(self.start)

    @property
    def end_utc(self) -> int:
        """UTC seconds of the end."""
        return self.start_utc + self.hours * HOUR

    @property
    def wall_start(self) -> int:
        """Wall seconds of the start (for the hourly feeds on the local wall clock)."""
        return wall_seconds(self.start)


def density_cameras(params: CctvParams) -> list[str]:
    """Cameras close enough to a venue to report ``crowd_density`` too, sorted."""
    return sorted(
        c.site_id for c in CAMERAS.values()
        if min(float(haversine_m(c.lat, c.lon, v.lat, v.lon)) for v in VENUES.values())
        <= params.density_radius_m
    )


def plan_anomalies(period: Period, events: list[SimEvent], city: City, seed: int,
                   params: AnomalyParams | None = None,
                   cctv: CctvParams | None = None) -> list[Anomaly]:
    """The anomalies planted in the period, sorted by start."""
    p = params or AnomalyParams()
    rng = stream(seed, "anomalies")
    n = max(1, round(period.days / p.days_per_anomaly))
    busy = {e.start.date() + timedelta(days=k) for e in events for k in (0, 1)}
    days = [period.start + timedelta(days=i) for i in range(period.days)]
    quiet = [d for d in days if d not in busy] or days
    picks = np.sort(rng.choice(len(quiet), size=min(n, len(quiet)), replace=False))
    quiet_cells = _quiet_cells(city, p)
    cameras = density_cameras(cctv or CctvParams())
    hospitals = sorted(HOSPITALS)
    found = []
    for i, pick in enumerate(picks):
        kind = p.kinds[i % len(p.kinds)]
        start = datetime.combine(quiet[pick], time(int(rng.integers(p.first_hour,
                                                                    p.last_hour + 1))))
        lat = lon = 0.0
        if kind == "incident_burst":
            zone = int(rng.choice(len(city.zone_ids), p=city.population / city.population.sum()))
            spots = np.flatnonzero(city.hotspot_zone == zone)
            spot = int(rng.choice(spots))
            target = str(city.zone_ids[zone])
            lat, lon = float(city.hotspot_lat[spot]), float(city.hotspot_lon[spot])
        elif kind == "crowd_spike":
            target = str(city.cells[int(rng.choice(quiet_cells))])
        elif kind == "ed_spike":
            target = hospitals[int(rng.integers(len(hospitals)))]
        else:
            target = cameras[int(rng.integers(len(cameras)))]
        found.append(Anomaly(f"ANOM-{i + 1:03d}", kind, FEED_OF[kind], target, start,
                             p.hours[kind], p.multiplier[kind], lat, lon))
    return sorted(found, key=lambda a: (a.start, a.anomaly_id))


def _quiet_cells(city: City, p: AnomalyParams) -> np.ndarray:
    """Populated cells far from every venue (a spike there has no event to explain it)."""
    far = np.ones(len(city.cells), dtype=bool)
    for v in VENUES.values():
        far &= haversine_m(city.cell_lat, city.cell_lon, v.lat, v.lon) > p.crowd_min_distance_m
    return np.flatnonzero(far & ~city.natural)


def write_anomalies(anomalies: list[Anomaly], path: Path) -> int:
    """Write ``truth/anomalies.csv``; return its row count."""
    start = np.array([a.start_utc for a in anomalies], dtype=np.int64)
    end = np.array([a.end_utc for a in anomalies], dtype=np.int64)
    frame = pl.DataFrame({
        "anomaly_id": [a.anomaly_id for a in anomalies],
        "feed": [a.feed for a in anomalies],
        "zone_or_site": [a.target for a in anomalies],
        "start_utc": utc_strftime(start, "%Y-%m-%dT%H:%M:%SZ", local=False),
        "end_utc": utc_strftime(end, "%Y-%m-%dT%H:%M:%SZ", local=False),
        "multiplier": [a.multiplier for a in anomalies],
        "label": [a.label for a in anomalies],
    }, schema_overrides={"anomaly_id": pl.String, "feed": pl.String, "zone_or_site": pl.String,
                         "multiplier": pl.Float64, "label": pl.String})
    return write_csv(frame, path, separator=";")
