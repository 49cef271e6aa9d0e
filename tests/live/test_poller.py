"""The GTFS-realtime poller: each new snapshot goes through the transit connector to the store
and the live hub; an unchanged one is not ingested again; a failing fetch is retried."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.transit import gtfs_realtime_pb2 as rt

from belvedere.errors import SourceError
from belvedere.live.poller import GtfsRtPoller
from belvedere.live.service import LiveService
from tests.live.conftest import wait_for
from tests.sources.test_gtfs_rt import NOW, alert, trip_update


def write_snapshot(path: Path, entities: list[rt.FeedEntity]) -> Path:
    message = rt.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = int(NOW.timestamp())
    message.entity.extend(entities)
    path.write_bytes(message.SerializeToString())
    return path


def test_each_new_snapshot_is_ingested_once(live: LiveService, tmp_path: Path) -> None:
    feed = write_snapshot(tmp_path / "feed.pb", [alert("strike", stops=["CAS-1"])])
    poller = GtfsRtPoller(live.ingestor, str(feed), interval=60)

    first = poller.poll_once()
    assert first is not None and first.ids == ["alert|strike|CAS-1"]
    assert poller.poll_once() is None  # the same bytes: nothing to do

    write_snapshot(feed, [alert("strike", stops=["CAS-1"]), trip_update(
        "t1", "T1", [{"seq": 1, "stop": "STC", "arrival": {"delay": 120}}])])
    second = poller.poll_once()
    assert second is not None and (second.stored, second.duplicates) == (1, 1)
    assert live.store.count("incidents", "transit") == 1
    assert live.store.count("measurements", "transit") == 1
    assert [a.feed for a in live.hub.current().arrived] == ["transit"]


def test_the_poller_thread_polls_and_survives_a_missing_feed(live: LiveService,
                                                              tmp_path: Path) -> None:
    feed = tmp_path / "later.pb"
    poller = GtfsRtPoller(live.ingestor, f"file://{feed}", interval=0.05)
    with pytest.raises(SourceError, match="cannot fetch"):
        poller.poll_once()
    poller.start()
    try:
        assert wait_for(lambda: poller.polls >= 3, timeout=5)  # failing, but polling on
        write_snapshot(feed, [alert("works", stops=["STC"])])
        assert wait_for(lambda: live.store.count("incidents", "transit") == 1, timeout=5)
    finally:
        poller.stop()
    assert poller.ingested == 1
