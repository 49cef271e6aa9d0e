"""Dependencies of the API routes, as ``Annotated`` aliases, and the routes' role rules.

Every route declares who may call it: ``actor: Annotated[Actor, allow("operator", …)]``
(anonymous → 401, another role → 403), or ``dependencies=[PUBLIC]`` for the few routes open to
anonymous users (health, login, reference geography, the dashboard page). A test enumerates the
app's routes and fails on one that declares neither (``tests/api/test_route_rules.py``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from belvedere.errors import AuthError, ConfigError, PolicyDenied
from belvedere.privacy.policy import POLICIES
from belvedere.privacy.purposes import registry
from belvedere.privacy.release import Actor, store_status
from belvedere.privacy.tokens import bearer_actor
from belvedere.privacy.users import check_csrf, session_actor
from belvedere.store.base import Store

SESSION_COOKIE = "belvedere_session"
CSRF_COOKIE = "belvedere_csrf"
"""Readable by the page's script (not HttpOnly): it echoes it in :data:`CSRF_HEADER`."""
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
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
    request: Request,
    store: StoreDep,
    cookie: Annotated[str | None, Depends(_cookie)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    """The logged-in actor, from an ``Authorization: Bearer`` token (a session's or a machine's
    API token) or else the session cookie.

    A request authenticated by the cookie that may change something (not GET, HEAD, OPTIONS)
    must also carry the session's CSRF token in ``X-CSRF-Token`` (403 otherwise): a browser
    sends the cookie on its own, a header only when the page's script sets it. Bearer
    requests are exempt: no browser adds that header by itself.
    """
    if bearer:
        return bearer_actor(store, bearer.credentials)
    if not cookie:
        raise AuthError("not logged in")
    actor = session_actor(store, cookie)
    if request.method not in SAFE_METHODS:
        check_csrf(cookie, request.headers.get(CSRF_HEADER))
    return actor


# Routes take allow(...), never this bare alias: it declares no rule (the route test fails).
CurrentActor = Annotated[Actor, Depends(get_actor)]

EVERYONE = ("operator", "analyst", "agent", "dpo", "admin", "public")
"""The people's roles (machines hold API tokens of role ``machine``)."""
ANY_ROLE = (*EVERYONE, "machine")
"""Every role: who am I, log out."""
READERS = ("operator", "analyst", "dpo", "public")
"""Who may read figures; the release gate sets how fine (cells for operators, thresholded
arrondissements × days for the others)."""
PLANNERS = ("operator", "analyst")
"""Who enters planned events."""
STAFF = ("operator", "analyst", "dpo")
"""Who reads the internal documents: briefings for preparation meetings, analysts' reports."""


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


def public_route() -> None:
    """Declares a route open to anonymous users, on purpose: ``dependencies=[PUBLIC]``.

    It does nothing at run time; the route-rule test recognises it (a route with neither a
    role rule nor this marker fails the test)."""


PUBLIC = Depends(public_route)


class PurposeRule:
    """A route's declared purpose: the ``purpose`` query parameter, or when absent the route's
    ``default`` — or, for a role the registry does not let hold it, the role's own default
    purpose (a public reader's map serves public information, not situation monitoring).

    ``outputs`` are the registry outputs the route releases; the release gate checks the
    resolved purpose against the registry (403 naming the rule). Kept on the dependency so a
    test can enumerate the routes that release data and check each
    (``tests/api/test_route_purposes.py``).
    """

    def __init__(self, default: str, outputs: tuple[str, ...]) -> None:
        self.default = default
        self.outputs = outputs

    def __call__(self, actor: CurrentActor, purpose: Annotated[str | None, Query(
            description="declared purpose of the processing (see GET /api/v1/privacy/purposes); "
                        "default: the route's, or the caller's role's")] = None) -> str:
        return registry().resolve_purpose(actor.role, purpose, self.default)


def declared(default: str, *outputs: str) -> Any:
    """``Depends`` on a :class:`PurposeRule` (use as ``purpose: Annotated[str, declared(…)]``)."""
    reg = registry()
    reg.check_purpose(default)
    unknown = set(outputs) - set(reg.outputs)
    if unknown or not outputs:
        raise ConfigError(f"a purpose rule names outputs of the registry: {sorted(unknown)}")
    return Depends(PurposeRule(default, outputs))


YEARS = range(1900, 2200)
"""Years a time parameter may name: the data's span with room to spare, and far enough from
the calendar's ends (years 1 and 9999) that window arithmetic can never overflow."""


def check_year(value: date | datetime | None, name: str) -> None:
    """:class:`ConfigError` (422) unless ``value`` falls in :data:`YEARS`."""
    if value is not None and value.year not in YEARS:
        raise ConfigError(f"{name} must fall between {YEARS.start} and {YEARS.stop - 1}, "
                          f"not {value.isoformat()}")


def held_period(store: Store) -> tuple[datetime, datetime] | None:
    """The period of the data the store holds (through the gate's status); ``None`` if empty."""
    period = store_status(store)["data_period"]
    if not isinstance(period, dict):
        return None
    return (datetime.fromisoformat(str(period["start"])),
            datetime.fromisoformat(str(period["end"])))


def require_period(store: Store) -> tuple[datetime, datetime]:
    """:func:`held_period`, or :class:`ConfigError` when the store holds no data."""
    period = held_period(store)
    if period is None:
        raise ConfigError("the store holds no data")
    return period


def resolve_window(
    store: Store, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """The asked window, defaulting to the last 7 days the store holds."""
    check_year(start, "start")
    check_year(end, "end")
    if end is None:
        period = held_period(store)
        end = period[1] if period else datetime.now(UTC)
    if start is None:
        start = end - DEFAULT_WINDOW
    # In UTC whatever offset was given: the store's engine knows zone names, not "+02:00".
    start = (start if start.tzinfo else start.replace(tzinfo=UTC)).astimezone(UTC)
    end = (end if end.tzinfo else end.replace(tzinfo=UTC)).astimezone(UTC)
    if end <= start or end - start > MAX_WINDOW:
        raise ConfigError(f"the window must be positive and at most {MAX_WINDOW.days} days")
    return start, end
