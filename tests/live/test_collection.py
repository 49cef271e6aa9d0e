"""What the live paths bring in is a collection in the access log, summed per feed."""

from __future__ import annotations

import json
from pathlib import Path

from belvedere.live.collection import LIVE_ACTOR, CollectionLog
from belvedere.live.hub import LiveHub
from belvedere.live.ingest import LiveIngestor
from belvedere.store.base import Store
from tests.live.conftest import KEY, cctv_event


def test_batches_are_summed_per_feed_and_written_every_period(store: Store,
                                                              reference: Path,
                                                              tmp_path: Path) -> None:
    now = [0.0]
    log = CollectionLog(store, every=60.0, clock=lambda: now[0])
    ingestor = LiveIngestor(store, LiveHub(), staging=tmp_path / "live", reference=reference,
                            pseudonymiser=KEY)
    ingestor.batches.append(log.add)
    events = [json.dumps(cctv_event(f"ev-{i}")).encode() for i in range(5)]
    ingestor.ingest("cctv", events[:3])
    ingestor.ingest("cctv", [*events[2:], b"not json"])  # one duplicate, one quarantined
    before = len(store.audit_rows())
    now[0] = 30.0
    assert log.flush() == 0  # not a minute yet
    now[0] = 61.0
    assert log.flush() == 1
    (line,) = store.audit_rows()[before:]
    what = json.loads(line.what)
    assert line.action == "collection" and line.role == LIVE_ACTOR.role
    assert (what["feed"], what["batches"], what["read"], what["stored"], what["duplicates"],
            what["quarantined"]) == ("cctv", 2, 7, 5, 1, 1)
    assert log.flush(force=True) == 0  # nothing pending: nothing written
