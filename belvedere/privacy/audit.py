"""The access log: one line per release, chained by hashes so that editing or deleting a past
line is detectable (a Merkle log with signed tree heads follows in issue 7).

Each line's ``hash`` is SHA-256 over the previous line's hash and the line's canonical JSON;
:func:`verify` recomputes the chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from datetime import UTC, datetime
from typing import Any

from belvedere.store.base import AuditRow, Store

GENESIS = "0" * 64
_lock = threading.Lock()  # one writer at a time keeps seq and prev_hash consistent


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def _fields(row: AuditRow) -> dict[str, Any]:
    return {
        "seq": row.seq, "ts": row.ts.isoformat(), "actor": row.actor, "role": row.role,
        "purpose": row.purpose, "action": row.action, "what": row.what,
        "rows_released": row.rows_released,
    }


def record(store: Store, *, actor: str, role: str, purpose: str, action: str,
           what: dict[str, Any], rows_released: int) -> AuditRow:
    """Append one line to the access log and return it."""
    with _lock:
        last = store.last_audit()
        seq = (last.seq + 1) if last else 1
        prev = last.hash if last else GENESIS
        row = AuditRow(seq=seq, ts=datetime.now(UTC), actor=actor, role=role, purpose=purpose,
                       action=action, what=json.dumps(what, sort_keys=True, default=str),
                       rows_released=rows_released, prev_hash=prev, hash="")
        row = dataclasses.replace(row, hash=_digest(prev, _fields(row)))
        store.append_audit(row)
        return row


def verify(store: Store) -> tuple[bool, int | None]:
    """Recompute the chain: ``(True, None)`` if intact, else ``(False, first bad seq)``."""
    prev = GENESIS
    expected_seq = 1
    for row in store.audit_rows():
        if row.seq != expected_seq or row.prev_hash != prev or row.hash != _digest(prev,
                                                                                   _fields(row)):
            return False, row.seq
        prev = row.hash
        expected_seq += 1
    return True, None
