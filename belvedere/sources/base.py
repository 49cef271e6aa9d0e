"""① What a connector is: the :class:`Source` protocol, what it returns, and the registry.

A connector reads one feed's native files and returns Arrow tables of the common model
(:mod:`belvedere.grid.records`) plus a quarantine table: every input row ends up in exactly one
of them (or is a duplicate the store skips). Connectors are small; shared parsing lives in
:mod:`belvedere.sources.tabular` and minimisation in :mod:`belvedere.sources.minimise`.

The registry holds the built-in connectors and any third-party one declared under the entry-point
group ``belvedere.sources`` (a class or factory returning a :class:`Source`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

from belvedere.errors import ConfigError
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import RecordKind


@dataclass(slots=True)
class ParsedFile:
    """What a connector made of one file.

    Attributes:
        records: Arrow tables per record kind, in the schemas of ``grid.records``.
        quarantine: rejected rows (``line``, ``rule``, ``reason``, ``raw``).
        rows_read: input rows seen (records + quarantined + filtered + in-file duplicates).
        sites: reference sites the file describes (cameras, stops…), or ``None``.
        rows_filtered: rows left out on purpose by the mapping (other teams' games…).
        minimised: what minimisation did, counted (``dropped:recit``, ``redacted:phone``…).
        notes: facts worth reporting (``encoding: latin-1 (declared)``…).
    """

    records: dict[RecordKind, pa.Table]
    quarantine: pa.Table
    rows_read: int
    sites: pa.Table | None = None
    rows_filtered: int = 0
    minimised: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """How a feed is presented: its name, labels, and what it becomes."""

    name: str
    folder: str
    kind: RecordKind
    metric: str
    label_fr: str
    label_en: str
    always_aggregate: bool = False
    description: str = ""
    patterns: tuple[str, ...] = field(default=("*.csv",))
    """Glob patterns of the feed's data files inside its folder."""
    keeps: tuple[str, ...] = ()
    """The allowlist: input fields read; every other field is dropped at the door."""


@runtime_checkable
class Source(Protocol):
    """A connector for one feed."""

    info: SourceInfo

    def files(self, folder: Path) -> list[Path]:
        """The data files of this feed in ``folder`` (the feed's own sub-folder), in order."""
        ...

    def read(self, path: Path, pseudonymiser: Pseudonymiser) -> ParsedFile:
        """Parse, validate and minimise one file."""
        ...


class Connector:
    """Shared behaviour of the built-in connectors: finding files by ``info.patterns``."""

    info: SourceInfo

    def files(self, folder: Path) -> list[Path]:
        """The feed's files in ``folder``, matched by ``info.patterns``, sorted, each once."""
        found = {p for pattern in self.info.patterns for p in folder.glob(pattern) if p.is_file()}
        return sorted(found)


def _builtins() -> list[Source]:
    # Imported here: the connectors import this module for the protocol.
    from belvedere.sources import (
        cctv,
        events,
        field_reports,
        hospital_ed,
        mobile_presence,
        transit,
    )
    from belvedere.sources.incident_log import IncidentLog

    return [
        IncidentLog.packaged("marseille_police_log"),
        cctv.Cctv(),
        IncidentLog.packaged("marseille_fire_ems"),
        field_reports.FieldReports(),
        mobile_presence.MobilePresence(),
        transit.Transit(),
        hospital_ed.HospitalEd(),
        events.EventsCalendar(),
    ]


def registry() -> dict[str, Source]:
    """Every known connector by name: built-ins first, then entry points (a new dict each call;
    the connectors are found and built once per process)."""
    return dict(_registry())


@functools.cache
def _registry() -> dict[str, Source]:
    # Built once: scanning the installed packages' entry points and re-reading the packaged
    # mappings took ~20 ms a call, and a map request called it twice (measured under load:
    # 10–38 % of a request's time, benchmarks/serving.py). Connectors hold no per-call state.
    sources = {s.info.name: s for s in _builtins()}
    for ep in entry_points(group="belvedere.sources"):
        source = ep.load()()
        if not isinstance(source, Source):
            raise ConfigError(f"entry point {ep.name!r} does not provide a belvedere Source")
        sources.setdefault(source.info.name, source)
    return sources


def get_source(name: str) -> Source:
    """One connector by name; :class:`ConfigError` listing the known names otherwise."""
    sources = registry()
    if name not in sources:
        raise ConfigError(f"unknown source {name!r}; known: {', '.join(sorted(sources))}")
    return sources[name]
