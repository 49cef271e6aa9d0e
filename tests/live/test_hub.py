"""The live hub: windows that follow the records' time, sequence numbers, bounded subscriber
queues that coalesce instead of blocking, and update hooks."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from belvedere.grid.records import Incident, Measurement, to_table
from belvedere.live.hub import MAX_IDS, Arrival, LiveHub, LiveUpdate
from tests.live.conftest import wait_for

T0 = datetime(2024, 3, 2, 17, 50, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand (the hub's clock is a parameter)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def incident(source_id: str, ts: datetime, *, cell: int = 1, zone: str = "13201",
             category: str = "theft") -> Incident:
    return Incident("police_log", source_id, category, category, ts, None, None, cell, zone,
                    "reported_by_public")


_BATCHES = itertools.count(1)


def arrival(*ids: str) -> Arrival:
    """A committed batch's arrival (each a new batch: a hub counts a batch once)."""
    return Arrival("police_log", next(_BATCHES), len(ids), len(ids), 0, 0, 0, ids)


def incidents(*rows: Incident) -> dict[str, pa.Table]:
    return {"incidents": to_table(Incident, list(rows))}


def counts(hub: LiveHub, window: str) -> dict[tuple[object, ...], tuple[float, int]]:
    table = hub.current().windows[window].table.to_pylist()
    return {(r["cell"], r["category"]): (r["value"], r["n"]) for r in table}


def test_records_enter_the_windows_by_their_own_time_and_age_out() -> None:
    clock = Clock(T0)
    hub = LiveHub(clock=clock)
    hub.publish([arrival("a", "b", "c", "d")], incidents(
        incident("a", T0 - timedelta(minutes=5)),
        incident("b", T0 - timedelta(minutes=55), cell=2),
        incident("c", T0 - timedelta(hours=3)),        # too old for any window
        incident("d", T0 + timedelta(hours=1))))       # a prediction: not counted
    assert counts(hub, "last_60_min") == {(1, "theft"): (1.0, 1), (2, "theft"): (1.0, 1)}
    assert counts(hub, "current_hour") == {(1, "theft"): (1.0, 1)}

    clock.now = T0 + timedelta(minutes=11)  # 18:01: a new hour; "b" is 66 minutes old
    update = hub.tick()
    assert update is not None and update.seq == 2 and update.arrived == ()
    assert counts(hub, "last_60_min") == {(1, "theft"): (1.0, 1)}
    assert counts(hub, "current_hour") == {}
    assert hub.tick() is None  # nothing changed since


def test_measurements_sum_their_values_and_sequence_numbers_only_grow() -> None:
    hub = LiveHub(clock=lambda: T0)
    rows = [Measurement("cctv", f"m{i}", "people_count", "", "cam-a", "13201", 7,
                        T0 - timedelta(minutes=i), T0, float(i)) for i in range(1, 4)]
    seqs = [hub.publish([arrival(r.source_id)], {"measurements": to_table(Measurement, [r])}
                        ).seq for r in rows]
    assert seqs == [1, 2, 3]
    (row,) = hub.current().windows["last_60_min"].table.to_pylist()
    assert (row["metric"], row["value"], row["n"]) == ("people_count", 6.0, 3)


def test_a_full_subscriber_queue_coalesces_and_publishing_never_waits() -> None:
    hub = LiveHub(clock=lambda: T0)
    woken = threading.Event()
    slow = hub.subscribe(2, woken.set)  # a reader that never reads
    for i in range(50):
        hub.publish([arrival(f"id-{i}")], incidents(incident(f"id-{i}", T0)))
    pending = slow.drain()
    assert len(pending) == 2 and woken.is_set()
    assert [u.seq for u in pending] == [1, 50]
    newest = pending[-1]
    assert newest.coalesced == 48 and slow.merged == 48
    # Nothing that arrived is lost to the slow reader: the ids of the merged updates are there.
    assert [i for a in newest.arrived for i in a.ids] == [f"id-{i}" for i in range(1, 50)]
    assert newest.windows["last_60_min"].table.column("n").to_pylist() == [50]


def test_coalesced_arrivals_keep_their_counts_but_at_most_max_ids_ids() -> None:
    big = LiveUpdate(1, T0, {}, (Arrival("cctv", 1, MAX_IDS, MAX_IDS, 0, 0, 0,
                                          tuple(map(str, range(MAX_IDS)))),))
    merged = big.merged(LiveUpdate(2, T0, {}, (arrival("x", "y"),)))
    assert merged.seq == 2 and merged.ids_dropped == 2
    assert sum(len(a.ids) for a in merged.arrived) == MAX_IDS
    assert sum(a.stored for a in merged.arrived) == MAX_IDS + 2


def test_update_hooks_run_on_their_own_thread_and_a_failing_hook_stops_nothing() -> None:
    hub = LiveHub(clock=lambda: T0)
    seen: list[int] = []

    def failing(update: LiveUpdate) -> None:
        raise RuntimeError("a detector bug")

    hub.on_update(failing)
    hub.on_update(lambda update: seen.append(update.seq))
    for i in range(5):
        hub.publish([arrival(f"id-{i}")], incidents(incident(f"id-{i}", T0)))
    assert wait_for(lambda: seen and seen[-1] == 5, timeout=5)
    assert seen == sorted(seen)
    hub.close()
    assert hub.subscriptions() == []


def test_a_batch_published_twice_counts_once() -> None:
    hub = LiveHub(clock=lambda: T0)
    once = arrival("MC-1")
    first = hub.publish([once], incidents(incident("MC-1", T0)))
    assert hub.knows(once.batch_id)
    again = hub.publish([once], incidents(incident("MC-1", T0)))  # e.g. its store follower
    assert again is first and hub.current().seq == first.seq
    assert hub.current().windows["last_60_min"].table.column("n").to_pylist() == [1]
    assert hub.publish([]).seq == first.seq + 1  # an update without arrivals still goes out
