"""A store filled with random incidents and ED arrivals: dense in some places, sparse in others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from belvedere.grid.cells import latlng_to_cells
from belvedere.grid.places import HOSPITALS
from belvedere.grid.records import Incident, Measurement, to_table
from belvedere.grid.zones import arrondissements
from belvedere.store.base import BatchInput, empty_quarantine
from belvedere.store.duckdb import DuckDBStore

START = datetime(2024, 9, 1, tzinfo=UTC)
DAYS = 21


def populate(db: DuckDBStore, seed: int = 5) -> None:
    """About 2,500 incidents (centre-heavy, so outer arrondissements have small daily counts)
    and hourly ED arrivals at the three hospitals."""
    rng = np.random.default_rng(seed)
    zones = arrondissements()
    weights = np.array([40, 25, 20, 8, 6, 10, 2, 4, 2, 2, 2, 1, 3, 3, 2, 1], dtype=float)
    n = 2500
    which = rng.choice(len(zones), size=n, p=weights / weights.sum())
    rows = []
    for i, z in enumerate(which):
        point = zones[z].geometry.representative_point()
        lat = point.y + rng.normal(0, 0.0005)
        lon = point.x + rng.normal(0, 0.0005)
        ts = START + timedelta(seconds=int(rng.integers(0, DAYS * 86400)))
        rows.append((f"MC-{i}", ts, lat, lon, zones[z].zone_id))
    cells = latlng_to_cells(np.array([r[2] for r in rows]), np.array([r[3] for r in rows]))
    incidents = [
        Incident(source="police_log", source_id=sid, category=str(rng.choice(["theft", "assault"])),
                 source_category="X", ts=ts, lat=lat, lon=lon, cell=int(c), zone=zone,
                 origin="reported_by_public")
        for (sid, ts, lat, lon, zone), c in zip(rows, cells, strict=True)
    ]
    db.append_batch(BatchInput(source="police_log", file=None,
                    records={"incidents": to_table(Incident, incidents)},
                    quarantine=empty_quarantine(), rows_read=len(incidents)))
    ed = []
    for h, site in enumerate(HOSPITALS.values()):
        cell = int(latlng_to_cells(np.array([site.lat]), np.array([site.lon]))[0])
        for hour in range(DAYS * 24):
            t = START + timedelta(hours=hour)
            ed.append(Measurement(source="hospital_ed", source_id=f"{site.site_id}|{hour}",
                                  metric="ed_arrivals", category="malaise", site=site.site_id,
                                  zone=None if h == 2 else "13205", cell=cell, start=t,
                                  end=t + timedelta(hours=1), value=float(rng.poisson(1.5 + h))))
    db.append_batch(BatchInput(source="hospital_ed", file=None,
                    records={"measurements": to_table(Measurement, ed)},
                    quarantine=empty_quarantine(), rows_read=len(ed)))
