"""Secrets: the pseudonymisation key never enters the store; prod refuses default secrets.

Every test runs on both backends (``BELVEDERE_TEST_BACKEND``), but for one that reads the bytes
of the DuckDB file itself (whether the key is anywhere in the file, free space and old pages
included — a PostgreSQL server's data files are not the tests' to read): it takes
``city_store_path`` and skips on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner

from belvedere.cli import app
from belvedere.errors import ConfigError
from belvedere.privacy.deployment import (
    DEMO_USERS,
    check_demo_allowed,
    check_deployment,
    check_password,
    deployment_problems,
    environment,
    purge_interval,
)
from belvedere.privacy.users import add_user
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import Store
from belvedere.store.deployment import Deployment
from belvedere.store.factory import open_store
from tests import rawsql
from tests.backends import discard_store, new_store_url

TEXT_TYPES = {"VARCHAR", "JSON", "character varying", "text", "json", "jsonb"}
BINARY_TYPES = {"BLOB", "bytea"}
"""information_schema's names of text and binary columns, DuckDB's and PostgreSQL's."""


def _key_file(deployment: Deployment, suffix: str) -> Path:
    path = deployment.file(suffix)
    assert path is not None, "a deployment on disk has key files"
    return path


def test_the_pseudonymisation_key_is_never_in_the_store(city_store: Store) -> None:
    key_hex = _key_file(city_store.deployment, ".pseudonym.key").read_text().strip()
    key = bytes.fromhex(key_hex)
    # The key was used: the field agents' ids are stored as its pseudonyms.
    pseudonym = Pseudonymiser(key)("agent-0039")
    assert rawsql.scalar(city_store, "SELECT count(*) FROM incidents WHERE attrs LIKE ?",
                         [f"%{pseudonym}%"]) > 0
    schema = "public" if city_store.deployment.kind == "postgresql" else "main"
    tables = set(rawsql.tables(city_store))
    columns = [(t, c, d) for t, c, d in rawsql.query(
        city_store, "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ?", [schema])
        if t in tables and d in TEXT_TYPES | BINARY_TYPES]
    assert len(columns) > 30
    needles = [key_hex.lower(), key_hex[:16].lower()]
    for table, column, data_type in columns:
        if data_type in TEXT_TYPES:
            for needle in needles:
                found = rawsql.scalar(
                    city_store, f'SELECT count(*) FROM "{table}" '
                    f'WHERE lower(CAST("{column}" AS VARCHAR)) LIKE ?', [f"%{needle}%"])
                assert found == 0, f"{table}.{column} holds the pseudonymisation key"
        else:
            for (value,) in rawsql.query(
                    city_store, f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'):
                raw = bytes(value)
                assert key not in raw, f"{table}.{column} holds the key's bytes"
                assert not any(n in raw.hex() for n in needles), \
                    f"{table}.{column} holds the pseudonymisation key"


def test_the_pseudonymisation_key_is_nowhere_in_the_duckdb_file(city_store_path: Path) -> None:
    """DuckDB only: the file's bytes (free space and old pages too), and its key file beside it."""
    key_hex = Path(f"{city_store_path}.pseudonym.key").read_text().strip()
    key = bytes.fromhex(key_hex)
    raw = city_store_path.read_bytes()
    assert key not in raw and key_hex.encode() not in raw.lower()


@pytest.fixture
def prod_url(tmp_path: Path) -> Iterator[str]:
    """A new store of the tests' backend for a would-be production deployment."""
    url = new_store_url(tmp_path, "prod")
    yield url
    discard_store(url)


def _exposed_store(url: str, *, demo_logins: bool = True) -> Store:
    """A store with every default prod refuses: demo logins, key files and (a DuckDB file) a
    store that other users can read."""
    db = open_store(url)
    for name, role, password in DEMO_USERS if demo_logins else ():
        add_user(db, name, password, role=role)
    for suffix in (".pseudonym.key", ".audit.key"):
        key = _key_file(db.deployment, suffix)
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_text(secrets.token_hex(32))
        key.chmod(0o644)
    if db.deployment.path is not None:
        db.deployment.path.chmod(0o644)
    return db


def test_prod_refuses_every_default_secret_and_accepts_them_fixed(prod_url: str) -> None:
    db = _exposed_store(prod_url)
    on_file = db.deployment.path is not None
    prod = {"BELVEDERE_ENV": "prod"}
    with pytest.raises(ConfigError) as refused:
        check_deployment(db, prod)
    message = str(refused.value)
    for expected in ("BELVEDERE_PSEUDONYM_KEY is empty", "BELVEDERE_AUDIT_KEY is empty",
                     "pseudonym.key can be read", "audit.key can be read",
                     "'operateur'", "'analyste'", "'dpo'"):
        assert expected in message
    # A DuckDB file is the store itself: other users must not read it either.
    assert ("prod.duckdb can be read" in message) == on_file
    # Fixed one by one, the refusals go.
    env = {**prod, "BELVEDERE_PSEUDONYM_KEY": secrets.token_hex(32),
           "BELVEDERE_AUDIT_KEY": secrets.token_hex(32)}
    _key_file(db.deployment, ".pseudonym.key").unlink()
    _key_file(db.deployment, ".audit.key").chmod(0o600)
    if db.deployment.path is not None:
        db.deployment.path.chmod(0o600)
    for name, _role, _password in DEMO_USERS[1:]:
        db.set_password(name, PasswordHasher().hash(f"a long secret of {name}"))
    problems = deployment_problems(db, env)
    assert problems == ["the demo login 'operateur' still has its published password"]
    db.set_password("operateur", PasswordHasher().hash("a long secret of the operator"))
    assert check_deployment(db, env) == []
    with pytest.raises(ConfigError, match="retention would not be enforced"):
        check_deployment(db, {**env, "BELVEDERE_PURGE_INTERVAL_H": "0"})
    db.close()


def test_dev_only_reports_what_prod_would_refuse(prod_url: str) -> None:
    db = _exposed_store(prod_url, demo_logins=False)
    problems = check_deployment(db, {"BELVEDERE_ENV": "dev"})
    # The key files and a DuckDB store's file; no key setting is dev's way (the deployment's
    # key files).
    store_file = [] if db.deployment.path is None else [f"the store {db.deployment.path}"]
    assert [p.split(" can be read")[0] for p in problems] == [
        f"the key file {_key_file(db.deployment, '.pseudonym.key')}",
        f"the key file {_key_file(db.deployment, '.audit.key')}", *store_file]
    with pytest.raises(ConfigError, match="must be hex"):
        check_deployment(db, {"BELVEDERE_PSEUDONYM_KEY": "not hex"})
    db.close()


def test_environment_and_purge_interval_settings() -> None:
    assert environment({}) == "dev" and environment({"BELVEDERE_ENV": "PROD"}) == "prod"
    with pytest.raises(ConfigError, match="dev or prod"):
        environment({"BELVEDERE_ENV": "staging"})
    assert purge_interval({}) is None
    assert purge_interval({"BELVEDERE_ENV": "prod"}) == timedelta(hours=24)
    assert purge_interval({"BELVEDERE_PURGE_INTERVAL_H": "0.5"}) == timedelta(minutes=30)
    assert purge_interval({"BELVEDERE_ENV": "prod", "BELVEDERE_PURGE_INTERVAL_H": "0"}) is None
    with pytest.raises(ConfigError, match="hours"):
        purge_interval({"BELVEDERE_PURGE_INTERVAL_H": "daily"})


def test_prod_refuses_the_demo_and_demo_passwords(tmp_path: Path, prod_url: str) -> None:
    prod = {"BELVEDERE_ENV": "prod"}
    with pytest.raises(ConfigError, match="refused in prod"):
        check_demo_allowed(prod)
    with pytest.raises(ConfigError, match="published demo password"):
        check_password(DEMO_USERS[0][2], prod)
    check_password(DEMO_USERS[0][2], {})  # dev: the demo's own logins
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--store",
                                      prod_url, "--no-serve"],
                                env={**os.environ, **prod})
    assert result.exit_code == 2 and "refused in prod" in result.output
    assert not (tmp_path / "d").exists()


def test_prod_ingest_stops_before_reading_without_a_key(tmp_path: Path,
                                                        prod_url: str) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    result = CliRunner().invoke(app, ["ingest", str(folder), "--store", prod_url],
                                env={**os.environ, "BELVEDERE_ENV": "prod",
                                     "BELVEDERE_PSEUDONYM_KEY": ""})
    assert result.exit_code == 2 and "BELVEDERE_PSEUDONYM_KEY is empty" in result.output
    assert not _key_file(Deployment.from_url(prod_url), ".pseudonym.key").exists()
