"""Planned events calendar (CSV, iCalendar, JSON) → ``PlannedEvent``.

Formats: docs/feeds.md § evenements and docs/connectors/events.md. Each reader turns its file
into one frame of *text* fields under English names (:data:`FIELDS`) with a ``_line`` (CSV: the
file line, the header being line 1; JSON: the item number; iCalendar: the VEVENT number); one
shared step (:func:`_to_parsed`) then converts, checks, places and emits them, so the three
formats quarantine by the same rules.

Demonstrations are events for crowd safety only: the declared route is kept as a line, and
nothing about organisers, contacts, descriptions or participants is kept — what is dropped is
counted in ``ParsedFile.minimised`` (``dropped:description``…).

Example:
    >>> route_geojson("43.2951 5.3740|43.2975 5.3810")
    '{"type": "LineString", "coordinates": [[5.374, 43.2951], [5.381, 43.2975]]}'
    >>> route_geojson("[[43.2951, 5.3740], [43.2975, 5.3810]]") == route_geojson(
    ...     "43.2951 5.3740|43.2975 5.3810")
    True
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import icalendar
import polars as pl
from dateutil.rrule import rrulestr

from belvedere.errors import SourceError
from belvedere.grid.places import VENUES
from belvedere.grid.records import PlannedEvent, arrow_schema
from belvedere.grid.timebins import CITY_TZ
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.tabular import (
    LINE,
    Rule,
    apply_rules,
    keep,
    local_time_to_utc,
    locate,
    number,
    quarantine_frame,
    read_delimited,
    required,
    to_arrow,
)

KINDS = ("match_football", "manifestation", "concert", "festival")

KIND_ALIASES: dict[str, str] = {
    **{k: k for k in KINDS},
    "football": "match_football",
    "match": "match_football",
    "soccer": "match_football",
    "demonstration": "manifestation",
    "manif": "manifestation",
    "protest": "manifestation",
    "march": "manifestation",
}
"""Lower-case labels (a CSV ``type``, a JSON ``kind``, an iCalendar CATEGORIES value) → kind."""

FIELDS = ("id", "kind", "title", "venue", "lat", "lon", "start", "end", "expected_attendance",
          "route")
"""What a calendar entry may carry (the JSON keys); everything else is dropped and counted."""

CSV_COLUMNS: dict[str, str] = {
    "id_evenement": "id", "type": "kind", "titre": "title", "lieu": "venue",
    "latitude": "lat", "longitude": "lon", "debut": "start", "fin": "end",
    "affluence_prevue": "expected_attendance", "parcours": "route",
}
"""The CSV's French header → :data:`FIELDS`; the first eight columns are required."""

ATTENDANCE_PROPERTY = "X-BELVEDERE-ATTENDANCE"
ROUTE_PROPERTY = "X-BELVEDERE-ROUTE"

ICS_KEPT = frozenset({
    "UID", "SUMMARY", "DTSTART", "DTEND", "DURATION", "LOCATION", "GEO", "CATEGORIES",
    "STATUS", "RRULE", "EXDATE", "RECURRENCE-ID", ATTENDANCE_PROPERTY, ROUTE_PROPERTY,
})
"""VEVENT properties read; any other one (DESCRIPTION, ORGANIZER, ATTENDEE, CONTACT…) is dropped."""

ICS_BOOKKEEPING = frozenset({"DTSTAMP", "CREATED", "LAST-MODIFIED", "SEQUENCE", "TRANSP",
                             "CLASS", "PRIORITY"})
"""Calendar bookkeeping, dropped without being counted: it says nothing about anyone."""

RECURRENCE_HORIZON = timedelta(days=366)
"""Recurring events are expanded this far after their first start, never further."""

SIMPLE_RRULE_PARTS = frozenset({"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST"})
SIMPLE_FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
_PLAIN_WEEKDAY = re.compile(r"^(MO|TU|WE|TH|FR|SA|SU)$")

ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%#z", "%Y-%m-%dT%H:%M%#z")


