"""Who may see what: roles, their finest granularity, the small-count threshold, the purposes.

A role's policy says the finest place level, H3 resolution and time bin it may receive, and the
threshold ``k`` under which counts are suppressed. Feeds whose figures count residents or
patients directly (mobile presence, hospital arrivals) are thresholded for every role.

Example:
    >>> POLICIES["analyst"].k, POLICIES["analyst"].finest_level, POLICIES["analyst"].finest_bin
    (11, 'zone', 'day')
    >>> POLICIES["operator"].finest_level
    'cell'
"""

from __future__ import annotations

from dataclasses import dataclass

from belvedere.errors import PolicyDenied
from belvedere.privacy.purposes import registry
from belvedere.store.base import Bin, Level

DEFAULT_K = 11
"""Default small-count threshold for counts about residents (DESIGN.md §2)."""

LEVEL_ORDER: dict[str, int] = {"cell": 0, "zone": 1, "city": 2}
BIN_ORDER: dict[str, int] = {"hour": 0, "day": 1, "window": 2}

ALWAYS_THRESHOLDED = frozenset({"mobile_presence", "hospital_ed"})
"""Sources whose counts are about residents or patients: ``k`` applies whatever the role."""

COUNT_METRICS = frozenset({"incidents", "crowd_count", "people_count", "boardings",
                           "ed_arrivals"})
"""Metrics that count people or events (suppressed under ``k``); densities are not counts."""


@dataclass(frozen=True, slots=True)
class Policy:
    """What one role may receive."""

    role: str
    finest_level: Level
    finest_resolution: int
    finest_bin: Bin
    k: int | None
    description: str


POLICIES: dict[str, Policy] = {
    "operator": Policy("operator", "cell", 9, "hour", None,
                       "Supervision-centre operator: cell × hour detail of incidents."),
    "analyst": Policy("analyst", "zone", 0, "day", DEFAULT_K,
                      "Analyst: arrondissement × day aggregates, counts under k suppressed."),
    "public": Policy("public", "zone", 0, "day", DEFAULT_K,
                     "Public / open data: arrondissement × day, counts under k suppressed."),
    "dpo": Policy("dpo", "zone", 0, "day", DEFAULT_K,
                  "Data-protection officer: aggregates and the access log."),
    "agent": Policy("agent", "zone", 0, "day", DEFAULT_K,
                    "Field agent: files field reports from the street; sees aggregates only."),
    "admin": Policy("admin", "zone", 0, "day", DEFAULT_K,
                    "Administrator: accounts and machine tokens; sees aggregates only."),
    "machine": Policy("machine", "zone", 0, "day", DEFAULT_K,
                      "A machine (MQTT bridge, push client): delivers feeds, reads nothing."),
}

PURPOSES: dict[str, str] = {p.id: p.label for p in registry().purposes.values()}
"""The purposes a release may declare, id → label, from the register of purposes
(:mod:`belvedere.privacy.purposes`, which also holds their legal regimes and bases)."""


def policy_for(role: str) -> Policy:
    """The policy of ``role``; :class:`PolicyDenied` for an unknown role."""
    try:
        return POLICIES[role]
    except KeyError:
        raise PolicyDenied(f"unknown role {role!r}; roles: {', '.join(POLICIES)}") from None


def check_purpose(purpose: str) -> None:
    """:class:`PolicyDenied` unless ``purpose`` is registered."""
    registry().check_purpose(purpose)
