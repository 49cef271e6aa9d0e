"""Planned events."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from belvedere.api.deps import CurrentActor, StoreDep, resolve_window
from belvedere.api.schemas import EventPublic
from belvedere.grid.places import VENUES
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
