"""Byte-stable writers shared by the feeds: CSV dialects, JSON, JSON Lines, zip, time strings.

Everything written is deterministic: JSON keys are sorted with fixed separators, zip members
carry a fixed timestamp, and times are formatted from the simulated clock, never the wall clock.

Example:
    >>> fmt_decimal_comma(43.29512, 5)
    '43,29512'
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from belvedere.simulate.clock import TZ_NAME

_ZIP_TIMESTAMP = (2000, 1, 1, 0, 0, 0)


def fmt_decimal_comma(value: float, digits: int) -> str:
    """A number with ``digits`` decimals and a decimal comma, as French software writes it."""
    return f"{value:.{digits}f}".replace(".", ",")


def write_csv(frame: pl.DataFrame, path: Path, *, separator: str, bom: bool = False,
              crlf: bool = False, decimal_comma: bool = False,
              float_precision: int | None = None) -> int:
    """Write a CSV dialect (empty strings for nulls); return the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path, separator=separator, include_bom=bom,
                    line_terminator="\r\n" if crlf else "\n", decimal_comma=decimal_comma,
                    float_precision=float_precision, null_value="")
    return frame.height


def write_json(data: Any, path: Path) -> None:
    """Write JSON with sorted keys, two-space indent and UTF-8 text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, sort_keys=True, ensure_ascii=False, indent=2) + "\n",
                    encoding="utf-8")


def write_lines(lines: pl.Series, path: Path) -> int:
    """Write one string per line (JSON Lines); return the number of lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines.to_frame("line").write_csv(path, include_header=False, quote_style="never")
    return lines.len()


def write_zip(members: dict[str, str], path: Path) -> None:
    """Write a zip of text members in name order, with a fixed timestamp."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name].encode("utf-8"))


def wall_strftime(wall: np.ndarray | list[int], fmt: str) -> pl.Series:
    """Format wall seconds (naive local time)."""
    moments = pl.from_epoch(pl.Series(np.asarray(wall, dtype=np.int64)), time_unit="s")
    return moments.dt.strftime(fmt)


def utc_strftime(utc: np.ndarray | list[int], fmt: str, *, local: bool) -> pl.Series:
    """Format UTC seconds in UTC, or in local time when ``local`` (``%:z`` gives the offset)."""
    moments = pl.from_epoch(pl.Series(np.asarray(utc, dtype=np.int64)), time_unit="s")
    moments = moments.dt.replace_time_zone("UTC")
    if local:
        moments = moments.dt.convert_time_zone(TZ_NAME)
    return moments.dt.strftime(fmt)
