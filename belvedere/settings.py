"""Every setting in one table, with its environment variable, default and help text.

``docs/settings.md`` is generated from :data:`SETTINGS` (``belvedere settings``) and a test checks
that each setting is documented there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType

# Settings given for one command only (a command handed to the running server carries its
# user's BELVEDERE_* variables): they win over the process environment in that context.
_NONE: Mapping[str, str] = MappingProxyType({})
_overlay: ContextVar[Mapping[str, str]] = ContextVar("belvedere_settings_overlay", default=_NONE)


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting."""

    name: str
    env: str
    default: str
    help: str

    def value(self) -> str:
        """The current value: the command's own (:func:`overlaid`), else the environment
        variable, else the default."""
        given = _overlay.get()
        if self.env in given:
            return given[self.env]
        return os.environ.get(self.env, self.default)


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting("store", "BELVEDERE_STORE", "belvedere.duckdb",
                "The store: a DuckDB file path (the embedded default, created and migrated on "
                "first use), `:memory:`, or a PostgreSQL URL `postgresql://user@host:port/db` "
                "(the server store; docs/deployment.md)."),
        Setting("home", "BELVEDERE_HOME", "",
                "Folder of a PostgreSQL deployment's own files (development key files, live "
                "folder). Empty: `~/.local/state/belvedere/<host>-<port>-<db>`. A DuckDB "
                "store keeps them beside its file."),
        Setting("host", "BELVEDERE_HOST", "127.0.0.1",
                "Address `belvedere serve` listens on. Keep loopback unless behind a proxy."),
        Setting("port", "BELVEDERE_PORT", "8000", "Port `belvedere serve` listens on."),
        Setting("workers", "BELVEDERE_WORKERS", "1",
                "Web worker processes of `belvedere serve` (PostgreSQL store only: the "
                "embedded DuckDB file has one process). The live bridge, the retention job and "
                "the log's signatures stay in the parent process; each worker's live picture "
                "follows the store (docs/deployment.md)."),
        Setting("demo_dir", "BELVEDERE_DEMO_DIR", "demo-data",
                "Folder where `belvedere demo` writes the synthetic city's feeds."),
        Setting("reports", "BELVEDERE_REPORTS", "belvedere-reports",
                "Folder of the analysts' reports (the demo writes the backtest report there; "
                "`belvedere serve` serves it at /reports/backtest)."),
        Setting("basemap", "BELVEDERE_BASEMAP", "",
                "PMTiles basemap drawn under the map (built by `belvedere basemap` from an "
                "OpenStreetMap extract). Empty: the clean map without streets."),
        Setting("pseudonym_key", "BELVEDERE_PSEUDONYM_KEY", "",
                "Hex key for pseudonyms at the door. Empty: a key file beside the store "
                "(`<store>.pseudonym.key`, mode 0600), created on first ingest."),
        Setting("audit_key", "BELVEDERE_AUDIT_KEY", "",
                "Hex Ed25519 seed (64 digits) signing the access log's tree heads. Empty: a key "
                "file beside the store (`<store>.audit.key`, mode 0600), created on first use."),
        Setting("audit_sign_every", "BELVEDERE_AUDIT_SIGN_EVERY", "1000",
                "Sign a tree head of the access log every this many lines (0: only on "
                "`belvedere audit sign` and when `serve` starts and stops)."),
        Setting("live_dir", "BELVEDERE_LIVE_DIR", "",
                "Folder where live micro-batches are written as native files before ingest "
                "(kept when some rows were quarantined). Empty: `<store>.live` beside the store."),
        Setting("live_reference", "BELVEDERE_LIVE_REFERENCE", "demo-data",
                "Folder laid out like an ingest folder holding the reference files live feeds "
                "need: `cctv/cameras.json`, `transports/gtfs.zip`."),
        Setting("live_batch_ms", "BELVEDERE_LIVE_BATCH_MS", "50",
                "How long (ms) an MQTT micro-batch waits for more messages after its first."),
        Setting("live_batch_max", "BELVEDERE_LIVE_BATCH_MAX", "2000",
                "Messages per MQTT micro-batch at most."),
        Setting("live_queue", "BELVEDERE_LIVE_QUEUE", "8",
                "Live updates queued per browser stream; beyond, a slow reader's updates are "
                "merged into the newest (it never slows ingestion down)."),
        Setting("mqtt_url", "BELVEDERE_MQTT_URL", "",
                "MQTT broker (`mqtt://host:port`) the bridge subscribes to. Empty: `serve` runs "
                "no bridge; `belvedere live` uses mqtt://127.0.0.1:1883."),
        Setting("mqtt_client_id", "BELVEDERE_MQTT_CLIENT_ID", "belvedere-live",
                "Fixed MQTT client id: the broker keeps this persistent session's messages "
                "while belvedere is down. One id per belvedere instance."),
        Setting("mqtt_prefix", "BELVEDERE_MQTT_PREFIX", "belvedere",
                "First level(s) of the feeds' MQTT topics (`<prefix>/cctv/<camera>/events`…)."),
        Setting("mqtt_receive_maximum", "BELVEDERE_MQTT_RECEIVE_MAXIMUM", "10000",
                "Unacknowledged MQTT messages the broker may send at once (1–65535): bounds the "
                "bridge's memory; messages are acknowledged once committed."),
        Setting("gtfs_rt_url", "BELVEDERE_GTFS_RT_URL", "",
                "GTFS-realtime feed (URL or file) to poll. Empty: no poller."),
        Setting("gtfs_rt_interval_s", "BELVEDERE_GTFS_RT_INTERVAL_S", "30",
                "Seconds between two polls of the GTFS-realtime feed."),
        Setting("env", "BELVEDERE_ENV", "dev",
                "`dev` or `prod`. In `prod`, belvedere refuses to start with a default secret: "
                "demo logins with their demo passwords, an empty `pseudonym_key` or `audit_key`, "
                "a key file or a store other users can read; `belvedere demo` is refused "
                "(docs/security.md)."),
        Setting("purge_interval_h", "BELVEDERE_PURGE_INTERVAL_H", "",
                "Hours between two runs of the retention purge inside `belvedere serve` "
                "(docs/retention.md). Empty: 24 in prod, none in dev (the synthetic demo's data "
                "is of 2024: a purge would erase it); 0: none (refused in prod)."),
        Setting("dpo_contact", "BELVEDERE_DPO_CONTACT", "",
                "How to reach the data-protection officer (an e-mail or postal address), "
                "printed in the compliance dossier: record of processing, PIA, public page "
                "(`belvedere dossier`, docs/dossier.md). Empty: marked as to complete."),
    ]
}


def setting(name: str) -> str:
    """Current value of a setting."""
    return SETTINGS[name].value()


SERVER_OWNED = frozenset({"store", "home", "pseudonym_key", "audit_key", "env", "host", "port",
                          "workers", "live_dir"})
"""Settings a command handed to a running server cannot change there: which store, the keys,
the environment's rules, where the server listens and keeps its live folder are the server's."""


@contextmanager
def overlaid(env: Mapping[str, str]) -> Iterator[None]:
    """Within the block, take the ``BELVEDERE_*`` variables of ``env`` as this context's
    settings (except :data:`SERVER_OWNED` ones, which stay the process's)."""
    owned = {SETTINGS[name].env for name in SERVER_OWNED}
    given = {k: v for k, v in env.items()
             if k.startswith("BELVEDERE_") and k not in owned}
    token = _overlay.set(given)
    try:
        yield
    finally:
        _overlay.reset(token)
