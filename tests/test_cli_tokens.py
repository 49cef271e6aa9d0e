"""``belvedere tokens`` and ``belvedere users list`` end to end, audited."""

from __future__ import annotations

import getpass
import json

from typer.testing import CliRunner

from belvedere.cli import app
from belvedere.privacy.audit import pseudonym
from belvedere.privacy.tokens import bearer_actor
from belvedere.store.factory import open_store

WIDE = {"COLUMNS": "200"}


def test_tokens_create_prints_the_token_once_then_list_and_revoke(store_url: str) -> None:
    store = store_url
    runner = CliRunner()
    made = runner.invoke(app, ["tokens", "create", "bridge", "--days", "7", "--store", store],
                         env=WIDE)
    assert made.exit_code == 0, made.output
    token = made.output.strip().splitlines()[-1]
    assert token.startswith("bvd_")
    db = open_store(store)
    assert bearer_actor(db, token).username == "token:bridge"
    db.close()
    listed = runner.invoke(app, ["tokens", "list", "--store", store], env=WIDE)
    assert listed.exit_code == 0 and "bridge" in listed.output and "live" in listed.output
    assert token not in listed.output
    twice = runner.invoke(app, ["tokens", "create", "bridge", "--store", store], env=WIDE)
    assert twice.exit_code == 2 and "exists already" in twice.output
    revoked = runner.invoke(app, ["tokens", "revoke", "bridge", "--store", store], env=WIDE)
    assert revoked.exit_code == 0, revoked.output
    listed = runner.invoke(app, ["tokens", "list", "--store", store], env=WIDE)
    assert "revoked" in listed.output
    unknown = runner.invoke(app, ["tokens", "revoke", "nobody", "--store", store], env=WIDE)
    assert unknown.exit_code == 2 and "no unrevoked API token" in unknown.output
    db = open_store(store)
    resources = [(r.action, json.loads(r.what)["resource"]) for r in db.audit_rows()]
    db.close()
    assert resources == [("administration", "api_token"), ("consultation", "api_tokens"),
                         ("administration", "api_token"), ("consultation", "api_tokens")]


def test_users_list_is_recorded_in_the_access_log(store_url: str) -> None:
    store = store_url
    runner = CliRunner()
    runner.invoke(app, ["users", "add", "alice", "--role", "analyst", "--password-stdin",
                        "--store", store], input="a-long-password\n")
    listed = runner.invoke(app, ["users", "list", "--store", store], env=WIDE)
    assert listed.exit_code == 0 and "alice" in listed.output
    db = open_store(store)
    created, line = db.audit_rows()  # the account's creation, then the listing
    db.close()
    assert created.action == "administration"
    assert (line.role, line.purpose, line.rows_released) == ("admin", "account_administration", 1)
    # The person at the terminal, under the store's pseudonym.
    me = pseudonym(db, f"cli:{getpass.getuser()}")
    assert line.actor == me and json.loads(line.what) == {"resource": "users"}


def test_the_why_option_is_recorded_with_the_commands_lines(store_url: str) -> None:
    store = store_url
    open_store(store).close()  # read-only commands refuse a store that does not exist
    runner = CliRunner()
    runner.invoke(app, ["--why", "revue trimestrielle des comptes", "users", "list",
                        "--store", store], env=WIDE)
    runner.invoke(app, ["users", "list", "--store", store], env=WIDE)
    db = open_store(store)
    first, second = db.audit_rows()
    db.close()
    assert first.justification == "revue trimestrielle des comptes"
    assert second.justification is None
