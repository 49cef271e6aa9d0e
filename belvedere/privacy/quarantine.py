"""Input rows refused at ingest, as their reviewers see them: each reading is recorded in the
access log (purpose ``data_quality``), since a refused row holds whatever the feed sent.
"""

from __future__ import annotations

from typing import Any

from belvedere.privacy.release import Actor, record_release
from belvedere.store.base import Store

PURPOSE = "data_quality"


def review_quarantine(store: Store, actor: Actor, *, source: str | None = None,
                      status: str | None = "open", rule: str | None = None,
                      limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Quarantined rows (of one source, status — ``None`` for all — and rule): the first
    ``limit`` of them (all when ``None``) and how many there are; recorded."""
    rows = store.quarantined(source, status=status, rule=rule).to_pylist()
    shown = rows if limit is None else rows[:limit]
    record_release(store, actor, PURPOSE,
                   what={"resource": "quarantine", "source": source, "rule": rule,
                         "status": status}, rows=len(shown))
    return shown, len(rows)


def quarantined_row(store: Store, actor: Actor, batch: int, line: int) -> dict[str, Any] | None:
    """One quarantined row (``batch``:``line``) in full, or ``None``; recorded."""
    rows = [r for r in store.quarantined().to_pylist()
            if r["batch_id"] == batch and r["line"] == line]
    record_release(store, actor, PURPOSE,
                   what={"resource": "quarantine", "row": f"{batch}:{line}"}, rows=len(rows))
    return rows[0] if rows else None
