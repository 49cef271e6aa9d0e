"""Live ingestion: micro-batches of messages through the batch connectors, into the store.

A micro-batch of one feed's messages is written as one file in the feed's native format
(:mod:`belvedere.live.formats`) under the live folder, read by the feed's own connector
(``Source.read``, as ``belvedere ingest`` does) and stored as one batch
(:func:`belvedere.sources.ingest.store_parsed`): records, quarantined rows and the ingest-log
line atomically. So validation, minimisation, redaction and quarantine are those of batch
ingestion, and every item ends stored, a duplicate of a stored record, filtered by the mapping,
or quarantined with its reason:

- what cannot be written as a row of the native file (not JSON, not an object, not encodable)
  is quarantined with rule ``bad_json`` / ``bad_encoding`` and ``line`` 0 (it is not in the file);
- a file the connector refuses whole (a missing column, no camera list) is split in halves
  and each half ingested again, so that one bad message does not sink its neighbours; a single
  message refused whole is quarantined with rule ``refused`` (``red_line`` for a red-line
  refusal) and the connector's reason. Refused payloads are never kept (``raw`` is ``{}``):
  an image may hide in them.

Re-delivered messages store nothing twice: the store skips ``(source, source_id)`` keys it holds.
The batch file is deleted once committed, unless some of its rows were quarantined: it is then
kept for review and ``belvedere quarantine retry`` — but every item quarantined for crossing a red
line is first replaced in it by the placeholder ``{"red_line_removed": true}`` (same line, refused
again on a retry), so that nothing of such a payload stays on disk either.

After each commit the stored records (not the duplicates) and the batch's counts are published
to the :class:`~belvedere.live.hub.LiveHub`.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from belvedere.errors import RedLineViolation, SourceError
from belvedere.live.formats import PayloadFormat, Refused, decode, payload_format, render
from belvedere.live.hub import Arrival, LiveHub
from belvedere.sources.base import Source
from belvedere.sources.ingest import connector_for, pseudonymiser_for, store_parsed
from belvedere.sources.minimise import RED_LINE_REMOVED, Pseudonymiser
from belvedere.store.base import (
    QUARANTINE_SCHEMA,
    BatchInput,
    BatchResult,
    RecordKind,
    Store,
)


@dataclass(slots=True)
class LiveResult:
    """What one call of :meth:`LiveIngestor.ingest` did (one batch, or more when a refused file
    was split)."""

    feed: str
    batches: list[BatchResult] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    """``source_id`` of the records stored (the new ones)."""

    def _sum(self, name: str) -> int:
        return sum(getattr(b, name) for b in self.batches)

    @property
    def read(self) -> int:
        """Items read (records, duplicates, quarantined and filtered)."""
        return self._sum("rows_read")

    @property
    def stored(self) -> int:
        """Records stored."""
        return self._sum("rows_stored")

    @property
    def duplicates(self) -> int:
        """Items whose record was already stored (a re-delivery)."""
        return self._sum("rows_duplicate")

    @property
    def quarantined(self) -> int:
        """Items quarantined, with their reasons in the store."""
        return self._sum("rows_quarantined")

    @property
    def filtered(self) -> int:
        """Items the feed's mapping leaves out on purpose."""
        return self._sum("rows_filtered")

    def add(self, other: LiveResult) -> None:
        """Take in the batches of ``other`` (a half of a split file)."""
        self.batches.extend(other.batches)
        self.ids.extend(other.ids)

    def counts(self) -> dict[str, int]:
        """The counts, as the push endpoint answers them."""
        return {"read": self.read, "stored": self.stored, "duplicates": self.duplicates,
                "quarantined": self.quarantined, "filtered": self.filtered,
                "batches": len(self.batches)}


def _quarantine(rows: list[Refused]) -> pa.Table:
    """Quarantine rows for payloads refused before (or instead of) reaching the connector."""
    return pa.table({"line": [0] * len(rows), "rule": [r.rule for r in rows],
                     "reason": [r.reason for r in rows], "raw": ["{}"] * len(rows)},
                    schema=QUARANTINE_SCHEMA)


