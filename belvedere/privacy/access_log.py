"""The access log as people read it: the DPO's lines, a person's lines, proofs, and the
published tree head.

Reading the log is itself an access: each reading of lines is recorded (purpose
``dpo_review``) after the lines read, so it does not show itself. The signed tree head and the
consistency proofs carry hashes only, nothing about anyone: they are public, so that anyone can
hold the log to what it published (docs/audit.md).
"""

from __future__ import annotations

from typing import Any

from belvedere.errors import ConfigError
from belvedere.privacy import audit
from belvedere.privacy.merkle import MerkleTree
from belvedere.privacy.release import Actor, record_release
from belvedere.store.base import AuditRow, Store

PURPOSE = "dpo_review"


def line_json(row: AuditRow) -> dict[str, Any]:
    """One line as published in a proof: the fields its hash and leaf cover, and its hashes."""
    return {"seq": row.seq, "ts": row.ts.isoformat(), "actor": row.actor, "role": row.role,
            "purpose": row.purpose, "action": row.action, "what": row.what,
            "rows_released": row.rows_released, "justification": row.justification,
            "prev_hash": row.prev_hash, "hash": row.hash,
            "entry": audit.entry_bytes(row).decode("utf-8")}


def read_lines(store: Store, actor: Actor, *, limit: int | None = None,
               of: str | None = None) -> list[AuditRow]:
    """The newest ``limit`` lines (all when ``None``), only those of the user ``of`` when
    given (matched by pseudonym), oldest first; recorded."""
    rows = store.audit_rows() if of is not None else store.audit_rows(limit=limit)
    what: dict[str, object] = {"resource": "access_log", "lines": limit}
    if of is not None:
        mine = audit.pseudonym(store, of)
        rows = [r for r in rows if r.actor == mine]
        rows = rows[-limit:] if limit else rows
        what["actor"] = mine  # the pseudonym searched for, never the name
    record_release(store, actor, PURPOSE, what=what, rows=len(rows))
    return rows


def inclusion(store: Store, actor: Actor, seq: int, size: int | None = None) -> dict[str, Any]:
    """Line ``seq``, its inclusion proof in the tree of ``size`` lines (by default the newest
    signed head's, else the whole log) and that head: enough to check, with the public key
    alone, that the line is in the published log. Recorded (it releases the line)."""
    rows = store.audit_rows()
    heads = store.audit_heads()
    if size is None:
        size = heads[-1].size if heads and heads[-1].size >= seq else len(rows)
    if not 1 <= seq <= size <= len(rows):
        raise ConfigError(f"line #{seq} is not in a log of {size} lines (it holds {len(rows)})")
    tree = MerkleTree(audit.leaves(rows))
    head = next((h for h in reversed(heads) if h.size == size), None)
    key = audit.signing_key(store, create=False)
    out = {
        "line": line_json(rows[seq - 1]), "leaf_index": seq - 1, "tree_size": size,
        "root_hash": tree.root(size).hex(),
        "inclusion_path": [h.hex() for h in tree.inclusion_proof(seq - 1, size)],
        "signed_head": audit.head_json(head, key.public_key()) if head and key else None,
    }
    record_release(store, actor, PURPOSE, what={"resource": "access_log", "proof": "inclusion",
                                                "seq": seq, "size": size}, rows=1)
    return out


def consistency(store: Store, first: int, second: int | None = None) -> dict[str, Any]:
    """The consistency proof from the tree of ``first`` lines to the tree of ``second`` (by
    default the whole log): hashes only, public, not recorded."""
    tree = MerkleTree(audit.leaves(store.audit_rows()))
    second = tree.size if second is None else second
    if not 0 <= first <= second <= tree.size:
        raise ConfigError(f"no consistency proof from {first} to {second} lines in a log of "
                          f"{tree.size}")
    return {"first": first, "second": second, "first_root": tree.root(first).hex(),
            "second_root": tree.root(second).hex(),
            "consistency_path": [h.hex() for h in tree.consistency_proof(first, second)]}


def published_head(store: Store) -> dict[str, Any] | None:
    """The newest signed tree head, as published (``None`` before the first): public."""
    heads = store.audit_heads()
    key = audit.signing_key(store, create=False)
    if not heads or key is None:
        return None
    return audit.head_json(heads[-1], key.public_key())

