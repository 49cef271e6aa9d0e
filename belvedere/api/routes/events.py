"""Planned events."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from belvedere.api.deps import CurrentActor, StoreDep, resolve_window
from belvedere.api.schemas import ConflictPublic, EventPublic
from belvedere.grid.places import VENUES
from belvedere.models.conflicts import find_conflicts, planned_from_rows
from belvedere.privacy.release import release_events

router = APIRouter(tags=["events"])


@router.get("/events", response_model=list[EventPublic])
def events(
    store: StoreDep,
    actor: CurrentActor,
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
    purpose: Annotated[str, Query()] = "situation_monitoring",
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
    actor: CurrentActor,
    start: Annotated[datetime | None, Query()] = None,
    end: Annotated[datetime | None, Query()] = None,
    purpose: Annotated[str, Query()] = "event_preparation",
) -> list[dict[str, Any]]:
    """Pairs of planned events in the window that compete: close in space and time, or
    sharing an emergency department or a metro line (see belvedere.models.conflicts)."""
    window = resolve_window(store, start, end)
    rows = release_events(store, window[0], window[1], actor, purpose).to_pylist()
    return [asdict(c) for c in find_conflicts(planned_from_rows(rows))]
