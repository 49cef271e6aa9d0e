"""⑤ The red line "place-based only" as a check that any output can be put through.

DESIGN.md §2: no output, route, export or model is keyed by a person, phone, plate, face, track
or household; outputs are keyed by a space-time cell or a zone. :func:`person_findings` walks an
output — the JSON of an API answer, an export's columns and values, a model's explanation — and
lists every field **named** for a person (:func:`person_key`: whole words of the name, unlike the
connectors' fail-closed substrings) and every **text value** that looks
like one: an e-mail address, a phone number, a plate, a social-security number or an IBAN (the
rules of :mod:`belvedere.sources.redact`, so the door and the exit recognise the same things), or
a keyed pseudonym (``psn-…``).

What is not a finding, on purpose:

- names of places, feeds and sources: the field ``name`` (a zone's, a venue's, a feed's) is
  allowed, and its values are checked like every text;
- belvedere's own users where accountability needs them (:data:`STAFF_FIELDS`: the caller's
  ``username``, who acknowledged or closed an alert, the pseudonymised ``actor`` of the access
  log): they are the staff acting on the system, not people the data is about, and no output is
  keyed by them. Their values are not checked.

``REDLINES.md`` (repository root) lists the tests that run this over every route, export and
model output.

Example:
    >>> person_findings({"rows": [{"place": "13201", "value": 4}]})
    []
    >>> [f.what for f in person_findings({"rows": [{"plate": "AB-123-CD", "note": "x@y.fr"}]})]
    ['field name', 'email', 'plate']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from belvedere.sources.minimise import (
    PSEUDONYM_PATTERN,
    RED_LINE_FIELDS,
    RED_LINE_WORDS,
    field_words,
)
from belvedere.sources.redact import RULES

PERSON_WORDS = frozenset({
    "resident", "residents", "habitant", "habitants", "individu", "individual", "citizen",
    "suspect", "suspects", "victim", "victime", "witness", "temoin", "témoin", "driver",
    "conducteur", "owner", "proprietaire", "propriétaire", "patient", "passenger", "menage",
    "ménage", "families", "family", "famille", "birth", "naissance", "nir", "ssn", "passport",
    "passeport", "reporter", "ip", "telephone", "téléphone", "portable", "imsi", "iccid",
})
"""Words that make an output field person-keyed, beyond the connectors' red-line words
(:data:`belvedere.sources.minimise.RED_LINE_WORDS`: person, phone, plate, face, track, household,
e-mail, names…)."""

STAFF_FIELDS = frozenset({"username", "actor", "acknowledged_by", "closed_by", "created_by",
                          "revoked_by", "by"})
"""Fields naming belvedere's own users for accountability (see the module doc)."""

VALUE_KINDS = ("email", "iban", "nir", "phone", "plate")
"""The kinds of :data:`belvedere.sources.redact.RULES` a text value must never match (names after
a civility and card-like digit runs are left to the field-name check: place names and ids
would trip them)."""

_VALUE_RULES = [(kind, pattern) for kind, pattern in RULES if kind in VALUE_KINDS]


@dataclass(frozen=True, slots=True)
class Finding:
    """One place where an output identifies a person.

    Attributes:
        path: where in the output (``rows[3].place``; ``columns`` for a table's header).
        what: ``field name``, or the kind of value (``phone``, ``plate``, ``email``,
            ``pseudonym``…).
        text: the field name, or the value found.
    """

    path: str
    what: str
    text: str


def person_key(name: str) -> bool:
    """Whether an output field named ``name`` identifies a person, phone, plate, face, track or
    household (in any case or style: ``personId``, ``TRACK_ID``, ``numero-telephone``).

    >>> person_key("track_id"), person_key("householdSize"), person_key("surface")
    (True, True, False)
    """
    if name.lower() in STAFF_FIELDS:
        return False
    # Whole words here, not the connectors' substrings: an output's "surface" is a surface.
    words = field_words(name)
    return "_".join(words) in RED_LINE_FIELDS or any(
        w in vocabulary or w.removesuffix("s") in vocabulary
        for w in words for vocabulary in (RED_LINE_WORDS, PERSON_WORDS))


def person_findings(output: Any) -> list[Finding]:
    """Every person-keyed field and person-like text value in ``output``: JSON-like values
    (dicts, lists, scalars), polars frames or Arrow tables (their column names and values)."""
    findings: list[Finding] = []
    texts: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", _plain(output))]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = str(key)
                where = f"{path}.{name}" if path else name
                if person_key(name):
                    findings.append(Finding(where, "field name", name))
                if name.lower() not in STAFF_FIELDS:
                    stack.append((where, item))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            texts.append((path, value))
    return findings + _value_findings(texts)


def _plain(output: Any) -> Any:
    """Tables as ``{"columns": {name: None…}, "rows": [[value…]…]}`` (each name once);
    anything else as it is."""
    if isinstance(output, pa.Table):
        output = pl.from_arrow(output)
    if isinstance(output, pl.DataFrame):
        return {"columns": dict.fromkeys(output.columns), "rows": output.rows()}
    return output


def _value_findings(texts: list[tuple[str, str]]) -> list[Finding]:
    """Person-like values among ``texts``, matched in bulk (one regex pass per rule)."""
    if not texts:
        return []
    values = pl.Series([t for _, t in texts], dtype=pl.String)
    found: list[Finding] = []
    rules = [*_VALUE_RULES, ("pseudonym", PSEUDONYM_PATTERN)]
    for kind, pattern in rules:
        hits = values.str.contains(pattern).fill_null(False).arg_true().to_list()
        found += [Finding(texts[i][0], kind, texts[i][1]) for i in hits]
    return found


def text_findings(text: str) -> list[Finding]:
    """Person-like values in a document's text (a PDF or HTML export), line by line."""
    return _value_findings([(f"line {i}", line)
                            for i, line in enumerate(re.split(r"\r?\n", text), start=1)
                            if line.strip()])
