"""GTFS-realtime: one binary ``FeedMessage`` (``transports/realtime/*.pb``) → incidents and
delay measurements at GTFS stops.

Read with the reference bindings (``google.transit.gtfs_realtime_pb2``); the static
``gtfs.zip`` places every stop. What each entity becomes:

- ``Alert`` → one ``Incident`` per (alert, informed stop): category ``transit_disruption``,
  ``source_category`` = ``EFFECT/CAUSE`` (``NO_SERVICE/STRIKE``), origin ``sensor``, ``ts`` =
  the earliest ``active_period`` start (else the feed header's timestamp), ``severity`` from
  ``severity_level`` (INFO 1, WARNING 2, SEVERE 3), ``attrs`` = ``{"route_id", "active_until"}``.
  An alert naming a route (or a trip) rather than a stop is placed at every stop that route
  serves per ``trips.txt``/``stop_times.txt`` (platforms folded into their station); without
  them it has no place and is quarantined (``no_place``). The alert's free text (header,
  description, their text-to-speech forms, cause/effect details, image descriptions) is
  **dropped at the door** — never stored, never quarantined — and counted in
  ``minimised["dropped:alert_text"]``.
- ``TripUpdate`` → one ``delay_s`` ``Measurement`` per stop-time update: ``site`` = the stop,
  ``category`` = the route, ``start`` = the arrival (else departure) event time, ``end`` =
  ``start`` + 1 min, ``value`` = the delay in seconds. When the producer gives only a delay or
  only a time, the other is derived from the scheduled time in ``stop_times.txt`` (service day
  ``start_date``, agency time zone). Times after the feed's timestamp are predictions and
  flagged ``predicted``. Cancelled trips and skipped / no-data stops carry no delay and are
  left out (counted as filtered). The vehicle descriptor (id, label, licence plate) is dropped
  and counted in ``minimised["dropped:trip_vehicle"]``.
- ``VehiclePosition`` → **not kept**: a vehicle's track is not needed for place-based
  aggregates (and is the kind of trace belvedere refuses to hold). Counted as filtered and in
  ``minimised["dropped:vehicle_position"]``.

Accounting (so that ``rows_read == stored + duplicates + quarantined + filtered`` is exact): a
*row* is one unit of output decided for an entity —

- an alert yields one row per distinct stop it informs (located → incident; unknown or
  unlocated → quarantined ``unknown_site``), or one row when it fails whole (no time: ``bad_time``;
  no stop at all: ``no_place``);
- a trip update yields one row per stop-time update (→ measurement, quarantined, or filtered when
  skipped), or one row when it fails or is left out whole (no ``trip_id``: ``no_id``; cancelled;
  no stop-time update);
- a vehicle position, a deleted entity, or an entity of another type is one filtered row.

Every row is counted by the same call that decides its fate (:class:`_Tally`), so the identity
holds by construction. Quarantined rows carry ``line`` = the entity's 1-based index in the feed.

``source_id`` is deterministic, so re-reading a file stores nothing new: ``alert|<entity id>|
<stop_id>`` and ``delay|<trip_id>|<start_date>|<stop_sequence or stop_id>`` (``start_date``
defaults to the event's local date). A later snapshot of the same trip and stop is therefore a
duplicate: the first value seen is kept.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2 as rt

from belvedere.errors import SourceError
from belvedere.grid.records import Incident, Measurement, arrow_schema
from belvedere.sources.base import ParsedFile
from belvedere.sources.gtfs import GtfsFeed
from belvedere.sources.tabular import to_arrow

CATEGORY = "transit_disruption"
METRIC = "delay_s"
ALERT_TEXT_FIELDS = (
    "header_text", "description_text", "tts_header_text", "tts_description_text",
    "cause_detail", "effect_detail", "image_alternative_text",
)
"""Free-text fields of an ``Alert`` (TranslatedString): all dropped."""
SEVERITY = {"INFO": 1, "WARNING": 2, "SEVERE": 3}
NO_DELAY_STOP = ("SKIPPED", "NO_DATA")
NO_DELAY_TRIP = ("CANCELED", "DELETED")


def read_feed_message(path: Path, *, source: str) -> rt.FeedMessage:
    """Parse one binary GTFS-realtime file.

    Raises:
        SourceError: the file cannot be read or is not a FeedMessage with a header.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot read: {exc}", source=source, file=str(path)) from exc
    try:
        message = rt.FeedMessage.FromString(data)
    except DecodeError as exc:
        raise SourceError(f"not a GTFS-realtime FeedMessage: {exc}", source=source,
                          file=str(path)) from exc
    # Protobuf parses many byte strings (an empty file, for one) as an empty message: the
    # header's version is required by the spec and tells a feed from an accident.
    if not message.HasField("header") or not message.header.gtfs_realtime_version:
        raise SourceError("not a GTFS-realtime FeedMessage: no header with gtfs_realtime_version",
                          source=source, file=str(path))
    return message


