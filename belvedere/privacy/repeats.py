"""Identical requests get the answer already released: the same figures, at no new privacy cost.

Noise is what protects a noised release; asking again for fresh noise is how one averages it
away (the same analyst query three times gave 180 / 178 / 181, each charged). So the release gate
keeps each noised answer, in the store — shared by every server worker and CLI process — under a
key of everything the answer depends on:

- the role and the purpose (their policy decides the granularity, k and the mechanism);
- the granted query (place, time, bin, feeds, categories) and the mechanism's parameters;
- **the data's version**: per feed of the query, the newest batch stored, and the newest purge.

A repeat of the same request on the same data returns the kept table: it releases nothing new
(a copy of a released value is post-processing), so the ledger is not charged; its access-log line
still records the consultation, naming the release it repeats.

Why a per-feed version, and not the answer's own exact figures: keying on the exact counts would
return the old answer exactly when nothing changed *in the query's cells* — and so tell, with
certainty, whether an incident happened there since. The version says only that some batch of
the feed arrived, which is the feed's schedule, not anyone's doing. A new batch of a feed gives
fresh noise (and a new charge) for queries on that feed, even when the batch changes none of
their cells.

Answers are kept :data:`KEEP` after their first release; two processes releasing the same new
request at once each pay, and both serve the answer kept first.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from belvedere.privacy.dp import Mechanism
from belvedere.store.base import ReleaseRow, SituationQuery, Store

KEEP = timedelta(days=31)
"""How long a noised answer is served again: a month, so that one request costs at most one
release a month however often it is made."""


@dataclass(frozen=True, slots=True)
class Kept:
    """A kept answer: the released table and what the release said of itself."""

    table: pa.Table
    meta: dict[str, Any]


def data_version(store: Store, sources: tuple[str, ...]) -> dict[str, object]:
    """Per feed of ``sources``, its newest batch; and the newest purge receipt."""
    cursors = store.cursors().select(["source", "last_batch"]).to_pylist()
    batches = {r["source"]: int(r["last_batch"]) for r in cursors if r["source"] in sources}
    receipts = store.purge_receipts()
    return {"batches": {s: batches.get(s) for s in sorted(sources)},
            "purge": max((r.receipt_id for r in receipts), default=None)}


def key_of(store: Store, *, role: str, purpose: str, granted: SituationQuery, mech: Mechanism,
           k: int) -> str:
    """The key of a noised answer (see the module's list)."""
    what = {"role": role, "purpose": purpose, "query": granted.describe(), "k": k,
            "mechanism": [mech.name, mech.epsilon, mech.delta, mech.rho],
            "version": data_version(store, granted.sources)}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def _encode(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return base64.b64encode(sink.getvalue().to_pybytes()).decode("ascii")


def _decode(payload: str) -> pa.Table:
    return pa.ipc.open_stream(base64.b64decode(payload)).read_all()


def find(store: Store, key: str) -> Kept | None:
    """The answer kept under ``key``, if any."""
    row = store.kept_release(key)
    return None if row is None else Kept(_decode(row.payload), json.loads(row.meta))


def keep(store: Store, key: str, table: pa.Table, meta: dict[str, Any]) -> Kept:
    """Keep ``table`` under ``key`` (the first kept wins: it is the one returned)."""
    now = datetime.now(UTC)
    row = store.keep_release(ReleaseRow(key, now, json.dumps(meta, sort_keys=True),
                                        _encode(table)), drop_before=now - KEEP)
    return Kept(_decode(row.payload), json.loads(row.meta))
