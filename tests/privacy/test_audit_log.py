"""The access log: pseudonymised actors, the hash chain, signed Merkle tree heads, proofs an
outsider can check with the public key alone, and tampering found and named."""

from __future__ import annotations

import hashlib
import json
import stat
import struct
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from belvedere.errors import AuditLogBroken, ConfigError
from belvedere.privacy import audit
from belvedere.privacy.access_log import consistency, inclusion, published_head, read_lines
from belvedere.privacy.merkle import leaf_hash, verify_consistency, verify_inclusion
from belvedere.privacy.release import Actor
from belvedere.store.base import AuditHead, Store
from belvedere.store.factory import open_store
from tests import rawsql
from tests.backends import discard_store, new_store_url

DPO = Actor("dpo-anne", "dpo")


def _fill(store: Store, n: int, *, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.record(store, actor=f"user-{i % 3}", role="analyst", purpose="analysis",
                     action="consultation", what={"resource": "situation", "i": i},
                     rows_released=i)


def _problems(store: Store) -> list[tuple[int | None, str]]:
    return [(p.seq, p.kind) for p in audit.verify(store).problems]


def test_lines_name_a_pseudonym_keep_the_role_and_the_justification(
        store: Store, tmp_path: Path) -> None:
    row = audit.record(store, actor="marie.durand", role="operator",
                       purpose="situation_monitoring", action="consultation",
                       what={"resource": "situation"}, rows_released=12,
                       justification="rixe signalée cours Belsunce")
    (stored,) = store.audit_rows()
    assert stored == row
    assert row.actor == audit.pseudonym(store, "marie.durand") != "marie.durand"
    assert row.actor.startswith("psn-") and "marie" not in json.dumps(row.what)
    assert (row.role, row.justification) == ("operator", "rixe signalée cours Belsunce")
    # The pseudonym is the store's keyed HMAC (key in a file of the deployment's — beside a
    # DuckDB file — not in the store): same name, same pseudonym; another store's key gives
    # another.
    assert audit.pseudonym(store, "marie.durand") == row.actor
    other_url = new_store_url(tmp_path, "other")
    other = open_store(other_url)
    try:
        assert audit.pseudonym(other, "marie.durand") != row.actor
    finally:
        other.close()
        discard_store(other_url)
    # Only the Directive's operations (and account administration) are recorded.
    with pytest.raises(ConfigError, match="unknown access-log action 'peek'"):
        audit.record(store, actor="x", role="dpo", purpose="dpo_review", action="peek",
                     what={}, rows_released=0)
    # The justification is covered by the hash.
    rawsql.execute(store, "UPDATE audit_log SET justification = ?", ["contrôle de routine"])
    assert _problems(store) == [(1, "hash mismatch")]


def test_an_intact_log_verifies_with_its_signed_heads(store: Store) -> None:
    _fill(store, 5)
    first = audit.sign_head(store)
    _fill(store, 6, start=5)
    second = audit.sign_head(store)
    result = audit.verify(store)
    assert result.ok and (result.lines, result.heads) == (11, 2)
    assert (first.size, second.size) == (5, 11) and result.root == second.root
    assert [h.size for h in store.audit_heads()] == [5, 11]


def test_an_edited_past_line_is_named(store: Store) -> None:
    _fill(store, 8)
    audit.sign_head(store)
    rawsql.execute(store, "UPDATE audit_log SET what = ? WHERE seq = ?",
                   ['{"resource": "nothing"}', 5])
    result = audit.verify(store)
    assert not result.ok and result.first_bad == 5
    # The line breaks its hash, and the signed head no longer matches the first 8 lines.
    assert _problems(store) == [(5, "hash mismatch"), (None, "head mismatch")]


def test_a_deleted_line_is_named_as_a_gap(store: Store) -> None:
    _fill(store, 8)
    rawsql.execute(store, "DELETE FROM audit_log WHERE seq = ?", [4])
    result = audit.verify(store)
    assert result.first_bad == 4
    assert result.problems[0].kind == "missing lines"
    assert "line #4 was deleted" in str(result.problems[0])


def test_cutting_the_tail_after_a_signed_head_is_found(store: Store) -> None:
    _fill(store, 9)
    audit.sign_head(store)
    # The chain of the 6 lines left is intact: only the signed head shows the cut.
    rawsql.execute(store, "DELETE FROM audit_log WHERE seq > ?", [6])
    result = audit.verify(store)
    assert _problems(store) == [(7, "truncated")] and result.first_bad == 7
    assert "lines #7–#9 were deleted" in str(result.problems[0])
    # Signing over the cut log is refused: it would bless the deletion.
    with pytest.raises(AuditLogBroken, match="no longer matches"):
        audit.sign_head(store)


def test_a_rewritten_chain_still_breaks_the_signed_head(store: Store) -> None:
    """Someone with write access edits line 3 and recomputes every hash after it: the chain
    is whole again, but the head signed before holds the old tree."""
    _fill(store, 6)
    audit.sign_head(store)
    rows = store.audit_rows()
    rawsql.execute(store, "DELETE FROM audit_log")
    prev = audit.GENESIS
    for row in rows:
        if row.seq == 3:
            row = type(row)(**{**{f: getattr(row, f) for f in row.__slots__},
                               "what": '{"resource": "nothing"}'})
        digest = hashlib.sha256(prev.encode() + audit.entry_bytes(row)).hexdigest()
        row = type(row)(**{**{f: getattr(row, f) for f in row.__slots__}, "prev_hash": prev,
                           "hash": digest})
        store.append_audit(row)
        prev = digest
    assert _problems(store) == [(None, "head mismatch")]
    assert "a line among #1–#6 was altered" in str(audit.verify(store).problems[0])


def test_a_head_signed_by_another_key_is_refused(store: Store) -> None:
    _fill(store, 3)
    rogue = Ed25519PrivateKey.generate()
    root = audit.MerkleTree(audit.leaves(store.audit_rows())).root()
    ts = datetime.fromisoformat("2024-10-04T20:00:00+00:00")
    store.append_audit_head(AuditHead(3, root.hex(), ts,
                                      rogue.sign(audit.head_message(3, root, ts)).hex(),
                                      audit.key_id(rogue.public_key())))
    # The store has no key of its own yet: its heads cannot be checked, which is a failure.
    assert _problems(store) == [(None, "unverifiable")]
    # Checked with the rogue's public key, the rogue's head is good…
    assert audit.verify(store, rogue.public_key()).ok
    # …and with the store's key, once it signs, the rogue head is the one refused.
    audit.sign_head(store)
    assert _problems(store) == [(None, "bad signature")]
    assert "verify with key" in str(audit.verify(store).problems[0])


def test_heads_are_signed_every_n_lines(store: Store,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELVEDERE_AUDIT_SIGN_EVERY", "4")
    _fill(store, 9)
    assert [h.size for h in store.audit_heads()] == [4, 8]
    assert audit.verify(store).ok


def test_the_signing_key_is_a_0600_file_of_the_deployment_or_a_setting(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _fill(store, 2)
    assert audit.signing_key(store, create=False) is None  # none until the first head
    head = audit.sign_head(store)
    path = store.deployment.file(".audit.key")
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    seed = path.read_text().strip()
    # The store's own tables never hold it.
    for table in ("audit_log", "audit_heads"):
        dump = json.dumps(rawsql.query(store, f"SELECT * FROM {table}"), default=str)
        assert seed not in dump
    # The setting overrides the file: heads signed with another key no longer verify.
    monkeypatch.setenv("BELVEDERE_AUDIT_KEY", "11" * 32)
    assert _problems(store) == [(None, "bad signature")]
    monkeypatch.setenv("BELVEDERE_AUDIT_KEY", seed)
    assert audit.verify(store).ok and head.key_id == audit.key_id(
        audit.signing_key(store).public_key())  # type: ignore[union-attr]


def test_an_outsider_checks_a_line_and_two_heads_with_the_public_key_alone(
        store: Store) -> None:
    _fill(store, 6)
    audit.sign_head(store)
    old = published_head(store)
    _fill(store, 7, start=6)
    audit.sign_head(store)
    new = published_head(store)
    proof = inclusion(store, DPO, seq=4)
    # Everything below uses only the published JSON, a public key and RFC 6962.
    assert old is not None and new is not None and proof["signed_head"] == new
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(new["public_key"]))
    for head in (old, new):
        message = (struct.pack(">BBQQ", 0, 1, head["timestamp_ms"], head["tree_size"])
                   + bytes.fromhex(head["root_hash"]))
        public.verify(bytes.fromhex(head["signature"]), message)  # raises if forged
    leaf = leaf_hash(proof["line"]["entry"].encode("utf-8"))
    assert proof["line"]["seq"] == 4 and proof["tree_size"] == new["tree_size"] == 13
    assert verify_inclusion(leaf, proof["leaf_index"], proof["tree_size"],
                            [bytes.fromhex(h) for h in proof["inclusion_path"]],
                            bytes.fromhex(new["root_hash"]))
    link = consistency(store, old["tree_size"], new["tree_size"])
    assert verify_consistency(old["tree_size"], new["tree_size"],
                              [bytes.fromhex(h) for h in link["consistency_path"]],
                              bytes.fromhex(old["root_hash"]), bytes.fromhex(new["root_hash"]))
    # The entry's bytes are the line's fields: a changed field is another leaf.
    entry = json.loads(proof["line"]["entry"])
    assert entry["actor"] == audit.pseudonym(store, "user-0") and entry["rows_released"] == 3


def test_reading_the_log_is_itself_recorded_under_the_searched_pseudonym(
        store: Store) -> None:
    _fill(store, 6)
    mine = read_lines(store, DPO, of="user-1")
    assert [r.seq for r in mine] == [2, 5]
    last = store.audit_rows(limit=1)[0]
    assert (last.actor, last.role, last.purpose) == (audit.pseudonym(store, "dpo-anne"), "dpo",
                                                     "dpo_review")
    assert json.loads(last.what) == {"resource": "access_log", "lines": None,
                                     "actor": audit.pseudonym(store, "user-1")}
    assert "user-1" not in last.what
