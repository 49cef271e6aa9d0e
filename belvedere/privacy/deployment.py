"""Secrets come from settings, and defaults are refused outside development.

belvedere runs in one of two environments (setting ``env``, ``BELVEDERE_ENV``):

- ``dev`` (the default): the demo, the tests, a developer's machine. Conveniences are allowed —
  demo logins with published passwords, a pseudonymisation key file created beside the store —
  and :func:`check_deployment` only returns what would be refused in production, as warnings.
- ``prod``: :func:`check_deployment` raises :class:`~belvedere.errors.ConfigError` listing every
  problem, and ``belvedere serve``, ``live`` and ``ingest`` stop before opening their doors.

What ``prod`` refuses (each is a secret that would otherwise be known, guessable or copied with
the data):

- a demo login (:data:`DEMO_USERS`) that still has its published password;
- an empty key setting (:data:`KEYS`): the pseudonymisation key (``BELVEDERE_PSEUDONYM_KEY``)
  and the access log's signing key (``BELVEDERE_AUDIT_KEY``) must come from the environment
  (a secrets manager, a systemd credential), not from files beside the store — a copy of the
  store's folder would carry the pseudonyms' key along, and whoever can rewrite the store
  could re-sign the access log with a key lying next to it; an unusable pseudonymisation key
  (not hex, under 16 bytes) is refused in any environment;
- a key file beside the store that other users can read (in dev too, as a warning);
- a store file that other users can read;
- no retention job (``purge_interval_h`` = 0): retention is a duty, not an option.

The pseudonymisation key itself never enters the store (a test scans every column of an
ingested store for it): pseudonyms are HMACs computed at the door, and the key is only ever
read from the environment or the key file.

Example:
    >>> environment({"BELVEDERE_ENV": "prod"})
    'prod'
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from belvedere.errors import AuthError, ConfigError
from belvedere.privacy.users import authenticate
from belvedere.settings import SETTINGS
from belvedere.sources.minimise import KEY_ENV, Pseudonymiser
from belvedere.store.base import Store

ENVIRONMENTS = ("dev", "prod")
KEYS = (("pseudonym_key", ".pseudonym.key", "pseudonymisation key"),
        ("audit_key", ".audit.key", "access log's signing key"))
"""The secrets with a file fallback beside the store: setting, file suffix, what it is."""
DEFAULT_PURGE_INTERVAL = timedelta(hours=24)

DEMO_USERS = [
    ("operateur", "operator", "demo-operateur-2024"),
    ("analyste", "analyst", "demo-analyste-2024"),
    ("dpo", "dpo", "demo-dpo-2024-dpo"),
]
"""Demo logins (printed by ``belvedere demo``; refused in ``prod``)."""


def _setting(name: str, env: Mapping[str, str] | None) -> str:
    s = SETTINGS[name]
    return (os.environ if env is None else env).get(s.env, s.default)


def environment(env: Mapping[str, str] | None = None) -> str:
    """``dev`` or ``prod`` (from ``env``, the process environment by default).

    Raises:
        ConfigError: another value.
    """
    value = _setting("env", env).strip().lower()
    if value not in ENVIRONMENTS:
        raise ConfigError(f"{SETTINGS['env'].env} is {value!r}: give dev or prod")
    return value


def purge_interval(env: Mapping[str, str] | None = None) -> timedelta | None:
    """Time between two retention purges in ``belvedere serve`` (``None``: no job).

    Raises:
        ConfigError: not a number of hours ≥ 0.
    """
    text = _setting("purge_interval_h", env).strip()
    if not text:
        return DEFAULT_PURGE_INTERVAL if environment(env) == "prod" else None
    try:
        hours = float(text)
    except ValueError:
        hours = -1.0
    if hours < 0:
        raise ConfigError(f"{SETTINGS['purge_interval_h'].env} is {text!r}: give hours (≥ 0)")
    return timedelta(hours=hours) if hours else None


def _readable_by_others(path: Path) -> bool:
    return path.exists() and bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))


def deployment_problems(store: Store, env: Mapping[str, str] | None = None) -> list[str]:
    """Every default or exposed secret that ``prod`` refuses (see the module docstring).

    Raises:
        ConfigError: the environment or the key setting is unusable, whatever the environment.
    """
    prod = environment(env) == "prod"
    problems: list[str] = []
    pseudonym_key = _setting("pseudonym_key", env)
    if pseudonym_key:
        try:
            Pseudonymiser(bytes.fromhex(pseudonym_key))
        except ValueError as exc:
            raise ConfigError(f"{KEY_ENV} must be hex: {exc}") from exc
    deployment = store.deployment
    for name, suffix, what in KEYS:
        variable = SETTINGS[name].env
        if prod and not _setting(name, env):
            problems.append(f"{variable} is empty: the {what} would be a file of the "
                            "deployment's; give it (64 hex digits) in the environment")
        path = deployment.file(suffix)
        if path is not None and _readable_by_others(path):
            problems.append(f"the key file {path} can be read by other users (chmod 600 it, "
                            f"or better move the key into {variable} and delete the file)")
    if deployment.path is not None and _readable_by_others(deployment.path):
        problems.append(f"the store {deployment.path} can be read by other users (chmod 600 it)")
    for name, _role, password in DEMO_USERS:
        if store.get_user(name) is None:
            continue
        try:
            authenticate(store, name, password)
        except AuthError:
            continue
        problems.append(f"the demo login {name!r} still has its published password")
    if prod and purge_interval(env) is None:
        problems.append(f"{SETTINGS['purge_interval_h'].env} is 0: retention would not be "
                        "enforced")
    return problems


def check_deployment(store: Store, env: Mapping[str, str] | None = None) -> list[str]:
    """In ``prod``, :class:`ConfigError` when :func:`deployment_problems` finds any; in
    ``dev``, the problems, to show as warnings."""
    problems = deployment_problems(store, env)
    if problems and environment(env) == "prod":
        raise ConfigError("refused in prod: " + "; ".join(problems))
    return problems


def check_demo_allowed(env: Mapping[str, str] | None = None) -> None:
    """:class:`ConfigError` in ``prod``: the demo creates logins with published passwords."""
    if environment(env) == "prod":
        raise ConfigError("`belvedere demo` is refused in prod: it creates demo logins with "
                          f"published passwords (unset {SETTINGS['env'].env} or set it to dev)")


def check_password(password: str, env: Mapping[str, str] | None = None) -> None:
    """:class:`ConfigError` in ``prod`` for a demo password (they are published)."""
    if environment(env) == "prod" and password in {p for _, _, p in DEMO_USERS}:
        raise ConfigError("this password is a published demo password: refused in prod")
