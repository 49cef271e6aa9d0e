"""Fixtures for live ingestion: the reference files, a live service over a real store, the real
Mosquitto broker, and the real app served by uvicorn in a thread.

The broker is the machine's Mosquitto at 127.0.0.1:1883. Without it the MQTT tests skip,
except when ``CI=true``, where they fail: CI must really run them. Each test gets its own topic
prefix and client id, and its persistent session is removed from the broker afterwards.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from belvedere.live.hub import LiveHub
from belvedere.live.ingest import LiveIngestor
from belvedere.live.service import LiveService
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import Store
from tests.conftest import IN_CI
from tests.sources.test_transit import write_gtfs

BROKER_HOST, BROKER_PORT = "127.0.0.1", 1883
BROKER_URL = f"mqtt://{BROKER_HOST}:{BROKER_PORT}"
KEY = Pseudonymiser(b"live-tests-key-0123456789abcdef!")
CAMERAS = [
    {"camera_id": "cam-a", "name": "Vieux-Port", "lat": 43.2953, "lon": 5.3744},
    {"camera_id": "cam-b", "name": "Castellane", "lat": 43.2859, "lon": 5.3836},
]
PASSWORD = "live-password-123"


def cctv_event(event_id: str, *, camera: str = "cam-a", kind: str = "people_count",
               value: float | None = 12, ts: datetime | None = None,
               **extra: Any) -> dict[str, Any]:
    """One CCTV analytics event as a box publishes it (now, unless ``ts``)."""
    when = (ts or datetime.now(UTC)).isoformat(timespec="seconds")
    event: dict[str, Any] = {"event_id": event_id, "camera_id": camera, "type": kind,
                             "ts": when, "window_s": 60, **extra}
    if value is not None:
        event["value"] = value
    return event


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A reference folder: ``cctv/cameras.json`` and ``transports/gtfs.zip``."""
    root = tmp_path / "reference"
    (root / "cctv").mkdir(parents=True)
    (root / "cctv" / "cameras.json").write_text(json.dumps(CAMERAS))
    write_gtfs(root / "transports")
    return root


@pytest.fixture
def live(store: Store, reference: Path, tmp_path: Path) -> LiveService:
    """A live service (hub + ingestor) over the test's store, staging under ``tmp_path``."""
    ingestor = LiveIngestor(store, LiveHub(), staging=tmp_path / "live", reference=reference,
                            pseudonymiser=KEY)
    return LiveService(store, ingestor, queue=4)


# -- the broker ---------------------------------------------------------------------------------

def _broker_reachable() -> bool:
    try:
        with socket.create_connection((BROKER_HOST, BROKER_PORT), timeout=1):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Topics:
    """This test's topic prefix and bridge client id on the shared broker."""

    prefix: str
    client_id: str

    def cctv(self, camera: str = "cam-a") -> str:
        return f"{self.prefix}/cctv/{camera}/events"


def forget_session(client_id: str) -> None:
    """Remove a persistent session from the broker (a clean start that expires at once)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    client.connect(BROKER_HOST, BROKER_PORT, clean_start=True)
    client.loop_start()
    time.sleep(0.2)
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def broker() -> Iterator[Topics]:
    """The real Mosquitto broker, with a topic prefix and a client id for this test only."""
    if not _broker_reachable():
        reason = (f"no MQTT broker at {BROKER_HOST}:{BROKER_PORT} (start it: mosquitto -d -c "
                  "/etc/mosquitto/mosquitto.conf)")
        if IN_CI:
            pytest.fail(f"the MQTT tests are required on CI: {reason}")
        pytest.skip(reason)
    run = uuid.uuid4().hex[:10]
    topics = Topics(f"belvedere-test-{run}", f"belvedere-test-{run}")
    yield topics
    forget_session(topics.client_id)


class Publisher:
    """A QoS-1 publisher (what a camera's analytics box does)."""

    def __init__(self) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"pub-{uuid.uuid4().hex[:10]}", protocol=mqtt.MQTTv5)
        self.client.connect(BROKER_HOST, BROKER_PORT)
        self.client.loop_start()

    def send(self, topic: str, payloads: list[bytes], *, rate: float | None = None) -> None:
        """Publish ``payloads`` at ``rate`` per second (as fast as possible when ``None``) and
        wait until the broker has them all."""
        start = time.monotonic()
        infos = []
        for i, payload in enumerate(payloads):
            if rate:
                delay = start + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            infos.append(self.client.publish(topic, payload, qos=1))
        for info in infos:
            info.wait_for_publish(timeout=10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: Topics) -> Iterator[Publisher]:
    pub = Publisher()
    yield pub
    pub.close()


def wait_for(condition: Any, timeout: float = 20.0, step: float = 0.05) -> bool:
    """Poll ``condition()`` until true or ``timeout`` seconds passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


# -- the app, served ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    """The real app over the test's store, served by uvicorn: URL and users' bearer headers."""

    url: str
    live: LiveService
    headers: dict[str, dict[str, str]]


@pytest.fixture
def server(store: Store, live: LiveService) -> Iterator[Server]:
    """``create_app`` with the ``live`` service, served by uvicorn in a thread, with one user
    per role that the live routes name (machine included, as the push clients of today)."""
    import uvicorn

    from belvedere.api.main import create_app
    from belvedere.privacy.release import Actor
    from belvedere.privacy.users import add_user, open_session

    headers = {}
    for role in ("operator", "analyst", "dpo", "machine", "agent"):
        add_user(store, f"live-{role}", PASSWORD, role=role)
        token = open_session(store, Actor(f"live-{role}", role))
        headers[role] = {"Authorization": f"Bearer {token}"}
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Small kernel send buffers (inherited by the accepted connections): a client that stops
    # reading holds its stream back after some 100 kB instead of the 4 MB loopback allows.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(store, live_service=live), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError):
            return False

    try:
        assert wait_for(healthy, timeout=30), "the server did not answer /api/v1/health"
        yield Server(url, live, headers)
    finally:
        live.hub.close()  # open streams end, so the server can stop
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()
