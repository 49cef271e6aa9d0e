"""The MQTT bridge: feeds' topics on a broker (Mosquitto) → micro-batches → the store.

At-least-once, never twice in the store:

- MQTT 5, QoS 1, a fixed client id and a persistent session (``clean_start=False``, a session
  that does not expire): while belvedere is down the broker keeps the messages for it (up to
  its ``max_queued_messages``: see docs/live.md).
- Manual acknowledgement: a message is acknowledged (PUBACK) only after the batch holding it is
  committed. A crash before that leaves it unacknowledged and the broker delivers it again;
  re-delivered records are duplicates the store skips, so nothing is lost and nothing doubles.
- Acknowledgements only go back on the connection that delivered the message: after a
  reconnection the broker re-sends what was not acknowledged, and packet ids may have been
  reused, so an old id is never acknowledged on a new connection.
- Flow control: the broker sends at most ``receive_maximum`` unacknowledged messages, which
  bounds what the bridge holds in memory; the rest waits at the broker.

Topics (under ``prefix``, ``belvedere`` by default) → feeds:

====================================  ==================================================
``belvedere/cctv/<camera>/events``    ``cctv`` (one analytics event per message)
``belvedere/police/log``              ``police_log`` (one log entry per message)
``belvedere/fire/interventions``      ``fire_ems``
``belvedere/field/reports``           ``field_reports``
``belvedere/transit/realtime``        ``transit`` (one GTFS-realtime FeedMessage)
``belvedere/feeds/<feed>``            any feed with a live payload format, by name
====================================  ==================================================

Payloads: :mod:`belvedere.live.formats`. A message on ``feeds/<name>`` for an unknown feed is
quarantined (rule ``unknown_feed``) under that name, and acknowledged.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from belvedere.errors import ConfigError
from belvedere.live.ingest import LiveIngestor

log = logging.getLogger(__name__)

ROUTES: dict[str, str | None] = {
    "cctv/+/events": "cctv",
    "police/log": "police_log",
    "fire/interventions": "fire_ems",
    "field/reports": "field_reports",
    "transit/realtime": "transit",
    "feeds/+": None,  # the feed is the topic's last level
}
"""Topic filters (under the prefix) and the feed each carries."""

SESSION_NEVER_EXPIRES = 0xFFFFFFFF


def feed_of(topic: str, prefix: str) -> str | None:
    """The feed a topic carries, or ``None`` when it is not one of :data:`ROUTES`.

    Example:
        >>> feed_of("belvedere/cctv/cam-a/events", "belvedere")
        'cctv'
        >>> feed_of("belvedere/feeds/hospital_ed", "belvedere")
        'hospital_ed'
    """
    for pattern, feed in ROUTES.items():
        if mqtt.topic_matches_sub(f"{prefix}/{pattern}", topic):
            return feed or topic.rsplit("/", 1)[-1]
    return None


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the broker is: ``mqtt://[user[:password]@]host[:port]``."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> Broker:
        """The broker of an ``mqtt://`` URL.

        Raises:
            ConfigError: another scheme, or no host.
        """
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ConfigError(f"MQTT broker URL {url!r}: expected mqtt://host[:port] (TLS: run "
                              "the bridge beside the broker, or behind a TLS tunnel)")
        return cls(parts.hostname, parts.port or 1883,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


@dataclass(frozen=True, slots=True)
class _Message:
    feed: str
    payload: bytes
    mid: int
    connection: int


@dataclass(slots=True)
class BridgeStats:
    """What the bridge did since it started."""

    received: int = 0
    acknowledged: int = 0
    batches: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored: int = 0


class MqttBridge:
    """Subscribe to the feeds' topics and ingest their messages in micro-batches.

    Args:
        ingestor: where batches go (and so the store and the live hub).
        url: the broker, ``mqtt://host:port``.
        client_id: the fixed id of the persistent session.
        prefix: the topics' first level(s).
        receive_maximum: unacknowledged messages the broker may send at once (1–65535).
        batch_wait: seconds a micro-batch waits for more messages after its first one.
        batch_max: messages per micro-batch at most.
    """

    def __init__(self, ingestor: LiveIngestor, url: str, *, client_id: str = "belvedere-live",
                 prefix: str = "belvedere", receive_maximum: int = 10_000,
                 batch_wait: float = 0.05, batch_max: int = 2_000) -> None:
        if not 1 <= receive_maximum <= 65_535:
            raise ConfigError(f"MQTT receive maximum {receive_maximum} is not in 1–65535")
        self.ingestor = ingestor
        self.broker = Broker.parse(url)
        self.client_id = client_id
        self.prefix = prefix.strip("/")
        self.receive_maximum = receive_maximum
        self.batch_wait = batch_wait
        self.batch_max = batch_max
        self.stats = BridgeStats()
        self.connected = threading.Event()
        self._queue: queue.SimpleQueue[_Message] = queue.SimpleQueue()
        self._connection = 0  # incremented at each (re)connection
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        return client

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Connect, subscribe and start ingesting (returns once the broker confirmed the
        subscriptions).

        Raises:
            ConfigError: the broker cannot be reached or refuses the connection.
        """
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        properties.ReceiveMaximum = self.receive_maximum
        where = f"{self.broker.host}:{self.broker.port}"
        try:
            self._client.connect(self.broker.host, self.broker.port, keepalive=30,
                                 clean_start=False, properties=properties)
        except OSError as exc:
            raise ConfigError(f"cannot reach the MQTT broker at {where}: {exc}") from exc
        self._stop.clear()
        self._worker = threading.Thread(target=self._run, name="live-mqtt-batches", daemon=True)
        self._worker.start()
        self._client.loop_start()
        if not self.connected.wait(timeout):
            self.stop()
            raise ConfigError(f"the MQTT broker at {where} did not accept the connection and the "
                              f"subscriptions within {timeout:.0f} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Ingest and acknowledge what was received, then disconnect. Messages still
        unacknowledged stay with the broker and come again at the next start."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self.connected.clear()

    # -- paho callbacks (network thread) --------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("MQTT broker refused the connection: %s", reason)
            return
        with self._lock:
            self._connection += 1
        client.subscribe([(f"{self.prefix}/{pattern}", SubscribeOptions(qos=1))
                          for pattern in ROUTES])
        log.info("MQTT connected to %s:%s (session present: %s)", self.broker.host,
                 self.broker.port, flags.session_present)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        # Ready only now: on a new session, what is published before the broker has the
        # subscription is not kept for us.
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.error("MQTT broker refused the subscriptions: %s", refused)
            return
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        with self._lock:
            # Acknowledgements of this connection's messages must not go on the next one.
            self._connection += 1
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("MQTT connection lost (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
                    ) -> None:
        feed = feed_of(message.topic, self.prefix)
        with self._lock:
            connection = self._connection
        if feed is None:  # a subscribed filter always matches a route; kept for safety
            self.stats.ignored += 1
            client.ack(message.mid, message.qos)
            return
        self.stats.received += 1
        self._queue.put(_Message(feed, bytes(message.payload), message.mid, connection))

    # -- micro-batches (worker thread) ---------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            batch = [first]
            deadline = time.monotonic() + self.batch_wait
            while len(batch) < self.batch_max:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
            self._process(batch)

    def _process(self, batch: list[_Message]) -> None:
        by_feed: dict[str, list[_Message]] = defaultdict(list)
        for message in batch:
            by_feed[message.feed].append(message)
        for feed, messages in by_feed.items():
            self._commit(feed, [m.payload for m in messages])
        with self._lock:
            current = self._connection
        for message in batch:
            if message.connection == current:
                self._client.ack(message.mid, 1)
                self.stats.acknowledged += 1
        self.stats.batches += 1

    def _commit(self, feed: str, payloads: list[bytes]) -> None:
        """Ingest one feed's messages, retrying until committed (they are not acknowledged
        before: giving up would lose them)."""
        delay = 0.5
        while True:
            try:
                try:
                    result = self.ingestor.ingest(feed, payloads)
                except ConfigError as exc:
                    result = self.ingestor.quarantine_all(feed, len(payloads), "unknown_feed",
                                                          str(exc))
            except Exception:
                log.exception("live batch of %d %s message(s) failed; retrying in %.1f s",
                              len(payloads), feed, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self.stats.stored += result.stored
            self.stats.duplicates += result.duplicates
            self.stats.quarantined += result.quarantined
            return
