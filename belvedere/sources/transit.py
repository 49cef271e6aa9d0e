"""Public transport: GTFS static (``gtfs.zip``), ridership per stop and hour (CSV) and
GTFS-realtime (``realtime/*.pb``) → ``Measurement`` and ``Incident``.

Format: docs/feeds.md § transports; the connector's page: docs/connectors/transit.md.

- ``gtfs.zip`` is not ingested by itself: it is the reference that places every stop
  (:mod:`belvedere.sources.gtfs`). Its located stops become sites with every file read.
- ``validations*.csv`` (``stop_id,date,heure,validations``, local date and hour) → ``boardings``
  measurements at the stop, one hour long.
- ``realtime/*.pb`` (GTFS-realtime ``FeedMessage``) → ``transit_disruption`` incidents at the
  stops an alert informs and ``delay_s`` measurements per stop-time update
  (:mod:`belvedere.sources.gtfs_rt`); vehicle positions and alert texts are dropped.

One connector for the three, dispatched by the file's suffix, because they share the one
reference (``gtfs.zip``) and the one operator: the city keeps one transport feed.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from belvedere.errors import SourceError
from belvedere.grid.records import Measurement, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.gtfs import GtfsFeed, read_gtfs
from belvedere.sources.gtfs_rt import read_realtime
from belvedere.sources.minimise import Pseudonymiser
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
GTFS = "gtfs.zip"


class Transit(Connector):
    """Connector for the transit operator: ridership counts and GTFS-realtime feeds."""

    info = SourceInfo(
        name="transit",
        folder="transports",
        kind="measurements",
        metric="boardings",
        label_fr="Transports (validations, perturbations)",
        label_en="Public transport (boardings, disruptions)",
        always_aggregate=True,
        description="Boardings per stop and hour; disruptions and delays at stops from "
                    "GTFS-realtime; stops from GTFS. Vehicle positions and alert texts dropped.",
        patterns=("validations*.csv", "realtime/*.pb"),
        keeps=(*KEPT, "GTFS stops/routes/trips", "GTFS-rt alerts and trip updates"),
    )

    def gtfs(self, path: Path, *, schedule: bool) -> GtfsFeed:
        """The ``gtfs.zip`` a data file refers to: beside it, or one folder up (for
        ``realtime/*.pb``)."""
        candidates = [path.parent / GTFS, path.parent.parent / GTFS]
        found = next((c for c in candidates if c.is_file()), candidates[0])
        return read_gtfs(found, source=self.info.name, schedule=schedule)

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one ridership CSV or one GTFS-realtime file (by suffix)."""
        suffix = path.suffix.lower()
        if suffix == ".pb":
            return read_realtime(path, self.gtfs(path, schedule=True), source=self.info.name)
        if suffix == ".csv":
            return self.read_validations(path, self.gtfs(path, schedule=False))
        raise SourceError("neither a ridership CSV (.csv) nor a GTFS-realtime feed (.pb)",
                          source=self.info.name, file=str(path))

    def read_validations(self, path: Path, feed: GtfsFeed) -> ParsedFile:
        """Parse one ridership file against the stops of ``feed``."""
        stops = feed.sites()
        raw = read_delimited(path, source=self.info.name, separator=",", required=KEPT)
        df = (
            raw.select([*KEPT, "_line"])
            .join(feed.unlocated.rename({"reason": "_unlocated"}), on="stop_id", how="left",
                  maintain_order="left")
            .with_columns(start=local_hour_to_utc("date", "heure"), value=number("validations"))
        )
        df, quarantine = apply_rules(
            df,
            [
                Rule("unknown_site", ~pl.col("stop_id").is_in(stops.column("site_id").to_pylist()),
                     pl.coalesce(pl.col("_unlocated"), pl.format(
                         "stop_id {} is not in gtfs.zip stops.txt", pl.col("stop_id")))),
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
            notes=[f"gtfs.zip: {p}" for p in feed.problems],
        )
