"""Municipal police log (*main courante*): French CSV export → ``Incident``.

Format: docs/feeds.md § police. Kept: the log number, time, position, nature code, origin,
seriousness. Dropped at the door: the narrative (``recit``), the address and the label.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from belvedere.grid.records import Incident, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.tabular import (
    Rule,
    apply_rules,
    keep,
    local_time_to_utc,
    locate,
    number,
    outside_city_rule,
    read_delimited,
    required,
    to_arrow,
)

NATURE_TO_CATEGORY = {
    "VOL_SIMPLE": "theft",
    "VOL_VIOLENCE": "theft",
    "CAMBRIOLAGE": "burglary",
    "VIOLENCES": "assault",
    "RIXE": "assault",
    "DEGRADATION": "vandalism",
    "TROUBLE_OTP": "public_order",
    "TAPAGE": "public_order",
    "IVRESSE": "public_order",
    "ACCIDENT_CIRC": "traffic",
    "STUPEFIANTS": "drugs",
}
ORIGINE_TO_ORIGIN = {
    "appel_public": "reported_by_public",
    "patrouille": "discovered_by_patrol",
    "videoprotection": "sensor",
    "pompiers": "fire_ems",
}
KEPT = ["numero_fiche", "date_heure", "latitude", "longitude", "code_nature", "origine", "gravite"]


class PoliceLog(Connector):
    """Connector for the police log."""

    info = SourceInfo(
        name="police_log",
        folder="police",
        kind="incidents",
        metric="incidents",
        label_fr="Main courante police municipale",
        label_en="Municipal police log",
        description="Incident reports: time, place, nature. Narrative and address dropped.",
    )

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one export (``;``, decimal commas, ``dd/mm/yyyy HH:MM`` local)."""
        raw = read_delimited(path, source=self.info.name, separator=";", required=KEPT)
        df = keep(raw, KEPT).with_columns(
            lat=number("latitude", decimal_comma=True),
            lon=number("longitude", decimal_comma=True),
            ts=local_time_to_utc(pl.col("date_heure"), "%d/%m/%Y %H:%M"),
            severity=pl.col("gravite").str.strip_chars().cast(pl.Int64, strict=False),
        )
        df, quarantine = apply_rules(
            df,
            [
                required("numero_fiche"),
                Rule("bad_time", pl.col("ts").is_null(),
                     pl.format("date_heure {} is not an existing local dd/mm/yyyy HH:MM time",
                               pl.col("date_heure"))),
                Rule("no_place", pl.col("lat").is_null() | pl.col("lon").is_null(),
                     pl.format("latitude/longitude {}/{} missing or not a number",
                               pl.col("latitude"), pl.col("longitude"))),
            ],
            KEPT,
        )
        df, outside = apply_rules(locate(df), [outside_city_rule()], KEPT)
        nature = pl.col("code_nature").fill_null("").str.strip_chars().str.to_uppercase()
        df = df.with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.col("numero_fiche").str.strip_chars(),
            category=nature.replace_strict(NATURE_TO_CATEGORY, default="other"),
            source_category=nature,
            origin=pl.col("origine").fill_null("").str.strip_chars()
            .replace_strict(ORIGINE_TO_ORIGIN, default="reported_by_public"),
            time_precision=pl.lit("minute"),
            place_precision=pl.lit("point"),
            attrs=pl.lit("{}"),
        )
        return ParsedFile(
            records={"incidents": to_arrow(df, arrow_schema(Incident))},
            quarantine=pl.concat([quarantine, outside]).to_arrow(),
            rows_read=raw.height,
        )
