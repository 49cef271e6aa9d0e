"""A store follower publishes into its hub the batches other processes commit: each once, in the
live windows only, and none lost to a neighbour that committed first."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from belvedere.live.follow import StoreFollower
from belvedere.live.hub import Arrival, LiveHub
from belvedere.store.base import Store
from tests import rawsql
from tests.store.records import T0, alert, batch, incident

NOW = T0 + timedelta(minutes=5)


def shown(hub: LiveHub) -> float:
    """The incidents the hub's last-60-min window counts."""
    return float(sum(hub.current().windows["last_60_min"].table["value"].to_pylist()))


def test_a_follower_shows_what_others_committed_once_and_only_what_is_live(
        store: Store) -> None:
    hub = LiveHub(clock=lambda: NOW)
    store.append_batch(batch(incidents=[incident(1), incident(2)]))
    store.append_batch(batch("fire_rescue", "old.csv", incidents=[incident(3, -300)]))
    follower = StoreFollower(store, hub)
    # Started after them: the recent batches are shown, the one of five hours ago is in no window.
    assert follower.poll() == 1 and shown(hub) == 2
    # A batch this process committed and published itself is not counted again.
    mine = store.append_batch(batch(incidents=[incident(4)]))
    hub.publish([Arrival.of(mine, ["MC-4"])],
                store.batch_records(mine.batch_id, since=T0 - timedelta(hours=1)))
    assert follower.poll() == 0 and shown(hub) == 3
    # Another process's batch, then nothing new.
    store.append_batch(batch(incidents=[incident(5, 2), incident(4)]))  # MC-4 a duplicate
    assert follower.poll() == 1 and shown(hub) == 4
    assert follower.poll() == 0 and shown(hub) == 4
    # Publishing a batch the follower brought, again, changes nothing either.
    again = hub.current().arrived[0]
    hub.publish([again])
    assert shown(hub) == 4 and follower.published == 2


def _hide(store: Store, batch_id: int) -> None:
    """Make batch ``batch_id`` not yet visible (as if its transaction had not committed)."""
    for table in ("ingest_batches", "incidents"):
        rawsql.execute(store, f"UPDATE {table} SET batch_id = ? WHERE batch_id = ?",
                       [-batch_id, batch_id])


def _show(store: Store, batch_id: int) -> None:
    for table in ("ingest_batches", "incidents"):
        rawsql.execute(store, f"UPDATE {table} SET batch_id = ? WHERE batch_id = ?",
                       [batch_id, -batch_id])


def test_a_batch_committed_after_a_later_numbered_one_is_not_lost(store: Store) -> None:
    hub = LiveHub(clock=lambda: NOW)
    seconds = [0.0]
    first = store.append_batch(batch(incidents=[incident(1)]))
    follower = StoreFollower(store, hub, patience=60, clock=lambda: seconds[0])
    assert follower.poll() == 1 and follower.floor == first.batch_id
    slow = store.append_batch(batch(incidents=[incident(2)]))
    fast = store.append_batch(batch(incidents=[incident(3)]))
    _hide(store, slow.batch_id)
    assert follower.poll() == 1 and shown(hub) == 2
    assert follower.floor == first.batch_id  # waits for the missing number below
    _show(store, slow.batch_id)
    assert follower.poll() == 1 and shown(hub) == 3
    assert follower.floor == fast.batch_id

    # A number that never appears (a rolled-back transaction took it) is given up in time.
    gone = store.append_batch(batch(incidents=[incident(4)]))
    last = store.append_batch(batch(incidents=[incident(5)]))
    _hide(store, gone.batch_id)
    assert follower.poll() == 1 and follower.floor == fast.batch_id
    seconds[0] = 30.0
    assert follower.poll() == 0 and follower.floor == fast.batch_id
    seconds[0] = 61.0
    assert follower.poll() == 0 and follower.floor == last.batch_id
    assert shown(hub) == 4


def test_an_alert_opened_or_updated_elsewhere_tells_the_dashboards_once(store: Store) -> None:
    hub = LiveHub(clock=lambda: NOW)
    follower = StoreFollower(store, hub)
    follower.poll()
    seq = hub.current().seq
    opened = store.open_alert(alert(opened_at=NOW + timedelta(seconds=1)))
    follower.poll()
    assert hub.current().seq == seq + 1 and hub.current().arrived == ()
    follower.poll()  # nothing new: no update
    assert hub.current().seq == seq + 1
    store.update_alert(dataclasses.replace(opened, status="acknowledged",
                                           updated_at=NOW + timedelta(seconds=30)))
    follower.poll()
    assert hub.current().seq == seq + 2
