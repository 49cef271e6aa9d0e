"""`belvedere purge`: a dry run shows what is due; a purge erases it and logs receipts."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from belvedere.cli import app
from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests.backends import copy_store, discard_store


@pytest.fixture
def city_copy(city_store_url: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a private copy of the ingested city (the purge erases from it)."""
    url = copy_store(city_store_url, tmp_path)
    yield url
    discard_store(url)


def test_purge_command_dry_run_then_purge(city_copy: str) -> None:
    store = city_copy
    db = open_store(store)
    period = db.data_period()
    cctv = db.count("measurements", "cctv")
    events = db.count("incidents", "cctv")
    db.close()
    assert period is not None
    later = (period[1] + timedelta(days=31)).isoformat()
    runner = CliRunner()
    dry = runner.invoke(app, ["purge", "--store", store, "--now", later, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run, nothing erased" in dry.output and f"{cctv:,}" in dry.output
    done = runner.invoke(app, ["purge", "--store", store, "--now", later])
    assert done.exit_code == 0, done.output
    assert "audit #2" in done.output and f"{cctv + events:,} rows erased." in done.output
    db = open_store(store)
    assert db.count("measurements", "cctv") == 0
    lines = [json.loads(r.what) for r in db.audit_rows() if r.action == "erasure"]
    assert [(w["dataset"], w["count"]) for w in lines][1] == ("cctv_measurements", cctv)
    db.close()


def test_purge_command_refuses_a_future_now_in_prod(store_url: str) -> None:
    result = CliRunner().invoke(
        app, ["purge", "--store", store_url, "--now", "2999-01-01"],
        env={**os.environ, "BELVEDERE_ENV": "prod"})
    assert result.exit_code == 2 and "later than the clock" in result.output
    bad = CliRunner().invoke(app, ["purge", "--store", store_url, "--now", "soon"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_serve_runs_the_retention_job_when_the_settings_ask(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from belvedere.cli.serving import _start_retention

    assert _start_retention(store) is None  # dev, no interval: the demo is not erased
    monkeypatch.setenv("BELVEDERE_PURGE_INTERVAL_H", "24")
    job = _start_retention(store)
    assert job is not None and job.interval == timedelta(hours=24)
    assert job.ran.wait(30) and job.runs == 1 and job.last_error is None
    job.stop()
