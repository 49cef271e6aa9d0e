"""Zones: the arrondissements of Marseille (and, later, IRIS and venues' perimeters).

A zone is a named polygon. Points are assigned to zones in bulk with a shapely STRtree, never a
Python loop per point. The geometry ships inside the package (see ``data/ATTRIBUTION.md``).

Example:
    >>> zones = arrondissements()
    >>> len(zones)
    16
    >>> import numpy as np
    >>> assign_zones(zones, np.array([43.2698]), np.array([5.3959])).tolist()  # the Vélodrome
    ['13208']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import h3
import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True, slots=True)
class Zone:
    """A named area.

    Attributes:
        zone_id: stable id (for arrondissements, the INSEE code ``13201``…``13216``).
        kind: ``arrondissement`` (later ``iris``, ``perimeter``).
        name: display name.
        geometry: WGS84 (lon, lat) polygon.
        properties: small descriptive attributes (population, area) — never used by models.
    """

    zone_id: str
    kind: str
    name: str
    geometry: BaseGeometry
    properties: dict[str, Any]


def _read_packaged_geojson(name: str) -> dict[str, Any]:
    text = resources.files("belvedere.grid").joinpath("data", name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@lru_cache(maxsize=1)
def _arrondissements() -> tuple[Zone, ...]:
    data = _read_packaged_geojson("marseille_arrondissements.geojson")
    return tuple(
        Zone(
            zone_id=f["properties"]["zone_id"],
            kind="arrondissement",
            name=f["properties"]["name"],
            geometry=shape(f["geometry"]),
            properties={k: v for k, v in f["properties"].items() if k != "zone_id"},
        )
        for f in data["features"]
    )


def arrondissements() -> list[Zone]:
    """The 16 arrondissements of Marseille, ordered by INSEE code."""
    return list(_arrondissements())


def zones_geojson(zones: list[Zone]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of zones (id, name, kind as properties)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": i,
                "properties": {"zone_id": z.zone_id, "name": z.name, "kind": z.kind},
                "geometry": shapely.geometry.mapping(z.geometry),
            }
            for i, z in enumerate(zones)
        ],
    }


def assign_zones(
    zones: list[Zone], lat: np.ndarray, lon: np.ndarray, cells: np.ndarray | None = None
) -> np.ndarray:
    """Zone id of each point (object array; ``None`` outside every zone).

    Vectorised. Without ``cells``: one prepared-geometry ``contains_xy`` pass per zone over all
    points. With ``cells`` (the points' H3 ids, any resolution), cells lying wholly inside one
    zone give their points that zone directly and only points in cells that straddle a boundary
    are tested exactly — same answer, less work. Where zones overlap (they should not), the
    first zone in ``zones`` wins, so the answer is deterministic.
    """
    codes = zone_codes(zones, lat, lon, cells)
    ids = np.array([None, *(z.zone_id for z in zones)], dtype=object)
    return ids[codes + 1]


def zone_codes(
    zones: list[Zone], lat: np.ndarray, lon: np.ndarray, cells: np.ndarray | None = None
) -> np.ndarray:
    """Index in ``zones`` of each point's zone (int16; -1 outside every zone)."""
    lat = np.asarray(lat, dtype="float64")
    lon = np.asarray(lon, dtype="float64")
    codes = np.full(lat.shape, -1, dtype=np.int16)
    todo = np.isfinite(lat) & np.isfinite(lon)
    if cells is not None and todo.any():
        unique, inverse = np.unique(np.asarray(cells, dtype=np.int64), return_inverse=True)
        codes = _interior_codes(zones, unique)[inverse]
        todo &= codes < 0
    # Exact tests on the remaining points only, shrinking the set as zones claim points.
    rest = np.flatnonzero(todo)
    for index, zone in enumerate(zones):
        if not rest.size:
            break
        shapely.prepare(zone.geometry)
        hit = shapely.contains_xy(zone.geometry, lon[rest], lat[rest])
        codes[rest[hit]] = index
        rest = rest[~hit]
    return codes


def _interior_codes(zones: list[Zone], cells: np.ndarray) -> np.ndarray:
    """For each H3 cell: the index of the zone wholly containing it, else -1."""
    codes = np.full(cells.shape, -1, dtype=np.int16)
    valid = np.flatnonzero(cells > 0)
    if not valid.size:
        return codes
    polygons = shapely.polygons(
        [[(x, y) for y, x in h3.cell_to_boundary(h3.int_to_str(int(c)))] for c in cells[valid]]
    )
    for index, zone in enumerate(zones):
        shapely.prepare(zone.geometry)
        whole = shapely.contains(zone.geometry, polygons) & (codes[valid] < 0)
        codes[valid[whole]] = index
    return codes


def city_outline(zones: list[Zone]) -> BaseGeometry:
    """The union of the zones (the city's outline)."""
    return shapely.union_all([z.geometry for z in zones])


def cells_covering(zones: list[Zone], resolution: int) -> list[str]:
    """H3 cells (hex strings) whose centre lies inside the union of ``zones``, sorted."""
    outline = city_outline(zones)
    polys = list(outline.geoms) if hasattr(outline, "geoms") else [outline]
    cells: set[str] = set()
    for poly in polys:
        cells.update(h3.geo_to_cells(shapely.geometry.mapping(poly), resolution))
    return sorted(cells)
