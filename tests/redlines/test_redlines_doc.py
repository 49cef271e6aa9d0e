"""REDLINES.md maps every red line of DESIGN.md §2 to the tests that enforce it; this keeps the
map true: every test it names exists, every red-line test is named in it, and every line has
at least one test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REDLINES = ROOT / "REDLINES.md"
LINES = ("Place-based only", "No biometrics, no facial recognition, no images",
         "No social-media surveillance, no targeting of demonstrators",
         "Minimisation at the door", "Small counts never leave", "Forecasts are advice")
"""The red lines of DESIGN.md §2, in its order."""
TEST_ID = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def sections() -> dict[str, list[tuple[str, str]]]:
    """Red line title → the test ids its section names."""
    text = REDLINES.read_text("utf-8")
    parts = re.split(r"^## \d+\. (.+)$", text, flags=re.MULTILINE)
    return {title.strip(): TEST_ID.findall(body) for title, body in zip(
        parts[1::2], parts[2::2], strict=True)}


def defined_tests(path: Path) -> set[str]:
    """The test functions a module defines (module level, as pytest collects them)."""
    tree = ast.parse(path.read_text("utf-8"))
    return {n.name for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")}


def test_redlines_md_has_every_red_line_of_the_design_each_with_tests() -> None:
    found = sections()
    assert list(found) == list(LINES)
    assert all(found[line] for line in LINES), {k: len(v) for k, v in found.items()}


def test_every_test_named_in_redlines_md_exists() -> None:
    missing = [f"{path}::{name}" for ids in sections().values() for path, name in ids
               if not (ROOT / path).is_file() or name not in defined_tests(ROOT / path)]
    assert missing == []


def test_every_red_line_test_is_named_in_redlines_md() -> None:
    named = {(path, name) for ids in sections().values() for path, name in ids}
    folder = ROOT / "tests" / "redlines"
    modules = [*folder.glob("test_*.py"), ROOT / "tests" / "live" / "test_red_lines_mqtt.py"]
    unnamed = [f"{m.relative_to(ROOT)}::{name}" for m in modules
               if m.name != Path(__file__).name for name in sorted(defined_tests(m))
               if (str(m.relative_to(ROOT)), name) not in named]
    assert unnamed == []
