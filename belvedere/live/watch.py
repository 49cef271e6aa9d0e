"""The anomaly detector on the live picture: alerts raised as the data arrive.

:class:`AlertWatch` runs :meth:`AnomalyDetector.detect` on its own thread each time a live batch
is committed (several commits close together make one pass), on the store's figures of the
last hours, the current hour being partial. Candidates become alerts through
:func:`~belvedere.models.alerts.record_candidates` (one wave, one alert); every alert opened is
a line of the access log (action ``combination``: the detector crossed the feed with its
expectation), and when alerts opened or moved the hub publishes an update, so that every open
dashboard fetches the alert feed at once. Nothing is dispatched: a person acknowledges or
dismisses each alert with a reason.

The detector is fitted on the ``weeks`` before now when the watch starts and refitted every
``refit`` (a day by default) on the same thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from belvedere.errors import ConfigError
from belvedere.live.hub import LiveHub
from belvedere.models.alerts import Recorded, record_candidates
from belvedere.models.anomalies import AnomalyDetector, detector_history, observations
from belvedere.privacy import audit
from belvedere.store.base import Store

logger = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
DETECTOR = "system:detector"
"""The access log's actor for what the detector does by itself (opening alerts)."""

Clock = Callable[[], datetime]


def _floor(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


class AlertWatch:
    """Detect anomalies after live commits, record alerts, tell the hub (module doc).

    Args:
        store: where the figures are read and the alerts written.
        hub: the live hub told when alerts opened or changed.
        detector: an :class:`AnomalyDetector` (fitted by :meth:`fit`).
        weeks: history the detector learns from.
        refit: how often it learns again.
        clock: the time (UTC), for tests.
    """

    def __init__(self, store: Store, hub: LiveHub, detector: AnomalyDetector | None = None, *,
                 weeks: int = 8, refit: timedelta = timedelta(days=1),
                 clock: Clock | None = None) -> None:
        self.store = store
        self.hub = hub
        self.detector = detector or AnomalyDetector()
        self.weeks = weeks
        self.refit = refit
        self.clock = clock or (lambda: datetime.now(UTC))
        self.fitted_at: datetime | None = None
        self.passes = 0
        self.last: Recorded = Recorded()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def fit(self) -> None:
        """Learn from the ``weeks`` before now; :class:`ConfigError` without a week of data."""
        now = _floor(self.clock())
        period = self.store.data_period()
        if period is None:
            raise ConfigError("no data in the store: the live detector has nothing to learn")
        start = max(now - timedelta(weeks=self.weeks), _floor(period[0]))
        # A week of the data held must lie before now (a store of last year's data teaches the
        # detector nothing about today's expected levels).
        if now - start < timedelta(weeks=1) or period[1] < start + timedelta(weeks=1):
            raise ConfigError(f"the live detector needs a week of data before now "
                              f"({now:%Y-%m-%d %H:%M} UTC); the store holds "
                              f"{period[0]:%Y-%m-%d} → {period[1]:%Y-%m-%d}")
        self.detector.fit(detector_history(self.store, start, now, self.detector.feeds))
        self.fitted_at = now

    def check(self) -> Recorded:
        """One pass at the current time: detect, record, log the alerts opened, tell the hub."""
        now = self.clock()
        if self.fitted_at is None or now - self.fitted_at >= self.refit:
            self.fit()
        first = _floor(now) - (self.detector.max_hours + 1) * HOUR
        figures = self.store.hourly_figures(first, _floor(now) + HOUR)
        observed = observations(figures, self.detector.feeds)
        recorded = record_candidates(self.store, self.detector.detect(observed, now), now)
        for alert in recorded.opened:
            audit.record(self.store, actor=DETECTOR, role="machine",
                         purpose="situation_monitoring", action="combination",
                         what={"resource": "alert", "alert_id": alert.alert_id,
                               "feed": alert.feed, "place": alert.place,
                               "method": alert.method, "opened": "by the detector"},
                         rows_released=0)
        if recorded.opened or recorded.updated:
            self.hub.publish([])
        self.passes += 1
        self.last = recorded
        return recorded

    def poke(self) -> None:
        """A batch was committed: run a pass soon (passes do not pile up)."""
        self._wake.set()

    def start(self) -> None:
        """Fit, then watch on a thread of its own."""
        self.fit()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (the pass under way ends first)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                break
            began = time.perf_counter()
            try:
                self.check()
            except Exception:  # a failed pass must not end the watch: log it, go on
                logger.exception("live anomaly detection failed")
            logger.debug("live detection pass in %.1f ms", 1e3 * (time.perf_counter() - began))
