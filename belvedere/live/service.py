"""The live side of one belvedere process: hub, ingestor, and the optional MQTT bridge, the
GTFS-realtime poller and the clock that ages the windows.

``belvedere serve`` builds one and hands it to the web app (the push endpoint and the streams
use its ingestor and hub); ``belvedere live`` runs it without the web app.

Example:
    >>> from belvedere.store.factory import open_store
    >>> live = LiveService.from_settings(open_store(":memory:"))
    >>> live.hub.current().seq, live.bridge is None
    (0, True)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from belvedere.errors import ConfigError
from belvedere.live.collection import CollectionLog
from belvedere.live.formats import FORMATS
from belvedere.live.hub import LiveHub, LiveUpdate
from belvedere.live.ingest import LiveIngestor
from belvedere.live.mqtt import MqttBridge
from belvedere.live.poller import GtfsRtPoller
from belvedere.live.watch import AlertWatch
from belvedere.settings import SETTINGS, setting
from belvedere.store.base import Store

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
TICK_S = 5.0
"""How often the windows are aged to the clock when nothing arrives."""


def staging_folder(store: Store) -> Path:
    """The live folder of the store's deployment (setting ``live_dir``, else ``<store>.live``
    beside a DuckDB file: :attr:`~belvedere.store.deployment.Deployment.live_dir`)."""
    return store.deployment.live_dir


class LiveService:
    """Hub + ingestor over ``store``; :meth:`start` adds the bridge, the poller and the clock."""

    def __init__(self, store: Store, ingestor: LiveIngestor, *, queue: int = 8) -> None:
        self.store = store
        self.ingestor = ingestor
        self.hub = ingestor.hub
        self.queue = queue
        self.bridge: MqttBridge | None = None
        self.poller: GtfsRtPoller | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.watch: AlertWatch | None = None
        # What the bridge and the poller bring in: collection lines of the access log.
        self.collections = CollectionLog(store)
        ingestor.batches.append(self.collections.add)

    @classmethod
    def from_settings(cls, store: Store, *, hub: LiveHub | None = None) -> LiveService:
        """The service configured by the settings (docs/settings.md)."""
        ingestor = LiveIngestor(store, hub or LiveHub(), staging=staging_folder(store),
                                reference=Path(setting("live_reference")))
        return cls(store, ingestor, queue=int(setting("live_queue")))

    def problems(self) -> list[str]:
        """What will make some live messages fail (a reference file missing), to tell at
        start: those messages would be quarantined with the connector's reason."""
        feeds = [name for name, fmt in FORMATS.items() if fmt.references]
        return [f"{path} is missing: live messages of its feed will be quarantined "
                f"(set {SETTINGS['live_reference'].env})"
                for path in self.ingestor.missing_references(feeds)]

    def on_update(self, callback: Callable[[LiveUpdate], None]) -> None:
        """Call ``callback`` with every live update (see :meth:`LiveHub.on_update`)."""
        self.hub.on_update(callback)

    def start(self, *, mqtt: str | None = None, gtfs_rt: str | None = None) -> None:
        """Start the clock, and the MQTT bridge to ``mqtt`` and the poller of ``gtfs_rt`` when
        given (settings give the rest).

        Raises:
            ConfigError: the broker cannot be reached, or a setting is unusable.
        """
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick, name="live-clock", daemon=True)
        self._ticker.start()
        if mqtt:
            self.bridge = MqttBridge(
                self.ingestor, mqtt, client_id=setting("mqtt_client_id"),
                prefix=setting("mqtt_prefix"),
                receive_maximum=int(setting("mqtt_receive_maximum")),
                batch_wait=int(setting("live_batch_ms")) / 1000,
                batch_max=int(setting("live_batch_max")))
            self.bridge.start()
        if gtfs_rt:
            self.poller = GtfsRtPoller(self.ingestor, gtfs_rt,
                                       interval=float(setting("gtfs_rt_interval_s")))
            self.poller.start()

    def watch_alerts(self, watch: AlertWatch | None = None) -> AlertWatch:
        """Run the anomaly detector after every committed batch (:mod:`belvedere.live.watch`);
        fitted here on the weeks before now.

        Raises:
            ConfigError: the store has less than a week of data before now.
        """
        started = watch or AlertWatch(self.store, self.hub)
        started.start()  # raises before anything is kept: stop() has no watch to undo
        self.watch = started
        self.ingestor.committed.append(started.poke)
        return started

    def stop(self) -> None:
        """Stop the bridge (after committing and acknowledging what it holds), the poller,
        the alert watch and the clock, and end the open streams."""
        if self.bridge is not None:
            self.bridge.stop()
        if self.watch is not None:
            self.ingestor.committed.remove(self.watch.poke)
            self.watch.stop()
        if self.poller is not None:
            self.poller.stop()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=TICK_S + 1)
        self.collections.flush(force=True)
        self.hub.close()

    def start_all(self, *, mqtt: str | None, gtfs_rt: str | None) -> list[str]:
        """What ``belvedere serve`` and ``belvedere live`` start: the clock, the bridge and
        the poller when given, and the alert watch when the store has recent history.
        Returns what to tell the operator (``warning: …`` lines first); tell
        :meth:`problems` before, since starting may fail.

        Raises:
            ConfigError: the broker cannot be reached, or a setting is unusable.
        """
        notes: list[str] = []
        self.start(mqtt=mqtt, gtfs_rt=gtfs_rt)
        try:
            self.watch_alerts()
            notes.append("alerts: the anomaly detector watches what arrives (docs/models.md)")
        except ConfigError as exc:  # no recent history (an old demo): serve without alerts
            notes.insert(0, f"warning: no live alerts: {exc}")
        if mqtt:
            notes.append(f"MQTT bridge: {mqtt}, topics {setting('mqtt_prefix')}/…, client id "
                         f"{setting('mqtt_client_id')}")
        if gtfs_rt:
            notes.append(f"GTFS-realtime: {gtfs_rt} every {setting('gtfs_rt_interval_s')} s")
        return notes

    def _tick(self) -> None:
        while not self._stop.wait(TICK_S):
            self.hub.tick()
            self.collections.flush()