@dataclass(slots=True)
class _Calendar:
    """One calendar file read into text fields, before the shared checks."""

    rows: pl.DataFrame  # _line + FIELDS, all text
    rows_read: int
    times: Literal["local", "iso"]  # how ``start``/``end`` are written
    quarantine: list[pl.DataFrame] = field(default_factory=list)  # format-level rejects
    rows_filtered: int = 0
    minimised: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def _text_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows of text fields (``_line`` + :data:`FIELDS`) as a frame, typed even when empty."""
    schema = {LINE: pl.Int64, **dict.fromkeys(FIELDS, pl.String)}
    return pl.DataFrame(rows, schema=schema)


# --- routes -------------------------------------------------------------------------------------

def _points(value: Any, *, lat_first: bool) -> list[tuple[float, float]] | None:
    """``(lat, lon)`` points of a list of pairs, or ``None`` when it is not one."""
    if not isinstance(value, list):
        return None
    points = []
    for pair in value:
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)):
            return None
        a, b = float(pair[0]), float(pair[1])
        points.append((a, b) if lat_first else (b, a))
    return points


def route_geojson(route: str | None) -> str | None:
    """GeoJSON LineString text of a declared route (``None`` when absent or invalid).

    Accepted forms: ``lat lon|lat lon|…`` (the CSV), a GeoJSON LineString (``[lon, lat]``
    positions, as GeoJSON says) or a JSON list of ``[lat, lon]`` pairs. At least two points,
    each a valid WGS84 position.
    """
    if route is None or not route.strip():
        return None
    text = route.strip()
    points: list[tuple[float, float]] | None
    if text[0] in "[{":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            return None
        if isinstance(value, dict):
            points = (_points(value.get("coordinates"), lat_first=False)
                      if value.get("type") == "LineString" else None)
        else:
            points = _points(value, lat_first=True)
    else:
        try:
            pairs = [[float(v) for v in p.split()] for p in text.split("|")]
        except ValueError:
            return None
        points = _points(pairs, lat_first=True)
    if (not points or len(points) < 2
            or any(not (-90 <= lat <= 90 and -180 <= lon <= 180) for lat, lon in points)):
        return None
    return json.dumps({"type": "LineString", "coordinates": [[lon, lat] for lat, lon in points]})


# --- venues -------------------------------------------------------------------------------------

def _normalise(text: str) -> str:
    """Lower case, accents and punctuation removed (Python twin of :func:`_normalise_expr`)."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return re.sub(r"[^0-9a-z]+", " ", bare.lower()).strip()


def _normalise_expr(expr: pl.Expr) -> pl.Expr:
    return (expr.str.normalize("NFKD").str.replace_all(r"\p{Mn}", "").str.to_lowercase()
            .str.replace_all(r"[^0-9a-z]+", " ").str.strip_chars())


@cache
def _venue_keys() -> pl.DataFrame:
    """Every way a calendar may name a Marseille venue (id or name) → its id and position."""
    rows = {(key, v.site_id, v.lat, v.lon) for v in VENUES.values()
            for key in (_normalise(v.site_id), _normalise(v.name))}
    return pl.DataFrame(sorted(rows), schema=["_venue_key", "_venue_id", "_venue_lat",
                                              "_venue_lon"], orient="row")


def _resolve_venues(df: pl.DataFrame) -> pl.DataFrame:
    """Venue id of ``venue`` when it names a known venue (whole text or before its first comma).

    An unknown place stays as context in the title, never as a venue id.
    """
    key = _normalise_expr(pl.col("venue").str.split(",").list.first())
    return df.with_columns(_venue_key=key).join(_venue_keys(), on="_venue_key", how="left")


# --- CSV ----------------------------------------------------------------------------------------

