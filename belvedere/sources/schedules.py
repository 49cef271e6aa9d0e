"""Real stadium schedules → ``PlannedEvent``: Retrosheet game logs and engsoccerdata results.

A schedule connector is declared by a mapping — a TOML file with a ``[schedule]`` table, such
as ``belvedere/sources/mappings/schedule_chicago_mlb.toml`` — that says which file format it
reads, which games it keeps (parks, home teams, a date window) and the time rules standing in
for what the files do not say (football results carry no kick-off time; Retrosheet carries only
a day/night flag). Venues — position, time zone, and the park ids and home teams that map to
them — come from ``data/venues.csv`` (:func:`load_venues`). Guide: docs/connectors/schedules.md.

Every input row is accounted for: a record, *filtered* (not selected by the mapping — the reason
is in ``ParsedFile.notes``), or *quarantined* (selected but unusable: bad date, unknown venue,
neutral ground…). Files are parsed in bulk with polars; a season is one vectorised pass.

Example:
    >>> import tomllib
    >>> source = schedule_from_mapping(tomllib.loads('''
    ... [source]
    ... name = "mlb_chicago"
    ... [schedule]
    ... format = "retrosheet"
    ... parks = ["CHI11", "CHI12"]
    ... '''), origin="example.toml")
    >>> source.info.name, source.info.folder, source.info.patterns
    ('mlb_chicago', 'mlb_retrosheet', ('gl*.txt', 'gl*.txt.gz'))
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from belvedere.errors import ConfigError, SourceError
from belvedere.grid.records import PlannedEvent, arrow_schema
from belvedere.sources.base import Connector, ParsedFile, SourceInfo
from belvedere.sources.delimited import STRUCTURE
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.tabular import (
    LINE,
    Rule,
    apply_rules,
    locate,
    read_delimited,
    required,
    to_arrow,
    wallclock_to_utc,
)

VENUES_CSV = Path(__file__).parent / "data" / "venues.csv"

RETROSHEET_WIDTH = 161
RETROSHEET_FIELDS = {1: "date", 2: "game_number", 4: "visitor", 7: "home", 13: "day_night",
                     17: "park", 18: "attendance", 19: "duration"}
"""The game-log fields read (1-based, as in the Retrosheet spec); the 153 others — umpire,
manager and player names, line scores, statistics — are never read."""

FOOTBALL_COLUMNS = ["Date", "home", "visitor"]
"""The engsoccerdata columns read (every league file has them); the rest are scores."""

PLACEHOLDER_MATCHES = 40
"""More matches on one date than any league file plays in a day (the real maximum in the
engsoccerdata files is 19): such a date is a placeholder — the early French seasons are all
dated 1 July — and the matches are quarantined rather than placed on a day they were not played."""

DOUBLEHEADER_GAP = timedelta(minutes=30)
"""Between the end of game 1 and the start of game 2 of a same-session doubleheader."""

WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
"""Keys of ``kickoff_by_weekday`` → ISO weekday numbers (as polars counts them)."""

_FORMATS: dict[str, dict[str, Any]] = {
    "retrosheet": {"folder": "mlb_retrosheet", "patterns": ("gl*.txt", "gl*.txt.gz"),
                   "kind": "match_baseball", "duration_minutes": 180,
                   "keys": {"parks", "day_start_local", "night_start_local"}},
    "football": {"folder": "football", "patterns": ("*.csv", "*.csv.gz"),
                 "kind": "match_football", "duration_minutes": 110,
                 "keys": {"kickoff_local", "kickoff_by_weekday", "neutral"}},
}
"""Per format: the defaults of ``[source] folder`` and of the mapping keys, and its own keys."""

_COMMON_KEYS = {"format", "home_teams", "from", "to", "kind", "duration_minutes",
                "expected_attendance"}
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_PARK = re.compile(r"^[A-Z]{3}\d{2}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# --- venue table --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VenueTable:
    """The venues schedules are placed at, and the keys that map to them.

    Attributes:
        venues: ``venue_id, name, lat, lon, timezone, city``.
        parks: ``park, venue_id`` — Retrosheet park ids.
        teams: ``team, venue_id, valid_from, valid_to`` — home teams and the dates (inclusive,
            null = open) during which they played their home games there.
    """

    venues: pl.DataFrame
    parks: pl.DataFrame
    teams: pl.DataFrame


def _span_bound(text: str, *, end: bool) -> date | None:
    """``YYYY`` (a whole year) or ``YYYY-MM-DD``; empty = open."""
    if not text:
        return None
    if re.fullmatch(r"\d{4}", text):
        return date(int(text), 12, 31) if end else date(int(text), 1, 1)
    return date.fromisoformat(text)


def _team_spans(cell: str, venue_id: str, where: str) -> list[tuple[str, str, date | None,
                                                                     date | None]]:
    """``Team`` or ``Team@from..to`` entries of a ``home_teams`` cell, ``|``-separated."""
    spans = []
    for entry in filter(None, (e.strip() for e in cell.split("|"))):
        team, _, span = entry.partition("@")
        start_text, sep, end_text = span.partition("..")
        if span and not sep:
            raise ConfigError(f"{where}: home team {entry!r}: write Team@from..to")
        try:
            start, end = (_span_bound(start_text.strip(), end=False),
                          _span_bound(end_text.strip(), end=True))
        except ValueError as exc:
            raise ConfigError(f"{where}: home team {entry!r}: {exc}") from exc
        if start and end and end < start:
            raise ConfigError(f"{where}: home team {entry!r}: the span ends before it starts")
        spans.append((team.strip(), venue_id, start, end))
    return spans


@cache
def load_venues(path: Path = VENUES_CSV) -> VenueTable:
    """Read and check the venue table (see ``belvedere/sources/data/README.md``).

    Raises:
        ConfigError: a column is missing, an id repeats, a position or a time zone is invalid,
            or one team has two venues on the same day.
    """
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"{path}: cannot read the venue table: {exc}") from exc
    columns = ["venue_id", "name", "lat", "lon", "timezone", "city", "retrosheet_parks",
               "home_teams"]
    if missing := [c for c in columns if c not in raw.columns]:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
    raw = raw.with_columns(pl.col(columns).fill_null(""))
    parks: list[tuple[str, str]] = []
    teams: list[tuple[str, str, date | None, date | None]] = []
    for line, row in enumerate(raw.iter_rows(named=True), start=2):
        where = f"{path}: line {line}"
        try:
            ZoneInfo(row["timezone"])
            lat, lon = float(row["lat"]), float(row["lon"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        if not (row["venue_id"] and -90 <= lat <= 90 and -180 <= lon <= 180):
            raise ConfigError(f"{where}: a venue needs an id and a WGS84 position")
        parks += [(p.strip(), row["venue_id"]) for p in row["retrosheet_parks"].split("|")
                  if p.strip()]
        teams += _team_spans(row["home_teams"], row["venue_id"], where)
    venues = raw.select(
        "venue_id", "name", pl.col("lat", "lon").cast(pl.Float64), "timezone", "city")
    for what, ids in (("venue id", venues["venue_id"].to_list()), ("park", [p for p, _ in parks])):
        if repeated := sorted({i for i in ids if ids.count(i) > 1}):
            raise ConfigError(f"{path}: {what}(s) listed twice: {', '.join(repeated)}")
    for i, (team, venue, start, end) in enumerate(teams):
        for other, other_venue, other_start, other_end in teams[i + 1:]:
            if team == other and (start or date.min) <= (other_end or date.max) \
                    and (other_start or date.min) <= (end or date.max):
                raise ConfigError(f"{path}: {team} has two venues at once ({venue}, "
                                  f"{other_venue})")
    return VenueTable(
        venues=venues,
        parks=pl.DataFrame(parks, schema=["park", "venue_id"], orient="row"),
        teams=pl.DataFrame(teams, schema={"team": pl.String, "venue_id": pl.String,
                                          "valid_from": pl.Date, "valid_to": pl.Date},
                           orient="row"),
    )


# --- mapping ------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ScheduleMapping:
    """What a ``[schedule]`` table declares (docs/connectors/schedules.md lists the keys)."""

    format: str
    kind: str
    duration_minutes: int
    parks: tuple[str, ...] = ()
    home_teams: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    expected_attendance: int | None = None
    day_start_local: str = "13:20"
    night_start_local: str = "19:05"
    kickoff_local: str = ""
    kickoff_by_weekday: dict[int, str] = field(default_factory=dict)
    neutral: dict[str, tuple[str, ...]] = field(default_factory=dict)


class _Table:
    """Typed access to one table of a mapping, with errors naming the file and the key."""

    def __init__(self, data: object, name: str, origin: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{origin}: [{name}] expected a table")
        self.data: dict[str, Any] = data
        self.name, self.origin = name, origin

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.origin}: [{self.name}] {key}: {problem}")

    def text(self, key: str, default: str | None = None,
             pattern: re.Pattern[str] | None = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.error(key, "required")
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"expected a non-empty string, got {value!r}")
        if pattern and not pattern.match(value):
            raise self.error(key, f"{value!r} does not match {pattern.pattern}")
        return value.strip()

    def texts(self, key: str, default: tuple[str, ...] = (),
              pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
        value = self.data.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip()
                                                  for v in value):
            raise self.error(key, f"expected a list of non-empty strings, got {value!r}")
        if pattern and (bad := [v for v in value if not pattern.match(v)]):
            raise self.error(key, f"{', '.join(map(repr, bad))} do(es) not match "
                                  f"{pattern.pattern}")
        return tuple(v.strip() for v in value)

    def integer(self, key: str, default: int | None, minimum: int) -> int | None:
        value = self.data.get(key, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < minimum):
            raise self.error(key, f"expected a whole number ≥ {minimum}, got {value!r}")
        return value

    def day(self, key: str) -> date | None:
        """A TOML date (``from = 2022-01-01``) or the same as a string."""
        value = self.data.get(key)
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise self.error(key, f"expected a date (YYYY-MM-DD), got {value!r}")

    def table(self, key: str) -> _Table:
        """A sub-table (empty when absent)."""
        return _Table(self.data.get(key, {}), f"{self.name}.{key}", self.origin)


def _mapping(schedule: _Table) -> ScheduleMapping:
    """Check a ``[schedule]`` table and apply its format's defaults."""
    fmt = schedule.text("format")
    if fmt not in _FORMATS:
        raise schedule.error("format", f"expected one of {', '.join(_FORMATS)}, got {fmt!r}")
    defaults = _FORMATS[fmt]
    if unknown := sorted(set(schedule.data) - _COMMON_KEYS - defaults["keys"]):
        allowed = ", ".join(sorted(_COMMON_KEYS | defaults["keys"]))
        raise schedule.error(unknown[0], f"unknown key for format {fmt!r}; known: {allowed}")
    mapping = ScheduleMapping(
        format=fmt,
        kind=schedule.text("kind", defaults["kind"]),
        duration_minutes=schedule.integer("duration_minutes", defaults["duration_minutes"], 1)
        or defaults["duration_minutes"],
        parks=schedule.texts("parks", pattern=_PARK),
        home_teams=schedule.texts("home_teams"),
        date_from=schedule.day("from"),
        date_to=schedule.day("to"),
        expected_attendance=schedule.integer("expected_attendance", None, 0),
    )
    if mapping.date_from and mapping.date_to and mapping.date_to < mapping.date_from:
        raise schedule.error("to", f"{mapping.date_to} is before from = {mapping.date_from}")
    if fmt == "retrosheet":
        if not (mapping.parks or mapping.home_teams):
            raise schedule.error("parks", "a Retrosheet schedule selects games by parks "
                                          "and/or home_teams (Retrosheet team codes)")
        return replace(mapping,
                       day_start_local=schedule.text("day_start_local", "13:20", _CLOCK),
                       night_start_local=schedule.text("night_start_local", "19:05", _CLOCK))
    if not mapping.home_teams:
        raise schedule.error("home_teams", "required: the teams whose home games to keep")
    by_weekday, neutral = schedule.table("kickoff_by_weekday"), schedule.table("neutral")
    if unknown_days := sorted(set(by_weekday.data) - set(WEEKDAYS)):
        raise by_weekday.error(unknown_days[0], f"not a day; days are {', '.join(WEEKDAYS)}")
    return replace(
        mapping,
        kickoff_local=schedule.text("kickoff_local", None, _CLOCK),
        kickoff_by_weekday={WEEKDAYS[d]: by_weekday.text(d, pattern=_CLOCK)
                            for d in by_weekday.data},
        neutral={column: neutral.texts(column) for column in neutral.data},
    )


