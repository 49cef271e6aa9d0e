"""Operations other than releases, recorded in the access log (Directive 2016/680 Art. 25):
data brought into the store by a person (an ingest at the command line, a retry of quarantined
rows) is a *collection*; the anomaly detector replayed over stored data, opening alerts, is a
*combination*. The ingest log (``ingest_batches``) keeps each file's figures; the line says who
did it, when and for which purpose.
"""

from __future__ import annotations

from belvedere.privacy import audit
from belvedere.privacy.policy import check_purpose, policy_for
from belvedere.privacy.release import Actor
from belvedere.sources.ingest import IngestReport
from belvedere.store.base import Store


def record_operation(store: Store, actor: Actor, purpose: str, action: str, *,
                     what: dict[str, object], rows: int) -> int:
    """Record an operation (``action``, one of :data:`~belvedere.privacy.audit.ACTIONS`) of
    ``actor`` for ``purpose`` touching ``rows`` rows; returns the line's number."""
    check_purpose(purpose)
    policy_for(actor.role)
    row = audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                       action=action, what=what, rows_released=rows)
    return row.seq


def record_collection(store: Store, actor: Actor, purpose: str, report: IngestReport, *,
                      what: dict[str, object]) -> int:
    """Record the ingest ``report`` (per source: files, read, stored, quarantined) as a
    collection by ``actor``; returns the line's number."""
    per_source = {s: {k: t[k] for k in ("files", "read", "stored", "quarantined")}
                  for s, t in report.totals().items()}
    return record_operation(store, actor, purpose, "collection",
                            what={**what, "sources": per_source, "refused": len(report.refused)},
                            rows=report.stored)
