"""Public transport: GTFS stops (zip) and boardings per stop and hour (CSV) → ``Measurement``.

Format: docs/feeds.md § transports. Stops come from the GTFS feed's ``stops.txt`` and become
sites; validations become ``boardings`` measurements at their stop.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import polars as pl
import pyarrow as pa

from belvedere.errors import SourceError
from belvedere.grid.places import Site
from belvedere.grid.records import Measurement, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.sites import sites_table
from belvedere.sources.tabular import (
    Rule,
    apply_rules,
    hourly_rules,
    local_hour_to_utc,
    number,
    read_delimited,
    to_arrow,
)

KEPT = ["stop_id", "date", "heure", "validations"]


class Transit(Connector):
    """Connector for the transit operator's ridership counts."""

    info = SourceInfo(
        name="transit",
        folder="transports",
        kind="measurements",
        metric="boardings",
        label_fr="Transports (validations)",
        label_en="Public transport (boardings)",
        always_aggregate=True,
        description="Boardings per metro station and hour; stops from GTFS.",
        patterns=("validations*.csv",),
    )

    def stops(self, folder: Path) -> pa.Table:
        """Stops of ``gtfs.zip`` beside the ridership files, as sites keyed by GTFS stop_id."""
        path = folder / "gtfs.zip"
        try:
            with zipfile.ZipFile(path) as z:
                stops = pl.read_csv(io.BytesIO(z.read("stops.txt")), infer_schema=False)
        except (OSError, KeyError, zipfile.BadZipFile, pl.exceptions.PolarsError) as exc:
            raise SourceError(f"cannot read GTFS stops: {exc}", source=self.info.name,
                              file=str(path)) from exc
        return sites_table(
            [
                Site(r["stop_id"], "station", r["stop_name"], float(r["stop_lat"]),
                     float(r["stop_lon"]), code=r["stop_id"])
                for r in stops.iter_rows(named=True)
            ]
        )

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one ridership file."""
        stops = self.stops(path.parent)
        raw = read_delimited(path, source=self.info.name, separator=",", required=KEPT)
        df = raw.select([*KEPT, "_line"]).with_columns(
            start=local_hour_to_utc("date", "heure"),
            value=number("validations"),
        )
        df, quarantine = apply_rules(
            df,
            [
                Rule("unknown_site", ~pl.col("stop_id").is_in(stops.column("site_id").to_pylist()),
                     pl.format("stop_id {} is not in gtfs.zip stops.txt", pl.col("stop_id"))),
                *hourly_rules("date", "heure"),
                Rule("bad_value", pl.col("value").is_null() | (pl.col("value") < 0),
                     pl.format("validations {} is not a count", pl.col("validations"))),
            ],
            KEPT,
        )
        located = pl.from_arrow(stops).select(  # type: ignore[union-attr]
            stop_id="site_id", cell="cell", zone="zone"
        )
        df = df.join(located, on="stop_id", how="left").with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.concat_str(["stop_id", "date", "heure"], separator="|"),
            metric=pl.lit("boardings"),
            category=pl.lit(""),
            site=pl.col("stop_id"),
            end=pl.col("start") + pl.duration(hours=1),
            flags=pl.lit(""),
        )
        return ParsedFile(
            records={"measurements": to_arrow(df, arrow_schema(Measurement))},
            quarantine=quarantine.to_arrow(),
            rows_read=raw.height,
            sites=stops,
        )
