"""Reference sites (cameras, stops, hospitals, venues) as an Arrow table for the store."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from belvedere.grid.cells import latlng_to_cells
from belvedere.grid.places import Site
from belvedere.sources.tabular import centroid_zone

SITES_SCHEMA = pa.schema(
    [
        ("site_id", pa.string()),
        ("kind", pa.string()),
        ("name", pa.string()),
        ("lat", pa.float64()),
        ("lon", pa.float64()),
        ("cell", pa.int64()),
        ("zone", pa.string()),
        ("code", pa.string()),
    ]
)


def sites_table(sites: list[Site]) -> pa.Table:
    """Sites with their H3 cell and zone, ready for ``Store.upsert_sites``."""
    lat = np.array([s.lat for s in sites], dtype="float64")
    lon = np.array([s.lon for s in sites], dtype="float64")
    return pa.Table.from_pydict(
        {
            "site_id": [s.site_id for s in sites],
            "kind": [s.kind for s in sites],
            "name": [s.name for s in sites],
            "lat": lat,
            "lon": lon,
            "cell": latlng_to_cells(lat, lon),
            "zone": centroid_zone(lat, lon),
            "code": [s.code for s in sites],
        },
        schema=SITES_SCHEMA,
    )
