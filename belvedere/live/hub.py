"""The live picture: rolling windows of what was stored, and the updates pushed to subscribers.

Every committed live batch calls :meth:`LiveHub.publish` with the records it stored (never its
duplicates). The hub keeps, per window, the count of records and the sum of their values by
(cell, zone, feed, metric, category), and makes one :class:`LiveUpdate` per publication with a
sequence number that only grows, the windows as tables, and what arrived (feed, batch, counts and
the records' ``source_id``).

Windows follow the records' own time (an incident's ``ts``, a measurement's ``start``) against
the hub's clock:

- ``last_60_min``: ``[now − 60 min, now + lead]``;
- ``current_hour``: ``[start of the current hour, now + lead]``;

counted in steps of 10 s (:data:`STEP_S`), so that memory grows with places, not records.

``lead`` (2 min) tolerates producers whose clocks run a little fast. A record later than that (a
predicted delay) or older than the window start is stored but not in the windows. Records age
out as the clock moves: :meth:`LiveHub.tick` evicts and publishes when something changed.

**Backpressure.** Subscribers never slow ingestion down: :meth:`publish` hands the update to
each subscriber's bounded queue (:class:`Subscription`) and returns. A queue that is full
(a slow browser, a busy callback) merges the new update into its newest pending one — the
windows are the newer ones, the arrivals are joined, ``coalesced`` counts the merged updates —
so a slow reader gets fewer, later snapshots and nothing else waits for it.

**Hooks.** :meth:`LiveHub.on_update` registers a callback called with every update (coalesced
when it falls behind) on a thread of its own — the place for the anomaly detector.

The hub holds unreleased figures: it sits behind the release gate. The API streams them through
:mod:`belvedere.privacy.live`, which coarsens and suppresses per role.

Example:
    >>> from datetime import UTC, datetime
    >>> hub = LiveHub(clock=lambda: datetime(2024, 3, 2, 17, 30, tzinfo=UTC))
    >>> hub.current().seq
    0
"""

from __future__ import annotations

import heapq
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from belvedere.store.base import BatchResult, RecordKind

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Key = tuple[int | None, str | None, str, str, str]
"""(cell, zone, source, metric, category) of a window's row."""

WINDOW_COLUMNS = ("cell", "zone", "source", "metric", "category", "value", "n")
WINDOW_SCHEMA = pa.schema([
    pa.field("cell", pa.int64()), pa.field("zone", pa.string()), pa.field("source", pa.string()),
    pa.field("metric", pa.string()), pa.field("category", pa.string()),
    pa.field("value", pa.float64()), pa.field("n", pa.int64()),
])
"""A window's table: per cell (H3 int, may be null), zone, feed, metric and category, the sum of
the records' values (an incident counts 1) and the number of records."""

LEAD = timedelta(minutes=2)
STEP_S = 10
"""Windows move in steps of 10 s of the records' time (``last_60_min`` holds 60 min to 60 min
10 s of records, ``current_hour`` exactly the hour)."""
KNOWN_BATCHES = 100_000
"""How many published batch numbers a hub remembers, to count a batch seen twice once."""
MAX_IDS = 20_000
"""Record ids one (coalesced) update carries at most; older ids beyond are dropped, counts stay."""


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def last_60_min(now: datetime) -> datetime:
    """Start of the ``last_60_min`` window."""
    return now - timedelta(minutes=60)


def current_hour(now: datetime) -> datetime:
    """Start of the ``current_hour`` window (an hour starts at the same instant in UTC and in
    Europe/Paris, whose offsets are whole hours)."""
    return now.replace(minute=0, second=0, microsecond=0)


WINDOWS: dict[str, Callable[[datetime], datetime]] = {
    "last_60_min": last_60_min,
    "current_hour": current_hour,
}


@dataclass(frozen=True, slots=True)
class Arrival:
    """What one committed batch brought: counts, and the ``source_id`` of the stored records."""

    feed: str
    batch_id: int
    read: int
    stored: int
    duplicates: int
    quarantined: int
    filtered: int
    ids: tuple[str, ...]

    @classmethod
    def of(cls, result: BatchResult, ids: Iterable[str]) -> Arrival:
        """The arrival of a committed batch and its stored ids."""
        return cls(result.source, result.batch_id, result.rows_read, result.rows_stored,
                   result.rows_duplicate, result.rows_quarantined, result.rows_filtered,
                   tuple(ids))


