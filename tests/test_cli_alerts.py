"""``belvedere detect`` replays the detector over a stored period and records alerts;
``belvedere alerts`` lists them through the release gate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from belvedere.cli import app
from belvedere.store.factory import open_store
from tests.backends import copy_store, discard_store


@pytest.fixture
def city_copy(city_store_url: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a private copy of the ingested city (the commands write alerts to it)."""
    url = copy_store(city_store_url, tmp_path)
    yield url
    discard_store(url)


def test_detect_replays_a_stored_period_and_alerts_lists_what_it_recorded(
        city_copy: str) -> None:
    path = city_copy
    runner = CliRunner(env={"COLUMNS": "200"})  # no wrapped lines to match
    refused = runner.invoke(app, ["detect", "--store", path, "--start",
                                  "2024-09-03T00:00:00+00:00", "--end",
                                  "2024-09-04T00:00:00+00:00"])
    assert refused.exit_code == 2 and "needs a week of data before it" in refused.output
    done = runner.invoke(app, ["detect", "--store", path, "--start",
                               "2024-09-12T00:00:00+00:00", "--end",
                               "2024-09-14T00:00:00+00:00"])
    assert done.exit_code == 0, done.output
    assert "48 hourly passes (1 fits)" in done.output
    db = open_store(path)
    stored = db.alerts()
    audit_before = len(db.audit_rows())
    db.close()
    assert all(a.status == "open" and a.opened_at.day in (12, 13, 14) for a in stored)
    listed = runner.invoke(app, ["alerts", "--store", path, "--role", "dpo",
                                 "--purpose", "dpo_review"])
    assert listed.exit_code == 0, listed.output
    assert "granted zone, k = 11" in listed.output
    assert f"{len(stored)} alerts; audit line" in listed.output
    db = open_store(path)
    (line,) = db.audit_rows()[audit_before:]
    db.close()
    assert (line.role, line.action, line.rows_released) == ("dpo", "consultation", len(stored))
    bad = runner.invoke(app, ["alerts", "--store", path, "--status", "sent"])
    assert bad.exit_code == 2 and "unknown alert status 'sent'" in bad.output
