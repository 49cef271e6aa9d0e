"""Small vectorised geometry for the simulator: metric offsets, distances, routes, Lambert-93.

At city scale (20 km) a local equirectangular approximation is within a few metres of the
geodesic, which is far below the simulator's spatial kernels (≥ 100 m); :func:`haversine_m`
is exact enough for tests. Lambert-93 (EPSG:2154) output goes through pyproj.

Example:
    >>> round(float(haversine_m(43.2951, 5.3740, 43.2698, 5.3959)))  # Vieux-Port → Vélodrome
    3325
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

import numpy as np
from pyproj import Transformer

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG_LAT = 111_132.0


def m_per_deg_lon(lat: float | np.ndarray) -> float | np.ndarray:
    """Metres per degree of longitude at a latitude."""
    return 111_320.0 * np.cos(np.radians(lat))


def haversine_m(lat1: np.ndarray | float, lon1: np.ndarray | float,
                lat2: np.ndarray | float, lon2: np.ndarray | float) -> np.ndarray:
    """Great-circle distance in metres (broadcasts)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(a)))


def offset(lat: np.ndarray, lon: np.ndarray, dx_m: np.ndarray,
           dy_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points moved ``dx_m`` metres east and ``dy_m`` metres north."""
    return lat + dy_m / M_PER_DEG_LAT, lon + dx_m / m_per_deg_lon(lat)


def distance_to_polyline_m(lat: np.ndarray, lon: np.ndarray,
                           route: Sequence[tuple[float, float]]) -> np.ndarray:
    """Distance in metres from each point to a polyline of ``(lat, lon)`` vertices."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    lat0 = route[0][0]
    kx, ky = float(m_per_deg_lon(lat0)), M_PER_DEG_LAT
    px, py = lon * kx, lat * ky
    best = np.full(lat.shape, np.inf)
    for (alat, alon), (blat, blon) in pairwise(route):
        ax, ay, bx, by = alon * kx, alat * ky, blon * kx, blat * ky
        sx, sy = bx - ax, by - ay
        t = np.clip(((px - ax) * sx + (py - ay) * sy) / (sx * sx + sy * sy), 0.0, 1.0)
        best = np.minimum(best, np.hypot(px - (ax + t * sx), py - (ay + t * sy)))
    return best


def points_along(route: Sequence[tuple[float, float]],
                 u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points at fractions ``u`` ∈ [0, 1] of a polyline's length."""
    vertices = np.asarray(route, dtype=float)
    seg = np.hypot(np.diff(vertices[:, 0]) * M_PER_DEG_LAT,
                   np.diff(vertices[:, 1]) * m_per_deg_lon(vertices[0, 0]))
    cum = np.concatenate([[0.0], np.cumsum(seg)]) / seg.sum()
    return np.interp(u, cum, vertices[:, 0]), np.interp(u, cum, vertices[:, 1])


@lru_cache(maxsize=2)
def _transformer(inverse: bool) -> Transformer:
    src, dst = ("EPSG:2154", "EPSG:4326") if inverse else ("EPSG:4326", "EPSG:2154")
    return Transformer.from_crs(src, dst, always_xy=True)


def to_lambert93(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → Lambert-93 ``(x, y)`` metres."""
    x, y = _transformer(False).transform(np.asarray(lon), np.asarray(lat))
    return np.asarray(x), np.asarray(y)


def from_lambert93(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lambert-93 metres → WGS84 ``(lat, lon)``."""
    lon, lat = _transformer(True).transform(np.asarray(x), np.asarray(y))
    return np.asarray(lat), np.asarray(lon)
