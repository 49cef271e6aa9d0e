"""Reading delimited exports exactly: every line either becomes a row or a named rejection.

Real exports are messy: a line cut short by a crashed export, a stray separator, a Latin-1 byte
in a UTF-8 file. DuckDB's CSV reader is the fastest reader here, and with ``store_rejects`` it
reports each malformed line with its physical line number and the reason, instead of failing the
whole file or silently padding it. Nothing is guessed: the header, the separator, the quote and
the encoding are given (the header is read by us, not sniffed), and an encoding "detected" under
``auto`` is said in the notes.

The result is one polars frame of text columns plus ``_line`` (physical line of the record's
start; the header is line 1) and, for malformed lines, ``_structure`` (the rule) and
``_structure_reason``; :func:`belvedere.sources.tabular.apply_rules` quarantines those first.
"""

from __future__ import annotations

import csv
import gzip
import tempfile
from pathlib import Path
from typing import BinaryIO, cast

import duckdb
import numpy as np
import polars as pl

from belvedere.errors import SourceError

LINE = "_line"
STRUCTURE = "_structure"
STRUCTURE_REASON = "_structure_reason"

ENCODINGS = ("utf-8", "latin-1", "cp1252", "auto")
"""Declared encodings. ``auto``: UTF-8 when the whole file is valid UTF-8, else Latin-1 — and the
choice is written in the ingest notes, never made silently."""

_REJECT_RULES = {
    "MISSING COLUMNS": "ragged_row",
    "TOO MANY COLUMNS": "ragged_row",
    "INVALID ENCODING": "bad_encoding",
    "INVALID UNICODE": "bad_encoding",
    "UNQUOTED VALUE": "bad_quoting",
    "LINE SIZE OVER MAXIMUM": "line_too_long",
}


def _open(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return cast(BinaryIO, gzip.GzipFile(path, "rb"))
    return path.open("rb")


def _normalise_encoding(encoding: str, *, source: str, path: Path) -> str:
    name = encoding.lower().replace("_", "-")
    name = {"utf8": "utf-8", "utf-8-sig": "utf-8", "iso-8859-1": "latin-1", "latin1": "latin-1",
            "windows-1252": "cp1252"}.get(name, name)
    if name not in ENCODINGS:
        raise SourceError(f"unsupported encoding {encoding!r}; declare one of "
                          f"{', '.join(ENCODINGS)}", source=source, file=str(path))
    return name


def _header(first: bytes, encoding: str, separator: str, quote: str) -> list[str]:
    text = first.rstrip(b"\r\n").decode("utf-8-sig" if encoding == "utf-8" else encoding,
                                         errors="replace")
    return next(csv.reader([text], delimiter=separator, quotechar=quote))


def read_delimited_exact(
    path: Path, *, source: str, separator: str, encoding: str = "utf-8", quote: str = '"',
    notes: list[str] | None = None,
) -> pl.DataFrame:
    """Read ``path`` (plain or ``.gz``) with every column as text; malformed lines are kept as
    rows flagged in ``_structure`` so that they are quarantined, not lost.

    Raises:
        SourceError: missing or empty file, unsupported encoding, or a duplicated/empty header.
    """
    enc = _normalise_encoding(encoding, source=source, path=path)
    try:
        with _open(path) as f:
            first = f.readline()
            # Only ``auto`` and Windows-1252 need the whole file here; DuckDB reads the rest.
            data = first + f.read() if enc in ("auto", "cp1252") else b""
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"cannot read: {exc}", source=source, file=str(path)) from exc
    if not first.strip():
        raise SourceError("the file is empty (no header)", source=source, file=str(path))
    if enc == "auto":
        try:
            data.decode("utf-8")
            enc = "utf-8"
        except UnicodeDecodeError as exc:
            enc = "latin-1"
            if notes is not None:
                notes.append(f"encoding: latin-1 (detected: not valid UTF-8 at byte {exc.start})")
    header = _header(first, "cp1252" if enc == "cp1252" else enc, separator, quote)
    if len(set(header)) != len(header) or any(not h.strip() for h in header):
        raise SourceError(f"the header has empty or repeated names: {header}", source=source,
                          file=str(path))
    if enc != "cp1252":
        return _read_with_duckdb(path, header, separator=separator, quote=quote, encoding=enc,
                                 source=source, shown=path)
    with tempfile.TemporaryDirectory() as tmp:
        # DuckDB reads UTF-8 and Latin-1 itself; Windows-1252 is transcoded to a temporary copy.
        plain = Path(tmp) / "input.csv"
        plain.write_bytes(data.decode("cp1252", errors="replace").encode("utf-8"))
        return _read_with_duckdb(plain, header, separator=separator, quote=quote,
                                 encoding="utf-8", source=source, shown=path)


