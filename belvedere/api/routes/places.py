"""Reference places: venues, hospitals, metro stations and cameras (public geography)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from belvedere.api.deps import PUBLIC
from belvedere.grid.places import ALL_SITES

router = APIRouter(tags=["zones"])


@router.get("/places", dependencies=[PUBLIC])
def places() -> dict[str, Any]:
    """GeoJSON points of the fixed places the feeds report against, with their kind
    (``venue``, ``hospital``, ``station``, ``camera``), name and metro lines. They are public
    infrastructure, not records: nothing here says what happened there."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": s.site_id,
         "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
         "properties": {"site_id": s.site_id, "kind": s.kind, "name": s.name,
                        "lines": list(s.lines)}}
        for s in ALL_SITES.values()]}
