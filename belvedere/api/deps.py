"""Dependencies of the API routes, as ``Annotated`` aliases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from belvedere.errors import AuthError, ConfigError, PolicyDenied
from belvedere.privacy.policy import POLICIES
from belvedere.privacy.release import Actor, store_status
from belvedere.privacy.users import session_actor
from belvedere.store.base import Store

SESSION_COOKIE = "belvedere_session"
DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=400)

_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False)
_bearer = HTTPBearer(auto_error=False)


def get_store(request: Request) -> Store:
    """The store the app was created with."""
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def get_actor(
    store: StoreDep,
    cookie: Annotated[str | None, Depends(_cookie)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The logged-in actor, from the session cookie or an ``Authorization: Bearer`` token."""
    token = bearer.credentials if bearer else cookie
    if not token:
        raise AuthError("not logged in")
    return session_actor(store, token)


CurrentActor = Annotated[Actor, Depends(get_actor)]

EVERYONE = ("operator", "analyst", "agent", "dpo", "admin", "public")
"""The people's roles (machines hold API tokens of role ``machine``)."""


class RoleRule:
    """A route's role rule: the dependency that lets only ``roles`` through (403 otherwise).

    Every route declares one (``actor: Annotated[Actor, allow("operator")]``); the rule is
    kept on the dependency so a test can enumerate the app's routes and check each.
    """

    def __init__(self, roles: tuple[str, ...]) -> None:
        self.roles = frozenset(roles)

    def __call__(self, actor: CurrentActor) -> Actor:
        if actor.role not in self.roles:
            raise PolicyDenied(f"role {actor.role!r} may not use this route; allowed: "
                               f"{', '.join(sorted(self.roles))}")
        return actor


def allow(*roles: str) -> Any:
    """``Depends`` on a :class:`RoleRule` for ``roles`` (use in ``Annotated[Actor, …]``)."""
    unknown = set(roles) - set(POLICIES)
    if unknown or not roles:
        raise ConfigError(f"a role rule names roles of the policy: {sorted(unknown) or roles}")
    return Depends(RoleRule(roles))


def resolve_window(
    store: Store, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The asked window, defaulting to the last 7 days the store holds."""
    if end is None:
        period = store_status(store)["data_period"]
        end = datetime.fromisoformat(period["end"]) if isinstance(period, dict) else datetime.now(
            UTC)
    if start is None:
        start = end - DEFAULT_WINDOW
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    if end <= start or end - start > MAX_WINDOW:
        raise ConfigError(f"the window must be positive and at most {MAX_WINDOW.days} days")
    return start, end