@dataclass
class _Tally:
    """Every row's fate, decided and counted by one call (see the module's accounting)."""

    incidents: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    filtered: Counter[str] = field(default_factory=Counter)
    minimised: Counter[str] = field(default_factory=Counter)
    read: int = 0

    def incident(self, row: dict[str, Any]) -> None:
        self.read += 1
        self.incidents.append(row)

    def measurement(self, row: dict[str, Any]) -> None:
        self.read += 1
        self.measurements.append(row)

    def reject(self, line: int, rule: str, reason: str, raw: dict[str, Any]) -> None:
        self.read += 1
        self.quarantine.append({"line": line, "rule": rule, "reason": reason,
                                "raw": json.dumps(raw, sort_keys=True)})

    def leave_out(self, why: str) -> None:
        self.read += 1
        self.filtered[why] += 1


class _Reader:
    """One FeedMessage against one static feed."""

    def __init__(self, message: rt.FeedMessage, feed: GtfsFeed) -> None:
        self.message = message
        self.feed = feed
        self.tz = ZoneInfo(feed.timezone)
        self.now = int(message.header.timestamp) or None
        self.located = set(feed.stops["stop_id"].to_list())
        self.unlocated = dict(feed.unlocated.iter_rows())
        self.out = _Tally()
        # Look up in the static feed only what this message refers to, once for all entities.
        entities = [e for e in message.entity if not e.is_deleted]
        selectors = [s for e in entities if e.HasField("alert") for s in e.alert.informed_entity]
        alert_trips = sorted({s.trip.trip_id for s in selectors} - {""})
        update_trips = sorted({e.trip_update.trip.trip_id for e in entities
                               if e.HasField("trip_update")} - {""})
        self.trip_route = feed.route_of_trips(alert_trips + update_trips)
        self.trip_stops = feed.stops_of_trips(alert_trips)
        self.route_stops = feed.stops_of_routes(sorted({s.route_id for s in selectors} - {""}))
        schedule = feed.schedule(update_trips)
        # Stop-time updates name a stop by sequence, by id, or both: index the schedule by each.
        self.by_sequence = {(r["trip_id"], r["stop_sequence"]): r
                            for r in schedule.iter_rows(named=True)}
        self.by_stop = {(r["trip_id"], r["stop_id"]): r for r in schedule.iter_rows(named=True)}

    def run(self) -> _Tally:
        for line, entity in enumerate(self.message.entity, start=1):
            if entity.is_deleted:
                self.out.leave_out("deleted entity")
                continue
            handled = False
            if entity.HasField("alert"):
                self.alert(line, entity.id, entity.alert)
                handled = True
            if entity.HasField("trip_update"):
                self.trip_update(line, entity.id, entity.trip_update)
                handled = True
            if entity.HasField("vehicle"):
                self.out.minimised["dropped:vehicle_position"] += 1
                self.out.leave_out("vehicle position")
                handled = True
            if not handled:
                self.out.leave_out("entity of another type")
        return self.out

    # -- alerts ------------------------------------------------------------------------------

    def alert(self, line: int, entity_id: str, alert: rt.Alert) -> None:
        if any(alert.HasField(f) for f in ALERT_TEXT_FIELDS):
            self.out.minimised["dropped:alert_text"] += 1
        effect = rt.Alert.Effect.Name(alert.effect)
        cause = rt.Alert.Cause.Name(alert.cause)
        selectors = list(alert.informed_entity)
        raw: dict[str, Any] = {
            "entity_id": entity_id, "effect": effect, "cause": cause,
            "route_ids": sorted({s.route_id for s in selectors if s.route_id}),
            "stop_ids": sorted({s.stop_id for s in selectors if s.stop_id}),
        }
        if not entity_id:
            self.out.reject(line, "no_id", "alert entity has an empty id", raw)
            return
        start, until = self.active(alert)
        if start is None:
            self.out.reject(line, "bad_time", "alert has no active_period start and the feed "
                            "header has no timestamp", raw)
            return
        routes_at: dict[str, set[str]] = {}
        for s in selectors:
            route = s.route_id or s.trip.route_id or self.trip_route.get(s.trip.trip_id, "")
            if s.stop_id:
                stops = [s.stop_id]
            elif s.trip.trip_id:
                stops = self.trip_stops.get(s.trip.trip_id, [])
            elif s.route_id:
                stops = self.route_stops.get(s.route_id, [])
            else:
                stops = []  # agency- or mode-wide: no place on the grid
            for stop in stops:
                routes_at.setdefault(stop, set()).update({route} if route else set())
        if not routes_at:
            self.out.reject(line, "no_place", self.why_no_place(raw), raw)
            return
        for stop, routes in sorted(routes_at.items()):
            if stop not in self.located:
                self.out.reject(line, "unknown_site", self.unknown(stop),
                                {**raw, "stop_ids": [stop]})
                continue
            self.out.incident({
                "source_id": f"alert|{entity_id}|{stop}",
                "stop_id": stop,
                "ts_s": start,
                "source_category": f"{effect}/{cause}",
                "severity": SEVERITY.get(rt.Alert.SeverityLevel.Name(alert.severity_level)),
                "attrs": json.dumps({
                    "route_id": ",".join(sorted(routes)) or None,
                    "active_until": (None if until is None
                                     else datetime.fromtimestamp(until, UTC).isoformat()),
                }),
            })

    def active(self, alert: rt.Alert) -> tuple[int | None, int | None]:
        """(start, end) in POSIX seconds: the earliest start (else the feed's timestamp) and the
        latest end (``None`` when any period is open-ended, or none is given)."""
        periods = list(alert.active_period)
        starts = [p.start for p in periods if p.start]
        ends = [p.end for p in periods if p.end]
        until = max(ends) if periods and len(ends) == len(periods) else None
        return (min(starts) if starts else self.now), until

    def why_no_place(self, raw: dict[str, Any]) -> str:
        if not raw["route_ids"]:
            return "alert informs no stop, route or trip (agency- or mode-wide)"
        if self.feed.trips is None or self.feed.stop_times is None:
            return (f"alert informs route(s) {', '.join(raw['route_ids'])} but no stop, and "
                    "gtfs.zip has no trips.txt/stop_times.txt to find the stops they serve")
        return (f"alert informs route(s) {', '.join(raw['route_ids'])} that serve no stop in "
                "gtfs.zip stop_times.txt")

    def unknown(self, stop: str) -> str:
        return self.unlocated.get(stop, f"stop {stop} is not in gtfs.zip stops.txt")

    # -- trip updates ------------------------------------------------------------------------

    def trip_update(self, line: int, entity_id: str, update: rt.TripUpdate) -> None:
        trip = update.trip
        if update.HasField("vehicle"):
            self.out.minimised["dropped:trip_vehicle"] += 1
        raw: dict[str, Any] = {"entity_id": entity_id, "trip_id": trip.trip_id,
                               "start_date": trip.start_date}
        relationship = rt.TripDescriptor.ScheduleRelationship.Name(trip.schedule_relationship)
        if relationship in NO_DELAY_TRIP:
            self.out.leave_out("cancelled or deleted trip")
            return
        if not trip.trip_id:
            self.out.reject(line, "no_id", "trip update without trip_id cannot be keyed", raw)
            return
        if not update.stop_time_update:
            self.out.leave_out("trip update without stop-time update")
            return
        route = trip.route_id or self.trip_route.get(trip.trip_id, "")
        for stu in update.stop_time_update:
            self.stop_time(line, raw, route, stu)

    def stop_time(self, line: int, raw: dict[str, Any], route: str,
                  stu: rt.TripUpdate.StopTimeUpdate) -> None:
        trip_id = raw["trip_id"]
        if rt.TripUpdate.StopTimeUpdate.ScheduleRelationship.Name(
                stu.schedule_relationship) in NO_DELAY_STOP:
            self.out.leave_out("skipped or no-data stop")
            return
        sequence = stu.stop_sequence if stu.HasField("stop_sequence") else None
        scheduled = (self.by_sequence.get((trip_id, sequence))
                     or self.by_stop.get((trip_id, stu.stop_id)))
        stop = stu.stop_id or (scheduled["stop_id"] if scheduled else "")
        raw = {**raw, "stop_sequence": sequence, "stop_id": stop}
        if not stop:
            self.out.reject(line, "unknown_site",
                            f"stop-time update names no stop_id and stop_sequence {sequence} is "
                            f"not in gtfs.zip stop_times.txt for trip {trip_id}", raw)
            return
        if stop not in self.located:
            self.out.reject(line, "unknown_site", self.unknown(stop), raw)
            return
        arrival = stu.arrival if stu.HasField("arrival") else None
        departure = stu.departure if stu.HasField("departure") else None
        use_arrival = arrival is not None and _has_time(arrival)
        event = arrival if use_arrival else departure
        if event is None or not _has_time(event):
            self.out.reject(line, "bad_time", "stop-time update has neither an arrival nor a "
                            "departure time or delay", raw)
            return
        planned = self.planned(raw["start_date"], scheduled,
                               "arrival_s" if use_arrival else "departure_s", event)
        time = event.time or (planned + event.delay if planned is not None
                              and event.HasField("delay") else None)
        if time is None:
            self.out.reject(line, "bad_time", f"stop-time update gives a delay but no time, and "
                            f"no scheduled time is known for trip {trip_id} at stop {stop} "
                            "(start_date and gtfs.zip stop_times.txt needed)", raw)
            return
        delay = (event.delay if event.HasField("delay")
                 else time - planned if planned is not None else None)
        if delay is None:
            self.out.reject(line, "no_value", f"stop-time update gives a time but no delay, and "
                            f"no scheduled time is known for trip {trip_id} at stop {stop}", raw)
            return
        day = raw["start_date"] or datetime.fromtimestamp(time, self.tz).strftime("%Y%m%d")
        self.out.measurement({
            "source_id": f"delay|{trip_id}|{day}|{stop if sequence is None else sequence}",
            "stop_id": stop,
            "category": route,
            "start_s": time,
            "value": float(delay),
            "flags": "predicted" if self.now is not None and time > self.now else "",
        })

    def planned(self, start_date: str, scheduled: dict[str, Any] | None, column: str,
                event: rt.TripUpdate.StopTimeEvent) -> int | None:
        """Scheduled POSIX time of the event: from the feed itself (``scheduled_time``) or from
        stop_times on the service day ``start_date``; ``None`` when neither is known."""
        if event.HasField("scheduled_time"):
            return int(event.scheduled_time)
        seconds = (scheduled or {}).get(column)
        if seconds is None or not start_date:
            return None
        try:
            day = datetime.strptime(start_date, "%Y%m%d")
        except ValueError:
            return None
        # GTFS times count from "noon minus 12 h" of the service day, which is midnight except
        # on the days the clocks change.
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=self.tz).astimezone(UTC)
        return int((noon - timedelta(hours=12)).timestamp()) + int(seconds)


