"""Payloads that cross a red line, for the fuzz tests of every ingestion entry point.

A *carrier* is what a video-analytics box must never send: an image (base64 JPEG/PNG/GIF/WebP
magic bytes, ``data:`` URLs, a bare base64 blob), an embedding (a list of numbers), a track id,
a plate or a face box — under field names in every style (``track_id``, ``trackId``,
``TRACK-ID``, ``trackid``…), at the top of an event or nested in objects and lists, or hidden in
an allowed field's value. Each carrier holds *needles*: strings that must be found nowhere in the
store (or the live folder) once the payload has been refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from belvedere.store.base import Store
from tests import rawsql

IMAGE_PREFIXES = (
    "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD",
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB",
    "data:image/gif;base64,",
    "data:image/webp;base64,UklGRiQAAABXRUJQVlA4",
    "/9j/4AAQSkZJRgABAQAAAQABAAD",
    "/9j/4QAYRXhpZgAASUkqAAgAAAAAAAAAAAAAAP",
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAf",
    "R0lGODlhAQABAIAAAP",
    "UklGRiQAAABXRUJQVlA4IBgAAAAwAQCdASo",
)
TRACK_NAMES = (("track", "id"), ("tracking", "id"), ("track",), ("tracks",), ("tracklet",),
               ("person", "id"), ("re", "id"), ("object", "track", "id"))
PLATE_NAMES = (("plate",), ("license", "plate"), ("licence", "plate"), ("plate", "number"),
               ("immatriculation",), ("plates",), ("lpr", "plate"), ("vehicle", "plate"))
FACE_NAMES = (("face",), ("faces",), ("face", "box"), ("face", "bbox"), ("face", "crop"),
              ("visage",), ("face", "rect"), ("detected", "faces"))
IMAGE_NAMES = (("snapshot",), ("image",), ("thumbnail",), ("photo",), ("frame",),
               ("image", "b64"), ("jpeg", "image"))
INNOCENT = ("meta", "extra", "payload", "data", "attributes", "analytics", "x", "info",
            "details", "properties", "blob", "attachment")
"""Field names that cross no red line: an image or an embedding may hide under them."""
ALLOWED = ("event_id", "camera_id", "type", "ts", "window_s", "value", "confidence")
"""The CCTV schema's own fields: an image may hide in their values too."""
LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"

STYLES: dict[str, Callable[[tuple[str, ...]], str]] = {
    "snake": lambda w: "_".join(w),
    "camel": lambda w: w[0] + "".join(x.capitalize() for x in w[1:]),
    "pascal": lambda w: "".join(x.capitalize() for x in w),
    "upper": lambda w: "_".join(w).upper(),
    "kebab": lambda w: "-".join(w),
    "squashed": lambda w: "".join(w),
    "spaced": lambda w: " ".join(x.capitalize() for x in w),
}


@dataclass(frozen=True)
class Carrier:
    """One red-line item: placed at ``key`` (``None``: the event's own field ``field``)."""

    kind: str
    key: str
    value: Any
    needles: tuple[str, ...]


def marker() -> st.SearchStrategy[str]:
    """A string found nowhere else: base64-safe, so it can sit inside an image."""
    return st.text(alphabet=LETTERS, min_size=14, max_size=14).map(lambda s: f"RL{s}")


def names(words: tuple[tuple[str, ...], ...]) -> st.SearchStrategy[str]:
    """The field names ``words`` spell, in every style."""
    return st.builds(lambda w, style: STYLES[style](w), st.sampled_from(words),
                     st.sampled_from(sorted(STYLES)))


