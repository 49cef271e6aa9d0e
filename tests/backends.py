"""The store backends the tests run on: the embedded DuckDB file and a real PostgreSQL server.

``BELVEDERE_TEST_BACKEND`` chooses the backend of the shared ``store`` / ``city_store`` fixtures
(``duckdb``, the default, or ``postgresql``); the store battery (``tests/store/test_contract.py``)
runs on both whatever it says. PostgreSQL is reached at ``BELVEDERE_TEST_PG`` (default: the
machine's server, ``postgresql://postgres@127.0.0.1:5432/postgres``); each test gets a database of
its own, created empty or cloned from a template (``CREATE DATABASE … TEMPLATE``, which copies a
whole ingested city in well under a second) and dropped afterwards.

Without a server the PostgreSQL tests skip with the reason — except in CI (``CI=true``), where a
missing server is a failure (``.ci/run`` installs PostGIS and starts the server).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
BACKENDS = ("duckdb", "postgresql")
PG_ADMIN = os.environ.get("BELVEDERE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def backend() -> str:
    """The backend of the shared fixtures (``BELVEDERE_TEST_BACKEND``)."""
    name = os.environ.get("BELVEDERE_TEST_BACKEND", "duckdb").strip().lower() or "duckdb"
    if name not in BACKENDS:
        raise pytest.UsageError(f"BELVEDERE_TEST_BACKEND={name!r}: give one of {BACKENDS}")
    return name


def _why_no_postgres() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'psycopg[binary]')"
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3) as con:
            con.execute("SELECT 1")
            postgis = con.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'").fetchone()
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {PG_ADMIN} ({exc.__class__.__name__}: {exc})"
    if postgis is None:
        return ("PostGIS is not installed on the PostgreSQL server (Debian package "
                "postgresql-15-postgis-3)")
    return None


_REASON: list[str | None] = []


def require_postgres() -> None:
    """Skip the calling test without a usable PostgreSQL + PostGIS (fail in CI)."""
    if not _REASON:
        _REASON.append(_why_no_postgres())
    reason = _REASON[0]
    if reason is not None:
        if IN_CI:
            pytest.fail(f"CI needs PostgreSQL with PostGIS: {reason}")
        pytest.skip(reason)


def _url(db: str) -> str:
    base, _, _ = PG_ADMIN.rpartition("/")
    return f"{base}/{db}"


def create_database(template: str | None = None) -> str:
    """A new PostgreSQL database (empty, or a copy of the database at URL ``template``);
    returns its URL."""
    import psycopg

    require_postgres()
    name = f"belvedere_test_{uuid.uuid4().hex[:12]}"
    clause = ""
    if template is not None:
        source = template.rpartition("/")[2]
        clause = f' TEMPLATE "{source}"'
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"{clause}')
    url = _url(name)
    if template is not None:
        _copy_home(template, url)
    return url


def drop_database(url: str) -> None:
    """Drop a database made by :func:`create_database` (and its deployment's own files)."""
    import psycopg

    name = url.rpartition("/")[2]
    with psycopg.connect(PG_ADMIN, autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    home = _home(url)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


def _home(url: str) -> Path | None:
    from belvedere.store.deployment import Deployment

    return Deployment.from_url(url).home


def _copy_home(template: str, url: str) -> None:
    """A cloned database keeps its pseudonyms: its key file goes along."""
    src, dst = _home(template), _home(url)
    if src is not None and dst is not None and src.exists():
        shutil.copytree(src, dst, dirs_exist_ok=True)


def new_store_url(tmp_path: Path, name: str = "test", which: str | None = None) -> str:
    """The URL of a new, empty store of backend ``which`` (default :func:`backend`)."""
    if (which or backend()) == "postgresql":
        return create_database()
    return str(tmp_path / f"{name}.duckdb")


def copy_store(url: str, tmp_path: Path) -> str:
    """A private copy of the store at ``url`` (file copy, or database clone); returns its URL.
    The copy keeps the original's key files, so pseudonyms and signatures still match."""
    if url.startswith("postgresql://"):
        return create_database(template=url)
    copy = tmp_path / Path(url).name
    shutil.copy(url, copy)
    for suffix in (".pseudonym.key", ".audit.key"):
        key = Path(f"{url}{suffix}")
        if key.exists():
            shutil.copy(key, Path(f"{copy}{suffix}"))
    return str(copy)


def discard_store(url: str) -> None:
    """Drop a PostgreSQL test database (files are removed with ``tmp_path``)."""
    if url.startswith("postgresql://"):
        drop_database(url)
