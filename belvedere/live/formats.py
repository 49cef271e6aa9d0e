"""How a live message maps onto a connector's native file, per feed.

A live message is turned back into the feed's own format and read by the feed's own connector,
so that validation, minimisation, redaction and quarantine are those of batch ingestion. Each
feed declares one :class:`PayloadFormat`:

- ``json_lines`` (``cctv``): a message is one event object (or an array of them), exactly a line
  of ``events-*.jsonl``; a micro-batch is written as one JSON Lines file.
- ``json_array`` (``field_reports``, ``events``): a message is one object of the feed's JSON
  export (or an array of them); a micro-batch is written as one JSON array.
- ``delimited`` (``police_log``, ``fire_ems``, any incident-log mapping, ``mobile_presence``,
  ``hospital_ed``): a message is one JSON object keyed by the export's own column names, values
  as the export writes them (``"43,29512"``, ``"02/03/2024 17:45"``); a micro-batch is written
  as one export with the feed's separator, quote and encoding, the header being the union of
  the keys in order of appearance.
- ``protobuf`` (``transit``): a message is one whole GTFS-realtime ``FeedMessage``; each is its
  own file (protobuf messages are snapshots, not rows).

A delimited feed also takes a whole export as one payload (``text/csv`` on the push endpoint):
that is a file, like a GTFS-realtime message. Whatever cannot become a row of the native file
(a payload that is not JSON, an item that is not an object, a value the declared encoding cannot
write) is refused here with rule ``bad_json`` or ``bad_encoding`` — and quarantined by the
caller with that reason, never dropped.

Example:
    >>> from belvedere.sources.base import get_source
    >>> fmt = payload_format(get_source("police_log"))
    >>> fmt.kind, fmt.separator
    ('delimited', ';')
    >>> items, refused = decode([b'{"numero_fiche": "MC-1"}', b"not json"])
    >>> len(items), refused[0].rule
    (1, 'bad_json')
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from belvedere.errors import ConfigError
from belvedere.sources.base import Source
from belvedere.sources.incident_log import IncidentLog

Kind = Literal["json_lines", "json_array", "delimited", "protobuf"]


@dataclass(frozen=True, slots=True)
class PayloadFormat:
    """How one feed's messages are written as its native file.

    Attributes:
        kind: see the module docstring.
        suffix: the native file's suffix (the connector may dispatch on it).
        folder: sub-folder of the feed's folder the file goes to (``realtime`` for GTFS-rt).
        references: files the connector reads beside the data (``cameras.json``) or one folder
            up (``gtfs.zip`` for ``realtime/*.pb``), copied from the reference folder.
        separator, quote, encoding: for ``delimited`` feeds.
    """

    kind: Kind
    suffix: str
    folder: str = ""
    references: tuple[str, ...] = ()
    separator: str = ";"
    quote: str = '"'
    encoding: str = "utf-8"

    @property
    def itemised(self) -> bool:
        """Whether a message is an item (a row) rather than a whole file."""
        return self.kind != "protobuf"


FORMATS: dict[str, PayloadFormat] = {
    "cctv": PayloadFormat("json_lines", ".jsonl", references=("cameras.json",)),
    "field_reports": PayloadFormat("json_array", ".json"),
    "events": PayloadFormat("json_array", ".json"),
    "mobile_presence": PayloadFormat("delimited", ".csv"),
    "hospital_ed": PayloadFormat("delimited", ".csv"),
    "transit": PayloadFormat("protobuf", ".pb", folder="realtime", references=("gtfs.zip",)),
}
"""The built-in feeds that are not incident-log mappings (those are derived from the mapping)."""


def payload_format(source: Source) -> PayloadFormat:
    """The payload format of ``source``'s live messages.

    Raises:
        ConfigError: the feed has no live format (a third-party connector not declared here).
    """
    if isinstance(source, IncidentLog):
        spec = source.mapping.file
        return PayloadFormat("delimited", ".csv", separator=spec.separator, quote=spec.quote,
                             encoding="utf-8" if spec.encoding == "auto" else spec.encoding)
    try:
        return FORMATS[source.info.name]
    except KeyError:
        raise ConfigError(f"feed {source.info.name!r} has no live payload format; live feeds: "
                          f"{', '.join(sorted(FORMATS))} and the incident-log mappings") from None


@dataclass(frozen=True, slots=True)
class Refused:
    """A payload or item that cannot become a row of the native file."""

    position: int  # 1-based position of the payload in the micro-batch
    rule: str
    reason: str


def decode(payloads: Sequence[bytes]) -> tuple[list[dict[str, Any]], list[Refused]]:
    """The JSON objects carried by ``payloads`` (each an object or an array of objects) and
    what was refused, in order."""
    items: list[dict[str, Any]] = []
    refused: list[Refused] = []
    for position, payload in enumerate(payloads, start=1):
        try:
            value = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            refused.append(Refused(position, "bad_json", f"message {position} of the batch is "
                                   f"not JSON: {exc}"))
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                items.append(item)
            else:
                refused.append(Refused(position, "bad_json", f"message {position} of the batch "
                                       f"holds a JSON {type(item).__name__}, not an object"))
    return items, refused


def render(fmt: PayloadFormat, items: list[dict[str, Any]]) -> tuple[bytes, list[Refused]]:
    """The native file of ``items`` (an itemised format), and the items it could not hold."""
    if fmt.kind == "json_lines":
        return "".join(_json(i) + "\n" for i in items).encode("utf-8"), []
    if fmt.kind == "json_array":
        return ("[" + ",\n".join(_json(i) for i in items) + "]").encode("utf-8"), []
    if fmt.kind == "delimited":
        return _delimited(fmt, items)
    raise ConfigError(f"a {fmt.kind} payload is a whole file, not items")


def _json(item: dict[str, Any]) -> str:
    # One line whatever the producer's layout: JSON escapes every newline inside strings.
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def _cell(value: Any) -> str:
    """A JSON value as the text of a delimited field."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return _json(value)


def _delimited(fmt: PayloadFormat, items: list[dict[str, Any]]) -> tuple[bytes, list[Refused]]:
    header = list(dict.fromkeys(key for item in items for key in item))
    lines: list[bytes] = [_row(fmt, header)]
    refused: list[Refused] = []
    for position, item in enumerate(items, start=1):
        try:
            lines.append(_row(fmt, [_cell(item.get(key)) for key in header]))
        except UnicodeEncodeError as exc:
            refused.append(Refused(position, "bad_encoding", f"item {position} of the batch "
                                   f"cannot be written in the feed's encoding {fmt.encoding}: "
                                   f"{exc.reason}"))
    return b"".join(lines), refused


def _row(fmt: PayloadFormat, fields: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=fmt.separator, quotechar=fmt.quote, lineterminator="\n").writerow(
        fields)
    return out.getvalue().encode(fmt.encoding)
