"""Zones (reference geography, no personal data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from belvedere.api.deps import PUBLIC
from belvedere.grid.zones import arrondissements, zones_geojson

router = APIRouter(tags=["zones"])


@router.get("/zones", dependencies=[PUBLIC])
def zones() -> dict[str, Any]:
    """GeoJSON of the 16 arrondissements (public reference geography)."""
    return zones_geojson(arrondissements())
