"""A deployment's own files: the key every process of one deployment must share."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from belvedere.store.deployment import Deployment

PROCESSES = 8


def _read_key(url: str, start: object) -> str | None:
    start.wait()  # type: ignore[attr-defined]
    return Deployment.from_url(url).secret(".pseudonym.key")


def test_processes_starting_at_once_all_get_the_first_key_written_whole(tmp_path: Path) -> None:
    url = str(tmp_path / "city.duckdb")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Event()
    with ctx.Pool(PROCESSES) as pool:
        pending = [pool.apply_async(_read_key, (url, start)) for _ in range(PROCESSES)]
        start.set()
        keys = [p.get(timeout=60) for p in pending]
    assert len(set(keys)) == 1 and len(keys[0] or "") == 64
    path = Deployment.from_url(url).file(".pseudonym.key")
    assert path is not None and path.read_text().strip() == keys[0]
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)
    # No draft is left behind, and a later call reads the same key without writing.
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]
    assert Deployment.from_url(url).secret(".pseudonym.key") == keys[0]


def test_without_create_a_missing_key_is_none_and_nothing_is_written(tmp_path: Path) -> None:
    deployment = Deployment.from_url(str(tmp_path / "city.duckdb"))
    assert deployment.secret(".audit.key", create=False) is None
    assert list(tmp_path.iterdir()) == []
    assert Deployment.from_url(":memory:").secret(".audit.key") is None
    assert os.listdir(tmp_path) == []