def schedule_from_mapping(data: dict[str, Any], *, origin: str) -> ScheduleSource:
    """The connector a parsed mapping declares (``[source]`` + ``[schedule]`` tables).

    Args:
        data: the parsed TOML.
        origin: where it came from (the mapping file path), for error messages.

    Raises:
        ConfigError: a table or key is missing or invalid; the message names ``origin`` and
            the key.
    """
    source = _Table(data.get("source"), "source", origin)
    mapping = _mapping(_Table(data.get("schedule"), "schedule", origin))
    if source.data.get("kind", "planned_events") != "planned_events":
        raise source.error("kind", "a schedule produces planned_events")
    name = source.text("name", pattern=_NAME)
    info = SourceInfo(
        name=name,
        folder=source.text("folder", _FORMATS[mapping.format]["folder"]),
        kind="planned_events",
        metric="events",
        label_fr=source.text("label_fr", name),
        label_en=source.text("label_en", name),
        description=source.text("description", f"{mapping.format} schedule ({origin})"),
        patterns=source.texts("patterns", _FORMATS[mapping.format]["patterns"]),
    )
    return ScheduleSource(info, mapping)


# --- shared steps -------------------------------------------------------------------------------

def _select(df: pl.DataFrame, filters: list[tuple[pl.Expr, str]]) -> tuple[pl.DataFrame, int,
                                                                          list[str]]:
    """Keep the rows every filter keeps; count and explain the others (first failing filter).

    Malformed lines (flagged by the reader) always pass: nothing about them can be trusted, so
    they are quarantined, never counted as filtered.
    """
    filtered, notes = 0, []
    malformed = pl.col(STRUCTURE).is_not_null() if STRUCTURE in df.columns else pl.lit(False)
    for selected, reason in filters:
        keep = selected.fill_null(False) | malformed
        dropped = df.filter(~keep).height
        df = df.filter(keep)
        if dropped:
            filtered += dropped
            notes.append(f"filtered {dropped:,} rows: {reason}")
    return df, filtered, notes


