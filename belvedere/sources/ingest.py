"""Ingest a folder of feeds (the layout ``belvedere simulate`` writes) or one file.

Each file is one batch, stored atomically: its records, its quarantined rows and its line in the
ingest log land together or not at all, so a crash mid-way leaves the store as it was before that
file. Re-ingesting a file stores nothing twice (``(source, source_id)`` is the key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from belvedere.errors import RedLineViolation, SourceError
from belvedere.sources.base import ParsedFile, Source, get_source, registry
from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.mapping import parse_mapping, read_mapping_data
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.schedules import schedule_from_mapping
from belvedere.store.base import BatchInput, BatchResult, Store

Progress = Callable[[str, int, int], None]
"""``progress(label, done, total)`` — called after each file (the CLI draws a bar with it)."""


@dataclass(slots=True)
class IngestReport:
    """What an ingest did, per batch, and which files were refused whole."""

    batches: list[BatchResult] = field(default_factory=list)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # source, file, reason

    def totals(self) -> dict[str, dict[str, int]]:
        """Per source: files, read, stored, duplicates skipped, quarantined, filtered."""
        out: dict[str, dict[str, int]] = {}
        for b in self.batches:
            t = out.setdefault(b.source, dict.fromkeys(
                ("files", "read", "stored", "duplicates", "quarantined", "filtered"), 0))
            t["files"] += 1
            t["read"] += b.rows_read
            t["stored"] += b.rows_stored
            t["duplicates"] += b.rows_duplicate
            t["quarantined"] += b.rows_quarantined
            t["filtered"] += b.rows_filtered
        return out

    @property
    def stored(self) -> int:
        """Rows stored by this ingest, all sources."""
        return sum(b.rows_stored for b in self.batches)


def pseudonymiser_for(store: Store) -> Pseudonymiser:
    """The deployment's pseudonymiser: its key from the environment, else the deployment's key
    file (``.pseudonym.key``, never inside the store), else — in memory — a throw-away key kept
    with the deployment, so that every pseudonym of one in-memory store agrees."""
    if store.deployment.home is None:
        key = store.deployment.ephemeral("pseudonymiser", Pseudonymiser.from_environment_or_random)
        assert key is not None
        return key
    return Pseudonymiser.from_key_file(store.deployment)


def ingest_file(store: Store, source: Source, path: Path, pseudonymiser: Pseudonymiser,
                report: IngestReport, *, retry: bool = False) -> None:
    """Ingest one file of ``source`` into ``store``, adding to ``report``."""
    try:
        parsed = source.read(path, pseudonymiser)
    except (SourceError, RedLineViolation) as exc:
        report.refused.append((source.info.name, str(path), str(exc)))
        return
    report.batches.append(store_parsed(store, source.info.name, path, parsed, retry=retry))


def store_parsed(store: Store, source: str, path: Path, parsed: ParsedFile, *,
                 retry: bool = False) -> BatchResult:
    """Store what a connector made of one file: its reference sites, then its batch (records,
    quarantine and ingest-log line, atomically). Batch and live ingestion both end here."""
    if parsed.sites is not None:
        store.upsert_sites(parsed.sites)
    return store.append_batch(batch_input(source, path, parsed, retry=retry))


def batch_input(source: str, path: Path, parsed: ParsedFile, *, retry: bool = False
                ) -> BatchInput:
    """What the store needs of a parsed file."""
    return BatchInput(
        source=source, file=str(path), records=parsed.records, quarantine=parsed.quarantine,
        rows_read=parsed.rows_read, rows_filtered=parsed.rows_filtered,
        minimised=parsed.minimised, notes=tuple(parsed.notes), retry=retry,
    )


def connector_for(name: str, mapping: str | Path | None = None) -> Source:
    """The connector to store rows under ``name``: a registered one, or the one a mapping
    (packaged name or ``.toml`` file) declares — an incident log or a schedule."""
    if mapping is None:
        return get_source(name)
    data, origin = read_mapping_data(mapping)
    if "schedule" in data:
        data.setdefault("source", {})["name"] = name
        return schedule_from_mapping(data, origin=origin)
    parsed = parse_mapping(data, origin)
    return IncidentLog(replace(parsed, source=replace(parsed.source, name=name)))


def retry_quarantine(store: Store, *, source: str | None = None,
                     mapping: str | Path | None = None,
                     pseudonymiser: Pseudonymiser | None = None) -> IngestReport:
    """Re-read every file that still has open quarantined rows (after fixing the file or the
    mapping): rows now valid are stored, the others come back to quarantine."""
    open_rows = store.quarantined(source, status="open")
    pairs = sorted({(s, f) for s, f in zip(open_rows.column("source").to_pylist(),
                                           open_rows.column("file").to_pylist(), strict=True)
                    if f})
    pseudonymiser = pseudonymiser or pseudonymiser_for(store)
    report = IngestReport()
    for name, file in pairs:
        ingest_file(store, connector_for(name, mapping), Path(file), pseudonymiser, report,
                    retry=True)
    return report


def ingest_folder(
    store: Store,
    folder: Path,
    *,
    sources: list[str] | None = None,
    pseudonymiser: Pseudonymiser | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest every feed found under ``folder`` (one sub-folder per feed, see docs/feeds.md)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceError("not a folder", source="ingest", file=str(folder))
    pseudonymiser = pseudonymiser or pseudonymiser_for(store)
    chosen = [s for name, s in registry().items() if not sources or name in sources]
    work = [(s, f) for s in chosen for f in s.files(folder / s.info.folder)]
    report = IngestReport()
    for done, (source, path) in enumerate(work, start=1):
        ingest_file(store, source, path, pseudonymiser, report)
        if progress:
            progress(f"{source.info.name}: {path.name}", done, len(work))
    return report
