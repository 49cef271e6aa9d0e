"""Minimisation at the door: keyed pseudonyms and the red-line field names.

Runs before anything is stored, so it lives with the connectors. Personal identifiers that a
feed needs to keep distinct (a field agent's id) are replaced by a keyed HMAC-SHA256 pseudonym
whose key is kept outside the store (a separate file, or the environment); free text, images and
addresses are dropped by each connector's allowlist.

Example:
    >>> p = Pseudonymiser(b"k" * 32)
    >>> p("agent-0042") == p("agent-0042"), p("agent-0042") != p("agent-0043")
    (True, True)
    >>> p("agent-0042")[:4]
    'psn-'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from belvedere.errors import ConfigError

KEY_ENV = "BELVEDERE_PSEUDONYM_KEY"
"""Environment variable holding the pseudonymisation key (hex), overriding the key file."""

RED_LINE_FIELDS = frozenset(
    {
        "image", "images", "snapshot", "thumbnail", "frame", "photo", "video", "face", "faces",
        "face_id", "face_crop", "crop", "crops", "embedding", "embeddings", "feature_vector",
        "biometric", "track_id", "tracking_id", "track", "tracks", "person_id", "reid",
        "plate", "plates", "license_plate", "licence_plate", "immatriculation", "mac",
        "mac_address", "imsi", "imei", "msisdn", "phone", "device_id",
    }
)
"""Field names that betray a person, a face, a track, a phone or a plate: a payload carrying
any of them (non-empty) is rejected by sensor connectors (DESIGN.md §2)."""


class Pseudonymiser:
    """Keyed, stable pseudonyms: ``psn-`` + 16 hex digits of HMAC-SHA256(key, value)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ConfigError("the pseudonymisation key must be at least 16 bytes")
        self._key = key

    def __call__(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"psn-{digest[:16]}"

    @classmethod
    def from_key_file(cls, path: Path) -> Pseudonymiser:
        """Load the key from ``$BELVEDERE_PSEUDONYM_KEY`` or ``path``, creating the file
        (mode 0600, 32 random bytes) the first time."""
        env = os.environ.get(KEY_ENV)
        if env:
            try:
                return cls(bytes.fromhex(env))
            except ValueError as exc:
                raise ConfigError(f"{KEY_ENV} must be hex: {exc}") from exc
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    @classmethod
    def ephemeral(cls) -> Pseudonymiser:
        """A throw-away key (for an in-memory store): pseudonyms do not survive the process."""
        return cls(secrets.token_bytes(32))
