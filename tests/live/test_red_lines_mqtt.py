"""Red line "no biometrics, no images" through the real MQTT broker: what a camera's analytics
box publishes with an image, an embedding, a track id, a plate or a face box is quarantined with
a red-line reason and kept nowhere (store, live folder); its clean neighbours are stored. The
same carriers are fuzzed on every other entry point in tests/redlines/test_ingestion_fuzz.py."""

from __future__ import annotations

import json

from belvedere.live.mqtt import MqttBridge
from belvedere.live.service import LiveService
from tests.live.conftest import BROKER_URL, Publisher, Topics, cctv_event, wait_for
from tests.redlines.carriers import Carrier, folder_text, leaked, store_text

CARRIERS = [
    Carrier("image", "snapshot", "data:image/jpeg;base64,/9j/4AAQSkZJRgRLMQTTIMAGEMARKER",
            ("RLMQTTIMAGEMARKER",)),
    Carrier("image", "event_id", "iVBORw0KGgoAAAANSUhEUgRLMQTTPNGMARKER", ("RLMQTTPNGMARKER",)),
    Carrier("embedding", "analytics", {"vector": [0.4242424242421, *[0.5] * 127]},
            ("4242424242421",)),
    Carrier("track", "TrackID", "RLMQTTTRACKMARKER", ("RLMQTTTRACKMARKER",)),
    Carrier("plate", "licensePlate", {"text": "QZ-987-XW"}, ("QZ-987-XW",)),
    Carrier("face", "faces", [{"box": [10, 20, 64, 64], "id": "RLMQTTFACEMARKER"}],
            ("RLMQTTFACEMARKER",)),
]


def test_red_line_payloads_published_over_mqtt_are_quarantined_and_kept_nowhere(
        live: LiveService, broker: Topics, publisher: Publisher) -> None:
    clean = [json.dumps(cctv_event(f"ok-{i}")).encode() for i in range(3)]
    planted = [json.dumps({**cctv_event(f"bad-{i}"), c.key: c.value}).encode()
               for i, c in enumerate(CARRIERS)]
    bridge = MqttBridge(live.ingestor, BROKER_URL, client_id=broker.client_id,
                        prefix=broker.prefix, batch_wait=0.02)
    bridge.start()
    try:
        publisher.send(broker.cctv("cam-a"), [clean[0], *planted[:3], clean[1], *planted[3:],
                                              clean[2]])
        assert wait_for(lambda: bridge.stats.acknowledged == len(clean) + len(planted))
    finally:
        bridge.stop()

    assert (bridge.stats.stored, bridge.stats.quarantined) == (len(clean), len(CARRIERS))
    rows = live.store.quarantined("cctv").to_pylist()
    assert [r["rule"] for r in rows] == ["red_line"] * len(CARRIERS)
    assert all("never accepted" in r["reason"] and r["raw"] == "{}" for r in rows)
    everything = [store_text(live.store), folder_text(live.ingestor.staging)]
    for carrier in CARRIERS:
        assert leaked(carrier, *everything) == [], carrier
