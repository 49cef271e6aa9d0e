"""Planned events that compete: close in space and time, or straining the same resources.

Two events *conflict* when their crowd periods overlap — from ``before`` ahead of the start
(people arriving) to ``after`` past the end (people leaving) — and either

- ``space_time``: their footprints (a venue point, or a demonstration's declared route) come
  within ``distance_m`` of each other;
- ``same_hospital``: the same emergency department is the nearest to both;
- ``same_metro_line``: a metro line serves stations within ``station_m`` of both.

This was the Marseille observatory's first delivered feature: two crowds on one evening, one
line of metro, one emergency department. Distances are computed in Lambert-93 (EPSG:2154).

Example:
    >>> from datetime import UTC, datetime, timedelta
    >>> match = PlannedEvent("m", "match_football", "OM", 43.2698, 5.3959, None,
    ...     datetime(2024, 9, 14, 19, tzinfo=UTC), datetime(2024, 9, 14, 21, tzinfo=UTC), 60000)
    >>> demo = PlannedEvent("d", "manifestation", "Marche", 43.2951, 5.3740,
    ...     '{"type": "LineString", "coordinates": [[5.3740, 43.2951], [5.3857, 43.2993]]}',
    ...     datetime(2024, 9, 14, 14, tzinfo=UTC), datetime(2024, 9, 14, 17, tzinfo=UTC), 8000)
    >>> [(c.first, c.second, c.kinds) for c in find_conflicts([match, demo])]
    [('d', 'm', ('same_metro_line',))]
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import combinations
from typing import Any

import shapely
from pyproj import Transformer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from belvedere.grid.places import HOSPITALS, STATIONS, Site

_TO_L93 = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """What conflict detection needs of a planned event."""

    event_id: str
    kind: str
    title: str
    lat: float
    lon: float
    route: str | None  # GeoJSON LineString text (demonstrations)
    start: datetime
    end: datetime
    expected_attendance: int | None


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two events that compete, and why."""

    first: str
    second: str
    kinds: tuple[str, ...]
    overlap_start: datetime
    overlap_end: datetime
    distance_m: float
    hospital: str | None
    lines: tuple[str, ...]
    combined_attendance: int


def _to_l93(geometry: BaseGeometry) -> BaseGeometry:
    return shapely.transform(geometry, _TO_L93.transform, interleaved=False)


def _footprint(event: PlannedEvent) -> BaseGeometry:
    """The event's venue point or declared route, in Lambert-93 metres."""
    geometry: BaseGeometry = shapely.Point(event.lon, event.lat)
    if event.route:
        # A malformed route keeps the venue point (the connector quarantines bad routes).
        with contextlib.suppress(ValueError, TypeError, KeyError):
            geometry = shape(json.loads(event.route))
    return _to_l93(geometry)


@lru_cache(maxsize=1)
def _sites_l93() -> tuple[tuple[Site, BaseGeometry], ...]:
    return tuple((s, _to_l93(shapely.Point(s.lon, s.lat)))
                 for s in (*HOSPITALS.values(), *STATIONS.values()))


def nearest_hospital(footprint: BaseGeometry) -> str:
    """The emergency department nearest to an event's footprint."""
    hospitals = [(s, p) for s, p in _sites_l93() if s.kind == "hospital"]
    return min(hospitals, key=lambda sp: footprint.distance(sp[1]))[0].site_id


def lines_near(footprint: BaseGeometry, within_m: float) -> set[str]:
    """Metro lines serving stations within ``within_m`` metres of the footprint."""
    return {line for s, p in _sites_l93() if s.kind == "station"
            and footprint.distance(p) <= within_m for line in s.lines}


def find_conflicts(
    events: list[PlannedEvent], *, before: timedelta = timedelta(hours=3),
    after: timedelta = timedelta(hours=2), distance_m: float = 1500.0,
    station_m: float = 800.0,
) -> list[Conflict]:
    """Every pair of events whose crowd periods overlap and that compete (see module doc)."""
    prepared = [(e, _footprint(e)) for e in events]
    found = []
    for (a, fa), (b, fb) in combinations(sorted(prepared, key=lambda p: p[0].event_id), 2):
        start = max(a.start - before, b.start - before)
        end = min(a.end + after, b.end + after)
        if start >= end:
            continue
        kinds = []
        distance = float(fa.distance(fb))
        if distance <= distance_m:
            kinds.append("space_time")
        hospital = nearest_hospital(fa)
        same_hospital = hospital == nearest_hospital(fb)
        if same_hospital:
            kinds.append("same_hospital")
        lines = tuple(sorted(lines_near(fa, station_m) & lines_near(fb, station_m)))
        if lines:
            kinds.append("same_metro_line")
        if kinds:
            found.append(Conflict(
                first=a.event_id, second=b.event_id, kinds=tuple(kinds), overlap_start=start,
                overlap_end=end, distance_m=round(distance, 1),
                hospital=hospital if same_hospital else None, lines=lines,
                combined_attendance=(a.expected_attendance or 0) + (b.expected_attendance or 0),
            ))
    return found


def planned_from_rows(rows: list[dict[str, Any]]) -> list[PlannedEvent]:
    """Planned events from stored rows (``source_id, kind, title, lat, lon, route, start, end,
    expected_attendance``); rows without a position are left out."""
    return [
        PlannedEvent(str(r["source_id"]), str(r["kind"]), str(r["title"]), float(r["lat"]),
                     float(r["lon"]), r.get("route"), r["start"], r["end"],
                     r.get("expected_attendance"))
        for r in rows if r.get("lat") is not None and r.get("lon") is not None
    ]
