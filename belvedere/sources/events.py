"""Planned events calendar (CSV) → ``PlannedEvent``.

Format: docs/feeds.md § evenements. Demonstrations are events for crowd safety only: their
declared route is kept as a line, nothing about organisers or participants.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from belvedere.grid.records import PlannedEvent, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.tabular import (
    Rule,
    apply_rules,
    local_time_to_utc,
    locate,
    number,
    read_delimited,
    required,
    to_arrow,
)

KINDS = ("match_football", "manifestation", "concert", "festival")
KEPT = ["id_evenement", "type", "titre", "lieu", "latitude", "longitude", "debut", "fin",
        "affluence_prevue", "parcours"]


def route_geojson(parcours: str | None) -> str | None:
    """GeoJSON LineString text of a ``lat lon|lat lon|…`` route (``None`` when absent/invalid)."""
    if not parcours or not parcours.strip():
        return None
    try:
        points = [tuple(float(v) for v in p.split()) for p in parcours.split("|")]
    except ValueError:
        return None
    if len(points) < 2 or any(len(p) != 2 for p in points):
        return None
    return json.dumps({"type": "LineString", "coordinates": [[lon, lat] for lat, lon in points]})


class EventsCalendar(Connector):
    """Connector for the planned-events calendar."""

    info = SourceInfo(
        name="events",
        folder="evenements",
        kind="planned_events",
        metric="events",
        label_fr="Calendrier des événements",
        label_en="Planned events",
        description="Matches, concerts, festivals, demonstrations (crowd safety only).",
    )

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one calendar."""
        raw = read_delimited(path, source=self.info.name, separator=";", required=KEPT[:8])
        if "parcours" not in raw.columns:
            raw = raw.with_columns(parcours=pl.lit(None, pl.String))
        if "affluence_prevue" not in raw.columns:
            raw = raw.with_columns(affluence_prevue=pl.lit(None, pl.String))
        df = raw.select([*KEPT, "_line"]).with_columns(
            lat=number("latitude", decimal_comma=True),
            lon=number("longitude", decimal_comma=True),
            start=local_time_to_utc(pl.col("debut"), "%Y-%m-%d %H:%M"),
            end=local_time_to_utc(pl.col("fin"), "%Y-%m-%d %H:%M"),
            expected_attendance=number("affluence_prevue").cast(pl.Int64, strict=False),
            route=pl.col("parcours").map_elements(route_geojson, return_dtype=pl.String),
        )
        df, quarantine = apply_rules(
            df,
            [
                required("id_evenement"),
                Rule("unknown_kind", ~pl.col("type").is_in(KINDS),
                     pl.format("type {} is not one of {}", pl.col("type"),
                               pl.lit(", ".join(KINDS)))),
                Rule("bad_time", pl.col("start").is_null() | pl.col("end").is_null()
                     | (pl.col("end") < pl.col("start")),
                     pl.format("debut/fin {} / {} are not local YYYY-MM-DD HH:MM times in order",
                               pl.col("debut"), pl.col("fin"))),
                Rule("no_place", pl.col("lat").is_null() | pl.col("lon").is_null(),
                     pl.lit("latitude/longitude missing or not numbers")),
                Rule("bad_route", (pl.col("type") == "manifestation")
                     & pl.col("parcours").is_not_null() & pl.col("route").is_null(),
                     pl.format("parcours {} is not a 'lat lon|lat lon|…' line",
                               pl.col("parcours"))),
            ],
            KEPT,
        )
        df = locate(df).with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.col("id_evenement"),
            kind=pl.col("type"),
            title=pl.col("titre").fill_null(""),
            venue=pl.col("lieu"),
        )
        return ParsedFile(
            records={"planned_events": to_arrow(df, arrow_schema(PlannedEvent))},
            quarantine=quarantine.to_arrow(),
            rows_read=raw.height,
        )