@st.composite
def images(draw: st.DrawFn, *, keys: st.SearchStrategy[str] | None = None) -> Carrier:
    mark = draw(marker())
    if draw(st.booleans()):
        value = draw(st.sampled_from(IMAGE_PREFIXES)) + mark + "AAAA" * draw(
            st.integers(0, 20))
    else:  # nothing but a long base64 run
        value = "QUJDRA" * draw(st.integers(34, 60)) + mark + "=="
    key = draw(keys if keys is not None else st.one_of(
        st.sampled_from(INNOCENT + ALLOWED), names(IMAGE_NAMES)))
    return Carrier("image", key, value, (mark,))


@st.composite
def embeddings(draw: st.DrawFn) -> Carrier:
    # Thirteen digits, the last not 0: the float's JSON text holds exactly these.
    first = draw(st.integers(10**11, 10**12 - 1)) * 10 + draw(st.integers(1, 9))
    rest = draw(st.lists(st.one_of(
        st.floats(-1, 1, allow_nan=False, width=32),
        st.integers(0, 255)), min_size=7, max_size=40))
    value: Any = [float(f"0.{first}"), *rest]
    mark = draw(marker())
    if draw(st.booleans()):
        value = {"vector": value, "model": mark}
    return Carrier("embedding", draw(st.sampled_from(INNOCENT)), value,
                   (str(first), mark) if isinstance(value, dict) else (str(first),))


@st.composite
def tracks(draw: st.DrawFn) -> Carrier:
    mark = draw(marker())
    value: Any = draw(st.sampled_from([mark, [mark], {"id": mark, "age_s": 12}]))
    return Carrier("track", draw(names(TRACK_NAMES)), value, (mark,))


@st.composite
def plates(draw: st.DrawFn) -> Carrier:
    letters = st.text(alphabet=LETTERS, min_size=2, max_size=2)
    plate = f"{draw(letters)}-{draw(st.integers(100, 999))}-{draw(letters)}"
    value: Any = draw(st.sampled_from([plate, {"text": plate, "confidence": 0.9},
                                       [plate]]))
    return Carrier("plate", draw(names(PLATE_NAMES)), value, (plate,))


@st.composite
def faces(draw: st.DrawFn) -> Carrier:
    mark = draw(marker())
    box = draw(st.lists(st.integers(0, 1920), min_size=4, max_size=4))
    value: Any = draw(st.sampled_from([
        {"x": box[0], "y": box[1], "w": box[2], "h": box[3], "id": mark},
        [{"box": box, "id": mark}],
        {"boxes": [box], "ref": mark},
    ]))
    return Carrier("face", draw(names(FACE_NAMES)), value, (mark,))


def carriers() -> st.SearchStrategy[Carrier]:
    """Any red-line carrier."""
    return st.one_of(images(), embeddings(), tracks(), plates(), faces())


@st.composite
def planted(draw: st.DrawFn, event: dict[str, Any], carrier: Carrier) -> dict[str, Any]:
    """``event`` with ``carrier`` put in: at the top, or nested in objects and lists."""
    if carrier.key in ALLOWED:
        return {**event, carrier.key: carrier.value}
    item: Any = {carrier.key: carrier.value}
    for _ in range(draw(st.integers(0, 3))):
        item = [item] if draw(st.booleans()) else {draw(st.sampled_from(INNOCENT)): item}
    if isinstance(item, list):
        item = {draw(st.sampled_from(INNOCENT)): item}
    return {**event, **item}


def store_text(store: Store) -> str:
    """Everything the store holds, every table, as text (whatever its backend)."""
    return "\n".join(json.dumps(rawsql.query(store, f'SELECT * FROM "{t}"'), default=str)
                     for t in rawsql.tables(store))


def folder_text(folder: Path) -> str:
    """Every file under ``folder``, as text."""
    if not folder.exists():
        return ""
    return "\n".join(p.read_bytes().decode("utf-8", "replace")
                     for p in sorted(folder.rglob("*")) if p.is_file())


def leaked(carrier: Carrier, *texts: str) -> list[str]:
    """The carrier's needles found in ``texts``."""
    return [n for n in carrier.needles if any(n in t for t in texts)]
