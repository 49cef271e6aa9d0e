"""Field agents' reports (mobile form, JSON array) → ``Incident``.

Format: docs/feeds.md § agents. The agent's id is replaced by a keyed pseudonym at the door;
the comment is redacted like every narrative (names, phones, plates, e-mails… masked) and cut
to :data:`COMMENT_MAX` characters; the photo (a file name) is dropped. A report carrying an
image itself anywhere (a ``data:`` URL, base64 JPEG/PNG in the comment or any field), an
embedding (a list of numbers), or a field
named for a person, face, track or plate, crosses a red line: it is quarantined (rule
``red_line``) and nothing of it is kept.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from belvedere.grid.records import Incident, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.redact import redact
from belvedere.sources.tabular import (
    LINE,
    Rule,
    apply_rules,
    forget_red_lines,
    locate,
    mark_red_lines,
    outside_city_rule,
    read_json_records,
    red_line_rule,
    required,
    to_arrow,
)

CATEGORY = {
    "degradation": "vandalism",
    "tag": "graffiti",
    "eclairage": "lighting",
    "squat": "squat",
    "depot_sauvage": "litter",
    "voirie": "road_damage",
}
KEPT = ["id", "created_at", "category", "lat", "lon"]
COMMENT_MAX = 280
"""A field report's text is a short precision, not a statement: longer texts are cut."""


class FieldReports(Connector):
    """Connector for field agents' reports."""

    info = SourceInfo(
        name="field_reports",
        folder="agents",
        kind="incidents",
        metric="incidents",
        label_fr="Signalements des agents de terrain",
        label_en="Field agents' reports",
        description="Damage, tags, lighting, squats, litter. Agent pseudonymised, text "
                    "redacted, photo dropped.",
        patterns=("*.json",),
        keeps=(*KEPT, "agent (pseudonymised)", "comment (redacted, 280 characters at most)"),
    )

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one export."""
        raw, bad_json = read_json_records(path, source=self.info.name, lines=False)
        # The photo's file name is the one red-line field expected (and dropped).
        df = mark_red_lines(raw, allowed=("photo",))
        if "location" in df.columns and isinstance(df.schema["location"], pl.Struct):
            df = df.with_columns(
                lat=pl.col("location").struct.field("lat").cast(pl.Float64, strict=False),
                lon=pl.col("location").struct.field("lon").cast(pl.Float64, strict=False),
            )
        for col in ("id", "created_at", "category", "agent", "lat", "lon", "comment"):
            if col not in df.columns:
                df = df.with_columns(pl.lit(None).alias(col))
        df = df.with_columns(
            pl.col("id").cast(pl.String),
            pl.col("category").cast(pl.String),
            ts=pl.col("created_at").cast(pl.String).str.strip_chars()
            .str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", time_unit="us", strict=False)
            .dt.convert_time_zone("UTC"),
        )
        df, quarantine = apply_rules(
            df,
            [
                red_line_rule("report", "only the category, place, time and a short text are "
                                        "accepted"),
                required("id"),
                Rule("bad_time", pl.col("ts").is_null(),
                     pl.format("created_at {} is not an ISO 8601 time with offset",
                               pl.col("created_at"))),
                Rule("no_place", pl.col("lat").is_null() | pl.col("lon").is_null(),
                     pl.lit("location.lat/lon missing or not numbers")),
            ],
            KEPT,
        )
        quarantine = forget_red_lines(quarantine)
        df, outside = apply_rules(locate(df), [outside_city_rule()], KEPT)
        # One HMAC per distinct agent, not per report.
        pseudonyms = {a: pseudonymiser(a) for a in df["agent"].cast(pl.String).unique() if a}
        comment, found = redact(df["comment"].cast(pl.String).str.strip_chars()
                                .str.slice(0, COMMENT_MAX))
        df = df.with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.col("id"),
            category=pl.col("category").fill_null("").replace_strict(CATEGORY, default="other"),
            source_category=pl.col("category").fill_null(""),
            origin=pl.lit("field_agent"),
            severity=pl.lit(None, pl.Int64),
            time_precision=pl.lit("second"),
            place_precision=pl.lit("point"),
            attrs=pl.struct(
                reporter=pl.col("agent").cast(pl.String).replace_strict(pseudonyms, default=None),
                narrative=pl.lit(comment),
            ).struct.json_encode(),
        )
        # What minimisation did, counted over the reports kept.
        minimised = {
            f"dropped:{c}": int(df[c].is_not_null().sum()) for c in raw.columns
            if c not in (*KEPT, "agent", "location", "comment", LINE)
            and c in df.columns
        }
        minimised.update({k: v for k, v in found.items() if v})
        minimised["pseudonymised:agent"] = int(df["agent"].is_in(list(pseudonyms)).sum())
        return ParsedFile(
            records={"incidents": to_arrow(df, arrow_schema(Incident))},
            quarantine=pl.concat([bad_json, quarantine, outside]).to_arrow(),
            rows_read=raw.height + bad_json.height,
            minimised={k: v for k, v in minimised.items() if v},
        )
