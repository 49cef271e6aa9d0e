"""The fixed synthetic city: arrondissements, presence cells, residents and hotspots.

How it is built (from :data:`~belvedere.simulate.streams.CITY_SEED`, the same in every run):

- **cells**: the H3 resolution-8 cells covering Marseille (``cells_covering``), each in the
  arrondissement that holds its centre;
- **residents** of a cell: its arrondissement's population shared between the arrondissement's
  cells with lognormal weights; cells of the natural areas (Frioul, Calanques, Étoile,
  Carpiagne) get a hundredth of an ordinary weight, so they are almost empty, as the real ones;
- **hotspots**: a few points per arrondissement, each near a resident-weighted cell centre,
  with unequal weights — the fixed places where incidents concentrate.

:meth:`City.sample_in_zones` draws incident positions as a mixture: a share around hotspots
(Gaussian), the rest uniform over a resident-weighted cell's disc; points falling outside their
target arrondissement are redrawn, in bulk.

Example:
    >>> city = build_city()
    >>> len(city.zone_ids), len(city.cells)
    (16, 322)
    >>> int(round(city.residents.sum())) == int(city.population.sum())
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import h3
import numpy as np

from belvedere.grid.zones import Zone, arrondissements, assign_zones, cells_covering
from belvedere.simulate.geo import offset
from belvedere.simulate.parameters import GeographyParams
from belvedere.simulate.streams import CITY_SEED, stream

_MAX_REDRAWS = 50


@dataclass(frozen=True, eq=False)
class City:
    """Arrays describing the synthetic city (all aligned by index)."""

    zones: list[Zone]
    zone_ids: np.ndarray  # INSEE codes, sorted
    postcodes: np.ndarray
    population: np.ndarray
    cells: np.ndarray  # H3 res-8 hex ids, sorted
    cell_lat: np.ndarray
    cell_lon: np.ndarray
    cell_zone: np.ndarray  # index into zone_ids
    natural: np.ndarray  # bool: cell in a natural area
    residents: np.ndarray
    hotspot_lat: np.ndarray
    hotspot_lon: np.ndarray
    hotspot_zone: np.ndarray
    hotspot_weight: np.ndarray  # sums to 1 within each zone
    disc_radius_m: float

    def zone_index(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Index of each point's arrondissement, −1 outside the city."""
        return _zone_index(self.zones, self.zone_ids, lat, lon)

    def sample_in_zones(self, rng: np.random.Generator, zone: np.ndarray, *,
                        hotspot_share: float, hotspot_sigma_m: float
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Positions for incidents whose arrondissement index is ``zone``.

        A share ``hotspot_share`` lies around the zone's hotspots (Gaussian, ``hotspot_sigma_m``),
        the rest uniformly over the disc of a resident-weighted cell of the zone.
        """
        def draw(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            n = len(target)
            lat, lon = np.empty(n), np.empty(n)
            near_hotspot = rng.random(n) < hotspot_share
            for z in np.unique(target):
                mask = target == z
                hot, cold = mask & near_hotspot, mask & ~near_hotspot
                hs = np.flatnonzero(self.hotspot_zone == z)
                pick = rng.choice(hs, size=int(hot.sum()), p=self.hotspot_weight[hs])
                dx, dy = rng.normal(0.0, hotspot_sigma_m, (2, len(pick)))
                lat[hot], lon[hot] = offset(self.hotspot_lat[pick], self.hotspot_lon[pick], dx, dy)
                cs = np.flatnonzero(self.cell_zone == z)
                weight = self.residents[cs] / self.residents[cs].sum()
                pick = rng.choice(cs, size=int(cold.sum()), p=weight)
                r = self.disc_radius_m * np.sqrt(rng.random(len(pick)))
                angle = rng.uniform(0.0, 2 * np.pi, len(pick))
                lat[cold], lon[cold] = offset(self.cell_lat[pick], self.cell_lon[pick],
                                              r * np.cos(angle), r * np.sin(angle))
            return lat, lon

        return redraw_until(draw, lambda lat, lon, target: self.zone_index(lat, lon) == target,
                            np.asarray(zone))

    def sample_near(self, rng: np.random.Generator, lat0: np.ndarray, lon0: np.ndarray,
                    sigma_m: float) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian positions around anchor points, redrawn until inside the city."""
        anchors = np.arange(len(lat0))

        def draw(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            dx, dy = rng.normal(0.0, sigma_m, (2, len(target)))
            return offset(lat0[target], lon0[target], dx, dy)

        return redraw_until(draw, lambda lat, lon, _: self.zone_index(lat, lon) >= 0, anchors)


def _zone_index(zones: list[Zone], zone_ids: np.ndarray, lat: np.ndarray,
                lon: np.ndarray) -> np.ndarray:
    ids = assign_zones(zones, lat, lon)
    known = ids != None  # noqa: E711 — elementwise comparison on an object array
    out = np.full(ids.shape, -1, dtype=np.int64)
    out[known] = np.searchsorted(zone_ids, ids[known].astype(str))
    return out


def redraw_until(draw: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 accept: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
                 target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bulk rejection sampling: draw for every target, redraw the rejected ones, repeat.

    ``draw(target)`` returns positions for each entry of ``target``; ``accept(lat, lon, target)``
    says which to keep. After many rounds the last rejected draws are kept as they are, which
    only happens for anchors far outside the city.
    """
    lat, lon = draw(target)
    todo = np.flatnonzero(~accept(lat, lon, target))
    for _ in range(_MAX_REDRAWS):
        if todo.size == 0:
            break
        la, lo = draw(target[todo])
        lat[todo], lon[todo] = la, lo
        todo = todo[~accept(la, lo, target[todo])]
    return lat, lon


@lru_cache(maxsize=1)
def build_city(params: GeographyParams | None = None) -> City:
    """The synthetic Marseille (cached: it never changes)."""
    p = params or GeographyParams()
    rng = stream(CITY_SEED, "geography")
    zones = arrondissements()
    zone_ids = np.array([z.zone_id for z in zones])
    population = np.array([float(z.properties["population"]) for z in zones])
    cells = np.array(cells_covering(zones, p.presence_resolution))
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    cell_lat, cell_lon = centres[:, 0], centres[:, 1]
    cell_zone = np.searchsorted(zone_ids, assign_zones(zones, cell_lat, cell_lon).astype(str))
    natural = np.zeros(len(cells), dtype=bool)
    for area in p.natural_areas:
        natural |= ((cell_lat >= area.lat_min) & (cell_lat <= area.lat_max)
                    & (cell_lon >= area.lon_min) & (cell_lon <= area.lon_max))
    weight = rng.lognormal(0.0, p.resident_heterogeneity_sigma, len(cells))
    weight[natural] *= p.natural_area_factor
    zone_weight = np.bincount(cell_zone, weights=weight, minlength=len(zones))
    residents = population[cell_zone] * weight / zone_weight[cell_zone]

    hs_lat, hs_lon, hs_zone, hs_weight = [], [], [], []
    for z in range(len(zones)):
        cs = np.flatnonzero(cell_zone == z)
        pick = rng.choice(cs, size=p.hotspots_per_zone, p=residents[cs] / residents[cs].sum())
        hs_lat.append(cell_lat[pick])
        hs_lon.append(cell_lon[pick])
        hs_zone.append(np.full(p.hotspots_per_zone, z))
        hs_weight.append(rng.dirichlet(np.full(p.hotspots_per_zone, 2.0)))
    base_lat, base_lon = np.concatenate(hs_lat), np.concatenate(hs_lon)
    hotspot_zone = np.concatenate(hs_zone)

    # Hotspots sit near (not on) their cell centre, and inside their own arrondissement.
    def jitter(target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = rng.normal(0.0, p.hotspot_jitter_m, (2, len(target)))
        return offset(base_lat[target], base_lon[target], dx, dy)

    def own_zone(lat: np.ndarray, lon: np.ndarray, target: np.ndarray) -> np.ndarray:
        return _zone_index(zones, zone_ids, lat, lon) == hotspot_zone[target]

    hotspot_lat, hotspot_lon = redraw_until(jitter, own_zone, np.arange(len(hotspot_zone)))
    return City(
        zones=zones, zone_ids=zone_ids,
        postcodes=np.array([z.properties["code_postal"] for z in zones]),
        population=population, cells=cells, cell_lat=cell_lat, cell_lon=cell_lon,
        cell_zone=cell_zone, natural=natural, residents=residents,
        hotspot_lat=hotspot_lat, hotspot_lon=hotspot_lon, hotspot_zone=hotspot_zone,
        hotspot_weight=np.concatenate(hs_weight), disc_radius_m=p.cell_disc_radius_m,
    )
