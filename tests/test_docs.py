"""Everything a user can set, feed or call is documented (datasette's rule)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from belvedere.api.main import create_app
from belvedere.settings import SETTINGS
from belvedere.sources.base import registry
from belvedere.store.base import Store

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_documented_with_its_variable_and_default() -> None:
    text = (DOCS / "settings.md").read_text()
    for s in SETTINGS.values():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{s.name}` ")), "")
        assert f"`{s.env}`" in row, s.name
        assert (f"`{s.default}`" in row) if s.default else "(empty)" in row


def test_every_connector_is_documented_in_feeds() -> None:
    text = (DOCS / "feeds.md").read_text()
    for name, source in registry().items():
        assert f"`{name}`" in text and f"`{source.info.folder}/`" in text, name


def test_every_api_route_is_documented(store: Store) -> None:
    text = (DOCS / "api.md").read_text()
    app = create_app(store)
    routes = {p for p in app.openapi()["paths"] if p.startswith("/api/v1")}
    assert len(routes) >= 10
    for path in routes:
        assert re.search(rf"`{re.escape(path)}`", text), path


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], capture_output=True, text=True, cwd=DOCS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout
