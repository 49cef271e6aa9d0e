"""The optional basemap: an OpenStreetMap extract becomes one PMTiles vector layer."""

from __future__ import annotations

from pathlib import Path

import pyogrio
import pytest

from belvedere.errors import ConfigError
from belvedere.grid.basemap import LAYER, build_basemap

TINY = Path(__file__).parent / "data" / "tiny.osm"  # a pond, a building and a main road


def test_an_extract_becomes_one_layer_with_classes(tmp_path: Path) -> None:
    out = tmp_path / "city.pmtiles"
    counts = build_basemap(TINY, out, min_zoom=10, max_zoom=14)
    assert counts == {"water": 1, "green": 0, "building": 1, "road": 1, "rail": 0}
    info = pyogrio.read_info(out)
    assert info["layer_name"] == LAYER and info["driver"] == "PMTiles"
    assert (info["dataset_metadata"]["minzoom"], info["dataset_metadata"]["maxzoom"]) == ("10",
                                                                                          "14")
    _, table = pyogrio.read_arrow(out, columns=["class", "rank"])
    classes = set(table.column("class").to_pylist())
    assert classes == {"water", "building", "road"}
    assert "major" in table.column("rank").to_pylist()  # highway=primary
    # No names, no points of interest: only the class and the rank.
    assert set(info["fields"]) <= {"mvt_id", "class", "rank"}


def test_a_missing_or_empty_extract_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no OpenStreetMap extract"):
        build_basemap(tmp_path / "none.osm.pbf", tmp_path / "x.pmtiles")
    empty = tmp_path / "empty.osm"
    empty.write_text('<?xml version="1.0"?><osm version="0.6">'
                     '<node id="1" lat="43.3" lon="5.4" version="1"/></osm>')
    with pytest.raises(ConfigError, match="no water"):
        build_basemap(empty, tmp_path / "x.pmtiles")
