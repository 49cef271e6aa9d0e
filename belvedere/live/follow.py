"""The live picture of a process that does not commit every batch itself: it follows the store.

With several server workers on PostgreSQL (``belvedere serve --workers N``), the MQTT bridge runs
in the parent process and a machine's push lands on whichever worker took the request: each
worker's :class:`~belvedere.live.hub.LiveHub` sees only what that worker committed. A
:class:`StoreFollower` closes the gap: every ``interval`` it asks the store for the batches
numbered above the last it has, and publishes into its hub the records of each batch whose time
is still inside the live windows (older records would not count). A batch this process
committed itself is already in its hub (:meth:`LiveHub.knows`; the hub counts a batch once
whichever of the two publishes it first).

**Gaps.** Batch numbers come from a sequence at insert time, and transactions commit in any
order: batch 101 can be visible while 100 is still being written. The follower therefore keeps a
*floor* — every batch at or below it has been seen — and the numbers above it it has seen; a
number missing above the floor is waited for up to ``patience`` (then taken as a rolled-back
transaction's, which never appears). So a batch is published once, late by at most
``interval``, never lost to an early neighbour.

**Alerts.** The alert watch runs in the parent and tells *its* hub when it opens or updates an
alert, so that open dashboards fetch the alerts again. A follower does the same for its worker:
an alert updated since its last look publishes an update without arrivals.

**Starting.** A worker that starts — or that its supervisor restarts — must show the picture
everyone else shows, so a follower begins with the batches started within the live windows'
reach (:data:`REACH`, looked up by time until the first such batch gives it a floor), then
follows by number.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from belvedere.live.hub import Arrival, LiveHub, last_60_min
from belvedere.store.base import Store

log = logging.getLogger(__name__)

INTERVAL_S = 1.0
PATIENCE_S = 60.0
REACH = timedelta(minutes=75)
"""How far back a starting follower looks: a record older than 60 min (plus the windows' step and
a batch's own duration) is in no live window."""


class StoreFollower:
    """Publish into ``hub`` the batches other processes commit to ``store``.

    Args:
        store: the shared store.
        hub: this process's hub.
        interval: seconds between two looks at the store.
        patience: seconds a missing batch number is waited for.
    """

    def __init__(self, store: Store, hub: LiveHub, *, interval: float = INTERVAL_S,
                 patience: float = PATIENCE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.hub = store, hub
        self.interval, self.patience, self._clock = interval, patience, clock
        self.since = hub.clock() - REACH
        self.floor: int | None = None  # every batch at or below it seen; None: not yet known
        self._seen: set[int] = set()
        self._missing_since: dict[int, float] = {}
        self._alerts_since = hub.clock()
        self.published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Look once; returns how many batches were published."""
        found = (self.store.batches(since=self.since) if self.floor is None
                 else self.store.batches(after=self.floor))
        rows = found.select(
            ["batch_id", "source", "rows_read", "rows_stored", "rows_duplicate",
             "rows_quarantined", "rows_filtered"]).to_pylist()
        since = last_60_min(self.hub.clock())
        if self.floor is None and rows:
            self.floor = int(rows[0]["batch_id"]) - 1
        done = 0
        for row in rows:
            batch_id = int(row["batch_id"])
            if batch_id in self._seen:
                continue
            self._seen.add(batch_id)
            if self.hub.knows(batch_id) or not row["rows_stored"]:
                continue
            if self._publish(batch_id, row, since):
                done += 1
        self._raise_floor()
        self.published += done
        self._alerts()
        return done

    def _alerts(self) -> None:
        """Tell the hub's subscribers when an alert was opened or updated since the last look
        (their dashboards fetch the alerts, through the release gate)."""
        changed = self.store.alerts(since=self._alerts_since)
        if changed:
            # ``since`` is inclusive: the next look starts just after the newest update seen.
            self._alerts_since = max(a.updated_at for a in changed) + timedelta(microseconds=1)
            self.hub.publish([])

    def _publish(self, batch_id: int, row: dict[str, Any], since: datetime) -> bool:
        records = {kind: table for kind, table in
                   self.store.batch_records(batch_id, since=since).items() if table.num_rows}
        if not records:
            return False  # nothing of it in the live windows (an old export, say)
        ids = [i for table in records.values() for i in table["source_id"].to_pylist()]
        arrival = Arrival(str(row["source"]), batch_id, int(row["rows_read"]),
                          int(row["rows_stored"]), int(row["rows_duplicate"]),
                          int(row["rows_quarantined"]), int(row["rows_filtered"] or 0),
                          tuple(ids))
        self.hub.publish([arrival], records)
        return True

    def _raise_floor(self) -> None:
        """Move the floor over every number seen, and over a missing one waited for long
        enough (a transaction that rolled back took it)."""
        if self.floor is None:
            return
        now = self._clock()
        top = max(self._seen, default=self.floor)
        while self.floor < top:
            nxt = self.floor + 1
            if nxt in self._seen:
                self._seen.discard(nxt)
            else:
                first = self._missing_since.setdefault(nxt, now)
                if now - first < self.patience:
                    break
                log.info("batch %d never appeared: taken as rolled back", nxt)
            self._missing_since.pop(nxt, None)
            self.floor = nxt

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> StoreFollower:
        """Follow on a thread of its own until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-follow", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # a store hiccup must not end the live picture
                log.exception("following the store's batches failed; trying again")

