"""CCTV video analytics: aggregate events only (JSON Lines) → ``Measurement`` / ``Incident``.

Format: docs/feeds.md § cctv. Counts and densities become measurements at the camera's site;
alarms (abandoned object, intrusion, fall, fire/smoke) become sensor incidents. A payload that
carries an image, a face, an embedding, a track id or a plate crosses a red line: it is
quarantined (rule ``red_line``) and nothing of it is stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from belvedere.errors import SourceError
from belvedere.grid.places import Site
from belvedere.grid.records import Incident, Measurement, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.sites import sites_table
from belvedere.sources.tabular import (
    LINE,
    Rule,
    apply_rules,
    forget_red_lines,
    mark_red_lines,
    read_json_records,
    red_line_rule,
    required,
    to_arrow,
)

MEASURED = ("people_count", "crowd_density")
ALARMS = ("abandoned_object", "intrusion", "fall", "fire_smoke")
KEPT = ["event_id", "camera_id", "type", "ts", "window_s", "value", "confidence"]
"""The strict schema: an event with any other field is quarantined (``unknown_field``), one
carrying a red-line field, an image or an embedding anywhere is quarantined as ``red_line``."""


def _present(columns: list[str]) -> pl.Expr:
    """The names of ``columns`` that a row actually fills, comma-separated."""
    return pl.concat_str(
        [pl.when(pl.col(c).is_not_null()).then(pl.lit(c)) for c in columns],
        separator=", ", ignore_nulls=True,
    ).fill_null("")


class Cctv(Connector):
    """Connector for the video-analytics boxes."""

    info = SourceInfo(
        name="cctv",
        folder="cctv",
        kind="measurements",
        metric="people_count",
        label_fr="Vidéoprotection (analyses agrégées)",
        label_en="CCTV analytics (aggregate)",
        always_aggregate=True,
        description="People counts, crowd density and alarms per camera. Never images.",
        patterns=("events-*.jsonl",),
        keeps=tuple(KEPT),
    )

    def cameras(self, folder: Path) -> list[Site]:
        """The cameras described by ``cameras.json`` beside the event files."""
        path = folder / "cameras.json"
        try:
            items = json.loads(path.read_text("utf-8"))
            return [
                Site(c["camera_id"], "camera", c.get("name", c["camera_id"]),
                     float(c["lat"]), float(c["lon"]))
                for c in items
            ]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"cannot read the camera list: {exc}", source=self.info.name,
                              file=str(path)) from exc

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one day of events."""
        cameras = sites_table(self.cameras(path.parent))
        raw, bad_json = read_json_records(path, source=self.info.name, lines=True)
        unknown = [c for c in raw.columns if c not in KEPT and c != LINE]
        df = mark_red_lines(raw)
        for col in KEPT:
            if col not in df.columns:
                df = df.with_columns(pl.lit(None).alias(col))
        camera_ids = cameras.column("site_id").to_pylist()
        df = df.with_columns(
            pl.col("event_id").cast(pl.String),
            pl.col("camera_id").cast(pl.String),
            pl.col("type").cast(pl.String),
            start=pl.col("ts").cast(pl.String).str.to_datetime(
                "%Y-%m-%dT%H:%M:%S%#z", time_unit="us", strict=False
            ).dt.convert_time_zone("UTC"),
            value=pl.col("value").cast(pl.Float64, strict=False),
            confidence=pl.col("confidence").cast(pl.Float64, strict=False),
            _unknown=_present(unknown) if unknown else pl.lit(""),
        )
        df, quarantine = apply_rules(
            df,
            [
                red_line_rule("payload", "images, faces, embeddings, tracks and plates are "
                                         "never accepted"),
                Rule("unknown_field", pl.col("_unknown") != "",
                     pl.format("field(s) {} are not in the CCTV event schema ({})",
                               pl.col("_unknown"), pl.lit(", ".join(KEPT)))),
                required("event_id"),
                Rule("unknown_type", ~pl.col("type").is_in([*MEASURED, *ALARMS]),
                     pl.format("type {} is not an allowed aggregate event type", pl.col("type"))),
                Rule("unknown_site", ~pl.col("camera_id").is_in(camera_ids),
                     pl.format("camera {} is not in cameras.json", pl.col("camera_id"))),
                Rule("bad_time", pl.col("start").is_null(),
                     pl.format("ts {} is not ISO 8601 with offset", pl.col("ts"))),
                Rule("no_value", pl.col("type").is_in(MEASURED) & pl.col("value").is_null(),
                     pl.lit("a count or density event without a numeric value")),
                Rule("bad_value", (pl.col("value") < 0).fill_null(False)
                     | ~pl.col("confidence").is_between(0, 1).fill_null(True),
                     pl.format("value {} / confidence {} out of range", pl.col("value"),
                               pl.col("confidence"))),
            ],
            KEPT,
        )
        sites = pl.from_arrow(cameras).select(  # type: ignore[union-attr]
            camera_id="site_id", cell="cell", zone="zone", lat="lat", lon="lon"
        )
        df = df.join(sites, on="camera_id", how="left")
        window = pl.duration(seconds=pl.col("window_s").cast(pl.Int64, strict=False).fill_null(0))
        measured = df.filter(pl.col("type").is_in(MEASURED)).with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.col("event_id"),
            metric=pl.col("type"),
            category=pl.lit(""),
            site=pl.col("camera_id"),
            end=pl.col("start") + window,
            flags=pl.lit(""),
        )
        alarms = df.filter(pl.col("type").is_in(ALARMS)).with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.col("event_id"),
            category=pl.col("type"),
            source_category=pl.col("type"),
            ts=pl.col("start"),
            origin=pl.lit("sensor"),
            severity=pl.lit(None, pl.Int64),
            time_precision=pl.lit("second"),
            place_precision=pl.lit("point"),
            attrs=pl.struct(
                site=pl.col("camera_id"),
                confidence=pl.col("confidence").cast(pl.Float64, strict=False),
            ).struct.json_encode(),
        )
        quarantine = forget_red_lines(quarantine)
        return ParsedFile(
            records={
                "measurements": to_arrow(measured, arrow_schema(Measurement)),
                "incidents": to_arrow(alarms, arrow_schema(Incident)),
            },
            quarantine=pl.concat([bad_json, quarantine]).to_arrow(),
            rows_read=raw.height + bad_json.height,
            sites=cameras,
        )
