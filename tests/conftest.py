"""Shared fixtures: a fresh DuckDB store file, and a small synthetic city ingested once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from belvedere.store.duckdb_store import DuckDBStore

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    """An empty, migrated store in a real DuckDB file."""
    db = DuckDBStore(tmp_path / "test.duckdb")
    yield db
    db.close()


@pytest.fixture(scope="session")
def city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fourteen days of the synthetic city (covering real OM home fixtures), written once."""
    from belvedere.simulate import simulate_city

    out = tmp_path_factory.mktemp("city")
    simulate_city(out, days=14, seed=11)
    return out


@pytest.fixture(scope="session")
def city_store_path(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding the 14-day city, ingested once (open it with DuckDBStore)."""
    from belvedere.sources.ingest import ingest_folder

    path = tmp_path_factory.mktemp("citystore") / "city.duckdb"
    db = DuckDBStore(path)
    ingest_folder(db, city_dir)
    db.close()
    return path


@pytest.fixture
def city_store(city_store_path: Path, tmp_path: Path) -> Iterator[DuckDBStore]:
    """A private copy of the ingested city store (tests may write to it)."""
    import shutil

    copy = tmp_path / "city.duckdb"
    shutil.copy(city_store_path, copy)
    key = Path(f"{city_store_path}.pseudonym.key")
    if key.exists():
        shutil.copy(key, Path(f"{copy}.pseudonym.key"))
    db = DuckDBStore(copy)
    yield db
    db.close()
