"""Users, passwords and sessions.

Passwords are hashed with Argon2id (argon2-cffi); session tokens are random and only their
SHA-256 is stored, so a copy of the store gives no usable session.

A session's CSRF token is derived from the session token (an HMAC of a fixed label keyed by it):
the dashboard reads it from the non-HttpOnly ``belvedere_csrf`` cookie and echoes it in the
``X-CSRF-Token`` header of unsafe requests; another site can neither read the cookie nor
compute the token, so it cannot forge a request that the session cookie alone would carry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError

from belvedere.errors import AuthError, ConfigError, CsrfRejected
from belvedere.privacy import audit
from belvedere.privacy.policy import POLICIES, check_purpose
from belvedere.privacy.release import Actor, record_release
from belvedere.store.base import Store, UserRow

SESSION_LIFETIME = timedelta(hours=12)
ACCOUNTS = "account_administration"
"""The purpose of managing accounts (privacy/registry.toml)."""
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


def add_user(store: Store, username: str, password: str, *, role: str,
             by: Actor | None = None) -> UserRow:
    """Create a user with an Argon2id password hash; with ``by`` (who creates it: an
    administrator, the demo), the creation is a line of the access log."""
    check_account(username, role, what="a user name")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    user = UserRow(username, _hasher.hash(password), role, datetime.now(UTC))
    store.add_user(user)
    if by is not None:
        check_purpose(ACCOUNTS)
        audit.record(store, actor=by.username, role=by.role, purpose=ACCOUNTS,
                     action="administration",
                     what={"resource": "user", "created": username, "role": role},
                     rows_released=0)
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


def check_account(name: str, role: str, *, what: str) -> None:
    """:class:`ConfigError` unless ``role`` is a policy role and ``name`` (a user's or an API
    token's) is letters, digits, '-', '_' and '.' (so it never collides with ``cli:``/``token:``
    actor names in the access log)."""
    if role not in POLICIES:
        raise ConfigError(f"unknown role {role!r}; roles: {', '.join(POLICIES)}")
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(
            ".", "").isalnum():
        raise ConfigError(f"{what} is 1 to 64 letters, digits, '-', '_' and '.'")


def hash_token(token: str) -> str:
    """The SHA-256 (hex) under which a random token (session or API) is stored. A fast hash is
    enough: the tokens carry 256 random bits, so there is nothing to guess by brute force."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session (see the module docstring)."""
    return hmac.new(session_token.encode("utf-8"), b"belvedere-csrf", "sha256").hexdigest()


def check_csrf(session_token: str, header: str | None) -> None:
    """:class:`CsrfRejected` unless ``header`` is the session's CSRF token."""
    if not header or not hmac.compare_digest(header, csrf_token(session_token)):
        raise CsrfRejected("missing or wrong X-CSRF-Token header: requests that change "
                           "something must echo the belvedere_csrf cookie in it")


def open_session(store: Store, actor: Actor) -> str:
    """A new session token for ``actor`` (returned once, stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    store.add_session(hash_token(token), actor.username, datetime.now(UTC) + SESSION_LIFETIME)
    return token


def session_actor(store: Store, token: str) -> Actor:
    """The actor of a live session token; :class:`AuthError` otherwise."""
    username = store.session_user(hash_token(token), datetime.now(UTC))
    user = store.get_user(username) if username else None
    if user is None:
        raise AuthError("not logged in or session expired")
    return Actor(user.username, user.role)


def close_session(store: Store, token: str) -> None:
    """Log out."""
    store.delete_session(hash_token(token))


def list_users(store: Store, actor: Actor,
               purpose: str = "account_administration") -> list[UserRow]:
    """Every user and role, for ``actor`` (recorded in the access log like any release)."""
    rows = store.list_users()
    record_release(store, actor, purpose, what={"resource": "users"}, rows=len(rows))
    return rows