def _read_csv(path: Path, source: str) -> _Calendar:
    raw = read_delimited(path, source=source, separator=";", required=list(CSV_COLUMNS)[:8])
    calendar = _Calendar(rows=raw, rows_read=raw.height, times="local")
    for column in raw.columns:
        if not column.startswith("_") and column not in CSV_COLUMNS:
            count = int((raw[column].str.strip_chars().fill_null("") != "").sum())
            if count:
                calendar.minimised[f"dropped:{column}"] += count
    renamed = raw.with_columns(
        (pl.col(c) if c in raw.columns else pl.lit(None, pl.String)).alias(name)
        for c, name in CSV_COLUMNS.items())
    # keep() carries the reader's malformed-line flags, which apply_rules quarantines first.
    calendar.rows = keep(renamed, list(FIELDS)).with_columns(
        # The CSV writes decimal commas; the shared step reads decimal points.
        pl.col("lat", "lon").str.replace(",", ".", literal=True),
    )
    return calendar


# --- JSON ---------------------------------------------------------------------------------------

def _as_text(value: object) -> str | None:
    """A JSON value as text: strings as they are, anything else in its JSON spelling."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _read_json(path: Path, source: str) -> _Calendar:
    # Read with the standard library, not polars: a route may be an object in one item and a
    # list in the next, which no single column type holds; calendars are small.
    try:
        items = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"cannot read as JSON: {exc}", source=source, file=str(path)) from exc
    if not isinstance(items, list):
        raise SourceError("not a JSON array of events", source=source, file=str(path))
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    dropped: Counter[str] = Counter()
    for number_, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            bad.append({LINE: number_, "text": _as_text(item)})
            continue
        dropped.update(f"dropped:{k}" for k, v in item.items() if k not in FIELDS and v is not None)
        rows.append({LINE: number_, **{f: _as_text(item.get(f)) for f in FIELDS}})
    quarantine = quarantine_frame(
        pl.DataFrame(bad, schema={LINE: pl.Int64, "text": pl.String}), "bad_json",
        pl.lit("item is not a JSON object"), ["text"])
    return _Calendar(rows=_text_frame(rows), rows_read=len(items), times="iso",
                     quarantine=[quarantine], minimised=dropped)


# --- iCalendar ----------------------------------------------------------------------------------

def _utc(value: date | datetime) -> datetime:
    """UTC instant of a DTSTART-like value; floating times and dates are Europe/Paris wall time."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(CITY_TZ))
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def _local(value: date | datetime) -> datetime:
    """A DTSTART-like value as an aware datetime in its own zone (floating → Europe/Paris)."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    return value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo(CITY_TZ))


def _span(event: icalendar.Component) -> tuple[datetime, timedelta] | None:
    """Local start and length of a VEVENT (RFC 5545 defaults), ``None`` when DTSTART is unusable."""
    try:
        dtstart = event.get("DTSTART")
        start_value = dtstart.dt if dtstart is not None else None
        if not isinstance(start_value, date):
            return None
        start = _local(start_value)
        if (dtend := event.get("DTEND")) is not None and isinstance(dtend.dt, date):
            return start, _local(dtend.dt) - start
        if (duration := event.get("DURATION")) is not None and isinstance(duration.dt, timedelta):
            return start, duration.dt
    except (AttributeError, TypeError, ValueError):
        return None
    # No end: a day-long event for a date, an instant for a time (RFC 5545 § 3.6.1).
    return start, timedelta(days=1) if not isinstance(start_value, datetime) else timedelta(0)


def _unsupported_rrule(event: icalendar.Component) -> str | None:
    """Why a VEVENT's recurrence is not one this connector expands (``None``: it is simple)."""
    rule = event.get("RRULE")
    if isinstance(rule, list):
        return "several RRULEs"
    if event.get("RDATE") is not None:
        return "RDATE"
    extra = sorted(set(rule) - SIMPLE_RRULE_PARTS)
    if extra:
        return f"RRULE part(s) {', '.join(extra)}"
    freq = rule.get("FREQ", [""])[0]
    if freq not in SIMPLE_FREQUENCIES:
        return f"FREQ={freq}"
    days = [str(d) for d in rule.get("BYDAY", [])]
    if days and (freq != "WEEKLY" or not all(_PLAIN_WEEKDAY.match(d) for d in days)):
        return f"BYDAY={','.join(days)} with FREQ={freq}"
    return None


