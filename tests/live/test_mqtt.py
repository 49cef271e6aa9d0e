"""The MQTT bridge against the real Mosquitto broker: messages end in the store (or in
quarantine with their reason), and a restart — clean, or a kill before the acknowledgements —
loses nothing and doubles nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from belvedere.live.hub import LiveHub
from belvedere.live.ingest import LiveIngestor
from belvedere.live.mqtt import MqttBridge
from belvedere.live.service import LiveService
from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests import rawsql
from tests.live.conftest import BROKER_URL, Publisher, Topics, cctv_event, wait_for

BELVEDERE = Path(sys.executable).parent / "belvedere"


def events(prefix: str, n: int, start: int = 0) -> list[bytes]:
    return [json.dumps(cctv_event(f"{prefix}-{i}", value=i)).encode()
            for i in range(start, start + n)]


def bridge(live: LiveService, broker: Topics) -> MqttBridge:
    return MqttBridge(live.ingestor, BROKER_URL, client_id=broker.client_id,
                      prefix=broker.prefix, batch_wait=0.02)


def stored_once(store: Store, prefix: str, n: int) -> bool:
    """Exactly the ``n`` events ``prefix-0…`` are stored, each once."""
    rows = rawsql.query(store, "SELECT source_id, count(*) FROM measurements GROUP BY source_id")
    return sorted(r[0] for r in rows) == sorted(f"{prefix}-{i}" for i in range(n)) \
        and all(r[1] == 1 for r in rows)


def test_messages_published_to_the_broker_are_stored_and_bad_ones_quarantined(
        live: LiveService, broker: Topics, publisher: Publisher) -> None:
    b = bridge(live, broker)
    b.start()
    try:
        publisher.send(broker.cctv("cam-a"), events("ev", 50))
        publisher.send(broker.cctv("cam-b"), [b"\x89PNG not an event",
                                              json.dumps(cctv_event("ev-x", track_id=7)).encode()])
        publisher.send(f"{broker.prefix}/feeds/no_such_feed", [b"{}"])
        assert wait_for(lambda: b.stats.acknowledged == 53), b.stats
    finally:
        b.stop()
    assert stored_once(live.store, "ev", 50)
    rules = sorted((r["source"], r["rule"]) for r in live.store.quarantined().to_pylist())
    assert rules == [("cctv", "bad_json"), ("cctv", "red_line"), ("no_such_feed", "unknown_feed")]
    assert (b.stats.received, b.stats.stored, b.stats.quarantined) == (53, 50, 3)


def test_restarting_the_bridge_mid_stream_loses_and_doubles_nothing(
        live: LiveService, broker: Topics, publisher: Publisher) -> None:
    first = bridge(live, broker)
    first.start()
    sending = threading.Thread(target=publisher.send,
                               args=(broker.cctv(), events("ev", 600)), kwargs={"rate": 400})
    sending.start()
    assert wait_for(lambda: first.stats.received >= 150)
    first.stop()  # mid-stream: what arrives now waits at the broker
    second = bridge(live, broker)
    second.start()
    try:
        sending.join()
        assert wait_for(lambda: live.store.count("measurements") >= 600)
        assert wait_for(lambda: second.stats.received + first.stats.acknowledged >= 600)
    finally:
        second.stop()
    assert stored_once(live.store, "ev", 600)
    batches = live.store.batches().to_pylist()
    assert sum(b["rows_stored"] for b in batches) == 600
    assert sum(b["rows_read"] - b["rows_stored"] - b["rows_duplicate"] for b in batches) == 0


def test_a_bridge_killed_before_acknowledging_loses_and_doubles_nothing(
        store: Store, reference: Path, tmp_path: Path, broker: Topics,
        publisher: Publisher) -> None:
    url = store.deployment.url
    store.close()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BELVEDERE_MQTT_CLIENT_ID": broker.client_id,
           "BELVEDERE_MQTT_PREFIX": broker.prefix, "BELVEDERE_LIVE_REFERENCE": str(reference),
           "BELVEDERE_LIVE_DIR": str(tmp_path / "live"), "BELVEDERE_LIVE_BATCH_MS": "100"}
    process = subprocess.Popen([str(BELVEDERE), "live", "--store", url, "--mqtt",
                                BROKER_URL], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        for line in process.stdout:  # started once it says where it listens
            if "MQTT bridge" in line:
                break
        sending = threading.Thread(target=publisher.send,
                                   args=(broker.cctv(), events("ev", 800)), kwargs={"rate": 400})
        sending.start()
        threading.Event().wait(0.8)
    finally:
        process.send_signal(signal.SIGKILL)  # no stop, no acknowledgement of what it holds
        process.wait(timeout=10)
    sending.join()

    db = open_store(url)
    held = db.count("measurements")
    assert 0 < held < 800, f"the kill came too late or too early to test anything ({held})"
    restarted = MqttBridge(LiveIngestor(db, LiveHub(), staging=tmp_path / "live",
                                        reference=reference),
                           BROKER_URL, client_id=broker.client_id, prefix=broker.prefix)
    restarted.start()
    try:
        assert wait_for(lambda: db.count("measurements") >= 800)
        assert wait_for(lambda: restarted.stats.received == restarted.stats.acknowledged)
    finally:
        restarted.stop()
    assert stored_once(db, "ev", 800)
    db.close()