def _date_filters(mapping: ScheduleMapping, day: pl.Expr) -> list[tuple[pl.Expr, str]]:
    """The mapping's date window (rows with an unreadable date pass, to be quarantined)."""
    if not (mapping.date_from or mapping.date_to):
        return []
    low, high = mapping.date_from or date.min, mapping.date_to or date.max
    span = f"{mapping.date_from or '…'}..{mapping.date_to or '…'}"
    return [(day.is_null() | day.is_between(low, high), f"date outside {span}")]


def _local_to_utc(df: pl.DataFrame, naive: str, zone: str) -> pl.Expr:
    """UTC instant of naive local datetimes, each in the time zone named in column ``zone``.

    One conversion per distinct zone (a handful), not per row. A wall-clock time that does not
    exist (spring-forward gap) gives null; an ambiguous one takes the earlier instant.
    """
    parts = [pl.when(pl.col(zone) == z).then(wallclock_to_utc(pl.col(naive), z))
             for z in sorted(df[zone].drop_nulls().unique().to_list())]
    return pl.coalesce(parts) if parts else pl.lit(None, pl.Datetime("us", "UTC"))


def _at(day: pl.Expr, clock: pl.Expr) -> pl.Expr:
    """Naive local datetime of a date and an ``HH:MM`` text."""
    return pl.concat_str([day.dt.to_string("%Y-%m-%d"), clock], separator=" ").str.strptime(
        pl.Datetime("us"), "%Y-%m-%d %H:%M", strict=False)