def _exdates(event: icalendar.Component) -> set[datetime]:
    values = event.get("EXDATE")
    lists = values if isinstance(values, list) else [values] if values is not None else []
    return {_utc(d.dt) for dates in lists for d in dates.dts}


def _occurrences(event: icalendar.Component, start: datetime) -> tuple[list[datetime], bool]:
    """Local starts of a simple recurring VEVENT within the horizon, and whether it goes on."""
    text = event["RRULE"].to_ical()
    rule = rrulestr(text.decode() if isinstance(text, bytes) else text, dtstart=start)
    horizon = start + RECURRENCE_HORIZON
    starts = list(rule.between(start, horizon, inc=True))
    beyond = rule.after(horizon) is not None
    excluded = _exdates(event)
    return [s for s in starts if _utc(s) not in excluded], beyond


def _categories(event: icalendar.Component) -> list[str]:
    values = event.get("CATEGORIES")
    lists = values if isinstance(values, list) else [values] if values is not None else []
    return [str(c).strip() for v in lists for c in v.cats]


def _ics_fields(event: icalendar.Component) -> dict[str, str | None]:
    """The text fields of a VEVENT except ``id``, ``start`` and ``end``."""
    categories = _categories(event)
    kind = next((c for c in categories if c.lower() in KIND_ALIASES), ", ".join(categories) or None)
    geo = event.get("GEO")
    text = {name: (str(v) if (v := event.get(prop)) is not None else None)
            for name, prop in (("title", "SUMMARY"), ("venue", "LOCATION"),
                               ("expected_attendance", ATTENDANCE_PROPERTY),
                               ("route", ROUTE_PROPERTY))}
    return {
        **text, "kind": kind,
        "lat": repr(geo.latitude) if geo is not None else None,
        "lon": repr(geo.longitude) if geo is not None else None,
    }


def _recurrence_id(event: icalendar.Component) -> datetime | None:
    value = event.get("RECURRENCE-ID")
    return _utc(value.dt) if value is not None else None


def _occurrence_id(uid: str, start: datetime) -> str:
    """Id of one occurrence of a series: the UID and the occurrence's UTC start."""
    return f"{uid}/{start:%Y%m%dT%H%M%SZ}" if uid else ""


@dataclass(slots=True)
class _Expansion:
    """What expanding the recurring VEVENTs of one file did, for its notes."""

    series: int = 0
    occurrences: int = 0
    continuing: int = 0

    def notes(self) -> list[str]:
        days = RECURRENCE_HORIZON.days
        out = []
        if self.series:
            out.append(f"expanded {self.series} recurring event(s) into {self.occurrences} "
                       f"occurrence(s) within {days} days of their start")
        if self.continuing:
            out.append(f"{self.continuing} recurring event(s) go on beyond the {days}-day "
                       "horizon: later occurrences not read")
        return out


def _event_rows(event: icalendar.Component, number_: int, overridden: set[tuple[str, datetime]],
                expansion: _Expansion) -> list[dict[str, Any]] | str:
    """Text rows of one VEVENT (one per occurrence), or why its recurrence is not expanded."""
    uid = str(event.get("UID", "")).strip()
    base = {LINE: number_, **_ics_fields(event)}
    span = _span(event)
    if span is None:
        return [{**base, "id": uid, "start": None, "end": None}]
    local_start, length = span
    recurrence_id = _recurrence_id(event)
    if "RRULE" not in event or recurrence_id is not None:
        start = _utc(local_start)
        return [{**base, "id": _occurrence_id(uid, recurrence_id) if recurrence_id else uid,
                 "start": _iso(start), "end": _iso(start + length)}]
    if (why := _unsupported_rrule(event)) is not None:
        return why
    try:
        starts, beyond = _occurrences(event, local_start)
    except (ValueError, TypeError) as exc:
        return f"RRULE not understood ({exc})"
    utc_starts = [s for s in map(_utc, starts) if (uid, s) not in overridden]
    expansion.series += 1
    expansion.occurrences += len(utc_starts)
    expansion.continuing += beyond
    return [{**base, "id": _occurrence_id(uid, s), "start": _iso(s), "end": _iso(s + length)}
            for s in utc_starts]


