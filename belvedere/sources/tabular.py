"""Shared, vectorised parsing for connectors: reading files as text, checking rows against
rules, turning local times into UTC, and placing points on the grid.

Every column is read as text and converted explicitly, so that a bad value becomes a quarantined
row naming its rule, never a crash and never a silent guess.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from belvedere.errors import SourceError
from belvedere.grid.cells import latlng_to_cells
from belvedere.grid.timebins import CITY_TZ
from belvedere.grid.zones import arrondissements, assign_zones
from belvedere.sources.delimited import (
    LINE,
    STRUCTURE,
    STRUCTURE_REASON,
    read_delimited_exact,
)
from belvedere.sources.minimise import EMBEDDING_PATTERN, IMAGE_PATTERN, RED_LINE_NAME


@dataclass(frozen=True, slots=True)
class Rule:
    """A row-level check: rows where ``bad`` is true are quarantined under ``rule``.

    ``reason`` is a polars expression (usually ``pl.format``) so the message can quote the value.
    """

    rule: str
    bad: pl.Expr
    reason: pl.Expr


def required(column: str, rule: str = "no_id") -> Rule:
    """Rows whose ``column`` is missing or blank (the identifier, usually)."""
    blank = pl.col(column).cast(pl.String).fill_null("").str.strip_chars() == ""
    return Rule(rule, blank, pl.lit(f"{column} is empty"))


def read_delimited(
    path: Path, *, source: str, separator: str, required: list[str], encoding: str = "utf-8",
    quote: str = '"', notes: list[str] | None = None,
) -> pl.DataFrame:
    """Read a delimited file (plain or ``.gz``) with every column as text, plus line numbers.

    Malformed lines (too few or too many fields, bad encoding, bad quoting) are returned as rows
    flagged for quarantine (see :mod:`belvedere.sources.delimited`); :func:`apply_rules`
    quarantines them before any other rule. ``notes`` receives what is worth reporting.

    Raises:
        SourceError: the file is missing, unreadable, or lacks a required column.
    """
    df = read_delimited_exact(path, source=source, separator=separator, encoding=encoding,
                              quote=quote, notes=notes)
    missing = [c for c in required if c not in df.columns]
    if missing:
        found = [c for c in df.columns if not c.startswith("_")]
        raise SourceError(
            f"missing column(s) {', '.join(missing)}; found {', '.join(found)}",
            source=source, file=str(path),
        )
    return df


def keep(df: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``columns`` of a frame from :func:`read_delimited`, with the line and structure columns
    that :func:`apply_rules` needs (always use this rather than a bare ``select``)."""
    internal = [c for c in (LINE, STRUCTURE, STRUCTURE_REASON) if c in df.columns]
    return df.select([*columns, *internal])


def number(column: str, *, decimal_comma: bool = False) -> pl.Expr:
    """Float value of a text column (null when empty or not a number)."""
    expr = pl.col(column).str.strip_chars()
    if decimal_comma:
        expr = expr.str.replace(",", ".", literal=True)
    return expr.cast(pl.Float64, strict=False)


def local_time_to_utc(expr: pl.Expr, fmt: str, tz: str = CITY_TZ) -> pl.Expr:
    """UTC datetime of a local wall-clock text (null when unparseable or non-existent).

    Times in the autumn DST overlap take the earlier instant, as French police software does.
    """
    return wallclock_to_utc(expr.str.strip_chars().str.strptime(pl.Datetime("us"), fmt,
                                                                 strict=False), tz)


