"""GTFS static: read and validate the few tables belvedere needs from an operator's ``gtfs.zip``.

A GTFS feed is a zip of CSV files (UTF-8, possibly with a BOM; https://gtfs.org/schedule/reference/).
belvedere needs only:

- ``agency.txt`` (required): the agency's time zone, in which ``stop_times`` are written;
- ``stops.txt`` (required): the stops, which become *sites* (``site_id`` = GTFS ``stop_id``);
- ``routes.txt`` (required): line ids, short names and modes (``route_type``);
- ``trips.txt`` + ``stop_times.txt`` (optional): which stops a route or a trip serves, and the
  scheduled times that GTFS-realtime delays are relative to;
- ``shapes.txt`` (optional): the lines' drawn paths, as GeoJSON for the dashboard.

Each table is read with polars, every column as text, and its required columns are checked
against the reference (stops: ``stop_id, stop_name, stop_lat, stop_lon``; routes: ``route_id,
route_type`` and ``route_short_name`` or ``route_long_name``; …). A missing or corrupt zip, or a
required file or column missing, is a :class:`~belvedere.errors.SourceError` naming the file; a
broken *optional* file is reported in :attr:`GtfsFeed.problems` and left out. Stops without valid
coordinates are never dropped silently: they are listed in :attr:`GtfsFeed.unlocated` with the
reason, reported in :attr:`GtfsFeed.problems`, and any row that refers to them is quarantined
with that reason.

Why not gtfs-kit: it is the usual library for GTFS in Python, but it brings the pandas /
geopandas stack (and its GDAL-backed dependencies) to do what belvedere needs here — read six
CSV tables, check a dozen columns and join stops to routes — which polars, already the
connectors' engine, does in a few vectorised lines. Should belvedere one day need calendars,
frequencies or full feed validation, the canonical GTFS validator (MobilityData) is the tool to
run *before* ingest, not a library to embed.

Example:
    >>> feed = read_gtfs(Path("transports/gtfs.zip"))            # doctest: +SKIP
    >>> feed.sites().column("site_id").to_pylist()[:2]           # doctest: +SKIP
    ['M1-CAS', 'M1-STC']
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
import pyarrow as pa

from belvedere.errors import SourceError
from belvedere.grid.places import Site
from belvedere.grid.timebins import CITY_TZ
from belvedere.sources.sites import sites_table
from belvedere.sources.tabular import LINE, number

REQUIRED_FILES = ("agency.txt", "stops.txt", "routes.txt")
OPTIONAL_FILES = ("trips.txt", "stop_times.txt", "shapes.txt")

COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_name", "agency_url", "agency_timezone"),
    "stops.txt": ("stop_id", "stop_name", "stop_lat", "stop_lon"),
    "routes.txt": ("route_id", "route_type"),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "stop_sequence", "stop_id"),
    "shapes.txt": ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"),
}
"""Required columns per file (GTFS Schedule reference; conditionally required ones excluded)."""

ONE_OF: dict[str, tuple[str, ...]] = {"routes.txt": ("route_short_name", "route_long_name")}
"""Files that need at least one of these columns."""

LOCATED_TYPES = ("", "0", "1", "2")
"""``location_type`` values (stop/platform, station, entrance) for which coordinates are required;
generic nodes (3) and boarding areas (4) may have none and are simply not sites."""

MAX_EXAMPLES = 10
"""How many offending ids a problem message quotes before summarising."""


@dataclass(frozen=True)
class GtfsFeed:
    """The validated tables of one ``gtfs.zip`` (every id is text, stripped).

    Attributes:
        path: the zip.
        timezone: the agency's IANA time zone (``stop_times`` are local to it).
        stops: stops with valid coordinates: ``stop_id, stop_name, lat, lon, location_type,
            parent_station``.
        unlocated: stops a row may name but that cannot be placed: ``stop_id, reason``.
        routes: ``route_id, route_short_name, route_long_name, route_type`` (Int64).
        trips: ``trip_id, route_id, direction_id, shape_id``, or ``None`` without trips.txt.
        stop_times: ``trip_id, stop_sequence`` (Int64), ``stop_id``, ``arrival_s``,
            ``departure_s`` (seconds after the service day's "noon minus 12 h"), or ``None``.
        shapes: ``shape_id, lat, lon, seq``, or ``None`` without shapes.txt.
        problems: what was wrong but not fatal, one message each (reported as ingest notes).
    """

    path: Path
    timezone: str
    stops: pl.DataFrame
    unlocated: pl.DataFrame
    routes: pl.DataFrame
    trips: pl.DataFrame | None
    stop_times: pl.DataFrame | None
    shapes: pl.DataFrame | None
    problems: tuple[str, ...]

    def sites(self) -> pa.Table:
        """The located stops as sites (kind ``station``, ``site_id`` = ``code`` = stop_id)."""
        return self._sites

    @cached_property
    def _sites(self) -> pa.Table:
        # Computed once per feed: one H3 and one zone pass over all stops.
        return sites_table([
            Site(stop_id, "station", name or stop_id, lat, lon, code=stop_id)
            for stop_id, name, lat, lon in self.stops.select(
                "stop_id", "stop_name", "lat", "lon").iter_rows()
        ])

    def route_table(self) -> pl.DataFrame:
        """Routes for display: ``route_id, short_name`` (long name when no short one),
        ``route_type``."""
        return self.routes.select(
            "route_id",
            short_name=pl.coalesce(pl.col("route_short_name"), pl.col("route_long_name")),
            route_type="route_type",
        )

    def _served(self, trips: pl.DataFrame) -> pl.DataFrame:
        """``key, stop_id`` for the stop times of ``trips`` (``trip_id, key``), with platforms
        folded into their station (one place per station for a disruption, not per platform)."""
        if self.stop_times is None or trips.is_empty():
            return pl.DataFrame(schema={"key": pl.String, "stop_id": pl.String})
        stations = self.stops["stop_id"].to_list()
        folded = self.stops.filter(pl.col("parent_station").is_in(stations)).select(
            "stop_id", station="parent_station")
        return (
            self.stop_times.filter(pl.col("trip_id").is_in(trips["trip_id"].to_list()))
            .join(trips, on="trip_id", how="inner")
            .join(folded, on="stop_id", how="left")
            .select("key", stop_id=pl.coalesce("station", "stop_id"))
        )

    def stops_of_routes(self, route_ids: list[str]) -> dict[str, list[str]]:
        """The stops each route serves (per trips + stop_times; empty without them)."""
        if self.trips is None:
            return {}
        trips = self.trips.filter(pl.col("route_id").is_in(route_ids))
        return _grouped(self._served(trips.select("trip_id", key="route_id")))

    def stops_of_trips(self, trip_ids: list[str]) -> dict[str, list[str]]:
        """The stops each trip serves (per stop_times; empty without them)."""
        trips = pl.DataFrame({"trip_id": trip_ids}, schema={"trip_id": pl.String})
        return _grouped(self._served(trips.with_columns(key="trip_id")))

    def route_of_trips(self, trip_ids: list[str]) -> dict[str, str]:
        """The route of each trip named in trips.txt."""
        if self.trips is None:
            return {}
        rows = self.trips.filter(pl.col("trip_id").is_in(trip_ids)).select("trip_id", "route_id")
        return dict(rows.unique(subset="trip_id", keep="first").iter_rows())

    def schedule(self, trip_ids: list[str]) -> pl.DataFrame:
        """Stop times of these trips (the rows a GTFS-realtime feed refers to)."""
        if self.stop_times is None:
            return pl.DataFrame(schema={"trip_id": pl.String, "stop_sequence": pl.Int64,
                                        "stop_id": pl.String, "arrival_s": pl.Int64,
                                        "departure_s": pl.Int64})
        return self.stop_times.filter(pl.col("trip_id").is_in(trip_ids))

    def shape_lines(self) -> dict[str, dict[str, Any]]:
        """Each shape as a GeoJSON LineString (``[lon, lat]`` in ``shape_pt_sequence`` order).

        Shapes with fewer than two valid points draw nothing and are left out.
        """
        if self.shapes is None:
            return {}
        lines = (
            self.shapes.sort(["shape_id", "seq"])
            .group_by("shape_id", maintain_order=True)
            .agg(coordinates=pl.concat_list("lon", "lat"))
        )
        return {
            shape_id: {"type": "LineString", "coordinates": coords}
            for shape_id, coords in lines.iter_rows()
            if len(coords) >= 2
        }


def _grouped(df: pl.DataFrame) -> dict[str, list[str]]:
    """``{key: sorted distinct stop_ids}`` of a ``key, stop_id`` frame."""
    agg = df.group_by("key").agg(pl.col("stop_id").unique().sort())
    return {k: list(v) for k, v in agg.iter_rows()}


def read_gtfs(path: Path, *, source: str = "transit", schedule: bool = True) -> GtfsFeed:
    """Read and validate ``path`` (a GTFS zip); ``schedule=False`` skips trips and stop_times.

    The result is cached per file version (path, inode, modification time, size): every
    ridership or realtime file of a folder refers to the same ``gtfs.zip``.

    Raises:
        SourceError: the zip is missing or corrupt, or a required file or column is missing.
    """
    try:
        stat = path.stat()
    except OSError as exc:
        raise SourceError(f"cannot read the GTFS feed: {exc}", source=source,
                          file=str(path)) from exc
    version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return _read_cached(path, version, schedule, source)


@lru_cache(maxsize=4)
def _read_cached(path: Path, _version: tuple[int, int, int], schedule: bool,
                 source: str) -> GtfsFeed:
    try:
        with zipfile.ZipFile(path) as archive:
            return _parse(archive, path, schedule, source)
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise SourceError(f"not a readable GTFS zip: {exc}", source=source,
                          file=str(path)) from exc


def _parse(archive: zipfile.ZipFile, path: Path, schedule: bool, source: str) -> GtfsFeed:
    problems: list[str] = []

    def required(name: str) -> pl.DataFrame:
        df = _read_member(archive, name, path, source)
        if df is None:
            raise SourceError(f"{name} is missing from the GTFS zip (required)", source=source,
                              file=str(path))
        return df

    def optional(name: str) -> pl.DataFrame | None:
        # A broken optional file costs its feature (route expansion, shapes), not the feed.
        try:
            return _read_member(archive, name, path, source)
        except SourceError as exc:
            problems.append(f"{exc} — left out")
            return None

    agency, stops, routes = (required(n) for n in REQUIRED_FILES)
    trips = optional("trips.txt") if schedule else None
    stop_times = optional("stop_times.txt") if trips is not None else None
    shapes = optional("shapes.txt") if schedule else None
    located, unlocated = _stops(stops, problems)
    return GtfsFeed(
        path=path,
        timezone=_timezone(agency, problems),
        stops=located,
        unlocated=unlocated,
        routes=_routes(routes, problems),
        trips=None if trips is None else _trips(trips),
        stop_times=None if stop_times is None else _stop_times(stop_times, problems),
        shapes=None if shapes is None else _shapes(shapes, problems),
        problems=tuple(problems),
    )


def _read_member(archive: zipfile.ZipFile, name: str, path: Path,
                 source: str) -> pl.DataFrame | None:
    """One GTFS file as text columns with ``_line`` (``None`` when absent from the zip).

    Raises:
        SourceError: the file is not a CSV or lacks a required column.
    """
    names = archive.namelist()
    # The reference puts files at the root; some producers zip a folder: accept one level.
    member = name if name in names else next(
        (n for n in names if n.rsplit("/", 1)[-1] == name), None)
    if member is None:
        return None
    try:
        df = pl.read_csv(io.BytesIO(archive.read(member)), infer_schema=False, encoding="utf8")
    except pl.exceptions.PolarsError as exc:
        raise SourceError(f"{name} is not a readable CSV: {exc}", source=source,
                          file=str(path)) from exc
    # Some producers pad the header ("stop_id, stop_name"): the reference names are exact.
    df = df.rename({c: c.strip() for c in df.columns})
    missing = [c for c in COLUMNS[name] if c not in df.columns]
    one_of = ONE_OF.get(name, ())
    if one_of and not any(c in df.columns for c in one_of):
        missing.append(" or ".join(one_of))
    if missing:
        raise SourceError(
            f"{name} lacks required column(s) {', '.join(missing)}; found {', '.join(df.columns)}",
            source=source, file=str(path))
    return df.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))


def _text(df: pl.DataFrame, column: str) -> pl.Expr:
    """A stripped text column; null when the optional column is absent."""
    if column not in df.columns:
        return pl.lit(None, pl.String).alias(column)
    return pl.col(column).str.strip_chars().alias(column)


def _examples(df: pl.DataFrame, fmt: str) -> str:
    """``fmt`` applied to the first rows of ``df`` (named columns), then ``…`` and a total."""
    shown = [fmt.format(**row) for row in df.head(MAX_EXAMPLES).iter_rows(named=True)]
    more = f" … ({df.height} in all)" if df.height > MAX_EXAMPLES else ""
    return "; ".join(shown) + more


def _timezone(agency: pl.DataFrame, problems: list[str]) -> str:
    zones = agency.select(_text(agency, "agency_timezone")).drop_nulls()["agency_timezone"]
    tz = zones[0] if len(zones) else ""
    try:
        ZoneInfo(tz)
        return str(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"agency.txt: agency_timezone {tz!r} is not an IANA time zone; "
                        f"{CITY_TZ} assumed")
        return CITY_TZ


def _stops(raw: pl.DataFrame, problems: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Located stops and unlocated ones (with the reason), reporting each kind of defect."""
    df = raw.select(
        LINE, _text(raw, "stop_id"), _text(raw, "stop_name"), "stop_lat", "stop_lon",
        _text(raw, "location_type").fill_null(""), _text(raw, "parent_station"),
    ).with_columns(lat=number("stop_lat"), lon=number("stop_lon"))
    no_id = df.filter(pl.col("stop_id").fill_null("") == "")
    if no_id.height:
        problems.append("stops.txt: stop_id empty, row left out: "
                        + _examples(no_id, "line {_line}"))
    df = df.filter(pl.col("stop_id").fill_null("") != "")
    repeated = df.filter(pl.col("stop_id").is_duplicated() & ~pl.col("stop_id").is_first_distinct())
    if repeated.height:
        problems.append("stops.txt: stop_id repeated, first row kept: "
                        + _examples(repeated, "{stop_id} (line {_line})"))
    df = df.unique(subset="stop_id", keep="first", maintain_order=True)
    valid = (
        pl.col("lat").is_between(-90, 90) & pl.col("lon").is_between(-180, 180)
        # (0, 0) is the classic "unknown" placeholder, not a stop in the Gulf of Guinea.
        & ~((pl.col("lat") == 0) & (pl.col("lon") == 0))
    ).fill_null(False)
    bad = df.filter(~valid & pl.col("location_type").is_in(LOCATED_TYPES))
    if bad.height:
        problems.append(
            "stops.txt: stop without valid coordinates, not a site (rows naming it are "
            "quarantined): " + _examples(
                bad.with_columns(pl.col("stop_lat", "stop_lon").fill_null("")),
                "{stop_id} (line {_line}: stop_lat '{stop_lat}', stop_lon '{stop_lon}')"))
    unlocated = df.filter(~valid).select(
        "stop_id",
        reason=pl.format("stop {} has no valid coordinates in gtfs.zip stops.txt (line {}: "
                         "stop_lat '{}', stop_lon '{}')", "stop_id", LINE,
                         pl.col("stop_lat").fill_null(""), pl.col("stop_lon").fill_null("")),
    )
    located = df.filter(valid).select(
        "stop_id", "stop_name", "lat", "lon", "location_type", "parent_station")
    return located, unlocated


def _routes(raw: pl.DataFrame, problems: list[str]) -> pl.DataFrame:
    df = raw.select(
        LINE, _text(raw, "route_id"), _text(raw, "route_short_name"),
        _text(raw, "route_long_name"), _text(raw, "route_type"),
    ).with_columns(pl.col("route_short_name", "route_long_name").replace("", None))
    df = df.with_columns(route_type_n=pl.col("route_type").cast(pl.Int64, strict=False))
    unnamed = df.filter(pl.col("route_short_name").is_null() & pl.col("route_long_name").is_null())
    if unnamed.height:
        problems.append("routes.txt: route with neither short nor long name: "
                        + _examples(unnamed, "{route_id} (line {_line})"))
    untyped = df.filter(pl.col("route_type_n").is_null())
    if untyped.height:
        problems.append("routes.txt: route_type is not an integer: "
                        + _examples(untyped.with_columns(pl.col("route_type").fill_null("")),
                                    "{route_id} (line {_line}: '{route_type}')"))
    return df.select("route_id", "route_short_name", "route_long_name",
                     route_type="route_type_n")


def _trips(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.select(_text(raw, "trip_id"), _text(raw, "route_id"),
                      _text(raw, "direction_id"), _text(raw, "shape_id"))


def _hms(text: pl.Expr) -> pl.Expr:
    """Hours, minutes, seconds of a GTFS ``H:MM:SS`` time as a struct (hours may pass 24 for
    trips after midnight). Parsed once into a column, then summed: a regex evaluated once per
    field would triple the cost on millions of stop times."""
    return text.str.extract_groups(r"^(\d+):([0-5]\d):([0-5]\d)$")


def _seconds(column: str) -> pl.Expr:
    """Seconds since the service day's start of a :func:`_hms` struct column."""
    h, m, s = (pl.col(column).struct.field(str(i)).cast(pl.Int64) for i in (1, 2, 3))
    return h * 3600 + m * 60 + s


def _stop_times(raw: pl.DataFrame, problems: list[str]) -> pl.DataFrame:
    df = raw.select(
        LINE, _text(raw, "trip_id"), _text(raw, "stop_id"),
        pl.col("stop_sequence").str.strip_chars().cast(pl.Int64, strict=False),
        arrival=_hms(_text(raw, "arrival_time")),
        departure=_hms(_text(raw, "departure_time")),
    )
    bad = df.filter(pl.col("stop_sequence").is_null())
    if bad.height:
        problems.append("stop_times.txt: stop_sequence is not an integer, row left out: "
                        + _examples(bad, "line {_line}"))
    return df.filter(pl.col("stop_sequence").is_not_null()).select(
        "trip_id", "stop_sequence", "stop_id",
        arrival_s=_seconds("arrival"), departure_s=_seconds("departure"),
    )


def _shapes(raw: pl.DataFrame, problems: list[str]) -> pl.DataFrame:
    df = raw.select(
        LINE, _text(raw, "shape_id"),
        lat=number("shape_pt_lat"), lon=number("shape_pt_lon"),
        seq=pl.col("shape_pt_sequence").str.strip_chars().cast(pl.Int64, strict=False),
    )
    ok = (pl.col("lat").is_between(-90, 90) & pl.col("lon").is_between(-180, 180)
          & pl.col("seq").is_not_null()).fill_null(False)
    bad = df.filter(~ok)
    if bad.height:
        problems.append("shapes.txt: point with invalid coordinates or sequence, left out: "
                        + _examples(bad, "{shape_id} (line {_line})"))
    return df.filter(ok).select("shape_id", "lat", "lon", "seq")