def _read_ics(path: Path, source: str) -> _Calendar:
    try:
        calendar = icalendar.Calendar.from_ical(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read as iCalendar: {exc}", source=source,
                          file=str(path)) from exc
    events = list(calendar.walk("VEVENT"))
    # A VEVENT with a RECURRENCE-ID replaces one occurrence of its series: skip that occurrence.
    overridden = {(str(e.get("UID", "")).strip(), rid) for e in events
                  if (rid := _recurrence_id(e)) is not None}
    out = _Calendar(rows=_text_frame([]), rows_read=0, times="iso")
    rows: list[dict[str, Any]] = []
    unsupported: list[dict[str, Any]] = []
    expansion = _Expansion()
    for number_, event in enumerate(events, start=1):
        out.minimised.update(f"dropped:{name.lower()}" for name in event
                             if name not in ICS_KEPT and name not in ICS_BOOKKEEPING)
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            out.rows_read += 1
            out.rows_filtered += 1
            continue
        made = _event_rows(event, number_, overridden, expansion)
        if isinstance(made, str):
            unsupported.append({LINE: number_, "id": str(event.get("UID", "")),
                                "title": str(event.get("SUMMARY", "")),
                                "reason": f"recurrence not expanded: {made}"})
            out.rows_read += 1
        else:
            rows.extend(made)
            out.rows_read += len(made)
    out.rows = _text_frame(rows)
    out.quarantine.append(quarantine_frame(
        pl.DataFrame(unsupported, schema={LINE: pl.Int64, "id": pl.String, "title": pl.String,
                                          "reason": pl.String}),
        "recurrence_unsupported", pl.col("reason"), ["id", "title"]))
    if out.rows_filtered:
        out.notes.append(f"filtered {out.rows_filtered} cancelled event(s) (STATUS:CANCELLED)")
    out.notes.extend(expansion.notes())
    return out


# --- shared checks ------------------------------------------------------------------------------

def iso_to_utc(expr: pl.Expr) -> pl.Expr:
    """UTC datetime of ISO 8601 text with a UTC offset (null without an offset or unparseable)."""
    text = expr.str.strip_chars().str.replace(" ", "T", literal=True)
    return pl.coalesce([text.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False)
                        for f in ISO_FORMATS])


