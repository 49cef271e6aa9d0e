"""H3 cells in bulk: indexing points, coarsening to parents, cell geometry.

Cells are stored as signed 64-bit integers (an H3 index never sets the top bit), so that DuckDB,
PostgreSQL and Spark can store them and compute parents with integer arithmetic alone — no H3
extension needed on the server. The finest stored resolution is :data:`STORED_RESOLUTION`.

Example:
    >>> import numpy as np
    >>> cells = latlng_to_cells(np.array([43.2698]), np.array([5.3959]))
    >>> int(cell_resolution(cells[0]))
    9
    >>> parent = parents(cells, 7)
    >>> h3.cell_to_parent(h3.int_to_str(int(cells[0])), 7) == h3.int_to_str(int(parent[0]))
    True
"""

from __future__ import annotations

from typing import Any

import h3
import numpy as np
import polars as pl
import polars_h3 as plh3

STORED_RESOLUTION = 9
"""Incidents and sites are indexed at resolution 9 (~0.1 km² cells, edge ~174 m)."""

_RES_SHIFT = 52
_RES_MASK = 0xF << _RES_SHIFT


def latlng_to_cells(
    lat: np.ndarray | pl.Series, lon: np.ndarray | pl.Series, resolution: int = STORED_RESOLUTION
) -> np.ndarray:
    """Index many WGS84 points at once; returns int64 H3 ids (0 where lat/lon is missing)."""
    df = pl.DataFrame({"lat": lat, "lon": lon}, schema={"lat": pl.Float64, "lon": pl.Float64})
    out = df.select(plh3.latlng_to_cell("lat", "lon", resolution).alias("c"))["c"]
    return out.fill_null(0).cast(pl.Int64).to_numpy()


def parent_mask(resolution: int) -> tuple[int, int]:
    """Return ``(and_mask, or_bits)`` such that ``(cell & and_mask) | or_bits`` is the parent.

    An H3 index holds its resolution in bits 52–55 and one 3-bit digit per resolution below;
    digits finer than the parent's resolution are set to 7 (``0b111``). Expressed as integer
    arithmetic, the same formula runs in numpy, DuckDB, PostgreSQL and Spark SQL.
    """
    if not 0 <= resolution <= 15:
        raise ValueError(f"H3 resolution must be within 0..15, got {resolution}")
    unused_digits = (1 << (3 * (15 - resolution))) - 1
    and_mask = ~_RES_MASK
    or_bits = (resolution << _RES_SHIFT) | unused_digits
    # Signed int64 view of the mask, as databases hold BIGINT.
    return int(np.int64(np.uint64(and_mask & 0xFFFFFFFFFFFFFFFF).astype(np.int64))), or_bits


def parents(cells: np.ndarray, resolution: int) -> np.ndarray:
    """Coarsen many int64 cells to ``resolution`` (must not be finer than the cells)."""
    and_mask, or_bits = parent_mask(resolution)
    return (cells.astype(np.int64) & np.int64(and_mask)) | np.int64(or_bits)


def cell_resolution(cell: int | np.integer) -> int:
    """Resolution of an int H3 id."""
    return (int(cell) >> _RES_SHIFT) & 0xF


def cell_to_str(cell: int) -> str:
    """Hex string of an int H3 id (the form maps and files use)."""
    return h3.int_to_str(int(cell))


def str_to_cell(cell: str) -> int:
    """Int H3 id of a hex string."""
    return int(h3.str_to_int(cell))


def cell_boundary_lonlat(cell: int) -> list[list[float]]:
    """Closed GeoJSON ring (lon, lat) of a cell."""
    ring = [[lon, lat] for lat, lon in h3.cell_to_boundary(cell_to_str(cell))]
    return [*ring, ring[0]]


def cells_geojson(values: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of cells, with each cell's properties."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"cell": cell_to_str(c), **props},
                "geometry": {"type": "Polygon", "coordinates": [cell_boundary_lonlat(c)]},
            }
            for c, props in values.items()
        ],
    }
