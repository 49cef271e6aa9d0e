"""The situation: counts and sums by place × time bin, through the release gate."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query

from belvedere.api.deps import READERS, StoreDep, allow, declared, held_period, resolve_window
from belvedere.api.schemas import SituationPublic, TimelinePublic
from belvedere.errors import ConfigError, NotFound
from belvedere.grid.cells import cells_geojson, str_to_cell
from belvedere.grid.zones import arrondissements, zones_geojson
from belvedere.privacy.release import Actor, Release, release
from belvedere.sources.base import get_source, registry
from belvedere.store.base import Bin, Level, SituationQuery

router = APIRouter(prefix="/situation", tags=["situation"])
CITY_TZ = ZoneInfo("Europe/Paris")

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
Purpose = Annotated[str, declared("situation_monitoring", "situation")]
Reader = Annotated[Actor, allow(*READERS)]


def _noise(rel: Release) -> dict[str, Any] | None:
    """The noise a release carries (mechanism, ε, ledger line), or ``None`` when exact."""
    if rel.mechanism is None:
        return None
    return {"mechanism": rel.mechanism, "epsilon": rel.epsilon, "ledger": rel.ledger_seq}


def _granted(rel: Release) -> dict[str, Any]:
    return {"level": rel.granted.level, "resolution": rel.granted.resolution,
            "bin": rel.granted.bin}


@router.get("", response_model=SituationPublic)
def situation(store: StoreDep, actor: Reader, query: QueryDep,
              purpose: Purpose) -> dict[str, Any]:
    """Counts and sums by place × bin × source × category, as the caller's role may see them."""
    rel = release(store, query, actor, purpose)
    return {"granted": _granted(rel), "k": rel.k, "suppressed": rel.suppressed,
            "noise": _noise(rel), "rows": rel.table.to_pylist()}


def _primary(query: SituationQuery) -> SituationQuery:
    """One source, its primary metric, categories summed (what a map or a curve shows)."""
    if len(query.sources) != 1:
        raise ConfigError("give exactly one source for a map or a timeline")
    info = get_source(query.sources[0]).info
    return replace(query, metrics=(info.metric,), by_category=False)


@router.get("/map")
def situation_map(store: StoreDep, actor: Reader, query: QueryDep,
                  purpose: Purpose) -> dict[str, Any]:
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
    return {**geo, "granted": _granted(rel), "k": rel.k, "noise": _noise(rel),
            "source": q.sources[0]}


@router.get("/timeline", response_model=TimelinePublic)
def situation_timeline(store: StoreDep, actor: Reader, query: QueryDep,
                       purpose: Purpose) -> dict[str, Any]:
    """One source's city-wide series by hour or day (local time)."""
    q = _primary(query)
    rel = release(store, replace(q, level="city"), actor, purpose)
    series = [{"bin_start": r["bin_start"], "value": r["value"], "suppressed": r["suppressed"]}
              for r in rel.table.to_pylist()]
    return {"granted": _granted(rel), "k": rel.k, "noise": _noise(rel), "source": q.sources[0],
            "series": series}



BASELINE_WEEKS = 4
"""The zone drill-down's expected value: the mean of the same local hour (or day) of week over
this many weeks before (the seasonal-naive baseline, from the same released figures)."""


@router.get("/zone/{zone_id}")
def zone_drilldown(zone_id: str, store: StoreDep, actor: Reader, purpose: Purpose,
                   start: Annotated[datetime | None, Query()] = None,
                   end: Annotated[datetime | None, Query()] = None) -> dict[str, Any]:
    """One arrondissement, every feed, bin by bin over the window: the observed figure and the
    expected one (mean of the same hour of week over the 4 weeks before), as the caller's role
    may see them (suppressed bins are neither shown nor used as a reference)."""
    names = {z.zone_id: z.name for z in arrondissements()}
    if zone_id not in names:
        raise NotFound(f"unknown arrondissement {zone_id!r}; zones: {', '.join(names)}")
    window = resolve_window(store, start, end)
    metrics = tuple(sorted({s.info.metric for s in registry().values()}))
    query = SituationQuery(start=window[0] - timedelta(weeks=BASELINE_WEEKS), end=window[1],
                           level="zone", bin="hour", zones=(zone_id,), metrics=metrics,
                           by_category=False)
    rel = release(store, query, actor, purpose)
    # Each feed's primary metric (a camera's people count, not its density).
    primary = {name: src.info.metric for name, src in registry().items()}
    rows = [r for r in rel.table.to_pylist()
            if r["place"] == zone_id and primary.get(r["source"]) == r["metric"]]
    value = {(r["source"], r["bin_start"]): (None if r["suppressed"] else r["value"])
             for r in rows}
    hidden = {(r["source"], r["bin_start"]) for r in rows if r["suppressed"]}
    step, week = (timedelta(hours=1) if rel.granted.bin == "hour" else timedelta(days=1),
                  timedelta(days=7))
    first = window[0].astimezone(CITY_TZ).replace(tzinfo=None)
    first = first.replace(minute=0, second=0, microsecond=0)
    if rel.granted.bin != "hour":
        first = first.replace(hour=0)
    last = window[1].astimezone(CITY_TZ).replace(tzinfo=None)
    bins = []
    while first < last:
        bins.append(first)
        first += step
    # Before the data held nothing is known (not zero).
    period = held_period(store)
    held_from = period[0].astimezone(CITY_TZ).replace(tzinfo=None) if period else bins[0]
    feeds: dict[str, list[dict[str, Any]]] = {}
    for source in sorted({r["source"] for r in rows}):
        # An incident feed with no row in a bin had no incident there; a measurement feed
        # with none had no measurement (unknown).
        counted = get_source(source).info.kind == "incidents"

        def figure(at: datetime, source: str = source, counted: bool = counted) -> float | None:
            if (source, at) in value:
                return value[(source, at)]
            return 0.0 if counted and at >= held_from else None

        out = []
        for at in bins:
            refs = [figure(at - k * week) for k in range(1, BASELINE_WEEKS + 1)]
            known = [v for v in refs if v is not None]
            out.append({"bin_start": at, "observed": figure(at),
                        "suppressed": (source, at) in hidden,
                        "expected": sum(known) / len(known) if known else None})
        feeds[source] = out
    return {"zone": zone_id, "name": names[zone_id], "granted": _granted(rel), "k": rel.k,
            "baseline_weeks": BASELINE_WEEKS,
            "feeds": [{"source": src, "bins": bins} for src, bins in feeds.items()]}
