"""Planned events."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import h3
import numpy as np
from fastapi import APIRouter, Query

from belvedere.api.deps import (
    PLANNERS,
    READERS,
    StoreDep,
    allow,
    declared,
    require_period,
    resolve_window,
)
from belvedere.api.schemas import ConflictPublic, EventCreate, EventPublic
from belvedere.errors import ConfigError, NotFound
from belvedere.grid.places import VENUES, Site
from belvedere.grid.records import PlannedEvent
from belvedere.grid.zones import arrondissements, assign_zones
from belvedere.models.conflicts import find_conflicts, planned_from_rows
from belvedere.models.event_impact import (
    EventImpactModel,
    ImpactEvent,
    history_from_store,
    with_zones,
)
from belvedere.privacy.release import (
    Actor,
    collect_planned_event,
    release_anticipation,
    release_events,
)

router = APIRouter(tags=["events"])
Reader = Annotated[Actor, allow(*READERS)]


@router.get("/events", response_model=list[EventPublic])
def events(
    store: StoreDep,
    actor: Reader,
    purpose: Annotated[str, declared("situation_monitoring", "events")],
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Planned events overlapping the window (default: the last 7 days of data)."""
    window = resolve_window(store, start, end)
    rows = release_events(store, window[0], window[1], actor, purpose).to_pylist()
    for row in rows:
        venue = VENUES.get(row["venue"] or "")
        row["venue_name"] = venue.name if venue else row["venue"]
    return rows


@router.get("/events/conflicts", response_model=list[ConflictPublic])
def conflicts(
    store: StoreDep,
    actor: Reader,
    purpose: Annotated[str, declared("event_preparation", "events")],
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
) -> list[dict[str, Any]]:
    """Pairs of planned events in the window that compete: close in space and time, or
    sharing an emergency department or a metro line (see belvedere.models.conflicts)."""
    window = resolve_window(store, start, end)
    rows = release_events(store, window[0], window[1], actor, purpose).to_pylist()
    return [asdict(c) for c in find_conflicts(planned_from_rows(rows))]


@router.get("/events/{event_id}/anticipation")
def anticipation(
    event_id: str,
    store: StoreDep,
    actor: Reader,
    purpose: Annotated[str, declared("event_preparation", "events", "anticipation")],
    resolution: Annotated[int, Query(ge=7, le=9)] = 8,
) -> dict[str, Any]:
    """The expected load around a planned event, hour by hour from 6 h before to 6 h after,
    per feed: cells (operators) or arrondissements (other roles, small totals suppressed)."""
    first, last = require_period(store)
    begin, stop = first - timedelta(days=400), last + timedelta(days=400)
    match = [r for r in release_events(store, begin, stop, actor, purpose).to_pylist()
             if str(r["source_id"]) == event_id]
    if not match:
        raise NotFound(f"no planned event {event_id!r}")
    row = match[0]
    event = ImpactEvent(kind=str(row["kind"]), venue=str(row["venue"] or ""),
                        cell=h3.str_to_int(h3.latlng_to_cell(row["lat"], row["lon"],
                                                             resolution)),
                        start=row["start"], end=row["end"],
                        expected_attendance=float(row["expected_attendance"] or 0))
    model = EventImpactModel(resolution=resolution).fit(
        history_from_store(store, resolution=resolution))
    rows = with_zones(model.anticipate(event))
    released, level, k = release_anticipation(
        store, rows, actor, purpose,
        event={"id": event_id, "kind": event.kind, "start": event.start.isoformat()})
    return {"event": {"id": event_id, "kind": event.kind, "title": row["title"],
                      "venue": row["venue"], "start": event.start,
                      "expected_attendance": event.expected_attendance},
            "granted": level, "k": k, "rows": released.to_dicts()}


@router.post("/events", status_code=201)
def create_event(
    body: EventCreate,
    store: StoreDep,
    actor: Annotated[Actor, allow(*PLANNERS)],
    purpose: Annotated[str, declared("event_preparation", "events")],
) -> dict[str, Any]:
    """Enter a planned event at a known venue (operators and analysts); audited as a
    collection. Answers whether it was stored or already known under the same id."""
    venue = VENUES.get(body.venue)
    if venue is None:
        raise ConfigError(f"unknown venue {body.venue!r}; venues: {', '.join(VENUES)}")
    start, end = body.start, body.end
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise ConfigError("start and end must carry a time zone, and end must follow start")
    event_id = body.id or f"{body.kind}-{body.venue}-{start.astimezone(UTC):%Y%m%dT%H%M}"
    cell = h3.str_to_int(h3.latlng_to_cell(venue.lat, venue.lon, 9))
    stored = collect_planned_event(store, actor, purpose, PlannedEvent(
        source="events", source_id=event_id, kind=body.kind, title=body.title,
        venue=body.venue, lat=venue.lat, lon=venue.lon, route=None,
        start=start.astimezone(UTC), end=end.astimezone(UTC),
        expected_attendance=body.expected_attendance, cell=cell, zone=venue_zone(venue)))
    return {"id": event_id, "stored": bool(stored)}


def venue_zone(site: Site) -> str | None:
    """The arrondissement of a venue."""
    return assign_zones(arrondissements(), np.array([site.lat]), np.array([site.lon]))[0]
