"""The situation: counts and sums by place × time bin, through the release gate."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from belvedere.api.deps import READERS, StoreDep, allow, resolve_window
from belvedere.api.schemas import SituationPublic, TimelinePublic
from belvedere.errors import ConfigError
from belvedere.grid.cells import cells_geojson, str_to_cell
from belvedere.grid.zones import arrondissements, zones_geojson
from belvedere.privacy.release import Actor, Release, release
from belvedere.sources.base import get_source
from belvedere.store.base import Bin, Level, SituationQuery

router = APIRouter(prefix="/situation", tags=["situation"])

def situation_query(
    store: StoreDep,
    source: Annotated[list[str] | None, Query(description="feed(s); all when absent")] = None,
    start: Annotated[datetime | None, Query(description="window start (ISO 8601)")] = None,
    end: Annotated[datetime | None, Query(description="window end, excluded")] = None,
    level: Annotated[Level, Query()] = "zone",
    resolution: Annotated[int, Query(ge=0, le=9)] = 9,
    bin: Annotated[Bin, Query()] = "hour",
    zone: Annotated[list[str] | None, Query(description="restrict to zone ids")] = None,
) -> SituationQuery:
    """The situation query described by the request's parameters."""
    for name in source or []:
        get_source(name)  # unknown names answer 422 with the list of known ones
    window = resolve_window(store, start, end)
    return SituationQuery(
        start=window[0], end=window[1], sources=tuple(source or ()), level=level,
        resolution=resolution, bin=bin, zones=tuple(zone or ()),
    )


QueryDep = Annotated[SituationQuery, Depends(situation_query)]
Purpose = Annotated[str, Query(description="declared purpose of the consultation")]
Reader = Annotated[Actor, allow(*READERS)]


def _granted(rel: Release) -> dict[str, Any]:
    return {"level": rel.granted.level, "resolution": rel.granted.resolution,
            "bin": rel.granted.bin}


@router.get("", response_model=SituationPublic)
def situation(store: StoreDep, actor: Reader, query: QueryDep,
              purpose: Purpose = "situation_monitoring") -> dict[str, Any]:
    """Counts and sums by place × bin × source × category, as the caller's role may see them."""
    rel = release(store, query, actor, purpose)
    return {"granted": _granted(rel), "k": rel.k, "suppressed": rel.suppressed,
            "rows": rel.table.to_pylist()}


def _primary(query: SituationQuery) -> SituationQuery:
    """One source, its primary metric, categories summed (what a map or a curve shows)."""
    if len(query.sources) != 1:
        raise ConfigError("give exactly one source for a map or a timeline")
    info = get_source(query.sources[0]).info
    return replace(query, metrics=(info.metric,), by_category=False)


@router.get("/map")
def situation_map(store: StoreDep, actor: Reader, query: QueryDep,
                  purpose: Purpose = "situation_monitoring") -> dict[str, Any]:
    """GeoJSON of one source's total per place over the window (cells or zones)."""
    q = _primary(query)
    rel = release(store, replace(q, bin="window"), actor, purpose)
    rows = {r["place"]: {"place": r["place"], "value": r["value"], "n": r["n"],
                         "suppressed": r["suppressed"]} for r in rel.table.to_pylist()}
    if rel.granted.level == "cell":
        geo = cells_geojson({str_to_cell(p): props for p, props in rows.items()})
    else:
        zones = [z for z in arrondissements() if z.zone_id in rows]
        geo = zones_geojson(zones)
        for feature in geo["features"]:
            feature["properties"].update(rows[feature["properties"]["zone_id"]])
    return {**geo, "granted": _granted(rel), "k": rel.k, "source": q.sources[0]}


@router.get("/timeline", response_model=TimelinePublic)
def situation_timeline(store: StoreDep, actor: Reader, query: QueryDep,
                       purpose: Purpose = "situation_monitoring") -> dict[str, Any]:
    """One source's city-wide series by hour or day (local time)."""
    q = _primary(query)
    rel = release(store, replace(q, level="city"), actor, purpose)
    series = [{"bin_start": r["bin_start"], "value": r["value"], "suppressed": r["suppressed"]}
              for r in rel.table.to_pylist()]
    return {"granted": _granted(rel), "k": rel.k, "source": q.sources[0], "series": series}

