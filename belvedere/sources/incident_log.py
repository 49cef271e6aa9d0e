"""A connector for any incident log described by a mapping (:mod:`belvedere.sources.mapping`).

The Marseille police log and fire-brigade interventions are two packaged mappings; Toronto's
Major Crime Indicators, Chicago's crimes and Portland's calls for service are three more. The
pipeline is the same for all, vectorised end to end: read exactly (malformed lines quarantined),
derive id, UTC time, place and categories, check the rules, minimise (drop, pseudonymise, redact),
and hand Arrow tables to the store.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
from pyproj import Transformer

from belvedere.grid.cells import latlng_to_cells
from belvedere.grid.records import Incident, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.mapping import CodeMapSpec, Mapping, TimeSpec, load_mapping
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.redact import redact
from belvedere.sources.tabular import (
    LINE,
    Rule,
    apply_rules,
    keep,
    locate,
    outside_city_rule,
    read_delimited,
    required,
    to_arrow,
    wallclock_to_utc,
)


class IncidentLog(Connector):
    """Connector driven by a :class:`~belvedere.sources.mapping.Mapping`."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        s = mapping.source
        self.info = SourceInfo(
            name=s.name, folder=s.folder or s.name, kind="incidents", metric="incidents",
            label_fr=s.label_fr, label_en=s.label_en, description=s.description,
            patterns=s.patterns,
            keeps=tuple(c for c in mapping.used_columns()
                        if c != mapping.narrative.column or mapping.narrative.mode == "redact"),
        )

    @classmethod
    def packaged(cls, name: str) -> IncidentLog:
        """The connector of a mapping shipped with belvedere."""
        return cls(load_mapping(name))

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse, check and minimise one export."""
        m = self.mapping
        notes: list[str] = []
        raw = read_delimited(path, source=self.info.name, separator=m.file.separator,
                             required=m.required_columns(), encoding=m.file.encoding,
                             quote=m.file.quote, notes=notes)
        present = [c for c in m.used_columns() if c in raw.columns]
        minimised = _dropped_counts(raw, present)
        df = keep(raw, present)
        df = _with_time(df, m)
        df = _with_place(df, m)
        rules = [
            *([required(m.id.column)] if m.id.column else []),
            Rule("bad_time", pl.col("_local").is_null(),
                 pl.format("{} {} is not a time in the declared format(s) {}",
                           pl.lit(m.time.column), pl.col(m.time.column).fill_null("(empty)"),
                           pl.lit(" or ".join(m.time.formats)))),
            Rule("nonexistent_time", pl.col("ts").is_null(),
                 pl.format("local time {} does not exist in {} (skipped by the spring "
                           "daylight-saving change); the export must say which hour it means",
                           pl.col("_local").dt.strftime("%Y-%m-%d %H:%M"),
                           pl.lit(m.time.timezone))),
            *_place_rules(m),
        ]
        kept_for_review = [c for c in present if c not in (m.narrative.column, *m.pseudonymise)]
        df, quarantine = apply_rules(df, rules, kept_for_review)
        if m.place.kind != "zone":
            df = locate(df) if m.place.within == "marseille" else _cells_only(df)
            area_rules = [outside_city_rule()] if m.place.within == "marseille" else []
            df, outside = apply_rules(df, area_rules, kept_for_review)
            quarantine = pl.concat([quarantine, outside])
        df = _with_id(df, m)
        attrs, counts = _attrs(df, m, pseudonymiser)
        minimised.update(counts)
        df = df.with_columns(
            source=pl.lit(self.info.name),
            category=_coded(m.category).replace_strict(m.category.map, default=m.category.default),
            source_category=_coded(m.category),
            origin=_coded(m.incident_origin).replace_strict(
                m.incident_origin.map, default=m.incident_origin.default),
            severity=(pl.col(m.severity_column).str.strip_chars().cast(pl.Int64, strict=False)
                      if m.severity_column else pl.lit(None, pl.Int64)),
            time_precision=pl.lit(m.time.precision),
            place_precision=pl.lit("zone" if m.place.kind == "zone" else "point"),
            attrs=attrs,
        )
        return ParsedFile(
            records={"incidents": to_arrow(df, arrow_schema(Incident))},
            quarantine=quarantine.to_arrow(),
            rows_read=raw.height,
            minimised=minimised,
            notes=notes,
        )


def _coded(spec: CodeMapSpec) -> pl.Expr:
    if spec.column is None:
        return pl.lit("")
    code = pl.col(spec.column).fill_null("").str.strip_chars()
    return code.str.to_uppercase() if spec.uppercase else code


def _dropped_counts(raw: pl.DataFrame, present: list[str]) -> dict[str, int]:
    """How many non-empty values each column the mapping does not read carried (dropped)."""
    dropped = [c for c in raw.columns if c not in present and not c.startswith("_")]
    if not dropped:
        return {}
    counts = raw.select(
        (pl.col(c).str.len_bytes() > 0).sum().alias(c) for c in dropped
    ).row(0, named=True)
    return {f"dropped:{c}": int(n) for c, n in counts.items() if n}


def _with_time(df: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    """``ts`` (UTC) from the declared column(s), formats and time zone; ``ts_end`` if declared.

    Formats are tried in the declared order (never guessed); a day-precision record is placed
    at local midnight and an hour-precision one at the start of its hour.
    """
    t = m.time
    local = pl.col("_local")
    if t.hour_column:
        hour = pl.col(t.hour_column).str.strip_chars().cast(pl.Int64, strict=False)
        local = pl.when(hour.is_between(0, 23)).then(
            local.dt.truncate("1d") + pl.duration(hours=hour))
    if t.precision != "minute":
        local = local.dt.truncate("1d" if t.precision == "day" else "1h")
    df = df.with_columns(_parse_local(df[t.column], t).alias("_local"))
    df = df.with_columns(local.alias("_local"))
    columns = {"ts": wallclock_to_utc(pl.col("_local"), t.timezone)}
    if t.end_column:
        df = df.with_columns(_parse_local(df[t.end_column], t).alias("_local_end"))
        columns["ts_end"] = wallclock_to_utc(pl.col("_local_end"), t.timezone)
    return df.with_columns(**columns)


def _parse_local(text: pl.Series, t: TimeSpec) -> pl.Series:
    """Naive local datetimes of ``text``: the first declared format for every row, the next
    ones only for the rows still unparsed (most exports use one format throughout)."""
    text = text.str.strip_chars()
    if t.take:
        text = text.str.slice(0, t.take)
    out = text.str.strptime(pl.Datetime("us"), t.formats[0], strict=False)
    for fmt in t.formats[1:]:
        missing = (out.is_null() & text.is_not_null()).arg_true()
        if missing.is_empty():
            break
        retry = text.gather(missing).str.strptime(pl.Datetime("us"), fmt, strict=False)
        out = out.scatter(missing, retry)
    return out


def _number(column: str, decimal: str) -> pl.Expr:
    expr = pl.col(column).str.strip_chars()
    if decimal == ",":
        expr = expr.str.replace(",", ".", literal=True)
    return expr.cast(pl.Float64, strict=False)


def _with_place(df: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    p = m.place
    if p.kind == "latlon":
        assert p.lat and p.lon
        return df.with_columns(lat=_number(p.lat, m.file.decimal),
                               lon=_number(p.lon, m.file.decimal))
    if p.kind == "xy":
        assert p.x and p.y
        df = df.with_columns(_x=_number(p.x, m.file.decimal), _y=_number(p.y, m.file.decimal))
        ok = df["_x"].is_not_null() & df["_y"].is_not_null()
        transformer = Transformer.from_crs(f"EPSG:{p.epsg}", "EPSG:4326", always_xy=True)
        lon, lat = transformer.transform(df["_x"].fill_null(0).to_numpy(),
                                         df["_y"].fill_null(0).to_numpy())
        return df.with_columns(
            lat=pl.when(pl.Series(ok)).then(pl.Series(lat)),
            lon=pl.when(pl.Series(ok)).then(pl.Series(lon)),
        ).drop("_x", "_y")
    assert p.zone
    code = pl.col(p.zone).str.strip_chars()
    return df.with_columns(
        lat=pl.lit(None, pl.Float64), lon=pl.lit(None, pl.Float64), cell=pl.lit(None, pl.Int64),
        zone=pl.when(code != "").then(pl.lit(p.zone_prefix) + code),
    )


def _place_rules(m: Mapping) -> list[Rule]:
    p = m.place
    if p.kind == "zone":
        assert p.zone
        code = pl.col(p.zone).str.strip_chars()
        bad = code.fill_null("") == ""
        if p.zone_range:
            number = code.cast(pl.Int64, strict=False)
            bad = bad | ~number.is_between(*p.zone_range).fill_null(False)
        limits = f" within {p.zone_range[0]}–{p.zone_range[1]}" if p.zone_range else ""
        return [Rule("no_place", bad, pl.format("{} {} is not a zone code{}", pl.lit(p.zone),
                                                pl.col(p.zone), pl.lit(limits)))]
    shown = (p.lat or "", p.lon or "") if p.kind == "latlon" else (p.x or "", p.y or "")
    rules = [Rule("no_place", pl.col("lat").is_null() | pl.col("lon").is_null(),
                  pl.format("{}/{} {}/{} missing or not numbers", pl.lit(shown[0]),
                            pl.lit(shown[1]), pl.col(shown[0]), pl.col(shown[1])))]
    if p.bbox:
        south, west, north, east = p.bbox
        outside = ~(pl.col("lat").is_between(south, north) & pl.col("lon").is_between(west, east))
        rules.append(Rule("outside_area", outside,
                          pl.format("point ({}, {}) lies outside the declared area {}",
                                    pl.col("lat").round(5), pl.col("lon").round(5),
                                    pl.lit(str(list(p.bbox))))))
    return rules


def _cells_only(df: pl.DataFrame) -> pl.DataFrame:
    """H3 cells for points of a city whose zones belvedere does not ship."""
    cells = latlng_to_cells(df["lat"].to_numpy(), df["lon"].to_numpy())
    return df.with_columns(pl.Series("cell", cells, dtype=pl.Int64).replace(0, None),
                           zone=pl.lit(None, pl.String))


def _with_id(df: pl.DataFrame, m: Mapping) -> pl.DataFrame:
    """``source_id`` from the id column, or a stable MD5 of the declared columns.

    Identical rows under ``identical_rows = "distinct"`` (one row per offence of a multi-offence
    event) get ``-2``, ``-3``… by order of appearance, so each is kept and a re-ingest of the
    same file finds the same ids.
    """
    if m.id.column:
        return df.with_columns(source_id=pl.col(m.id.column).str.strip_chars())
    text = pl.concat_str([pl.col(c).fill_null("") for c in m.id.hash], separator="\x1f")
    keyed = df.select(text.alias("_key")).to_arrow()
    con = duckdb.connect()
    con.register("keyed", keyed)
    # MD5 is stable across versions and machines (polars' hash is not): ids must never change.
    hashed = con.sql("SELECT md5(_key) AS h FROM keyed").pl()["h"]
    con.close()
    df = df.with_columns(_h=hashed.str.slice(0, 20))
    if m.id.identical_rows == "distinct":
        rank = pl.col(LINE).rank("ordinal").over("_h").cast(pl.Int64)
        df = df.with_columns(source_id=pl.when(rank > 1).then(
            pl.format("{}-{}", pl.col("_h"), rank)).otherwise(pl.col("_h")))
    else:
        df = df.with_columns(source_id=pl.col("_h"))
    return df.drop("_h")


def _attrs(df: pl.DataFrame, m: Mapping, pseudonymiser: Pseudonymiser
           ) -> tuple[pl.Expr, dict[str, int]]:
    """The JSON ``attrs``: kept columns, pseudonyms, duration, and (if declared) redacted text."""
    fields: dict[str, pl.Expr] = {}
    counts: dict[str, int] = {}
    for c in m.keep:
        if c in df.columns:
            fields[c] = pl.col(c)
    for c in m.pseudonymise:
        values = df[c].cast(pl.String)
        table = {v: pseudonymiser(v) for v in values.unique().drop_nulls() if v.strip()}
        fields[c] = pl.col(c).replace_strict(table, default=None)
        counts[f"pseudonymised:{c}"] = int(values.is_in(list(table)).sum())
    if m.time.end_column and "ts_end" in df.columns:
        fields["duration_min"] = (pl.col("ts_end") - pl.col("ts")).dt.total_minutes()
    n = m.narrative
    if n.column and n.column in df.columns:
        if n.mode == "redact":
            redacted, found = redact(df[n.column])
            fields["narrative"] = pl.lit(redacted)
            counts.update(found)
        else:
            counts[f"dropped:{n.column}"] = int(
                (df[n.column].fill_null("").str.strip_chars() != "").sum())
    if not fields:
        return pl.lit("{}"), counts
    return pl.struct([expr.alias(name) for name, expr in fields.items()]).struct.json_encode(), \
        counts

