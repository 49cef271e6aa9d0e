"""What the compliance dossier reads from the store, through the privacy layer: the erasure
receipts in the access log, the store's data period, and the signed tree head it publishes.

:func:`dossier_facts` reads them for an actor (the DPO, purpose ``dpo_review``), records the
reading in the access log — one line, resource ``access_log:dossier``, which is how each
generation of the dossier is itself audited — and then, by default, signs a tree head over the
log, so that the head published on the transparency page covers that line too. Receipts and
heads carry counts and hashes only, nothing about anyone.

Example:
    >>> from belvedere.store.factory import open_store
    >>> db = open_store(":memory:")
    >>> facts = dossier_facts(db, Actor("cli:dpo", "dpo"))
    >>> facts.receipts, facts.head["tree_size"] == facts.audit_seq == 1
    ([], True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from belvedere.privacy import audit
from belvedere.privacy.access_log import published_head
from belvedere.privacy.release import Actor, record_release, store_status
from belvedere.privacy.retention import ACTION
from belvedere.store.base import AuditRow, Store

PURPOSE = "dpo_review"
RESOURCE = "access_log:dossier"


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    """One purge receipt as the access log holds it (line ``seq``): the dataset, the cutoff
    (rows older than ``before`` were erased), how many rows, the SHA-256 ``digest`` of their
    sorted keys, and the aggregate rows written first."""

    seq: int
    ts: datetime
    dataset: str
    table: str
    before: str
    count: int
    digest: str
    aggregated: int

    def as_json(self) -> dict[str, Any]:
        """The receipt as the dossier publishes it."""
        return {"audit_seq": self.seq, "logged_at": self.ts.isoformat(),
                "dataset": self.dataset, "table": self.table, "before": self.before,
                "count": self.count, "digest": self.digest, "aggregated": self.aggregated}


@dataclass(frozen=True, slots=True)
class DossierFacts:
    """What the dossier states about the store: every erasure receipt (oldest first), the
    store's schema version and data period, the access-log line recording this reading, and
    the newest signed tree head (``None`` when none was signed)."""

    receipts: list[ErasureReceipt]
    status: dict[str, object]
    audit_seq: int
    head: dict[str, Any] | None

    def latest_receipts(self) -> dict[str, ErasureReceipt]:
        """The newest receipt of each dataset."""
        return {r.dataset: r for r in self.receipts}


def erasure_receipts(rows: list[AuditRow]) -> list[ErasureReceipt]:
    """The purge receipts among access-log ``rows`` (lines whose action is ``erasure``)."""
    out = []
    for row in rows:
        if row.action != ACTION:
            continue
        what = json.loads(row.what)
        out.append(ErasureReceipt(row.seq, row.ts, str(what.get("dataset")),
                                  str(what.get("table")), str(what.get("before")),
                                  int(what.get("count", 0)), str(what.get("digest", "")),
                                  int(what.get("aggregated") or 0)))
    return out


def dossier_facts(store: Store, actor: Actor, *, sign: bool = True) -> DossierFacts:
    """Read the dossier's facts for ``actor`` (audited, purpose ``dpo_review``), then sign a
    tree head over the log when ``sign`` (refused, :class:`~belvedere.errors.AuditLogBroken`,
    if the log no longer matches the heads already signed)."""
    receipts = erasure_receipts(store.audit_rows())
    seq = record_release(store, actor, PURPOSE,
                         what={"resource": RESOURCE, "receipts": len(receipts)},
                         rows=len(receipts))
    if sign:
        audit.sign_head(store)
    return DossierFacts(receipts, store_status(store), seq, published_head(store))