def wallclock_to_utc(expr: pl.Expr, tz: str = CITY_TZ) -> pl.Expr:
    """UTC datetime of a naive local datetime in ``tz`` (null when it does not exist, as in the
    spring DST gap; the earlier instant in the autumn overlap)."""
    return (expr.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC"))


def apply_rules(
    df: pl.DataFrame, rules: list[Rule], raw_columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``df`` into rows passing every rule and quarantined rows (first failing rule).

    The quarantine keeps only ``raw_columns`` (already minimised) as JSON, never dropped fields.
    """
    if not rules:
        return df, quarantine_frame(df.clear(), "", pl.lit(""), raw_columns)

    def reason(r: Rule) -> pl.Expr:
        # pl.format gives null when a quoted value is null: say so instead of losing the reason.
        return r.reason.fill_null(pl.lit(f"{r.rule}: value missing"))

    if STRUCTURE in df.columns:
        # Malformed lines first: their fields cannot be trusted for any other rule.
        rules = [Rule("structure", pl.col(STRUCTURE).is_not_null(), pl.col(STRUCTURE_REASON)),
                 *rules]
    # The index of the first failing rule, built from the last rule back; the messages are
    # formatted afterwards for the (few) failing rows only — formatting every row is the
    # expensive part of validation.
    first: pl.Expr = pl.lit(None, pl.Int8)
    for index in reversed(range(len(rules))):
        # A check that cannot be evaluated (null, e.g. on a missing value) fails: closed.
        fails = rules[index].bad.fill_null(True)
        first = pl.when(fails).then(pl.lit(index, pl.Int8)).otherwise(first)
    tagged = df.with_columns(first.alias("_rule_index"))
    good = tagged.filter(pl.col("_rule_index").is_null()).drop(
        "_rule_index", STRUCTURE, STRUCTURE_REASON, strict=False)
    bad = tagged.filter(pl.col("_rule_index").is_not_null())
    name: pl.Expr = pl.lit(None, pl.String)
    message: pl.Expr = pl.lit(None, pl.String)
    for index in reversed(range(len(rules))):
        r = rules[index]
        is_it = pl.col("_rule_index") == index
        label = pl.col(STRUCTURE) if r.rule == "structure" else pl.lit(r.rule)
        name = pl.when(is_it).then(label).otherwise(name)
        message = pl.when(is_it).then(reason(r)).otherwise(message)
    return good, quarantine_frame(bad, name, message, raw_columns)


def quarantine_frame(
    df: pl.DataFrame, rule: str | pl.Expr, reason: pl.Expr, raw_columns: list[str]
) -> pl.DataFrame:
    """Quarantine rows of ``df`` (``line, rule, reason, raw``)."""
    rule_expr = pl.lit(rule) if isinstance(rule, str) else rule
    raw = [c for c in raw_columns if c in df.columns]
    return df.select(
        pl.col(LINE).cast(pl.Int64).alias("line"),
        rule_expr.cast(pl.String).alias("rule"),
        reason.cast(pl.String).alias("reason"),
        (pl.struct(raw).struct.json_encode() if raw else pl.lit("{}")).alias("raw"),
    )


def locate(df: pl.DataFrame, lat: str = "lat", lon: str = "lon") -> pl.DataFrame:
    """Add ``cell`` (H3 res 9, int64) and ``zone`` (arrondissement id) to rows with lat/lon.

    Bulk: one H3 pass and one point-in-polygon pass for the whole frame.
    """
    lat_np = df[lat].to_numpy()
    lon_np = df[lon].to_numpy()
    cells = latlng_to_cells(lat_np, lon_np)
    zones = assign_zones(arrondissements(), lat_np, lon_np, cells)
    return df.with_columns(
        pl.Series("cell", cells, dtype=pl.Int64).replace(0, None),
        pl.Series("zone", zones.tolist(), dtype=pl.String),
    )


def outside_city_rule(zone: str = "zone", lat: str = "lat", lon: str = "lon") -> Rule:
    """Points that fall in no zone of the city (a typo in a coordinate, another town)."""
    return Rule(
        "outside_area",
        pl.col(zone).is_null(),
        pl.format("point ({}, {}) lies outside every zone of the city", pl.col(lat), pl.col(lon)),
    )


def to_arrow(df: pl.DataFrame, schema: pa.Schema) -> pa.Table:
    """The frame's columns of ``schema``, cast to it (missing nullable columns become null)."""
    columns = []
    for f in schema:
        if f.name in df.columns:
            columns.append(df[f.name].to_arrow().cast(f.type))
        else:
            columns.append(pa.nulls(df.height, f.type))
    return pa.Table.from_arrays(columns, schema=schema)


def centroid_zone(lat: np.ndarray, lon: np.ndarray) -> list[str | None]:
    """Arrondissement of each point (for sites and cell centres)."""
    return list(assign_zones(arrondissements(), lat, lon))


def read_json_records(path: Path, *, source: str, lines: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read a JSON array (``lines=False``) or JSON Lines file into a frame with ``_line``
    (the 1-based line of the file, blank lines counted; or the item number in an array).

    The fast path is polars' reader. If it fails (a malformed line, a value of another type than
    the same field elsewhere, an integer beyond 64 bits), the file is read item by item instead:
    malformed items land in the returned quarantine (rule ``bad_json``, with the parser's message
    and no content — a broken item cannot be told apart from free text), and fields whose values
    disagree in type are kept as JSON text for the connector's own checks. A JSON array that does
    not parse at all is a :class:`SourceError` (there are no items to keep).
    """
    try:
        df = pl.read_ndjson(path, infer_schema_length=None) if lines else pl.read_json(path)
        numbers = _filled_lines(path.read_bytes()) if lines else np.arange(1, df.height + 1)
        if len(numbers) == df.height:
            return df.with_columns(pl.Series(LINE, numbers, pl.Int64)), _json_quarantine([])
    except OSError as exc:
        raise SourceError(f"cannot read: {exc}", source=source, file=str(path)) from exc
    except pl.exceptions.PolarsError:
        pass
    good: list[dict[str, object]] = []
    bad: list[tuple[int, str]] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read as UTF-8 JSON: {exc}", source=source,
                          file=str(path)) from exc
    if lines:
        items: list[tuple[int, object]] = []
        # Only "\n" ends a JSON line: a U+2028 inside a string does not (str.splitlines).
        for number_, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                items.append((number_, json.loads(line)))
            except json.JSONDecodeError as exc:
                bad.append((number_, f"line is not JSON: {exc.msg} (column {exc.colno})"))
    else:
        try:
            array = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(f"not a JSON array: {exc}", source=source, file=str(path)) from exc
        if not isinstance(array, list):
            raise SourceError("not a JSON array of objects", source=source, file=str(path))
        items = list(enumerate(array, start=1))
    for number_, item in items:
        if isinstance(item, dict):
            good.append({**item, LINE: number_})
        else:
            bad.append((number_, f"item is a JSON {type(item).__name__}, not an object"))
    return _uniform_frame(good), _json_quarantine(bad)


# A JSON object key whose value is not null, also inside JSON text nested as a string (``\"``).
_JSON_KEY = r'"([^"\\]+)\\?"\s*:\s*[^\sn]'


def compact_fields(name: pl.Expr) -> pl.Expr:
    """:func:`belvedere.sources.minimise.compact_field`, in bulk."""
    return name.str.to_lowercase().str.replace_all(r"[\W_]+", "")


def red_line_fields(json_text: pl.Expr, *, allowed: tuple[str, ...] = ()) -> pl.Expr:
    """The red-line field names (:data:`~belvedere.sources.minimise.RED_LINE_NAME`) that each
    JSON text uses with a value, at any depth, comma-separated ("" when none); ``allowed`` names
    are a connector's own (dropped) fields."""
    keys = json_text.str.extract_all(_JSON_KEY).list.eval(
        pl.element().str.extract(_JSON_KEY, 1))
    red = keys.list.eval(pl.element().filter(
        compact_fields(pl.element()).str.contains(RED_LINE_NAME)
        & ~pl.element().is_in(list(allowed))))
    return red.list.unique(maintain_order=True).list.join(", ").fill_null("")


def mark_red_lines(raw: pl.DataFrame, *, allowed: tuple[str, ...] = ()) -> pl.DataFrame:
    """``raw`` (items as read, with ``_line``) with the columns :func:`red_line_rule` reads: each
    item's red-line field names (``_red``, :func:`red_line_fields`) and whether an image or an
    embedding hides in it (``_image``, ``_embedding``;
    :data:`~belvedere.sources.minimise.IMAGE_PATTERN`,
    :data:`~belvedere.sources.minimise.EMBEDDING_PATTERN`). All are read from the item as one
    JSON text — keys, nested values and values of mixed types kept as text — so that nothing
    escapes by its name, its depth or its type."""
    whole = (pl.struct(pl.exclude(LINE)).struct.json_encode() if raw.width > 1
             else pl.lit(""))
    return raw.with_columns(_red=red_line_fields(whole, allowed=allowed),
                            _image=whole.str.contains(IMAGE_PATTERN).fill_null(False),
                            _embedding=whole.str.contains(EMBEDDING_PATTERN).fill_null(False))


def red_line_rule(item: str, accepted: str) -> Rule:
    """The ``red_line`` rule over :func:`mark_red_lines`' columns; ``item`` names what is refused
    (``payload``, ``report``), ``accepted`` says what is accepted instead."""
    carried = (pl.when(pl.col("_image")).then(pl.lit("an image"))
               .when(pl.col("_red") != "").then(pl.format("forbidden field(s) {}", pl.col("_red")))
               .otherwise(pl.lit("an embedding (a list of numbers)")))
    return Rule("red_line", (pl.col("_red") != "") | pl.col("_image") | pl.col("_embedding"),
                pl.format(f"{item} carries {{}}: {accepted} (the {item} was not kept)", carried))


def forget_red_lines(quarantine: pl.DataFrame) -> pl.DataFrame:
    """``quarantine`` with nothing kept of its ``red_line`` entries (``raw`` = ``{}``): an image
    may hide in any field, the allowed ones too."""
    return quarantine.with_columns(
        raw=pl.when(pl.col("rule") == "red_line").then(pl.lit("{}")).otherwise(pl.col("raw")))


def _filled_lines(data: bytes) -> np.ndarray:
    """1-based numbers of the lines of ``data`` that are not blank (polars' JSON Lines reader
    skips blank lines, so its row index is not the line number when there are some)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(raw == ord("\n"))
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(raw)]])
    solid = np.concatenate([[0], np.cumsum(~np.isin(raw, list(b" \t\r\n")))])
    return np.flatnonzero(solid[ends] - solid[starts] > 0) + 1


def _json_quarantine(bad: list[tuple[int, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"line": [b[0] for b in bad], "rule": ["bad_json"] * len(bad),
         "reason": [b[1] for b in bad], "raw": ["{}"] * len(bad)},
        schema={"line": pl.Int64, "rule": pl.String, "reason": pl.String, "raw": pl.String},
    )


def _uniform_frame(items: list[dict[str, object]]) -> pl.DataFrame:
    """A frame of JSON objects whose fields may disagree in type across items: such a field,
    or one holding integers beyond 64 bits, is kept as JSON text."""
    if not items:
        return pl.DataFrame({LINE: []}, schema={LINE: pl.Int64})
    kinds: dict[str, set[str]] = {}
    for item in items:
        for key, value in item.items():
            kind = ("int64" if isinstance(value, int) and not isinstance(value, bool)
                    and -(2**63) <= value < 2**63 else type(value).__name__)
            if value is not None:
                kinds.setdefault(key, set()).add(kind)
    mixed = {k for k, v in kinds.items() if len(v) > 1 or v == {"int"}}
    try:
        return pl.from_dicts(_as_text(items, mixed), infer_schema_length=None)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
        # Something deeper (a 65-bit integer inside a list…): every field as text.
        return pl.from_dicts(_as_text(items, set(kinds) - {LINE}), infer_schema_length=None)


def _as_text(items: list[dict[str, object]], keys: set[str]) -> list[dict[str, object]]:
    """``items`` with the non-text values of ``keys`` turned into JSON text."""
    if not keys:
        return items
    return [{k: (json.dumps(v) if k in keys and v is not None and not isinstance(v, str) else v)
             for k, v in item.items()} for item in items]


def local_hour_to_utc(date: str, hour: str) -> pl.Expr:
    """UTC start of a local ``YYYY-MM-DD`` date and ``H``/``HH`` hour pair of text columns."""
    text = pl.concat_str(
        [pl.col(date).str.strip_chars(), pl.lit(" "),
         pl.col(hour).str.strip_chars().str.zfill(2), pl.lit(":00")]
    )
    return local_time_to_utc(text, "%Y-%m-%d %H:%M")


def hourly_rules(date: str, hour: str) -> list[Rule]:
    """The time checks every hourly aggregate feed shares (``start`` must be derived first)."""
    return [
        Rule("bad_time", pl.col("start").is_null(),
             pl.format("date/hour {} {}h is not an existing local hour", pl.col(date),
                       pl.col(hour))),
    ]
