"""Users, passwords and sessions.

Passwords are hashed with Argon2id (argon2-cffi); session tokens are random and only their
SHA-256 is stored, so a copy of the store gives no usable session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError

from belvedere.errors import AuthError, ConfigError
from belvedere.privacy.policy import POLICIES
from belvedere.privacy.release import Actor
from belvedere.store.base import Store, UserRow

SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


def add_user(store: Store, username: str, password: str, *, role: str) -> UserRow:
    """Create a user with an Argon2id password hash."""
    if role not in POLICIES:
        raise ConfigError(f"unknown role {role!r}; roles: {', '.join(POLICIES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ConfigError("a user name is letters, digits, '-', '_' and '.'")
    user = UserRow(username, _hasher.hash(password), role, datetime.now(UTC))
    store.add_user(user)
    return user


def authenticate(store: Store, username: str, password: str) -> Actor:
    """The actor for valid credentials; :class:`AuthError` otherwise (same message either way)."""
    user = store.get_user(username)
    try:
        if user is None:
            # Spend the same time as a real check so names cannot be probed by timing.
            _hasher.hash(password)
            raise VerifyMismatchError
        _hasher.verify(user.password_hash, password)
    except VerificationError:
        raise AuthError("unknown user or wrong password") from None
    return Actor(user.username, user.role)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def open_session(store: Store, actor: Actor) -> str:
    """A new session token for ``actor`` (returned once, stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    store.add_session(_token_hash(token), actor.username, datetime.now(UTC) + SESSION_LIFETIME)
    return token


def session_actor(store: Store, token: str) -> Actor:
    """The actor of a live session token; :class:`AuthError` otherwise."""
    username = store.session_user(_token_hash(token), datetime.now(UTC))
    user = store.get_user(username) if username else None
    if user is None:
        raise AuthError("not logged in or session expired")
    return Actor(user.username, user.role)


def close_session(store: Store, token: str) -> None:
    """Log out."""
    store.delete_session(_token_hash(token))