@dataclass(frozen=True, slots=True)
class Window:
    """One rolling window at the time of an update."""

    start: datetime
    end: datetime
    table: pa.Table  # WINDOW_SCHEMA


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """One state of the live picture, as published (unreleased: see privacy.live)."""

    seq: int
    at: datetime
    windows: dict[str, Window]
    arrived: tuple[Arrival, ...] = ()
    coalesced: int = 0
    ids_dropped: int = 0

    def merged(self, newer: LiveUpdate) -> LiveUpdate:
        """``newer`` carrying this update's arrivals too (what a slow subscriber receives)."""
        arrived = (*self.arrived, *newer.arrived)
        dropped = self.ids_dropped + newer.ids_dropped
        excess = sum(len(a.ids) for a in arrived) - MAX_IDS
        if excess > 0:
            trimmed = []
            for a in arrived:
                cut = min(excess, len(a.ids))
                excess -= cut
                dropped += cut
                trimmed.append(replace(a, ids=a.ids[cut:]))
            arrived = tuple(trimmed)
        return replace(newer, arrived=arrived, coalesced=self.coalesced + newer.coalesced + 1,
                       ids_dropped=dropped)


class Subscription:
    """A subscriber's bounded queue of updates; :meth:`offer` never blocks nor grows it past
    ``capacity`` (the newest pending update absorbs what does not fit)."""

    def __init__(self, capacity: int, notify: Callable[[], None]) -> None:
        self.capacity = max(1, capacity)
        self._notify = notify
        self._pending: deque[LiveUpdate] = deque()
        self._lock = threading.Lock()
        self.closed = False
        self.merged = 0
        """Updates merged into a pending one because the queue was full."""

    def offer(self, update: LiveUpdate) -> None:
        """Queue ``update`` (coalescing when full) and wake the subscriber."""
        with self._lock:
            if len(self._pending) >= self.capacity:
                update = self._pending.pop().merged(update)
                self.merged += 1
            self._pending.append(update)
        self._wake()

    def drain(self) -> list[LiveUpdate]:
        """Every pending update, oldest first."""
        with self._lock:
            out = list(self._pending)
            self._pending.clear()
        return out

    def pending(self) -> int:
        """How many updates wait."""
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        """End the subscription (the subscriber sees ``closed`` and stops)."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._notify()
        except RuntimeError:
            # The subscriber's event loop is gone (a browser that left during shutdown).
            self.closed = True


class _Rolling:
    """Counts of one window, kept per :data:`STEP_S` step of the records' time — memory grows
    with places × steps, not with records — and evicted a whole step at a time."""

    def __init__(self, start_of: Callable[[datetime], datetime]) -> None:
        self.start_of = start_of
        self.steps: dict[int, dict[Key, list[float]]] = {}  # step → key → [value, n]
        self.order: list[int] = []  # a heap of the steps held, oldest first
        self.sums: dict[Key, list[float]] = {}  # key → [value, n] over the window

    def lower(self, now: datetime) -> int:
        """The oldest step in the window (its start floored to a step)."""
        return math.floor(self.start_of(now).timestamp() / STEP_S)

    def add(self, ts: datetime, key: Key, value: float, lower: int, upper: datetime) -> None:
        step = math.floor(ts.timestamp() / STEP_S)
        if step < lower or ts > upper:
            return
        bucket = self.steps.get(step)
        if bucket is None:
            bucket = self.steps[step] = {}
            heapq.heappush(self.order, step)
        for acc in (bucket.setdefault(key, [0.0, 0]), self.sums.setdefault(key, [0.0, 0])):
            acc[0] += value
            acc[1] += 1

    def evict(self, now: datetime) -> int:
        """Drop the steps that left the window; returns how many records left with them."""
        lower = self.lower(now)
        evicted = 0
        while self.order and self.order[0] < lower:
            for key, (value, n) in self.steps.pop(heapq.heappop(self.order)).items():
                acc = self.sums[key]
                acc[0] -= value
                acc[1] -= n
                if acc[1] == 0:
                    del self.sums[key]
                evicted += int(n)
        return evicted

    def window(self, now: datetime) -> Window:
        keys = list(self.sums)
        columns: list[list[object]] = [[k[i] for k in keys] for i in range(5)]
        columns.append([self.sums[k][0] for k in keys])
        columns.append([int(self.sums[k][1]) for k in keys])
        table = pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, WINDOW_SCHEMA,
                                                                          strict=True)],
                                     schema=WINDOW_SCHEMA)
        start = datetime.fromtimestamp(self.lower(now) * STEP_S, UTC)
        return Window(start, now + LEAD, table)


def _entries(records: dict[RecordKind, pa.Table]) -> Iterable[tuple[datetime, Key, float]]:
    """(time, key, value) of each incident and measurement in ``records``."""
    incidents = records.get("incidents")
    if incidents is not None and incidents.num_rows:
        d = incidents.select(["ts", "cell", "zone", "source", "category"]).to_pydict()
        for ts, cell, zone, source, category in zip(d["ts"], d["cell"], d["zone"], d["source"],
                                                    d["category"], strict=True):
            yield _utc(ts), (cell, zone, source, "incidents", category or ""), 1.0
    measurements = records.get("measurements")
    if measurements is not None and measurements.num_rows:
        d = measurements.select(["start", "cell", "zone", "source", "metric", "category",
                                 "value"]).to_pydict()
        for ts, cell, zone, source, metric, category, value in zip(
                d["start"], d["cell"], d["zone"], d["source"], d["metric"], d["category"],
                d["value"], strict=True):
            yield _utc(ts), (cell, zone, source, metric, category or ""), float(value or 0.0)


class LiveHub:
    """Rolling windows of stored live records, published to bounded subscriber queues."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._windows = {name: _Rolling(start_of) for name, start_of in WINDOWS.items()}
        self._seq = 0
        now = self.clock()
        self._last = LiveUpdate(0, now, {n: r.window(now) for n, r in self._windows.items()})
        self._subscriptions: list[Subscription] = []
        # The batches published, newest last (bounded): a batch arriving twice — committed
        # here and seen again by a StoreFollower — counts once.
        self._batches: set[int] = set()
        self._batch_order: deque[int] = deque()

    # -- publishing ----------------------------------------------------------------------------

    def publish(self, arrivals: Iterable[Arrival],
                records: dict[RecordKind, pa.Table] | None = None) -> LiveUpdate:
        """Add the stored ``records`` to the windows and publish an update carrying
        ``arrivals``; returns the update (subscribers get it through their queues). A batch
        already published is not counted again: given only such arrivals, nothing changes and
        the latest update is returned."""
        arrivals = tuple(arrivals)
        with self._lock:
            fresh = tuple(a for a in arrivals if a.batch_id not in self._batches)
            if arrivals and not fresh:
                return self._last
            for a in fresh:
                self._batches.add(a.batch_id)
                self._batch_order.append(a.batch_id)
                if len(self._batch_order) > KNOWN_BATCHES:
                    self._batches.discard(self._batch_order.popleft())
            now = self.clock()
            bounds = []
            for rolling in self._windows.values():
                rolling.evict(now)
                bounds.append((rolling, rolling.lower(now)))
            for ts, key, value in _entries(records or {}):
                for rolling, lower in bounds:
                    rolling.add(ts, key, value, lower, now + LEAD)
            update = self._make(fresh, now)
            subscribers = list(self._subscriptions)
        for sub in subscribers:
            sub.offer(update)
        return update

    def tick(self) -> LiveUpdate | None:
        """Age the windows to the clock; publish an update (no arrivals) if a record left a
        window or a new hour began, else nothing."""
        with self._lock:
            now = self.clock()
            evicted = sum(r.evict(now) for r in self._windows.values())
            if not evicted and current_hour(now) == self._last.windows["current_hour"].start:
                return None
        return self.publish(())

    def _make(self, arrivals: tuple[Arrival, ...], now: datetime) -> LiveUpdate:
        # Called with the lock held: the sequence number and the windows move together.
        self._seq += 1
        self._last = LiveUpdate(self._seq, now, {name: r.window(now)
                                                 for name, r in self._windows.items()},
                                arrivals)
        return self._last

    def knows(self, batch_id: int) -> bool:
        """Whether batch ``batch_id`` was published here (among the latest ones)."""
        with self._lock:
            return batch_id in self._batches

    def current(self) -> LiveUpdate:
        """The latest update (windows aged to the clock are published by :meth:`tick`)."""
        with self._lock:
            return self._last

    # -- subscribing ---------------------------------------------------------------------------

    def subscribe(self, capacity: int, notify: Callable[[], None]) -> Subscription:
        """A bounded queue of the updates to come; ``notify`` is called (from the publishing
        thread) whenever one is queued — it must not block."""
        sub = Subscription(capacity, notify)
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop queueing updates for ``sub``."""
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)
        sub.close()

    def subscriptions(self) -> list[Subscription]:
        """The open subscriptions (streams and hooks)."""
        with self._lock:
            return list(self._subscriptions)

    def on_update(self, callback: Callable[[LiveUpdate], None], *,
                  capacity: int = 16) -> Subscription:
        """Call ``callback(update)`` for every update, on a thread of its own; updates that
        arrive while it runs are queued up to ``capacity`` and coalesced beyond. Exceptions are
        logged, never raised into ingestion. ``unsubscribe`` the result to stop."""
        wake = threading.Event()
        sub = self.subscribe(capacity, wake.set)

        def run() -> None:
            while not sub.closed:
                wake.wait()
                wake.clear()
                for update in sub.drain():
                    try:
                        callback(update)
                    except Exception:  # a hook must never stop the live picture
                        log.exception("live on_update callback %r failed", callback)

        threading.Thread(target=run, name=f"live-hook-{callback!r}", daemon=True).start()
        return sub

    def close(self) -> None:
        """End every subscription (open streams finish)."""
        with self._lock:
            subs, self._subscriptions = self._subscriptions, []
        for sub in subs:
            sub.close()
