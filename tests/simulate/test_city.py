"""simulate_city's contract with its caller (the CLI): arguments, progress, summary, rewrites."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from belvedere.errors import ConfigError
from belvedere.simulate import DEFAULT_START, simulate_city

FEEDS = ["police", "cctv", "pompiers", "agents", "operateur", "transports", "hopitaux",
         "evenements"]


def test_progress_is_reported_once_per_feed_then_for_the_truth(tmp_path: Path) -> None:
    calls: list[tuple[str, int, int]] = []
    summary = simulate_city(tmp_path, days=1, seed=1,
                            progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert [c[0] for c in calls] == [*FEEDS, "truth"]
    assert [c[1] for c in calls] == list(range(1, 10))
    assert {c[2] for c in calls} == {9}
    assert sorted(summary.rows) == sorted(FEEDS)
    assert summary.out == tmp_path
    assert summary.start == DEFAULT_START == date(2024, 9, 1)
    assert summary.end == date(2024, 9, 2)


@pytest.mark.parametrize(("days", "seed"), [(0, 1), (-3, 1), (5000, 1), (2, -1)])
def test_unusable_arguments_raise_config_error(tmp_path: Path, days: int, seed: int) -> None:
    with pytest.raises(ConfigError):
        simulate_city(tmp_path, days=days, seed=seed)


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ConfigError):
        simulate_city(target, days=1, seed=1)


def test_a_shorter_rerun_leaves_no_stale_cctv_day(tmp_path: Path) -> None:
    simulate_city(tmp_path, days=3, seed=1)
    simulate_city(tmp_path, days=1, seed=1)
    assert [p.name for p in (tmp_path / "cctv").glob("events-*.jsonl")] == [
        "events-2024-09-01.jsonl"]