def _emit(df: pl.DataFrame, rules: list[Rule], raw: list[str], mapping: ScheduleMapping,
          source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Convert local starts to UTC, check the rows, and shape the records."""
    df = df.with_columns(_start=_local_to_utc(df, "_start_local", "timezone"))
    good, quarantine = apply_rules(df, rules, raw)
    good = locate(good.sort(LINE)).with_columns(
        source=pl.lit(source),
        kind=pl.lit(mapping.kind),
        start=pl.col("_start"),
        end=pl.col("_start") + pl.duration(minutes=pl.col("_minutes")),
        route=pl.lit(None, pl.String),
    )
    return good, quarantine.sort("line")


def _parsed(good: pl.DataFrame, quarantine: pl.DataFrame, rows_read: int, filtered: int,
            notes: list[str]) -> ParsedFile:
    return ParsedFile(
        records={"planned_events": to_arrow(good, arrow_schema(PlannedEvent))},
        quarantine=quarantine.to_arrow(),
        rows_read=rows_read,
        rows_filtered=filtered,
        notes=notes,
    )


def _venue_rule() -> Rule:
    return Rule("unknown_venue", pl.col("venue_id").is_null(), pl.col("_venue_reason"))


def _attendance_note(mapping: ScheduleMapping, missing: int, what: str) -> list[str]:
    if not missing:
        return []
    fill = (f"the mapping's expected_attendance {mapping.expected_attendance:,} used"
            if mapping.expected_attendance is not None else "left empty")
    return [f"{missing:,} {what} without an attendance figure: {fill}"]


# --- Retrosheet ---------------------------------------------------------------------------------

def _read_game_log(path: Path, source: str) -> pl.DataFrame:
    """The read fields of a Retrosheet game log (no header, 161 fields), with line numbers."""
    try:
        df = pl.read_csv(path, has_header=False, infer_schema=False, truncate_ragged_lines=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise SourceError(f"cannot read as a Retrosheet game log: {exc}", source=source,
                          file=str(path)) from exc
    if df.width != RETROSHEET_WIDTH:
        raise SourceError(f"{df.width} fields per line; a Retrosheet game log has "
                          f"{RETROSHEET_WIDTH}", source=source, file=str(path))
    return df.select(
        pl.col(df.columns[i - 1]).alias(name) for i, name in RETROSHEET_FIELDS.items()
    ).with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))


def _game_times(df: pl.DataFrame, mapping: ScheduleMapping) -> pl.DataFrame:
    """Naive local start (``_start_local``) and length (``_minutes``) of each game.

    Day games start at ``day_start_local``, night games at ``night_start_local``; game 2 of a
    doubleheader played in the same session as game 1 starts 30 minutes after game 1 ends.
    """
    clock = pl.col("day_night").str.strip_chars().replace_strict(
        {"D": mapping.day_start_local, "N": mapping.night_start_local}, default=None,
        return_dtype=pl.String)
    played = pl.col("duration").str.strip_chars().cast(pl.Int64, strict=False)
    df = df.with_columns(
        _start_local=_at(pl.col("_date"), clock),
        _minutes=pl.when(played > 0).then(played).otherwise(mapping.duration_minutes),
    )
    first_games = df.filter(pl.col("game_number") == "1").select(
        "_date", "park", "day_night",
        _after_first=pl.col("_start_local") + pl.duration(minutes=pl.col("_minutes"))
        + DOUBLEHEADER_GAP,
    ).unique(["_date", "park", "day_night"], keep="first")
    return df.join(first_games, on=["_date", "park", "day_night"], how="left").with_columns(
        _start_local=pl.when((pl.col("game_number") == "2") & pl.col("_after_first").is_not_null())
        .then(pl.col("_after_first")).otherwise(pl.col("_start_local")),
    )


def _read_retrosheet(path: Path, mapping: ScheduleMapping, source: str) -> ParsedFile:
    venues = load_venues()
    raw = _read_game_log(path, source)
    df = raw.with_columns(
        _date=pl.col("date").str.strip_chars().str.strptime(pl.Date, "%Y%m%d", strict=False))
    filters = []
    if mapping.parks:
        filters.append((pl.col("park").is_in(mapping.parks),
                        f"park not in [{', '.join(mapping.parks)}]"))
    if mapping.home_teams:
        filters.append((pl.col("home").is_in(mapping.home_teams),
                        f"home team not in [{', '.join(mapping.home_teams)}]"))
    df, filtered, notes = _select(df, [*filters, *_date_filters(mapping, pl.col("_date"))])
    df = (df.join(venues.parks, on="park", how="left")
          .join(venues.venues, on="venue_id", how="left"))
    df = _game_times(df, mapping).with_columns(
        _venue_reason=pl.format("park {} is not in the venue table (data/venues.csv)",
                                pl.col("park").fill_null("(none)")),
        _attendance=pl.col("attendance").str.strip_chars().cast(pl.Int64, strict=False),
    )
    rules = [
        required("home", "no_id"),
        Rule("bad_date", pl.col("_date").is_null(),
             pl.format("date {} is not YYYYMMDD", pl.col("date"))),
        _venue_rule(),
        Rule("bad_time", pl.col("_start").is_null(),
             pl.format("day/night flag {} is neither D nor N", pl.col("day_night"))),
    ]
    good, quarantine = _emit(df, rules, list(RETROSHEET_FIELDS.values()), mapping, source)
    known = pl.col("_attendance") > 0
    good = good.with_columns(
        source_id=pl.concat_str([pl.col("date"), pl.col("home"), pl.col("game_number")],
                                separator="/"),
        title=pl.concat_str([pl.col("visitor"), pl.col("home")], separator=" at "),
        venue=pl.col("venue_id"),
        # Retrosheet leaves attendance empty or 0 when unknown (all of 2020: no spectators;
        # game 1 of many split doubleheaders): that is not a count of 0.
        expected_attendance=pl.when(known).then(pl.col("_attendance"))
        .otherwise(pl.lit(mapping.expected_attendance, pl.Int64)),
    )
    notes += [
        f"start times are proxies: D → {mapping.day_start_local}, N → "
        f"{mapping.night_start_local} local (game logs carry no start time)",
        f"read {len(RETROSHEET_FIELDS)} of {RETROSHEET_WIDTH} fields: umpire, manager and "
        "player names are not read",
    ]
    if no_duration := good.filter(pl.col("duration").str.strip_chars().cast(
            pl.Int64, strict=False).fill_null(0) <= 0).height:
        notes.append(f"{no_duration:,} games without a duration: {mapping.duration_minutes} "
                     "min assumed")
    notes += _attendance_note(mapping, good.filter(~known.fill_null(False)).height, "games")
    return _parsed(good, quarantine, raw.height, filtered, notes)


# --- football -----------------------------------------------------------------------------------

def _home_venues(df: pl.DataFrame, teams: pl.DataFrame) -> pl.DataFrame:
    """``venue_id`` of each row's home team on the row's date (null when none is known)."""
    matches = (
        df.select(LINE, "home", "_date")
        .join(teams, left_on="home", right_on="team")
        .filter(pl.col("_date") >= pl.col("valid_from").fill_null(date.min),
                pl.col("_date") <= pl.col("valid_to").fill_null(date.max))
        .select(LINE, "venue_id")
    )
    return df.join(matches, on=LINE, how="left")


def _kickoff_rule(mapping: ScheduleMapping) -> str:
    """The kick-off rule in words: ``sun 20:45, otherwise 21:00``."""
    names = {n: d for d, n in WEEKDAYS.items()}
    days = [f"{names[n]} {clock}" for n, clock in sorted(mapping.kickoff_by_weekday.items())]
    return ", ".join([*days, f"otherwise {mapping.kickoff_local}"]) if days \
        else mapping.kickoff_local


def _read_football(path: Path, mapping: ScheduleMapping, source: str) -> ParsedFile:
    venues = load_venues()
    raw = read_delimited(path, source=source, separator=",", required=FOOTBALL_COLUMNS)
    df = raw.with_columns(
        pl.col("home", "visitor").str.strip_chars(),
        _date=pl.col("Date").str.strip_chars().str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        # Counted over the whole file, before selection: a placeholder date is a file fact.
        _same_day=pl.len().over("Date"),
    )
    df, filtered, notes = _select(df, [
        (pl.col("home").is_in(mapping.home_teams),
         f"home team not in [{', '.join(mapping.home_teams)}]"),
        *_date_filters(mapping, pl.col("_date")),
    ])
    neutral_columns = [c for c in mapping.neutral if c in df.columns]
    neutral = pl.any_horizontal(
        [pl.col(c).is_in(mapping.neutral[c]) for c in neutral_columns] or [pl.lit(False)])
    clock = (pl.col("_date").dt.weekday().replace_strict(
        mapping.kickoff_by_weekday, default=mapping.kickoff_local, return_dtype=pl.String)
        if mapping.kickoff_by_weekday else pl.lit(mapping.kickoff_local))
    df = _home_venues(df, venues.teams).join(venues.venues, on="venue_id", how="left")
    df = df.with_columns(
        _start_local=_at(pl.col("_date"), clock),
        _minutes=pl.lit(mapping.duration_minutes),
        _venue_reason=pl.format("no venue known for home team {} on {} (data/venues.csv)",
                                pl.col("home"), pl.col("Date")),
    )
    rules = [
        Rule("bad_date", pl.col("_date").is_null(),
             pl.format("Date {} is not YYYY-MM-DD", pl.col("Date"))),
        Rule("placeholder_date", pl.col("_same_day") > PLACEHOLDER_MATCHES,
             pl.format("{} matches in this file share the date {}: a placeholder, not the day "
                       "this match was played", pl.col("_same_day"), pl.col("Date"))),
        Rule("neutral_venue", neutral,
             pl.format("played on neutral ground ({}), not at the home team's venue",
                       pl.concat_str([pl.format("{}={}", pl.lit(c), pl.col(c))
                                      for c in neutral_columns] or [pl.lit("")],
                                     separator=", "))),
        _venue_rule(),
        Rule("bad_time", pl.col("_start").is_null(),
             pl.format("kick-off {} does not exist locally", pl.col("_start_local"))),
    ]
    good, quarantine = _emit(df, rules, [*FOOTBALL_COLUMNS, *neutral_columns], mapping, source)
    good = good.with_columns(
        source_id=pl.concat_str([pl.col("Date"), pl.col("home"), pl.col("visitor")],
                                separator="/"),
        title=pl.concat_str([pl.col("home"), pl.col("visitor")], separator=" – "),
        venue=pl.col("venue_id"),
        expected_attendance=pl.lit(mapping.expected_attendance, pl.Int64),
    )
    notes.append(f"kick-off times are proxies: {_kickoff_rule(mapping)} local, "
                 f"{mapping.duration_minutes} min (results carry no kick-off time)")
    notes += _attendance_note(mapping, good.height, "matches")
    return _parsed(good, quarantine, raw.height, filtered, notes)


class ScheduleSource(Connector):
    """A schedule connector: one mapping over Retrosheet game logs or football results."""

    def __init__(self, info: SourceInfo, mapping: ScheduleMapping) -> None:
        self.info = info
        self.mapping = mapping

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse one game log or results file, keeping the games the mapping selects."""
        reader = _read_retrosheet if self.mapping.format == "retrosheet" else _read_football
        return reader(path, self.mapping, self.info.name)
