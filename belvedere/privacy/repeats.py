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

**Exact answers** (the supervision centre's figures) cost no budget, but twenty operators
looking at the same week ask the store the same question twenty times. Each process keeps the
latest :data:`EXACT_ENTRIES` exact answers in memory under the same kind of key (role, purpose,
granted query, data version): a repeat skips the store's query, never the access-log line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections import OrderedDict
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
    newest = store.purge_receipts(limit=1)  # every release asks: one row, not the history
    return {"batches": {s: batches.get(s) for s in sorted(sources)},
            "purge": newest[0].receipt_id if newest else None}


def key_of(store: Store, *, role: str, purpose: str, granted: SituationQuery,
           mech: Mechanism | None, k: int | None) -> str:
    """The key of an answer (see the module's list); ``mech`` ``None``: an exact answer."""
    what = {"store": store.deployment.identity, "role": role, "purpose": purpose,
            "query": granted.describe(), "k": k,
            "mechanism": [mech.name, mech.epsilon, mech.delta, mech.rho] if mech else None,
            "version": data_version(store, granted.sources)}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


EXACT_ENTRIES = 256
"""Exact answers a process keeps in memory (a few MB: a week of cells is a few thousand rows)."""
_exact: OrderedDict[str, Kept] = OrderedDict()
_exact_lock = threading.Lock()


def recall_exact(key: str) -> Kept | None:
    """This process's exact answer under ``key``, if it still has it."""
    with _exact_lock:
        kept = _exact.get(key)
        if kept is not None:
            _exact.move_to_end(key)
        return kept


def keep_exact(key: str, table: pa.Table, meta: dict[str, Any]) -> Kept:
    """Keep an exact answer in this process (the least recently used goes past the bound)."""
    kept = Kept(table, meta)
    with _exact_lock:
        _exact[key] = kept
        _exact.move_to_end(key)
        while len(_exact) > EXACT_ENTRIES:
            _exact.popitem(last=False)
    return kept


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
