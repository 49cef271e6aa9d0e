"""Every connector has its page, every quarantine rule it applies is named there, and the
mapping schema is documented key by key (the pages are checked against the code's text)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from belvedere.sources import mapping
from belvedere.sources.base import registry
from belvedere.sources.mapping import packaged_mappings

DOCS = Path(__file__).resolve().parent.parent / "docs"
CONNECTORS = sorted(registry().items())

RULE = re.compile(r'\bRule\(\s*"([a-z_]+)"')
HELPERS = {
    "required(": "no_id",
    "hourly_rules(": "bad_time",
    "outside_city_rule(": "outside_area",
    "read_json_records(": "bad_json",
    "red_line_rule(": "red_line",
}
"""Shared helpers (``belvedere/sources/tabular.py``) that add a rule when a connector calls them."""
KEY = re.compile(r'\.(?:get|choice)\(\s*"([a-z_]+)"')
TABLE = re.compile(r'\.table_reader\(\s*"([a-z_]+)"')


def rule_names(module_source: str) -> set[str]:
    """The quarantine rules a connector's module applies, read from its source text."""
    names = set(RULE.findall(module_source))
    names |= {rule for call, rule in HELPERS.items() if call in module_source}
    return names


def test_there_are_connectors_to_check() -> None:
    assert len(CONNECTORS) >= 8


@pytest.mark.parametrize(("name", "source"), CONNECTORS, ids=[n for n, _ in CONNECTORS])
def test_every_connector_has_a_page_with_a_sample_and_its_rules(name: str, source: object) -> None:
    page = DOCS / "connectors" / f"{name}.md"
    assert page.exists(), f"docs/connectors/{name}.md is missing"
    text = page.read_text("utf-8")
    assert re.search(r"^```", text, re.MULTILINE), f"{page.name}: no fenced sample"
    # The mapping-driven logs (police_log, fire_ems) are IncidentLog: incident_log.py's rules.
    module = inspect.getsource(inspect.getmodule(type(source)))  # type: ignore[arg-type]
    rules = rule_names(module)
    assert rules, name
    missing = sorted(r for r in rules if f"`{r}`" not in text)
    assert not missing, f"{page.name} does not name rule(s) {missing}"


def test_every_packaged_mapping_is_listed() -> None:
    text = (DOCS / "mappings.md").read_text("utf-8")
    names = packaged_mappings()
    assert "toronto_mci" in names
    assert not [n for n in names if f"`{n}`" not in text]


def test_every_mapping_key_and_table_is_documented() -> None:
    text = (DOCS / "mappings.md").read_text("utf-8")
    code = inspect.getsource(mapping)
    keys, tables = set(KEY.findall(code)), set(TABLE.findall(code))
    assert {"hash", "identical_rows", "zone_range", "mode"} <= keys
    assert {"source", "attrs", "narrative"} <= tables
    assert not sorted(k for k in keys if f"`{k}`" not in text)
    assert not sorted(t for t in tables if f"`[{t}]`" not in text)
