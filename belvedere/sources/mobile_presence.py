"""Mobile-network operator presence counts per zone and hour (CSV) → ``Measurement``.

Format: docs/feeds.md § operateur. The operator already aggregates and applies its own threshold;
a value it suppressed arrives empty and is stored with the flag ``suppressed_at_source`` and no
value. Zones are H3 cells (resolution 8).
"""

from __future__ import annotations

from pathlib import Path

import h3
import numpy as np
import polars as pl

from belvedere.grid.records import Measurement, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.tabular import (
    Rule,
    apply_rules,
    centroid_zone,
    hourly_rules,
    keep,
    local_hour_to_utc,
    number,
    read_delimited,
    to_arrow,
)

KEPT = ["zone_id", "date", "heure", "nb_presents", "seuil_diffusion"]


class MobilePresence(Connector):
    """Connector for the operator's presence counts."""

    info = SourceInfo(
        name="mobile_presence",
        folder="operateur",
        kind="measurements",
        metric="crowd_count",
        label_fr="Présence (opérateur mobile)",
        label_en="Crowd presence (mobile operator)",
        always_aggregate=True,
        description="People present per H3 cell and hour, thresholded by the operator.",
        keeps=tuple(KEPT),
    )

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one delivery."""
        raw = read_delimited(path, source=self.info.name, separator=";", required=KEPT)
        zone_ids = raw["zone_id"].fill_null("").str.strip_chars()
        valid = {z: h3.is_valid_cell(z) for z in zone_ids.unique().to_list()}
        df = keep(raw, KEPT).with_columns(
            start=local_hour_to_utc("date", "heure"),
            value=number("nb_presents", decimal_comma=True),
            zone_ok=zone_ids.replace_strict(valid, default=False),
            empty=pl.col("nb_presents").fill_null("").str.strip_chars() == "",
            threshold=number("seuil_diffusion"),
        )
        df, quarantine = apply_rules(
            df,
            [
                Rule("unknown_zone", ~pl.col("zone_ok"),
                     pl.format("zone_id {} is not an H3 cell", pl.col("zone_id"))),
                *hourly_rules("date", "heure"),
                Rule("bad_value", ~pl.col("empty") & (pl.col("value").is_null()
                                                      | (pl.col("value") < 0)),
                     pl.format("nb_presents {} is not a count", pl.col("nb_presents"))),
                Rule("bad_threshold", pl.col("threshold").is_null() | (pl.col("threshold") < 0),
                     pl.format("seuil_diffusion {} is not the operator's threshold",
                               pl.col("seuil_diffusion"))),
            ],
            KEPT,
        )
        # The operator's own threshold is enforced too: a figure under it that slipped through
        # is kept only as a flag, never as a value.
        below = ~pl.col("empty") & (pl.col("value") < pl.col("threshold"))
        minimised = {"suppressed:below_operator_threshold": int(df.select(below.sum()).item())}
        df = df.with_columns(value=pl.when(below).then(None).otherwise(pl.col("value")),
                             flags=pl.when(pl.col("empty")).then(pl.lit("suppressed_at_source"))
                             .when(below).then(pl.lit("suppressed_below_threshold"))
                             .otherwise(pl.lit("")))
        cells = df["zone_id"].str.strip_chars()
        unique = cells.unique().to_list()
        centres = np.array([h3.cell_to_latlng(c) for c in unique]).reshape(-1, 2)
        zone_of = dict(zip(unique, centroid_zone(centres[:, 0], centres[:, 1]), strict=True))
        cell_of = {c: h3.str_to_int(c) for c in unique}
        df = df.with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.concat_str([cells, pl.col("date"), pl.col("heure")], separator="|"),
            metric=pl.lit("crowd_count"),
            category=pl.lit(""),
            site=pl.lit(None, pl.String),
            cell=cells.replace_strict(cell_of, return_dtype=pl.Int64),
            zone=cells.replace_strict(zone_of, default=None, return_dtype=pl.String),
            end=pl.col("start") + pl.duration(hours=1),
        )
        return ParsedFile(
            records={"measurements": to_arrow(df, arrow_schema(Measurement))},
            quarantine=quarantine.to_arrow(),
            rows_read=raw.height,
            minimised={k: v for k, v in minimised.items() if v},
        )
