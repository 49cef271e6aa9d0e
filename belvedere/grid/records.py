"""The common model: every feed becomes one of these records on one space-time grid.

Each record type is a frozen dataclass — the documented, typed form used for single records —
and carries its Arrow schema (:func:`arrow_schema`), derived from the same field list, which
is the form used on bulk paths (connectors produce Arrow tables, the store appends them).

Time is UTC and tz-aware; space is WGS84; ``cell`` is the H3 index at resolution 9 as int64;
``zone`` is a zone id (arrondissement INSEE code).

Example:
    >>> arrow_schema(Incident).field("cell").type
    DataType(int64)
    >>> INCIDENT_CATEGORIES["theft"]
    'Theft'
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa

ORIGINS = ("reported_by_public", "fire_ems", "field_agent", "discovered_by_patrol", "sensor")
"""How an incident came to be known; models must not mistake patrol intensity for crime."""

INCIDENT_CATEGORIES: dict[str, str] = {
    "theft": "Theft",
    "robbery": "Robbery",
    "vehicle_theft": "Vehicle theft",
    "burglary": "Burglary",
    "assault": "Assault",
    "vandalism": "Vandalism",
    "public_order": "Public order",
    "traffic": "Traffic",
    "drugs": "Drugs",
    "weapons": "Weapons",
    "fraud": "Fraud",
    "trespass": "Trespass",
    "sexual_offence": "Sexual offence",
    "fire": "Fire",
    "rescue": "Rescue / medical",
    "assistance": "Assistance",
    "graffiti": "Graffiti",
    "lighting": "Broken lighting",
    "squat": "Squat",
    "litter": "Litter / dumping",
    "road_damage": "Road damage",
    "abandoned_object": "Abandoned object",
    "intrusion": "Intrusion",
    "fall": "Fall",
    "fire_smoke": "Fire / smoke detected",
    "transit_disruption": "Transit disruption",
    "other": "Other",
}
"""The shared taxonomy (id → English label); each record also keeps the source's own code."""


@dataclass(frozen=True, slots=True)
class Incident:
    """One point event reported by a source (police log entry, intervention, field report…)."""

    source: str
    source_id: str  # the source's own id, the de-duplication key with ``source``
    category: str  # shared taxonomy (INCIDENT_CATEGORIES)
    source_category: str  # the source's own code, kept for traceability
    ts: datetime  # UTC, tz-aware
    lat: float | None
    lon: float | None
    cell: int | None  # H3 resolution 9, int64
    zone: str | None
    origin: str  # one of ORIGINS
    severity: int | None = None
    time_precision: str = "minute"  # minute / hour / day
    place_precision: str = "point"  # point / zone
    attrs: str = "{}"  # small allowlisted attributes, JSON text


@dataclass(frozen=True, slots=True)
class Measurement:
    """An aggregate value over a place and a time window (a count, never a person)."""

    source: str
    source_id: str
    metric: str  # crowd_count, people_count, crowd_density, boardings, ed_arrivals
    category: str  # sub-key of the metric (ED reason…), "" when none
    site: str | None  # camera, station or hospital id, when reported per site
    zone: str | None
    cell: int | None  # H3 cell of the site or of the reporting zone (resolution ≤ 9)
    start: datetime  # UTC
    end: datetime  # UTC
    value: float | None  # None when suppressed at source
    contributors: int | None = None  # k, when the producer states it
    flags: str = ""  # comma-separated: suppressed_at_source, estimated…


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """A planned event: a match, a concert, a festival, a demonstration (crowd safety only)."""

    source: str
    source_id: str
    kind: str  # match_football, manifestation, concert, festival
    title: str
    venue: str | None
    lat: float | None
    lon: float | None
    route: str | None  # GeoJSON LineString text for demonstrations
    start: datetime
    end: datetime
    expected_attendance: int | None
    cell: int | None
    zone: str | None


@dataclass(frozen=True, slots=True)
class Alert:
    """Something abnormal now, for a human to acknowledge (never acted on automatically)."""

    detector: str
    zone: str | None
    cell: int | None
    start: datetime
    end: datetime
    observed: float
    expected: float
    score: float
    state: str = "open"  # open → acknowledged → closed
    acknowledged_by: str | None = None
    reason: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


_ARROW_TYPES: dict[Any, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    datetime: pa.timestamp("us", tz="UTC"),
}


def arrow_schema(record: type) -> pa.Schema:
    """The Arrow schema of a record type, derived from its annotated fields.

    ``X | None`` fields are nullable; the others are not.
    """
    hints = typing.get_type_hints(record)
    fields = []
    for f in dataclasses.fields(record):
        hint = hints[f.name]
        args = typing.get_args(hint)
        nullable = type(None) in args
        base = next((a for a in args if a is not type(None)), hint) if args else hint
        # Structured fields (dicts) are stored as JSON text.
        arrow_type = pa.string() if typing.get_origin(hint) is dict else _ARROW_TYPES[base]
        fields.append(pa.field(f.name, arrow_type, nullable=nullable))
    return pa.schema(fields)


def to_table(record: type, rows: list[Any]) -> pa.Table:
    """Bulk form of a list of records (used on small paths and in tests)."""
    schema = arrow_schema(record)
    return pa.Table.from_pylist([{n: getattr(r, n) for n in schema.names} for r in rows], schema)
