"""Hospital emergency-department arrivals, aggregated by the hospital (CSV) → ``Measurement``.

Format: docs/feeds.md § hopitaux. Aggregate only: a file with any patient-level column is
refused whole, before a single row is read into the store.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from belvedere.errors import RedLineViolation
from belvedere.grid.places import HOSPITALS
from belvedere.grid.records import Measurement, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.sites import sites_table
from belvedere.sources.tabular import (
    Rule,
    apply_rules,
    hourly_rules,
    keep,
    local_hour_to_utc,
    number,
    read_delimited,
    to_arrow,
)

KEPT = ["finess", "date", "heure", "motif", "nb_passages"]
MOTIFS = ("traumatologie", "malaise", "intoxication", "psychiatrie", "autre")
PATIENT_LEVEL = frozenset(
    {"patient", "patient_id", "ipp", "nir", "nom", "prenom", "date_naissance", "age", "sexe",
     "adresse", "code_postal_patient", "numero_sejour", "diagnostic"}
)
"""Columns that would make a file patient-level rather than aggregate."""


class HospitalEd(Connector):
    """Connector for emergency-department arrivals."""

    info = SourceInfo(
        name="hospital_ed",
        folder="hopitaux",
        kind="measurements",
        metric="ed_arrivals",
        label_fr="Urgences hospitalières (passages)",
        label_en="Hospital emergency arrivals",
        always_aggregate=True,
        description="ED arrivals per hospital, hour and broad reason. Aggregate only.",
        keeps=tuple(KEPT),
    )

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one delivery; refuse a patient-level file."""
        raw = read_delimited(path, source=self.info.name, separator=";", required=KEPT)
        personal = sorted(c for c in raw.columns if c.lower() in PATIENT_LEVEL)
        if personal:
            raise RedLineViolation(
                f"{path}: patient-level column(s) {', '.join(personal)}; "
                "only aggregates are accepted, the file is refused whole",
                rule="patient_level",
            )
        hospitals = sites_table(list(HOSPITALS.values()))
        by_code = pl.from_arrow(hospitals).select(  # type: ignore[union-attr]
            finess="code", site="site_id", cell="cell", zone="zone"
        )
        df = keep(raw, KEPT).with_columns(
            start=local_hour_to_utc("date", "heure"),
            value=number("nb_passages"),
        )
        df, quarantine = apply_rules(
            df,
            [
                Rule("unknown_site", ~pl.col("finess").is_in(by_code["finess"].to_list()),
                     pl.format("FINESS {} is not a known hospital", pl.col("finess"))),
                *hourly_rules("date", "heure"),
                Rule("unknown_category", ~pl.col("motif").is_in(MOTIFS),
                     pl.format("motif {} is not one of {}", pl.col("motif"),
                               pl.lit(", ".join(MOTIFS)))),
                Rule("bad_value", pl.col("value").is_null() | (pl.col("value") < 0),
                     pl.format("nb_passages {} is not a count", pl.col("nb_passages"))),
            ],
            KEPT,
        )
        df = df.join(by_code, on="finess", how="left").with_columns(
            source=pl.lit(self.info.name),
            source_id=pl.concat_str(["finess", "date", "heure", "motif"], separator="|"),
            metric=pl.lit("ed_arrivals"),
            category=pl.col("motif"),
            end=pl.col("start") + pl.duration(hours=1),
            flags=pl.lit(""),
        )
        return ParsedFile(
            records={"measurements": to_arrow(df, arrow_schema(Measurement))},
            quarantine=quarantine.to_arrow(),
            rows_read=raw.height,
            sites=hospitals,
        )
