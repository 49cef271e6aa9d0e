"""Alerts: what the detector found abnormal, and their handling by operators.

Operators list alerts and acknowledge, close or dismiss them, each time with a reason;
the DPO may read them (arrondissement level, small counts withheld). Nothing is dispatched
automatically: an alert waits for a person.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from belvedere.api.deps import StoreDep, allow, declared
from belvedere.api.schemas import AlertPublic, AlertsPublic, ReasonIn
from belvedere.privacy.alerts import alter_alert, release_alerts
from belvedere.privacy.release import Actor

router = APIRouter(tags=["alerts"])
Reader = Annotated[Actor, allow("operator", "dpo")]
Handler = Annotated[Actor, allow("operator")]
Status = Literal["open", "acknowledged", "closed", "dismissed"]
Purpose = Annotated[str, declared("situation_monitoring", "alerts")]


@router.get("/alerts", response_model=AlertsPublic)
def alerts(
    store: StoreDep,
    actor: Reader,
    purpose: Purpose,
    status: Annotated[Status | None, Query()] = None,
) -> dict[str, Any]:
    """Alerts, newest first (optionally of one status): cells and sites for operators,
    arrondissements for the DPO."""
    released = release_alerts(store, actor, purpose, status=status)
    return {"granted": released.level, "k": released.k, "suppressed": released.suppressed,
            "alerts": released.rows}


AlertId = Annotated[int, Path(ge=1, le=2**62, description="The alert's number.")]


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertPublic)
def acknowledge(alert_id: AlertId, body: ReasonIn, store: StoreDep, actor: Handler,
                purpose: Purpose) -> dict[str, Any]:
    """Acknowledge an open alert, with a reason (operators)."""
    return alter_alert(store, actor, purpose, alert_id, "acknowledge", body.reason)


@router.post("/alerts/{alert_id}/close", response_model=AlertPublic)
def close(alert_id: AlertId, body: ReasonIn, store: StoreDep, actor: Handler,
          purpose: Purpose) -> dict[str, Any]:
    """Close an acknowledged alert, with a reason (operators)."""
    return alter_alert(store, actor, purpose, alert_id, "close", body.reason)


@router.post("/alerts/{alert_id}/dismiss", response_model=AlertPublic)
def dismiss(alert_id: AlertId, body: ReasonIn, store: StoreDep, actor: Handler,
            purpose: Purpose) -> dict[str, Any]:
    """Dismiss an open or acknowledged alert as not worth acting on, with a reason
    (operators)."""
    return alter_alert(store, actor, purpose, alert_id, "dismiss", body.reason)
