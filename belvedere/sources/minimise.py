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
import json
import os
import re
import secrets
from typing import TYPE_CHECKING, Any

from belvedere.errors import ConfigError

if TYPE_CHECKING:
    from belvedere.store.deployment import Deployment

KEY_ENV = "BELVEDERE_PSEUDONYM_KEY"
"""Environment variable holding the pseudonymisation key (hex), overriding the key file."""

RED_LINE_FIELDS = frozenset(
    {
        "image", "images", "img", "snapshot", "thumbnail", "frame", "photo", "video", "face",
        "faces", "face_id", "face_crop", "crop", "crops", "embedding", "embeddings",
        "feature_vector", "biometric", "track_id", "tracking_id", "track", "tracks",
        "person_id", "reid", "plate", "plates", "license_plate", "licence_plate",
        "immatriculation", "mac", "mac_address", "imsi", "imei", "msisdn", "phone", "device_id",
        "nom", "red_line_removed",
    }
)
"""Field names that betray a person, a face, a track, a phone or a plate: a payload carrying
any of them (non-empty) is rejected by sensor connectors (DESIGN.md §2). Compared in any case
and style (``TrackID``, ``track-id``, ``trackid``)."""

RED_LINE_REMOVED = "red_line_removed"
"""The one field of the placeholder that replaces, in a file kept for review, an item refused
for crossing a red line (``{"red_line_removed": true}``): the item is not kept anywhere, its line
number stays, and reading the file again refuses the placeholder the same way."""

RED_LINE_WORDS = frozenset(
    {
        "image", "snapshot", "thumbnail", "photo", "video", "face", "visage", "embedding",
        "biometric", "track", "plate", "immatriculation", "imsi", "imei", "msisdn", "phone",
        "person", "household", "foyer", "email", "courriel", "prenom", "prénom", "firstname",
        "lastname", "surname",
    }
)
"""Words that make a field name a red-line one wherever they stand in it, however it is written
(``licensePlate``, ``FACE-BOX``, ``tracklet_ids``, ``personname``). Fail closed: an innocent name
holding one (``surface``, ``template``) is refused too — sensor payloads have a strict schema."""

RED_LINE_NAME = (rf"^(?:{'|'.join(sorted(f.replace('_', '') for f in RED_LINE_FIELDS))})$|"
                 rf"{'|'.join(sorted(RED_LINE_WORDS))}")
"""A red-line field name once compacted (:func:`compact_field`): one of
:data:`RED_LINE_FIELDS`, or any name holding one of :data:`RED_LINE_WORDS` (for polars' Rust
``regex`` and Python's ``re`` alike)."""

IMAGE_PATTERN = (r"data:image/|/9j/|iVBORw0KGgo|R0lGOD[dl]h|UklGR|"
                 r'"[A-Za-z0-9+/]{200,}={0,2}\\?"')
"""An image hidden in a JSON text: a ``data:`` URL, the base64 magic numbers of JPEG
(``/9j/``), PNG, GIF and WebP anywhere, or a string that is nothing but a long base64 run — also
inside JSON nested as text (``\\"…\\"``) — for polars' Rust ``regex`` and Python's ``re``
alike."""

EMBEDDING_PATTERN = (r"\[\s*-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
                     r"(?:\s*,\s*-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?){7,}\s*\]")
"""A list of eight numbers or more in a JSON text: a feature vector (a face or re-identification
embedding) or raw bytes; aggregate events carry no lists at all."""

PSEUDONYM_PATTERN = r"\bpsn-[0-9a-f]{16}\b"
"""What :class:`Pseudonymiser` makes: stable per person, so it must never reach an output."""


def field_words(name: str) -> list[str]:
    """The lower-case words of a field name, whatever its style.

    >>> field_words("licensePlate"), field_words("IMEINumber"), field_words("face-box")
    (['license', 'plate'], ['imei', 'number'], ['face', 'box'])
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2",
                                                             name))
    return [w for w in re.split(r"[\W_]+", spaced.lower()) if w]


def compact_field(name: str) -> str:
    """A field name in lower case without separators: ``Track-ID`` → ``trackid``."""
    return re.sub(r"[\W_]+", "", name.lower())


def crosses_red_line(name: str) -> bool:
    """Whether a field named ``name`` betrays a person, face, image, track, phone or plate
    (:data:`RED_LINE_NAME`, in any case or style).

    >>> crosses_red_line("trackId"), crosses_red_line("Face_Box"), crosses_red_line("zone")
    (True, True, False)
    """
    return re.search(RED_LINE_NAME, compact_field(name)) is not None


def red_line_content(item: Any) -> str | None:
    """What makes a JSON value (a request body, a message) cross a red line — a field named for
    one at any depth (:func:`crosses_red_line`), an image or an embedding — or ``None``.

    The connectors check the same patterns on whole frames (polars); this is the form for one
    object at a time (an API request).

    >>> red_line_content({"category": "tag", "meta": {"licensePlate": "AB-123-CD"}})
    'forbidden field(s) licensePlate'
    >>> red_line_content({"comment": "data:image/png;base64,iVBORw0KGgo="})
    'an image'
    >>> red_line_content({"comment": "Abribus vandalisé."}) is None
    True
    """
    names: list[str] = []
    stack = [item]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            # An empty (null) field carries nothing, as for the connectors.
            names += [str(k) for k, v in value.items() if v is not None
                      and crosses_red_line(str(k))]
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    if names:
        return f"forbidden field(s) {', '.join(sorted(set(names)))}"
    text = json.dumps(item, ensure_ascii=False, separators=(",", ":"), default=str)
    if re.search(IMAGE_PATTERN, text):
        return "an image"
    if re.search(EMBEDDING_PATTERN, text):
        return "an embedding (a list of numbers)"
    return None


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
    def from_key_file(cls, deployment: Deployment) -> Pseudonymiser:
        """Load the key from ``$BELVEDERE_PSEUDONYM_KEY`` or the deployment's
        ``.pseudonym.key`` file, creating it (mode 0600, 32 random bytes) the first time."""
        given = cls._from_environment()
        if given is not None:
            return given
        secret = deployment.secret(".pseudonym.key")
        if secret is None:
            raise ConfigError("an in-memory deployment has no key file (use ephemeral())")
        try:
            return cls(bytes.fromhex(secret))
        except ValueError as exc:
            raise ConfigError(f"{deployment.file('.pseudonym.key')} must hold hex: {exc}"
                              ) from exc

    @classmethod
    def from_environment_or_random(cls) -> Pseudonymiser:
        """The key of ``$BELVEDERE_PSEUDONYM_KEY`` when set, else a throw-away one (an
        in-memory deployment: no file to keep it in)."""
        given = cls._from_environment()
        return given if given is not None else cls.ephemeral()

    @classmethod
    def _from_environment(cls) -> Pseudonymiser | None:
        """The key of ``$BELVEDERE_PSEUDONYM_KEY``, or ``None`` when it is not set."""
        env = os.environ.get(KEY_ENV)
        if not env:
            return None
        try:
            return cls(bytes.fromhex(env))
        except ValueError as exc:
            raise ConfigError(f"{KEY_ENV} must be hex: {exc}") from exc

    @classmethod
    def ephemeral(cls) -> Pseudonymiser:
        """A throw-away key (for an in-memory store): pseudonyms do not survive the process."""
        return cls(secrets.token_bytes(32))
