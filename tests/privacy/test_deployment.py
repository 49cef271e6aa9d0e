"""Secrets: the pseudonymisation key never enters the store; prod refuses default secrets."""

from __future__ import annotations

import os
import secrets
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
from belvedere.store.duckdb import DuckDBStore


def test_the_pseudonymisation_key_is_never_in_the_store(city_store: DuckDBStore) -> None:
    key_hex = Path(f"{city_store.deployment.path}.pseudonym.key").read_text().strip()
    key = bytes.fromhex(key_hex)
    # The key was used: the field agents' ids are stored as its pseudonyms.
    pseudonym = Pseudonymiser(key)("agent-0039")
    con = city_store._con.cursor()
    assert con.execute("SELECT count(*) FROM incidents WHERE contains(attrs, ?)",
                       [pseudonym]).fetchall()[0][0] > 0
    columns = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE data_type IN ('VARCHAR', 'BLOB')").fetchall()
    assert len(columns) > 30
    needles = [key_hex.lower(), key_hex.upper(), key_hex[:16].lower()]
    for table, column, data_type in columns:
        text = f'lower(CAST("{column}" AS VARCHAR))' if data_type == "VARCHAR" else \
            f'lower(hex("{column}"))'
        for needle in needles:
            found = con.execute(f'SELECT count(*) FROM "{table}" WHERE contains({text}, ?)',
                                [needle.lower()]).fetchall()[0][0]
            assert found == 0, f"{table}.{column} holds the pseudonymisation key"
        if data_type == "BLOB":
            found = con.execute(f'SELECT count(*) FROM "{table}" WHERE contains(hex("{column}"), '
                                "?)", [key_hex.upper()]).fetchall()[0][0]
            assert found == 0, f"{table}.{column} holds the key's bytes"
    city_store.close()
    raw = Path(city_store.deployment.path).read_bytes()
    assert key not in raw and key_hex.encode() not in raw.lower()


def _exposed_store(tmp_path: Path, *, demo_logins: bool = True) -> DuckDBStore:
    """A store with every default prod refuses: demo logins, a key file and a store that
    other users can read."""
    db = DuckDBStore(tmp_path / "prod.duckdb")
    for name, role, password in DEMO_USERS if demo_logins else ():
        add_user(db, name, password, role=role)
    for suffix in (".pseudonym.key", ".audit.key"):
        key = Path(f"{db.deployment.path}{suffix}")
        key.write_text(secrets.token_hex(32))
        key.chmod(0o644)
    Path(db.deployment.path).chmod(0o644)
    return db


def test_prod_refuses_every_default_secret_and_accepts_them_fixed(tmp_path: Path) -> None:
    db = _exposed_store(tmp_path)
    prod = {"BELVEDERE_ENV": "prod"}
    with pytest.raises(ConfigError) as refused:
        check_deployment(db, prod)
    message = str(refused.value)
    for expected in ("BELVEDERE_PSEUDONYM_KEY is empty", "BELVEDERE_AUDIT_KEY is empty",
                     "pseudonym.key can be read", "audit.key can be read",
                     "prod.duckdb can be read", "'operateur'", "'analyste'", "'dpo'"):
        assert expected in message
    # Fixed one by one, the refusals go.
    env = {**prod, "BELVEDERE_PSEUDONYM_KEY": secrets.token_hex(32),
           "BELVEDERE_AUDIT_KEY": secrets.token_hex(32)}
    Path(f"{db.deployment.path}.pseudonym.key").unlink()
    Path(f"{db.deployment.path}.audit.key").chmod(0o600)
    Path(db.deployment.path).chmod(0o600)
    for name, _role, _password in DEMO_USERS[1:]:
        db.set_password(name, PasswordHasher().hash(f"a long secret of {name}"))
    problems = deployment_problems(db, env)
    assert problems == ["the demo login 'operateur' still has its published password"]
    db.set_password("operateur", PasswordHasher().hash("a long secret of the operator"))
    assert check_deployment(db, env) == []
    with pytest.raises(ConfigError, match="retention would not be enforced"):
        check_deployment(db, {**env, "BELVEDERE_PURGE_INTERVAL_H": "0"})
    db.close()


def test_dev_only_reports_what_prod_would_refuse(tmp_path: Path) -> None:
    db = _exposed_store(tmp_path, demo_logins=False)
    problems = check_deployment(db, {"BELVEDERE_ENV": "dev"})
    # The key files and the store; no key setting is dev's way (key files beside the store).
    assert [p.split(" can be read")[0] for p in problems] == [
        f"the key file {db.deployment.path}.pseudonym.key",
        f"the key file {db.deployment.path}.audit.key", f"the store {db.deployment.path}"]
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


def test_prod_refuses_the_demo_and_demo_passwords(tmp_path: Path) -> None:
    prod = {"BELVEDERE_ENV": "prod"}
    with pytest.raises(ConfigError, match="refused in prod"):
        check_demo_allowed(prod)
    with pytest.raises(ConfigError, match="published demo password"):
        check_password(DEMO_USERS[0][2], prod)
    check_password(DEMO_USERS[0][2], {})  # dev: the demo's own logins
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--store",
                                      str(tmp_path / "d.duckdb"), "--no-serve"],
                                env={**os.environ, **prod})
    assert result.exit_code == 2 and "refused in prod" in result.output
    assert not (tmp_path / "d").exists()


def test_prod_ingest_stops_before_reading_without_a_key(tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    folder.mkdir()
    store = tmp_path / "p.duckdb"
    result = CliRunner().invoke(app, ["ingest", str(folder), "--store", str(store)],
                                env={**os.environ, "BELVEDERE_ENV": "prod",
                                     "BELVEDERE_PSEUDONYM_KEY": ""})
    assert result.exit_code == 2 and "BELVEDERE_PSEUDONYM_KEY is empty" in result.output
    assert not Path(f"{store}.pseudonym.key").exists()
