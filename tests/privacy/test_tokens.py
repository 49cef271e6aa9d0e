"""Machines' API tokens in a real store: hashed, named once, expiring, revocable, audited."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from belvedere.errors import AuthError, ConfigError, StoreError
from belvedere.privacy.audit import pseudonym
from belvedere.privacy.release import Actor
from belvedere.privacy.tokens import (
    bearer_actor,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
    token_actor,
)
from belvedere.privacy.users import add_user, hash_token, list_users, open_session
from belvedere.store.base import ApiTokenRow
from belvedere.store.duckdb import DuckDBStore

ADMIN = Actor("cli:root", "admin")


def test_only_the_hash_of_a_token_is_stored(store: DuckDBStore) -> None:
    token, row = create_api_token(store, "bridge", by=ADMIN, days=30)
    assert token.startswith("bvd_") and len(token) == 4 + 43
    (stored,) = store.api_tokens()
    assert stored == row and stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps([str(v) for v in dataclasses.astuple(stored)])
    assert stored.expires_at - stored.created_at == timedelta(days=30)
    assert bearer_actor(store, token) == Actor("token:bridge", "machine")


def test_a_name_is_used_once_even_after_revocation(store: DuckDBStore) -> None:
    create_api_token(store, "bridge", by=ADMIN)
    revoke_api_token(store, "bridge", by=ADMIN)
    with pytest.raises(StoreError, match="exists already"):
        create_api_token(store, "bridge", by=ADMIN)
    with pytest.raises(ConfigError, match="no unrevoked API token"):
        revoke_api_token(store, "bridge", by=ADMIN)


@pytest.mark.parametrize(("name", "role", "days", "message"), [
    ("bridge", "superuser", 30, "unknown role"),
    ("a bridge", "machine", 30, "a token name"),
    ("token:x", "machine", 30, "a token name"),
    ("bridge", "machine", 0, "1 to 3650 days"),
    ("bridge", "machine", 4000, "1 to 3650 days"),
])
def test_bad_names_roles_and_lifetimes_are_refused(store: DuckDBStore, name: str, role: str,
                                                   days: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_api_token(store, name, role=role, days=days, by=ADMIN)
    assert store.api_tokens() == []


def test_an_expired_token_is_refused_like_an_unknown_one(store: DuckDBStore) -> None:
    token, now = "bvd_" + "o" * 43, datetime.now(UTC)
    store.add_api_token(ApiTokenRow("old", hash_token(token), "machine",
                                    now - timedelta(days=2), now - timedelta(seconds=1)))
    with pytest.raises(AuthError, match="unknown, expired or revoked"):
        token_actor(store, token)
    with pytest.raises(AuthError, match="unknown, expired or revoked"):
        token_actor(store, "bvd_" + "A" * 43)


def test_sessions_still_resolve_through_the_bearer_path(store: DuckDBStore) -> None:
    add_user(store, "ana", "analyst-password", role="analyst")
    assert bearer_actor(store, open_session(store, Actor("ana", "analyst"))) == Actor(
        "ana", "analyst")
    with pytest.raises(AuthError):
        bearer_actor(store, "not-a-session")


def test_creating_listing_revoking_tokens_and_listing_users_are_in_the_access_log(
        store: DuckDBStore) -> None:
    add_user(store, "ana", "analyst-password", role="analyst")
    create_api_token(store, "bridge", by=ADMIN, days=10)
    assert [t.name for t in list_api_tokens(store, by=ADMIN)] == ["bridge"]
    revoke_api_token(store, "bridge", by=ADMIN)
    assert [u.username for u in list_users(store, ADMIN)] == ["ana"]
    lines = store.audit_rows()
    admin = pseudonym(store, "cli:root")
    assert [(r.actor, r.role, r.purpose, r.action, r.rows_released) for r in lines] == [
        (admin, "admin", "account_administration", "administration", 0),
        (admin, "admin", "account_administration", "consultation", 1),
        (admin, "admin", "account_administration", "administration", 0),
        (admin, "admin", "account_administration", "consultation", 1),
    ]
    what = [json.loads(r.what) for r in lines]
    assert what[0]["operation"] == "create" and what[0]["name"] == "bridge"
    assert what[0]["role"] == "machine" and "token" not in what[0]
    assert what[2] == {"resource": "api_token", "operation": "revoke", "name": "bridge"}
    assert what[3] == {"resource": "users"}
