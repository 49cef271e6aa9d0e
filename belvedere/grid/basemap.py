"""An optional basemap for the dashboard: a PMTiles file built from an OpenStreetMap extract.

The dashboard works without any basemap (the arrondissements on a sea-blue background). An
operator who wants streets under the choropleth provides an OpenStreetMap extract of the city
(``.osm.pbf`` or ``.osm`` XML, e.g. cut from a regional Geofabrik file with osmium) and runs::

    belvedere basemap --osm marseille.osm.pbf --out marseille.pmtiles
    BELVEDERE_BASEMAP=marseille.pmtiles belvedere serve

:func:`build_basemap` keeps only what helps reading the map — water, green areas, buildings,
roads (major/minor) and railways — as one vector layer ``osm`` with a ``class`` attribute,
written with GDAL's PMTiles driver (through ``pyogrio``, the optional extra ``basemap``). No
names (labels would need glyph files), no points of interest. The file is served by the app
itself with HTTP range requests: nothing is fetched from another origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from belvedere.errors import ConfigError

LAYER = "osm"
"""The vector layer of the PMTiles file (the dashboard's style reads it)."""

MAJOR_ROADS = ("motorway", "trunk", "primary", "secondary", "tertiary")
MINOR_ROADS = ("unclassified", "residential", "living_street", "pedestrian", "service")

# (OSM driver layer, OGR SQL filter, class, rank): what is kept, in drawing order.
SELECTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("multipolygons", "\"natural\" = 'water' OR landuse = 'reservoir'", "water", ""),
    ("multipolygons", "leisure IN ('park', 'garden') OR landuse IN ('grass', 'forest', "
                      "'meadow', 'recreation_ground') OR \"natural\" IN ('wood', 'scrub')",
     "green", ""),
    ("multipolygons", "building IS NOT NULL", "building", ""),
    ("lines", "highway IN (" + ", ".join(f"'{r}'" for r in MAJOR_ROADS) + ")", "road", "major"),
    ("lines", "highway IN (" + ", ".join(f"'{r}'" for r in MINOR_ROADS) + ")", "road", "minor"),
    ("lines", "railway = 'rail'", "rail", ""),
)


def _pyogrio() -> Any:
    try:
        import pyogrio
    except ImportError as exc:  # the optional extra
        raise ConfigError("building a basemap needs pyogrio (GDAL): "
                          "pip install 'belvedere[basemap]'") from exc
    return pyogrio


def build_basemap(osm: Path, out: Path, *, min_zoom: int = 10, max_zoom: int = 15
                  ) -> dict[str, int]:
    """Write ``out`` (PMTiles, one layer ``osm``) from the extract ``osm``; returns the number
    of features kept per class.

    Raises:
        ConfigError: the extract is missing or unreadable, or pyogrio is not installed.
    """
    if not osm.is_file():
        raise ConfigError(f"no OpenStreetMap extract at {osm}")
    if not 0 <= min_zoom <= max_zoom <= 16:
        raise ConfigError(f"zooms must satisfy 0 ≤ min ≤ max ≤ 16, got {min_zoom}–{max_zoom}")
    pyogrio = _pyogrio()
    parts: list[pa.Table] = []
    counts: dict[str, int] = {}
    for layer, where, cls, rank in SELECTIONS:
        try:
            _, table = pyogrio.read_arrow(osm, layer=layer, columns=[], where=where)
        except Exception as exc:  # GDAL's own errors: name the file and the layer
            raise ConfigError(f"{osm}: cannot read OpenStreetMap layer {layer!r}: {exc}") from exc
        geometry = table.column(table.schema.names[-1]).combine_chunks()
        n = len(geometry)
        counts[cls] = counts.get(cls, 0) + n
        if n:
            parts.append(pa.table({"class": pa.array([cls] * n), "rank": pa.array([rank] * n),
                                   "geometry": geometry.cast(pa.binary())}))
    if not parts:
        raise ConfigError(f"{osm}: no water, green area, building, road or railway found")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    pyogrio.write_arrow(pa.concat_tables(parts), out, driver="PMTiles", layer=LAYER,
                        geometry_name="geometry", geometry_type="Unknown", crs="EPSG:4326",
                        dataset_options={"MINZOOM": str(min_zoom), "MAXZOOM": str(max_zoom)})
    return counts
