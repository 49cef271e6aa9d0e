"""Shared fixtures: a fresh store, and a small synthetic city ingested once.

The backend is DuckDB (a real file) unless ``BELVEDERE_TEST_BACKEND=postgresql`` (a real
PostgreSQL database per test): see ``tests/backends.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests.backends import IN_CI, copy_store, discard_store, new_store_url

__all__ = ["IN_CI"]


@pytest.fixture
def store_url(tmp_path: Path) -> Iterator[str]:
    """The URL of an empty store of the tests' backend (a DuckDB file, or a new PostgreSQL
    database dropped afterwards)."""
    url = new_store_url(tmp_path)
    yield url
    discard_store(url)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An empty, migrated store (a real DuckDB file, or a real PostgreSQL database)."""
    db = open_store(store_url)
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
def city_store_url(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a store holding the 14-day city, ingested once (open it with open_store;
    tests that write take ``city_store``, a private copy)."""
    from belvedere.sources.ingest import ingest_folder

    url = new_store_url(tmp_path_factory.mktemp("citystore"), "city")
    db = open_store(url)
    ingest_folder(db, city_dir)
    db.close()
    yield url
    discard_store(url)


@pytest.fixture(scope="session")
def city_store_path(city_store_url: str) -> Path:
    """The ingested city as a DuckDB file, for tests about the file itself."""
    if city_store_url.startswith("postgresql://"):
        pytest.skip("a test of the DuckDB file (BELVEDERE_TEST_BACKEND=postgresql)")
    return Path(city_store_url)


@pytest.fixture
def city_store(city_store_url: str, tmp_path: Path) -> Iterator[Store]:
    """A private copy of the ingested city store (tests may write to it)."""
    url = copy_store(city_store_url, tmp_path)
    db = open_store(url)
    yield db
    db.close()
    discard_store(url)


@pytest.fixture
def new_store(tmp_path: Path) -> Iterator[Callable[[str], Store]]:
    """A maker of further empty stores of the tests' backend (``new_store("batch")``), each
    closed and discarded after the test — for a test that compares two stores."""
    made: list[tuple[str, Store]] = []

    def make(name: str) -> Store:
        url = new_store_url(tmp_path, name)
        db = open_store(url)
        made.append((url, db))
        return db

    yield make
    for url, db in made:
        db.close()
        discard_store(url)
