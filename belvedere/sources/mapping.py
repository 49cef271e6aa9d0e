"""Declarative mappings: a small TOML file says how an incident export becomes ``Incident`` rows.

A city arrives with its own police, fire or field exports. Rather than a connector per city, a
mapping declares, for one export format: the file's dialect (separator, encoding, decimal mark),
the record id (a column, or a stable hash of the row), the time (columns, formats, time zone and
precision), the place (lat/lon, projected x/y with an EPSG code, or only a zone code), the
category column and its translation to the shared taxonomy, the origin and seriousness, the few
other columns worth keeping, the columns to pseudonymise and what to do with free text. Every
other column is dropped at the door (and counted).

The schema is documented key by key in ``docs/mappings.md``; the shipped mappings live in
``belvedere/sources/mappings/``. Loading checks every key and names the file and the key in a
:class:`~belvedere.errors.ConfigError`; nothing is guessed.

Example:
    >>> m = load_mapping("marseille_police_log")
    >>> m.source.name, m.time.precision, m.place.kind
    ('police_log', 'minute', 'latlon')
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from belvedere.errors import ConfigError
from belvedere.grid.records import INCIDENT_CATEGORIES, ORIGINS
from belvedere.sources.delimited import ENCODINGS

PRECISIONS = ("minute", "hour", "day")
PLACE_KINDS = ("latlon", "xy", "zone")
NARRATIVE_MODES = ("drop", "redact")
IDENTICAL_ROWS = ("distinct", "same")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    label_fr: str
    label_en: str
    folder: str = ""
    description: str = ""
    patterns: tuple[str, ...] = ("*.csv",)


@dataclass(frozen=True, slots=True)
class FileSpec:
    separator: str = ","
    encoding: str = "utf-8"
    quote: str = '"'
    decimal: str = "."


@dataclass(frozen=True, slots=True)
class IdSpec:
    column: str | None = None
    hash: tuple[str, ...] = ()
    identical_rows: str = "distinct"


@dataclass(frozen=True, slots=True)
class TimeSpec:
    column: str
    formats: tuple[str, ...]
    timezone: str
    precision: str = "minute"
    take: int | None = None
    hour_column: str | None = None
    end_column: str | None = None


@dataclass(frozen=True, slots=True)
class PlaceSpec:
    kind: str
    lat: str | None = None
    lon: str | None = None
    x: str | None = None
    y: str | None = None
    epsg: int | None = None
    zone: str | None = None
    zone_prefix: str = ""
    zone_range: tuple[int, int] | None = None
    within: str | None = None
    bbox: tuple[float, float, float, float] | None = None


@dataclass(frozen=True, slots=True)
class CodeMapSpec:
    column: str | None
    default: str
    map: dict[str, str] = field(default_factory=dict)
    uppercase: bool = False


@dataclass(frozen=True, slots=True)
class NarrativeSpec:
    column: str | None = None
    mode: str = "drop"


@dataclass(frozen=True, slots=True)
class Mapping:
    """A parsed, validated mapping."""

    origin: str  # where the mapping came from (for messages)
    source: SourceSpec
    file: FileSpec
    id: IdSpec
    time: TimeSpec
    place: PlaceSpec
    category: CodeMapSpec
    incident_origin: CodeMapSpec
    severity_column: str | None = None
    keep: tuple[str, ...] = ()
    pseudonymise: tuple[str, ...] = ()
    narrative: NarrativeSpec = field(default_factory=NarrativeSpec)

    def used_columns(self) -> list[str]:
        """Every file column the mapping reads (the rest is dropped at the door)."""
        cols = [self.id.column, *self.id.hash, self.time.column, self.time.hour_column,
                self.time.end_column, self.place.lat, self.place.lon, self.place.x, self.place.y,
                self.place.zone, self.category.column, self.incident_origin.column,
                self.severity_column, *self.keep, *self.pseudonymise, self.narrative.column]
        return list(dict.fromkeys(c for c in cols if c))

    def required_columns(self) -> list[str]:
        """Columns the file must have (the narrative and kept extras may be absent)."""
        optional = {*self.keep, self.narrative.column}
        return [c for c in self.used_columns() if c not in optional]


class _Reader:
    """Typed access to a TOML table that names the file and key in every error."""

    def __init__(self, data: dict[str, Any], origin: str, table: str) -> None:
        self.data, self.origin, self.table = data, origin, table
        self.seen: set[str] = set()

    def _fail(self, key: str, message: str) -> ConfigError:
        where = f"{self.table}.{key}" if self.table else key
        return ConfigError(f"mapping {self.origin}: [{where}] {message}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if default is ...:
                raise self._fail(key, "is required")
            return default
        value = self.data[key]
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self._fail(key, f"must be {names}, got {value!r}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Any = ...) -> Any:
        value = self.get(key, str, default)
        if value is not None and value not in choices:
            raise self._fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def table_reader(self, key: str, required: bool = True) -> _Reader:
        sub = self.get(key, dict, ... if required else {})
        return _Reader(sub, self.origin, f"{self.table}.{key}" if self.table else key)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise self._fail(unknown[0], f"is not a known key (known: {known})")


def _code_map(r: _Reader, targets: tuple[str, ...] | None, default: str) -> CodeMapSpec:
    mapping = r.get("map", dict, {})
    for code, target in mapping.items():
        if targets is not None and target not in targets:
            raise r._fail(f"map.{code}", f"{target!r} is not one of {', '.join(targets)}")
    spec = CodeMapSpec(
        column=r.get("column", str, None),
        default=r.get("default", str, default),
        map={str(k): str(v) for k, v in mapping.items()},
        uppercase=r.get("uppercase", bool, False),
    )
    if targets is not None and spec.default not in targets:
        raise r._fail("default", f"{spec.default!r} is not one of {', '.join(targets)}")
    r.done()
    return spec


def parse_mapping(data: dict[str, Any], origin: str) -> Mapping:
    """Validate a parsed TOML mapping of an incident log."""
    top = _Reader(data, origin, "")
    s = top.table_reader("source")
    source = SourceSpec(
        name=s.get("name", str), label_fr=s.get("label_fr", str), label_en=s.get("label_en", str),
        folder=s.get("folder", str, ""), description=s.get("description", str, ""),
        patterns=tuple(s.get("patterns", list, ["*.csv"])),
    )
    s.done()
    f = top.table_reader("file", required=False)
    file = FileSpec(separator=f.get("separator", str, ","),
                    encoding=f.choice("encoding", ENCODINGS, "utf-8"),
                    quote=f.get("quote", str, '"'), decimal=f.choice("decimal", (".", ","), "."))
    f.done()
    i = top.table_reader("id")
    id_spec = IdSpec(column=i.get("column", str, None), hash=tuple(i.get("hash", list, [])),
                     identical_rows=i.choice("identical_rows", IDENTICAL_ROWS, "distinct"))
    if bool(id_spec.column) == bool(id_spec.hash):
        raise i._fail("column", "give either column or hash (a list of columns)")
    i.done()
    t = top.table_reader("time")
    formats = t.get("formats", list, None) or [t.get("format", str)]
    time = TimeSpec(column=t.get("column", str), formats=tuple(formats),
                    timezone=t.get("timezone", str), precision=t.choice("precision", PRECISIONS,
                                                                         "minute"),
                    take=t.get("take", int, None), hour_column=t.get("hour_column", str, None),
                    end_column=t.get("end_column", str, None))
    t.seen.update({"format", "formats"})
    t.done()
    p = top.table_reader("place")
    bbox = p.get("bbox", list, None)
    zone_range = p.get("zone_range", list, None)
    place = PlaceSpec(
        kind=p.choice("kind", PLACE_KINDS), lat=p.get("lat", str, None),
        lon=p.get("lon", str, None), x=p.get("x", str, None), y=p.get("y", str, None),
        epsg=p.get("epsg", int, None), zone=p.get("zone", str, None),
        zone_prefix=p.get("zone_prefix", str, ""),
        zone_range=(int(zone_range[0]), int(zone_range[1])) if zone_range else None,
        within=p.choice("within", ("marseille",), None),
        bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])) if bbox else None,
    )
    needs = {"latlon": ("lat", "lon"), "xy": ("x", "y", "epsg"), "zone": ("zone",)}[place.kind]
    for key in needs:
        if getattr(place, key) is None:
            raise p._fail(key, f"is required when kind = {place.kind!r}")
    p.done()
    category = _code_map(top.table_reader("category"), tuple(INCIDENT_CATEGORIES), "other")
    incident_origin = _code_map(top.table_reader("origin", required=False), ORIGINS,
                                "reported_by_public")
    sev = top.table_reader("severity", required=False)
    severity_column = sev.get("column", str, None)
    sev.done()
    a = top.table_reader("attrs", required=False)
    keep = tuple(a.get("keep", list, []))
    pseudonymise = tuple(a.get("pseudonymise", list, []))
    a.done()
    n = top.table_reader("narrative", required=False)
    narrative = NarrativeSpec(column=n.get("column", str, None),
                              mode=n.choice("mode", NARRATIVE_MODES, "drop"))
    n.done()
    top.done()
    return Mapping(origin=origin, source=source, file=file, id=id_spec, time=time, place=place,
                   category=category, incident_origin=incident_origin,
                   severity_column=severity_column, keep=keep, pseudonymise=pseudonymise,
                   narrative=narrative)


def packaged_mappings() -> list[str]:
    """Names of the mappings shipped in ``belvedere/sources/mappings/``."""
    folder = resources.files("belvedere.sources").joinpath("mappings")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir()
                  if p.name.endswith(".toml"))


def read_mapping_data(name_or_path: str | Path) -> tuple[dict[str, Any], str]:
    """The TOML data of a packaged mapping (by name) or a mapping file, and its origin."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text, origin = path.read_text("utf-8"), str(path)
    elif str(name_or_path) in packaged_mappings():
        ref = resources.files("belvedere.sources").joinpath("mappings").joinpath(
            f"{name_or_path}.toml")
        text, origin = ref.read_text("utf-8"), f"{name_or_path} (packaged)"
    else:
        raise ConfigError(f"no mapping {name_or_path!r}: give a .toml file or one of "
                          f"{', '.join(packaged_mappings())}")
    try:
        return tomllib.loads(text), origin
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping {origin}: not valid TOML: {exc}") from exc


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Load and validate an incident-log mapping."""
    data, origin = read_mapping_data(name_or_path)
    return parse_mapping(data, origin)
