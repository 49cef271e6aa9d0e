"""API tokens for machines: the MQTT bridge, an analytics box pushing events, a script.

A token is ``bvd_`` followed by 43 random URL-safe characters (256 bits from
:func:`secrets.token_urlsafe`); it is printed once when created and only its SHA-256 is stored.
It carries a name, a role (``machine`` by default: delivers feeds, reads nothing), a creation
and an expiry date, and, once revoked, the revocation date. Revoked tokens keep their row and
their name, so ``token:NAME`` in the access log always means one token. Creating, listing and
revoking tokens are recorded in the access log.

Clients send it as ``Authorization: Bearer bvd_…``; :func:`bearer_actor` resolves it (or a
login session's token) to the :class:`~belvedere.privacy.release.Actor` ``token:NAME``.

Example:
    >>> from belvedere.store.factory import open_store
    >>> db = open_store(":memory:")
    >>> admin = Actor("cli:root", "admin")
    >>> token, row = create_api_token(db, "mqtt-bridge", by=admin)
    >>> token.startswith("bvd_"), row.role
    (True, 'machine')
    >>> bearer_actor(db, token)
    Actor(username='token:mqtt-bridge', role='machine')
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from belvedere.errors import AuthError, ConfigError
from belvedere.privacy import audit
from belvedere.privacy.policy import check_purpose
from belvedere.privacy.release import Actor, record_release
from belvedere.privacy.users import check_account, hash_token, session_actor
from belvedere.store.base import ApiTokenRow, Store

API_TOKEN_PREFIX = "bvd_"
"""Marks belvedere API tokens (secret scanners can look for it; sessions never carry it)."""
DEFAULT_TOKEN_DAYS = 90
MAX_TOKEN_DAYS = 3650
PURPOSE = "account_administration"


def _record(store: Store, by: Actor, what: dict[str, object]) -> None:
    """Record an administrative act on tokens (nothing released, so no row count)."""
    check_purpose(PURPOSE)
    audit.record(store, actor=by.username, role=by.role, purpose=PURPOSE,
                 action="administration", what={"resource": "api_token", **what},
                 rows_released=0)


def create_api_token(store: Store, name: str, *, by: Actor, role: str = "machine",
                     days: int = DEFAULT_TOKEN_DAYS) -> tuple[str, ApiTokenRow]:
    """A new token ``name`` of ``role`` valid ``days`` days, created by ``by`` (audited);
    returns the token (shown once, never stored) and its stored row."""
    check_account(name, role, what="a token name")
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ConfigError(f"a token lives 1 to {MAX_TOKEN_DAYS} days, not {days}")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = ApiTokenRow(name=name, token_hash=hash_token(token), role=role, created_at=now,
                      expires_at=now + timedelta(days=days))
    store.add_api_token(row)
    _record(store, by, {"operation": "create", "name": name, "role": role,
                        "expires_at": row.expires_at.isoformat()})
    return token, row


def list_api_tokens(store: Store, *, by: Actor) -> list[ApiTokenRow]:
    """Every token's row (hashes, never tokens), for ``by`` (audited)."""
    rows = store.api_tokens()
    record_release(store, by, PURPOSE, what={"resource": "api_tokens"}, rows=len(rows))
    return rows


def revoke_api_token(store: Store, name: str, *, by: Actor) -> None:
    """Revoke the token ``name`` at once (audited); :class:`ConfigError` if there is no
    unrevoked token of that name."""
    if not store.revoke_api_token(name, datetime.now(UTC)):
        raise ConfigError(f"no unrevoked API token named {name!r}")
    _record(store, by, {"operation": "revoke", "name": name})


def token_actor(store: Store, token: str) -> Actor:
    """The actor of a live API token; :class:`AuthError` for an unknown, expired or revoked one
    (one message for all three, so a stolen hash cannot be probed)."""
    row = store.api_token(hash_token(token))
    if row is None or row.revoked_at is not None or row.expires_at <= datetime.now(UTC):
        raise AuthError("unknown, expired or revoked API token")
    return Actor(f"token:{row.name}", row.role)


def bearer_actor(store: Store, token: str) -> Actor:
    """The actor of an ``Authorization: Bearer`` token: an API token (``bvd_…``) or the token
    of a login session."""
    if token.startswith(API_TOKEN_PREFIX):
        return token_actor(store, token)
    return session_actor(store, token)
