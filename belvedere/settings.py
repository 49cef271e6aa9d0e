"""Every setting in one table, with its environment variable, default and help text.

``docs/settings.md`` is generated from :data:`SETTINGS` (``belvedere settings``) and a test checks
that each setting is documented there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting."""

    name: str
    env: str
    default: str
    help: str

    def value(self) -> str:
        """The current value: the environment variable, else the default."""
        return os.environ.get(self.env, self.default)


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting("store", "BELVEDERE_STORE", "belvedere.duckdb",
                "Path of the DuckDB store file (created and migrated on first use)."),
        Setting("host", "BELVEDERE_HOST", "127.0.0.1",
                "Address `belvedere serve` listens on. Keep loopback unless behind a proxy."),
        Setting("port", "BELVEDERE_PORT", "8000", "Port `belvedere serve` listens on."),
        Setting("demo_dir", "BELVEDERE_DEMO_DIR", "demo-data",
                "Folder where `belvedere demo` writes the synthetic city's feeds."),
        Setting("reports", "BELVEDERE_REPORTS", "belvedere-reports",
                "Folder of the analysts' reports (the demo writes the backtest report there; "
                "`belvedere serve` serves it at /reports/backtest)."),
        Setting("pseudonym_key", "BELVEDERE_PSEUDONYM_KEY", "",
                "Hex key for pseudonyms at the door. Empty: a key file beside the store "
                "(`<store>.pseudonym.key`, mode 0600), created on first ingest."),
    ]
}


def setting(name: str) -> str:
    """Current value of a setting."""
    return SETTINGS[name].value()
