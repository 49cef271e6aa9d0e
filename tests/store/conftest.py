"""The store battery's fixture: a fresh store of each backend, whatever BELVEDERE_TEST_BACKEND.

``contract_store`` is parametrised over :data:`tests.backends.BACKENDS`: a real DuckDB file in
``tmp_path``, and a new PostgreSQL database (:func:`tests.backends.create_database`, dropped
afterwards), which skips with the reason without a server — and fails in CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from belvedere.store.base import Store
from belvedere.store.factory import open_store
from tests.backends import BACKENDS, create_database, drop_database


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    """The backend under test: ``duckdb`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def contract_url(backend_name: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty store of ``backend_name`` (removed afterwards)."""
    if backend_name == "postgresql":
        url = create_database()  # skips without a server (fails in CI): require_postgres()
        yield url
        drop_database(url)
    else:
        yield str(tmp_path / "contract.duckdb")


@pytest.fixture
def contract_store(contract_url: str) -> Iterator[Store]:
    """A new, migrated store of each backend, opened by URL."""
    db = open_store(contract_url)
    yield db
    db.close()
