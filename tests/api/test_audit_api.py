"""The access log over HTTP: the signed tree head is public, a line's proof is the DPO's."""

from __future__ import annotations

import json
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from belvedere.api.main import create_app
from belvedere.privacy import audit
from belvedere.privacy.merkle import leaf_hash, verify_consistency, verify_inclusion
from belvedere.privacy.users import add_user
from belvedere.store.base import Store


def _hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_the_head_is_public_and_a_proof_is_the_dpos_and_recorded(store: Store) -> None:
    db = store
    add_user(db, "dpo", "dpo-password-1", role="dpo")
    add_user(db, "ana", "analyst-password", role="analyst")
    for i in range(5):
        audit.record(db, actor="ana", role="analyst", purpose="analysis",
                     action="consultation", what={"resource": "situation", "i": i},
                     rows_released=i)
    with TestClient(create_app(db)) as client:
        assert client.get("/api/v1/audit/head").status_code == 422  # nothing signed yet
        old = audit.sign_head(db)
        audit.record(db, actor="ana", role="analyst", purpose="analysis",
                     action="consultation", what={"resource": "situation"}, rows_released=1)
        audit.sign_head(db)
        head = client.get("/api/v1/audit/head").json()  # anonymous
        assert head["tree_size"] == 6 and head["key_id"] == old.key_id
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(head["public_key"]))
        public.verify(bytes.fromhex(head["signature"]),
                      struct.pack(">BBQQ", 0, 1, head["timestamp_ms"], 6)
                      + bytes.fromhex(head["root_hash"]))
        link = client.get("/api/v1/audit/consistency", params={"first": 5, "second": 6}).json()
        assert link["first_root"] == old.root and verify_consistency(
            5, 6, _hexes(link["consistency_path"]), bytes.fromhex(old.root),
            bytes.fromhex(head["root_hash"]))

        assert client.get("/api/v1/audit/proof", params={"seq": 2}).status_code == 401
        client.post("/api/v1/auth/login", data={"username": "ana",
                                                "password": "analyst-password"})
        assert client.get("/api/v1/audit/proof", params={"seq": 2}).status_code == 403
        client.post("/api/v1/auth/login", data={"username": "dpo", "password": "dpo-password-1"})
        before = len(db.audit_rows())
        proof = client.get("/api/v1/audit/proof", params={"seq": 2}).json()
        assert proof["signed_head"] == head and proof["tree_size"] == 6
        assert verify_inclusion(leaf_hash(proof["line"]["entry"].encode()), 1, 6,
                                _hexes(proof["inclusion_path"]),
                                bytes.fromhex(head["root_hash"]))
        assert json.loads(proof["line"]["what"]) == {"i": 1, "resource": "situation"}
        (line,) = db.audit_rows()[before:]
        assert (line.actor, line.role, line.purpose) == (audit.pseudonym(db, "dpo"), "dpo",
                                                         "dpo_review")
        assert client.get("/api/v1/audit/proof", params={"seq": 99}).status_code == 422
    db.close()


def test_a_requests_justification_is_recorded_redacted_with_its_lines(store: Store) -> None:
    db = store
    add_user(db, "ana", "analyst-password", role="analyst")
    with TestClient(create_app(db)) as client:
        client.post("/api/v1/auth/login", data={"username": "ana",
                                                "password": "analyst-password"})
        why = "enquête 2024-117: plainte de M. Jean Martin, 06 12 34 56 78".encode()
        before = len(db.audit_rows())
        assert client.get("/api/v1/situation", headers={"X-Justification": why}
                          ).status_code == 200
        assert client.get("/api/v1/situation").status_code == 200
        given, plain = db.audit_rows()[before:]
    db.close()
    # Kept with the line (and under its hash), but redacted: the log says why, names nobody.
    assert given.justification is not None and "enquête 2024-117" in given.justification
    assert "Martin" not in given.justification and "06 12" not in given.justification
    assert plain.justification is None  # the next request gave none