def _blank(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().fill_null("") == ""


def _quoted(column: str) -> pl.Expr:
    """A text field for a reason message (``(none)`` when missing)."""
    return pl.col(column).fill_null("(none)")


def _rules(times: Literal["local", "iso"]) -> list[Rule]:
    hint = "local YYYY-MM-DD HH:MM" if times == "local" else "ISO 8601 with a UTC offset"
    point_text = ~_blank("lat") | ~_blank("lon")
    return [
        required("id"),
        Rule("unknown_kind", pl.col("_kind").is_null(),
             pl.format("kind {} is not one of {}", _quoted("kind"), pl.lit(", ".join(KINDS)))),
        Rule("bad_time", pl.col("_start").is_null() | pl.col("_end").is_null()
             | (pl.col("_end") < pl.col("_start")),
             pl.format("start/end {} / {} are not {} times in order", _quoted("start"),
                       _quoted("end"), pl.lit(hint))),
        Rule("no_place",
             (point_text & (pl.col("_lat").is_null() | pl.col("_lon").is_null()
                            | ~pl.col("_lat").is_between(-90, 90)
                            | ~pl.col("_lon").is_between(-180, 180)))
             | (~point_text & pl.col("_venue_id").is_null()),
             pl.format("no usable position: lat/lon {} / {}, venue {}", _quoted("lat"),
                       _quoted("lon"), _quoted("venue"))),
        Rule("bad_attendance", ~_blank("expected_attendance")
             & (pl.col("_attendance").is_null() | (pl.col("_attendance") < 0)
                | (pl.col("_attendance") != pl.col("_attendance").floor())),
             pl.format("expected attendance {} is not a whole number of people",
                       pl.col("expected_attendance"))),
        Rule("bad_route", ~_blank("route") & pl.col("_route").is_null(),
             pl.format("route {} is not a line of at least two valid points",
                       pl.col("route"))),
    ]


def _to_parsed(calendar: _Calendar, source: str) -> ParsedFile:
    """Convert, check, place and emit a calendar's rows (the step every format shares)."""
    parse_time = ((lambda c: local_time_to_utc(pl.col(c), "%Y-%m-%d %H:%M"))
                  if calendar.times == "local" else (lambda c: iso_to_utc(pl.col(c))))
    df = _resolve_venues(calendar.rows).with_columns(
        _kind=pl.col("kind").str.strip_chars().str.to_lowercase()
        .replace_strict(KIND_ALIASES, default=None, return_dtype=pl.String),
        _start=parse_time("start"),
        _end=parse_time("end"),
        _lat=number("lat"),
        _lon=number("lon"),
        _attendance=number("expected_attendance"),
        _route=pl.col("route").map_elements(route_geojson, return_dtype=pl.String),
    )
    good, quarantine = apply_rules(df, _rules(calendar.times), list(FIELDS))
    has_point = pl.col("_lat").is_not_null() & pl.col("_lon").is_not_null()
    place_in_title = pl.col("_venue_id").is_null() & ~_blank("venue")
    good = good.with_columns(
        lat=pl.when(has_point).then(pl.col("_lat")).otherwise(pl.col("_venue_lat")),
        lon=pl.when(has_point).then(pl.col("_lon")).otherwise(pl.col("_venue_lon")),
    )
    good = locate(good).with_columns(
        source=pl.lit(source),
        source_id=pl.col("id").str.strip_chars(),
        kind=pl.col("_kind"),
        title=pl.when(place_in_title)
        .then(pl.concat_str([pl.col("title").fill_null(""), pl.col("venue").str.strip_chars()],
                            separator=" — ").str.strip_prefix(" — "))
        .otherwise(pl.col("title").fill_null("")),
        venue=pl.col("_venue_id"),
        route=pl.col("_route"),
        start=pl.col("_start"),
        end=pl.col("_end"),
        expected_attendance=pl.col("_attendance").cast(pl.Int64),
    )
    quarantined = pl.concat([quarantine, *calendar.quarantine]).sort("line")
    return ParsedFile(
        records={"planned_events": to_arrow(good, arrow_schema(PlannedEvent))},
        quarantine=quarantined.to_arrow(),
        rows_read=calendar.rows_read,
        rows_filtered=calendar.rows_filtered,
        minimised=dict(sorted(calendar.minimised.items())),
        notes=calendar.notes,
    )


class EventsCalendar(Connector):
    """Connector for the planned-events calendar: ``*.csv``, ``*.ics`` and ``*.json`` files."""

    info = SourceInfo(
        name="events",
        folder="evenements",
        kind="planned_events",
        metric="events",
        label_fr="Calendrier des événements",
        label_en="Planned events",
        description="Matches, concerts, festivals, demonstrations (crowd safety only).",
        patterns=("*.csv", "*.ics", "*.json"),
        keeps=FIELDS,
    )

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one calendar file, by its extension."""
        readers = {".csv": _read_csv, ".ics": _read_ics, ".json": _read_json}
        reader = readers.get(path.suffix.lower())
        if reader is None:
            raise SourceError(f"unknown calendar format {path.suffix!r}; expected "
                              f"{', '.join(readers)}", source=self.info.name, file=str(path))
        return _to_parsed(reader(path, self.info.name), self.info.name)