def _scrub(path: Path, fmt: PayloadFormat, quarantine: pa.Table) -> None:
    """Replace, in a batch file kept for review, each item quarantined as ``red_line`` by the
    placeholder (JSON formats: the only ones whose items a connector refuses one by one for a red
    line; a delimited file crossing one is refused whole and deleted). A file that cannot be
    rewritten is deleted: nothing of a red-line payload may stay."""
    rows = quarantine.to_pydict()
    lines = {n for n, rule in zip(rows["line"], rows["rule"], strict=True)
             if rule == "red_line" and n and n > 0}
    if not lines or fmt.kind not in ("json_lines", "json_array"):
        return
    placeholder = {RED_LINE_REMOVED: True}
    try:
        text = path.read_text("utf-8-sig")
        if fmt.kind == "json_lines":
            kept = text.split("\n")
            for n in lines:
                kept[n - 1] = json.dumps(placeholder)
            content = "\n".join(kept).encode("utf-8")
        else:
            items = json.loads(text)
            content, _ = render(fmt, [placeholder if i in lines else item
                                      for i, item in enumerate(items, start=1)])
    except (OSError, ValueError, IndexError, TypeError):
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(content)
    tmp.replace(path)


class LiveIngestor:
    """Ingest micro-batches of live messages with the feeds' own connectors.

    Args:
        store: where batches are committed.
        hub: told of every commit.
        staging: the live folder, where each batch is written as a native file (kept when some
            of its rows are quarantined).
        reference: a folder laid out like an ingest folder (docs/feeds.md) holding the
            reference files some feeds need: ``cctv/cameras.json``, ``transports/gtfs.zip``.
        pseudonymiser: the key for pseudonyms at the door (default: the store's).

    Thread-safe: the MQTT bridge, the push endpoint and the GTFS-realtime poller share one.
    """

    def __init__(self, store: Store, hub: LiveHub, *, staging: Path,
                 reference: Path | None = None,
                 pseudonymiser: Pseudonymiser | None = None) -> None:
        self.store = store
        self.hub = hub
        self.staging = Path(staging)
        self.reference = Path(reference) if reference else None
        self._pseudonymiser = pseudonymiser
        self._sources: dict[str, tuple[Source, PayloadFormat]] = {}
        self._lock = threading.Lock()
        self._names = itertools.count(1)
        self.committed: list[Callable[[], None]] = []
        """Called after every committed batch (e.g. the live anomaly detector's poke)."""
        self.batches: list[Callable[[BatchResult], None]] = []
        """Called with every committed batch (e.g. the access log's collection sums)."""

    # -- feeds ---------------------------------------------------------------------------------

    def feed(self, name: str) -> tuple[Source, PayloadFormat]:
        """The connector and payload format of feed ``name``.

        Raises:
            ConfigError: unknown feed, or one without a live payload format.
        """
        with self._lock:
            if name not in self._sources:
                source = connector_for(name)
                self._sources[name] = (source, payload_format(source))
            return self._sources[name]

    def missing_references(self, names: Sequence[str]) -> list[str]:
        """The reference files that feeds ``names`` need and the reference folder lacks."""
        missing = []
        for name in names:
            source, fmt = self.feed(name)
            for ref in fmt.references:
                path = (self.reference or Path(".")) / source.info.folder / ref
                if not path.is_file():
                    missing.append(str(path))
        return missing

    @property
    def pseudonymiser(self) -> Pseudonymiser:
        """The key for pseudonyms at the door (read or created on first use)."""
        with self._lock:
            if self._pseudonymiser is None:
                self._pseudonymiser = pseudonymiser_for(self.store)
            return self._pseudonymiser

    # -- ingestion -----------------------------------------------------------------------------

    def ingest(self, feed: str, payloads: Sequence[bytes]) -> LiveResult:
        """Ingest one micro-batch of ``feed``'s messages; returns once it is committed.

        For an itemised feed every payload is an item (or an array of items) and the batch is
        one file; for a file feed (GTFS-realtime) every payload is a file of its own.

        Raises:
            ConfigError: unknown feed, or one without a live payload format.
        """
        source, fmt = self.feed(feed)
        result = LiveResult(feed)
        if not payloads:
            return result
        if fmt.itemised:
            result.add(self._items(source, fmt, payloads))
        else:
            for payload in payloads:
                result.add(self._file(source, fmt, payload))
        return result

    def ingest_file(self, feed: str, content: bytes) -> LiveResult:
        """Ingest one whole native file of ``feed`` (an export pushed as it is)."""
        source, fmt = self.feed(feed)
        return self._file(source, fmt, content)

    def quarantine_all(self, feed: str, count: int, rule: str, reason: str) -> LiveResult:
        """Quarantine ``count`` messages that cannot be ingested at all (an unknown feed)."""
        result = LiveResult(feed)
        rows = [Refused(i, rule, reason) for i in range(1, count + 1)]
        result.batches.append(self.store.append_batch(BatchInput(
            source=feed, file=None, records={}, quarantine=_quarantine(rows),
            rows_read=count)))
        return result

    def _items(self, source: Source, fmt: PayloadFormat, payloads: Sequence[bytes]
               ) -> LiveResult:
        items, refused = decode(payloads)
        return self._rows(source, fmt, items, refused)

    def _rows(self, source: Source, fmt: PayloadFormat, items: list[dict[str, Any]],
              refused: list[Refused]) -> LiveResult:
        """Write ``items`` as one native file and ingest it; ``refused`` are quarantined with
        it. A file the connector refuses whole is split in halves, down to single items."""
        content, unwritable = render(fmt, items) if items else (b"", [])
        written = len(items) - len(unwritable)
        if not written:
            return self._commit_refused(source, refused + unwritable)

        def refusal(rule: str, reason: str) -> LiveResult:
            if written == 1:
                return self._commit_refused(
                    source, [*refused, *unwritable, Refused(1, rule, reason)])
            # One item refusing the file must not sink its neighbours: split, retry each half.
            half = len(items) // 2
            result = self._rows(source, fmt, items[:half], refused)
            result.add(self._rows(source, fmt, items[half:], []))
            return result

        return self._read_and_store(source, fmt, content, refused + unwritable, refusal)

    def _file(self, source: Source, fmt: PayloadFormat, content: bytes) -> LiveResult:
        def refusal(rule: str, reason: str) -> LiveResult:
            return self._commit_refused(source, [Refused(1, rule, reason)])

        return self._read_and_store(source, fmt, content, [], refusal)

    def _read_and_store(self, source: Source, fmt: PayloadFormat, content: bytes,
                        refused: list[Refused],
                        refusal: Callable[[str, str], LiveResult]) -> LiveResult:
        path = self._stage(source, fmt, content)
        try:
            parsed = source.read(path, self.pseudonymiser)
        except (SourceError, RedLineViolation) as exc:
            path.unlink(missing_ok=True)
            return refusal("red_line" if isinstance(exc, RedLineViolation) else "refused",
                           f"the {source.info.name} connector refused the message: {exc}")
        if refused:
            parsed = replace(parsed, rows_read=parsed.rows_read + len(refused),
                             quarantine=pa.concat_tables([
                                 parsed.quarantine.cast(QUARANTINE_SCHEMA),
                                 _quarantine(refused)]))
        batch = store_parsed(self.store, source.info.name, path, parsed)
        if not batch.rows_quarantined:
            path.unlink(missing_ok=True)
        elif batch.quarantine_rules.get("red_line"):
            _scrub(path, fmt, parsed.quarantine)
        return self._published(batch, parsed.records)

    def _commit_refused(self, source: Source, refused: list[Refused]) -> LiveResult:
        batch = self.store.append_batch(BatchInput(
            source=source.info.name, file=None, records={}, quarantine=_quarantine(refused),
            rows_read=len(refused)))
        return self._published(batch, {})

    def _published(self, batch: BatchResult, records: dict[RecordKind, pa.Table]
                   ) -> LiveResult:
        """Tell the hub what ``batch`` stored (its new records only, each once)."""
        stored = self.store.batch_source_ids(batch.batch_id) if batch.rows_stored else {}
        new: dict[RecordKind, pa.Table] = {}
        ids: list[str] = []
        for kind, table in records.items():
            keys = stored.get(kind, [])
            if not keys or not table.num_rows:
                continue
            new[kind] = (pl.DataFrame(table).filter(pl.col("source_id").is_in(keys))
                         .unique("source_id", keep="first", maintain_order=True).to_arrow())
            ids.extend(keys)
        self.hub.publish([Arrival.of(batch, ids)], new)
        for count in self.batches:
            count(batch)
        for hook in self.committed:
            hook()
        return LiveResult(batch.source, [batch], ids)

    def _stage(self, source: Source, fmt: PayloadFormat, content: bytes) -> Path:
        """Write ``content`` as a native file of ``source`` beside its reference files."""
        feed_folder = self.staging / source.info.folder
        folder = feed_folder / fmt.folder
        folder.mkdir(parents=True, exist_ok=True)
        for ref in fmt.references:
            self._refresh_reference(source.info.folder, ref, feed_folder / ref)
        name = (f"live-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-"
                f"{next(self._names):07d}{fmt.suffix}")
        path = folder / name
        path.write_bytes(content)
        return path

    def _refresh_reference(self, folder: str, name: str, target: Path) -> None:
        """Copy a reference file into the live folder when it is missing there or older."""
        if self.reference is None:
            return
        origin = self.reference / folder / name
        if not origin.is_file():
            return
        with self._lock:
            if not target.is_file() or target.stat().st_mtime < origin.stat().st_mtime:
                tmp = target.with_suffix(target.suffix + ".tmp")
                shutil.copy2(origin, tmp)
                tmp.replace(target)
