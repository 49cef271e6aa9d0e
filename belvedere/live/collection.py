"""What the live paths bring in, as collections in the access log.

Every live batch is a line of the ingest log (``ingest_batches``); the access log says who
collected what, when and why (Directive 2016/680 Art. 25). One line per committed batch would
be tens of lines a second at full rate, so :class:`CollectionLog` sums the batches per feed and
writes one *collection* line per feed and ``every`` seconds (and at stop): actor
``system:live`` (the bridge and the poller; pushes over HTTP are logged with their sender by
the push route), purpose ``situation_monitoring``, the batch ids, rows read, stored,
duplicates and quarantined.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from belvedere.privacy.operations import record_operation
from belvedere.privacy.release import Actor
from belvedere.store.base import BatchResult, Store

LIVE_ACTOR = Actor("system:live", "machine")
PURPOSE = "situation_monitoring"


@dataclass
class _Feed:
    first_batch: int
    last_batch: int
    batches: int = 0
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class CollectionLog:
    """Sum committed live batches per feed; write them to the access log every ``every`` s."""

    def __init__(self, store: Store, *, every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.every = every
        self.clock = clock
        self._feeds: dict[str, _Feed] = {}
        self._lock = threading.Lock()
        self._last = clock()

    def add(self, batch: BatchResult) -> None:
        """Count one committed batch (called by the ingestor, any thread)."""
        with self._lock:
            f = self._feeds.setdefault(batch.source, _Feed(batch.batch_id, batch.batch_id))
            f.last_batch = max(f.last_batch, batch.batch_id)
            f.first_batch = min(f.first_batch, batch.batch_id)
            f.batches += 1
            f.read += batch.rows_read
            f.stored += batch.rows_stored
            f.duplicates += batch.rows_duplicate
            f.quarantined += batch.rows_quarantined

    def flush(self, *, force: bool = False) -> int:
        """Write the pending sums when ``every`` seconds passed (or ``force``); returns the
        number of lines written."""
        with self._lock:
            if not self._feeds or (not force and self.clock() - self._last < self.every):
                return 0
            feeds, self._feeds = self._feeds, {}
            self._last = self.clock()
        for name, f in sorted(feeds.items()):
            record_operation(self.store, LIVE_ACTOR, PURPOSE, "collection", rows=f.stored,
                             what={"resource": "live", "feed": name, "batches": f.batches,
                                   "first_batch": f.first_batch, "last_batch": f.last_batch,
                                   "read": f.read, "stored": f.stored,
                                   "duplicates": f.duplicates, "quarantined": f.quarantined})
        return len(feeds)