def _has_time(event: rt.TripUpdate.StopTimeEvent) -> bool:
    """Whether a stop-time event says when (an absolute time or a delay)."""
    return bool(event.time) or event.HasField("delay")


def read_realtime(path: Path, feed: GtfsFeed, *, source: str) -> ParsedFile:
    """Parse one GTFS-realtime file against the static ``feed`` (see the module docstring)."""
    message = read_feed_message(path, source=source)
    tally = _Reader(message, feed).run()
    places = pl.from_arrow(feed.sites()).select(  # type: ignore[union-attr]
        stop_id="site_id", lat="lat", lon="lon", cell="cell", zone="zone")
    incidents = _frame(tally.incidents, {
        "source_id": pl.String, "stop_id": pl.String, "ts_s": pl.Int64,
        "source_category": pl.String, "severity": pl.Int64, "attrs": pl.String,
    }).join(places, on="stop_id", how="left", maintain_order="left").with_columns(
        source=pl.lit(source),
        category=pl.lit(CATEGORY),
        ts=_utc("ts_s"),
        origin=pl.lit("sensor"),
        time_precision=pl.lit("second"),
        place_precision=pl.lit("point"),
    )
    measurements = _frame(tally.measurements, {
        "source_id": pl.String, "stop_id": pl.String, "category": pl.String,
        "start_s": pl.Int64, "value": pl.Float64, "flags": pl.String,
    }).join(places, on="stop_id", how="left", maintain_order="left").with_columns(
        source=pl.lit(source),
        metric=pl.lit(METRIC),
        site=pl.col("stop_id"),
        start=_utc("start_s"),
        end=_utc("start_s") + pl.duration(minutes=1),
    )
    quarantine = _frame(tally.quarantine, {"line": pl.Int64, "rule": pl.String,
                                           "reason": pl.String, "raw": pl.String})
    header = message.header
    notes = [
        "gtfs-realtime {} {}, {} entities, feed time {}".format(
            header.gtfs_realtime_version,
            rt.FeedHeader.Incrementality.Name(header.incrementality),
            len(message.entity),
            datetime.fromtimestamp(header.timestamp, UTC).isoformat() if header.timestamp
            else "not given"),
        *(f"left out: {n} × {why}" for why, n in sorted(tally.filtered.items())),
        *(f"gtfs.zip: {p}" for p in feed.problems),
    ]
    return ParsedFile(
        records={"incidents": to_arrow(incidents, arrow_schema(Incident)),
                 "measurements": to_arrow(measurements, arrow_schema(Measurement))},
        quarantine=quarantine.to_arrow(),
        rows_read=tally.read,
        sites=feed.sites(),
        rows_filtered=sum(tally.filtered.values()),
        minimised=dict(tally.minimised),
        notes=notes,
    )


def _frame(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pl.DataFrame:
    """The collected rows as a frame of ``schema`` (empty but typed when there are none)."""
    return pl.DataFrame(rows, schema=schema)


def _utc(seconds: str) -> pl.Expr:
    """UTC datetime of a POSIX-seconds column."""
    return pl.from_epoch(pl.col(seconds), time_unit="s").dt.replace_time_zone("UTC")
