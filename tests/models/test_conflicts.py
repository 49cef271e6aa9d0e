"""Conflicting planned events: space-time overlap, shared hospital, shared metro line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from belvedere.grid.places import VENUES
from belvedere.models.conflicts import PlannedEvent, find_conflicts

EVENING = datetime(2024, 9, 14, 19, tzinfo=UTC)


def at(venue: str, event_id: str, start: datetime, hours: float = 2, kind: str = "concert",
       attendance: int = 5000, route: str | None = None) -> PlannedEvent:
    v = VENUES[venue]
    return PlannedEvent(event_id, kind, event_id, v.lat, v.lon, route, start,
                        start + timedelta(hours=hours), attendance)


def test_two_crowds_close_together_the_same_evening_conflict_in_space_and_time() -> None:
    events = [at("vieux_port", "a", EVENING), at("canebiere", "b", EVENING + timedelta(hours=1))]
    (conflict,) = find_conflicts(events)
    assert "space_time" in conflict.kinds and conflict.distance_m < 1500
    assert conflict.overlap_start == EVENING - timedelta(hours=2)  # b's arrivals begin
    assert conflict.combined_attendance == 10_000


def test_events_far_apart_in_time_do_not_conflict() -> None:
    events = [at("vieux_port", "a", EVENING), at("canebiere", "b", EVENING + timedelta(days=1))]
    assert find_conflicts(events) == []


def test_distant_events_conflict_through_the_metro_line_they_share() -> None:
    route = '{"type": "LineString", "coordinates": [[5.3740, 43.2951], [5.3857, 43.2993]]}'
    demo = at("vieux_port", "demo", EVENING - timedelta(hours=5), hours=3,
              kind="manifestation", route=route)
    match = at("velodrome", "match", EVENING, kind="match_football", attendance=60_000)
    (conflict,) = find_conflicts([demo, match])
    assert conflict.kinds == ("same_metro_line",) and conflict.lines == ("M2",)
    assert conflict.distance_m > 1500
    # Crowd periods: the march until 19:00 + 2 h, the match's arrivals from 16:00.
    assert (conflict.overlap_start, conflict.overlap_end) == (
        EVENING - timedelta(hours=3), EVENING - timedelta(hours=2) + timedelta(hours=2))


def test_the_same_emergency_department_links_events_across_the_city() -> None:
    a = at("velodrome", "a", EVENING)
    # A point a few hundred metres from La Timone: the same nearest hospital as the stadium.
    b = PlannedEvent("b", "concert", "b", 43.2920, 5.4060, None, EVENING, EVENING +
                     timedelta(hours=2), 3000)
    (conflict,) = find_conflicts([a, b])
    assert "same_hospital" in conflict.kinds and conflict.hospital == "timone"