def _read_with_duckdb(path: Path, header: list[str], *, separator: str, quote: str,
                      encoding: str, source: str, shown: Path) -> pl.DataFrame:
    con = duckdb.connect()
    columns = "{" + ", ".join(f"'{_sql_str(h)}': 'VARCHAR'" for h in header) + "}"
    try:
        good = con.sql(
            f"SELECT * FROM read_csv('{_sql_str(str(path))}', delim='{_sql_str(separator)}', "
            f"quote='{_sql_str(quote)}', escape='{_sql_str(quote)}', header=true, "
            f"auto_detect=false, columns={columns}, encoding='{encoding}', strict_mode=true, "
            f"store_rejects=true, rejects_table='rejects', rejects_scan='reject_scans', "
            f"null_padding=false)"
        ).pl()
        rejects = con.sql(
            "SELECT line, min(error_type)::VARCHAR AS error_type, min(error_message) AS message, "
            "min(csv_line) AS csv_line FROM rejects GROUP BY line ORDER BY line"
        ).pl()
    except duckdb.Error as exc:
        raise SourceError(f"cannot parse: {exc}", source=source, file=str(shown)) from exc
    finally:
        con.close()
    lines = _good_lines(good, rejects["line"].cast(pl.Int64).to_numpy())
    good = good.with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
    if rejects.is_empty():
        return good
    expected = len(header)
    rule = pl.col("error_type").replace_strict(_REJECT_RULES, default="bad_line")
    reason = (
        pl.when(rule == "ragged_row")
        .then(pl.format("the line does not have {} fields separated by '{}' ({}): truncated or "
                        "broken line", pl.lit(expected), pl.lit(separator), pl.col("message")))
        .when(rule == "bad_encoding")
        .then(pl.format("the line is not valid {} ({}); declare the export's encoding",
                        pl.lit(encoding), pl.col("message")))
        .otherwise(pl.format("{}: {}", pl.col("error_type").str.to_lowercase(),
                             pl.col("message")))
    )
    bad = rejects.select(
        pl.col("line").cast(pl.Int64).alias(LINE),
        rule.alias(STRUCTURE),
        reason.alias(STRUCTURE_REASON),
        # Only the first field (usually the record's id) is kept for review: the rest of a broken
        # line cannot be told apart from free text that must not be stored.
        pl.col("csv_line").str.strip_chars_start("\r\n").str.split(separator).list.first()
        .alias(header[0]),
    )
    return pl.concat([good, bad], how="diagonal").sort(LINE)


def _good_lines(good: pl.DataFrame, reject_lines: np.ndarray) -> np.ndarray:
    """Physical start line of each good record (header = line 1).

    Records run from line 2, each one line plus the newlines inside its quoted fields; rejected
    lines are slotted back where DuckDB saw them: with ``R'_j = R_j - j`` (a reject's position
    once earlier rejects are removed), a good record at line ``b`` without rejects moves to
    ``b + #{j : R'_j <= b}``.
    """
    n = good.height
    if n and good.width:
        embedded = good.select(
            pl.sum_horizontal(pl.col(c).str.count_matches("\n", literal=True).fill_null(0)
                              for c in good.columns)
        ).to_series().to_numpy()
    else:
        embedded = np.zeros(n, dtype=np.int64)
    base = 2 + np.arange(n, dtype=np.int64) + np.concatenate(([0], np.cumsum(embedded)[:-1]))
    if not reject_lines.size:
        return base
    compressed = np.sort(reject_lines) - np.arange(reject_lines.size)
    return base + np.searchsorted(compressed, base, side="right")


def _sql_str(text: str) -> str:
    return text.replace("'", "''")

