"""Poll a GTFS-realtime feed (a URL or a file) and ingest each new snapshot.

GTFS-realtime producers publish a whole ``FeedMessage`` at one address and replace it every few
seconds; there is nothing to subscribe to. The poller fetches it every ``interval`` seconds and,
when the bytes changed, hands it to the live ingestor as one ``transit`` file — the same
connector (:mod:`belvedere.sources.gtfs_rt`) and the same path to the store and the live hub as
every other live message. Its record ids are deterministic (``alert|<entity>|<stop>``,
``delay|<trip>|<day>|<stop>``), so a snapshot that repeats an earlier alert stores nothing twice.
A fetch that fails is logged and tried again at the next tick.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from belvedere.errors import SourceError
from belvedere.live.ingest import LiveIngestor, LiveResult

log = logging.getLogger(__name__)


def fetch(location: str, *, timeout: float = 10.0) -> bytes:
    """The bytes at ``location``: an ``http(s)://`` URL, a ``file://`` URL or a path.

    Raises:
        SourceError: the feed cannot be fetched.
    """
    scheme = urlsplit(location).scheme
    try:
        if scheme in ("http", "https"):
            with urllib.request.urlopen(location, timeout=timeout) as response:
                data: bytes = response.read()
                return data
        path = Path(urlsplit(location).path if scheme == "file" else location)
        return path.read_bytes()
    except OSError as exc:
        raise SourceError(f"cannot fetch {location}: {exc}", source="transit") from exc


class GtfsRtPoller:
    """Fetch ``location`` every ``interval`` seconds; ingest it when it changed.

    Args:
        ingestor: the live ingestor (the store and the hub behind it).
        location: URL or path of the GTFS-realtime ``FeedMessage``.
        interval: seconds between fetches.
        feed: the feed it belongs to (``transit``).
    """

    def __init__(self, ingestor: LiveIngestor, location: str, *, interval: float = 30.0,
                 feed: str = "transit") -> None:
        self.ingestor = ingestor
        self.location = location
        self.interval = interval
        self.feed = feed
        self.polls = 0
        self.ingested = 0
        self._digest: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> LiveResult | None:
        """Fetch once; ingest and return the result if the content changed, else ``None``.

        Raises:
            SourceError: the feed cannot be fetched.
        """
        self.polls += 1
        content = fetch(self.location)
        digest = hashlib.sha256(content).hexdigest()
        if digest == self._digest:
            return None
        result = self.ingestor.ingest(self.feed, [content])
        self._digest = digest
        self.ingested += 1
        return result

    def start(self) -> None:
        """Poll on a background thread until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-gtfs-rt", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop polling (after the poll in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # a bad fetch or store hiccup must not end the poller
                log.exception("GTFS-realtime poll of %s failed", self.location)
            self._stop.wait(self.interval)
