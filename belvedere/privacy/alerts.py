"""⑤ Alerts through the gate: who sees which detail, and every handling in the access log.

Operators (the role with cell detail) see an alert's place as the detector found it — a cell,
a site, a cluster's cells; every other role sees only its arrondissement. Counts follow the
release gate's rule (:func:`belvedere.privacy.release.suppress`): under ``k`` they are hidden
for thresholded roles, and for every role on feeds about residents or patients (presence,
hospital arrivals), so an alert's observed and expected figures may be withheld while the
alert itself (where, when, how surprising) is shown.

Listing alerts is recorded as a *consultation*; acknowledging, closing and dismissing are
*alterations*, recorded with the alert, the transition and the reason. Reasons are free text
typed by a person: they are redacted (names, phone numbers, plates…) before they are stored or
logged. Only operators handle alerts; nothing is dispatched automatically.

Example:
    >>> from belvedere.privacy.policy import policy_for
    >>> zone_detail(policy_for("analyst")), zone_detail(policy_for("operator"))
    (True, False)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pyarrow as pa

from belvedere.errors import ConfigError, NotFound, PolicyDenied
from belvedere.models.alerts import transition
from belvedere.models.anomalies import FEEDS
from belvedere.privacy import audit
from belvedere.privacy.policy import (
    ALWAYS_THRESHOLDED,
    DEFAULT_K,
    Policy,
    check_purpose,
    policy_for,
)
from belvedere.privacy.release import Actor, suppress
from belvedere.sources.redact import redact
from belvedere.store.base import ALERT_STATUSES, AlertRow, Store

HANDLERS = frozenset({"operator"})
"""Roles that acknowledge, close and dismiss alerts."""

_SOURCE_METRIC = {f.name: (f.sources[0], f.metric) for f in FEEDS}


@dataclass(frozen=True, slots=True)
class AlertRelease:
    """Alerts as released to one actor: the rows, the place level granted, the threshold
    that applied, how many rows had their figures withheld, and the audit line."""

    rows: list[dict[str, Any]]
    level: str
    k: int | None
    suppressed: int
    audit_seq: int


def zone_detail(policy: Policy) -> bool:
    """Whether ``policy`` sees alerts at arrondissement level only (no cell, no site)."""
    return policy.finest_level != "cell"


def _shown(alerts: list[AlertRow], policy: Policy) -> tuple[list[dict[str, Any]], int | None]:
    """The alerts as ``policy`` may see them, and the threshold applied (if any)."""
    if not alerts:
        return [], policy.k
    pairs = [_SOURCE_METRIC.get(a.feed, (a.feed, "incidents")) for a in alerts]
    table = pa.table({"source": [s for s, _ in pairs], "metric": [m for _, m in pairs],
                      "value": [a.observed for a in alerts],
                      "n": pa.array([0] * len(alerts), pa.int64())})
    hidden = suppress(table, policy)[0].column("suppressed").to_pylist()
    rows = []
    for alert, withheld in zip(alerts, hidden, strict=True):
        row = asdict(alert)
        row["places"] = list(alert.places)
        if zone_detail(policy):
            area = alert.zone or "city"
            row.update(level="zone", place=area, places=[area])
        if withheld:
            row.update(observed=None, expected=None)
        row["suppressed"] = bool(withheld)
        rows.append(row)
    # The k that applies: the role's, else the default on feeds about residents or patients.
    sources = {source for source, _ in pairs}
    k = policy.k if policy.k is not None else (
        DEFAULT_K if sources & ALWAYS_THRESHOLDED else None)
    return rows, k


def release_alerts(store: Store, actor: Actor, purpose: str, *, status: str | None = None,
                   since: datetime | None = None) -> AlertRelease:
    """Alerts (of one ``status``; updated since ``since``), newest first, as ``actor``'s role
    may see them; audited as a consultation."""
    check_purpose(purpose)
    policy = policy_for(actor.role)
    if status is not None and status not in ALERT_STATUSES:
        raise ConfigError(f"unknown alert status {status!r}; statuses: "
                          f"{', '.join(ALERT_STATUSES)}")
    rows, k = _shown(store.alerts(status, since=since), policy)
    level = "zone" if zone_detail(policy) else "cell"
    suppressed = sum(r["suppressed"] for r in rows)
    line = audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                        action="consultation",
                        what={"resource": "alerts", "status": status,
                              "since": since.isoformat() if since else None, "granted": level,
                              "k": k, "suppressed": suppressed},
                        rows_released=len(rows))
    return AlertRelease(rows, level, k, suppressed, line.seq)


def alter_alert(store: Store, actor: Actor, purpose: str, alert_id: int, action: str,
                reason: str) -> dict[str, Any]:
    """``actor`` (an operator) acknowledges, closes or dismisses alert ``alert_id`` for
    ``reason``; stored, audited as an alteration with the reason, and returned as released
    to the actor. :class:`PolicyDenied` for another role; :class:`ConfigError` for an
    unknown alert, an empty reason or a transition the alert's status does not allow."""
    check_purpose(purpose)
    policy = policy_for(actor.role)
    if policy.role not in HANDLERS:
        raise PolicyDenied(f"role {actor.role!r} may not handle alerts; "
                           f"only {', '.join(sorted(HANDLERS))}")
    alert = store.alert(alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    clean, _ = redact(pl.Series([reason]))
    changed = transition(alert, action, by=actor.username, reason=str(clean[0] or ""),
                         at=datetime.now(UTC))
    store.update_alert(changed)
    audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                 action="alteration",
                 what={"resource": "alert", "alert_id": alert_id, "transition": action,
                       "from": alert.status, "to": changed.status,
                       "reason": changed.acknowledge_reason if action == "acknowledge"
                       else changed.close_reason},
                 rows_released=1)
    rows, _ = _shown([changed], policy)
    return rows[0]
