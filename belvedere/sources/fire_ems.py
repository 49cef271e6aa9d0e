"""Fire brigade / EMS interventions (*marins-pompiers*): CSV in Lambert-93 → ``Incident``.

Format: docs/feeds.md § pompiers. Positions arrive projected (EPSG:2154, metres) and are turned
into WGS84 in bulk with pyproj. The duration is kept as an attribute.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pyproj import Transformer

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

TYPE_TO_CATEGORY = {
    "INCENDIE": "fire",
    "SAP": "rescue",
    "ACCIDENT": "traffic",
    "ASSISTANCE": "assistance",
}
KEPT = ["id_intervention", "date_alerte", "date_fin", "x_l93", "y_l93", "type_intervention",
        "sous_type"]
_TO_WGS84 = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)


class FireEms(Connector):
    """Connector for the fire brigade's interventions."""

    info = SourceInfo(
        name="fire_ems",
        folder="pompiers",
        kind="incidents",
        metric="incidents",
        label_fr="Interventions marins-pompiers",
        label_en="Fire brigade / EMS interventions",
        description="Interventions: time, place (Lambert-93), type, duration.",
    )

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one export."""
        raw = read_delimited(path, source=self.info.name, separator=";", required=KEPT)
        df = keep(raw, KEPT).with_columns(
            x=number("x_l93", decimal_comma=True),
            y=number("y_l93", decimal_comma=True),
            ts=local_time_to_utc(pl.col("date_alerte"), "%Y-%m-%d %H:%M:%S"),
            ts_end=local_time_to_utc(pl.col("date_fin"), "%Y-%m-%d %H:%M:%S"),
        )
        df, quarantine = apply_rules(
            df,
            [
                required("id_intervention"),
                Rule("bad_time", pl.col("ts").is_null(),
                     pl.format("date_alerte {} is not a local YYYY-MM-DD HH:MM:SS time",
                               pl.col("date_alerte"))),
                Rule("no_place", pl.col("x").is_null() | pl.col("y").is_null(),
                     pl.format("x_l93/y_l93 {}/{} missing or not a number",
                               pl.col("x_l93"), pl.col("y_l93"))),
            ],
            KEPT,
        )
        lon, lat = _TO_WGS84.transform(df["x"].to_numpy(), df["y"].to_numpy())
        df = locate(df.with_columns(lat=pl.Series(lat), lon=pl.Series(lon)))
        df, outside = apply_rules(df, [outside_city_rule()], KEPT)
        kind = pl.col("type_intervention").fill_null("").str.strip_chars().str.to_uppercase()
        minutes = (pl.col("ts_end") - pl.col("ts")).dt.total_minutes()
        df = df.with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.col("id_intervention").str.strip_chars(),
            category=kind.replace_strict(TYPE_TO_CATEGORY, default="other"),
            source_category=pl.concat_str([kind, pl.col("sous_type").fill_null("")], separator="/"),
            origin=pl.lit("fire_ems"),
            time_precision=pl.lit("minute"),
            place_precision=pl.lit("point"),
            attrs=pl.struct(duration_min=minutes).struct.json_encode(),
        )
        return ParsedFile(
            records={"incidents": to_arrow(df, arrow_schema(Incident))},
            quarantine=pl.concat([quarantine, outside]).to_arrow(),
            rows_read=raw.height,
        )
