"""The access log (Directive 2016/680 Art. 25, AI Act Art. 12): one line per access, chained by
hashes, under a Merkle tree whose signed heads can be published.

:func:`record` is the single logging point: every release, collection, alteration and erasure
goes through it (a test scans the code for paths that do not). A line says who (a keyed
pseudonym of the user name: the role stays in clear), with which role, for which purpose and
justification, when, what was touched and how many rows were released.

Tamper evidence, in two layers (docs/audit.md):

- a hash chain: each line's ``hash`` is SHA-256 over the previous line's hash and the line's
  canonical JSON, so an edited line no longer matches its hash, and a deleted one leaves a gap;
- a Merkle tree over the lines (RFC 6962, :mod:`belvedere.privacy.merkle`): its head at size
  ``n`` is signed with an Ed25519 key kept outside the store (:func:`sign_head`, every
  ``audit_sign_every`` lines, on ``belvedere audit sign`` and when ``serve`` starts and stops).
  A published head pins the first ``n`` lines: rewriting the chain after the fact, or cutting
  its tail, no longer matches it, and anyone holding the public key can check an inclusion or
  consistency proof without access to the store.

:func:`verify` recomputes both and names the first bad line.
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import json
import logging
import struct
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from belvedere.errors import AuditLogBroken, ConfigError
from belvedere.privacy.merkle import MerkleTree, leaf_hash
from belvedere.settings import SETTINGS, setting
from belvedere.sources.ingest import pseudonymiser_for
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.redact import redact
from belvedere.store.base import AuditHead, AuditRow, Store

GENESIS = "0" * 64
ACTIONS = ("collection", "alteration", "consultation", "disclosure", "combination", "erasure",
           "administration")
"""What a line records: the processing operations of Directive 2016/680 Art. 25, and the
administration of accounts and tokens."""
LOG_ID = "belvedere access log"
JUSTIFICATION_MAX = 280
"""Characters of a justification kept (after redaction)."""

log = logging.getLogger(__name__)
# Signing reads the whole log and appends a head: one signer at a time in this process (heads
# signed by two processes at once are each a true head of the log, so nothing forks there).
_sign_lock = threading.Lock()
_pseudonymisers: weakref.WeakKeyDictionary[Any, Pseudonymiser] = weakref.WeakKeyDictionary()
# The justification a person gave for what they are doing (an API request's header, the CLI's
# --why): every line recorded meanwhile carries it.
_justification: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "belvedere_justification", default=None)


# -- lines and the chain ---------------------------------------------------------------------

def _fields(row: AuditRow) -> dict[str, Any]:
    fields = {
        "seq": row.seq, "ts": row.ts.isoformat(), "actor": row.actor, "role": row.role,
        "purpose": row.purpose, "action": row.action, "what": row.what,
        "rows_released": row.rows_released,
    }
    # Lines written before justifications existed hash as they did then.
    if row.justification is not None:
        fields["justification"] = row.justification
    return fields


def entry_bytes(row: AuditRow) -> bytes:
    """A line's canonical bytes (sorted-key compact JSON, UTF-8): what its hash and its
    Merkle leaf cover."""
    return json.dumps(_fields(row), sort_keys=True, separators=(",", ":"),
                      default=str).encode("utf-8")


def _digest(prev_hash: str, row: AuditRow) -> str:
    return hashlib.sha256(prev_hash.encode("utf-8") + entry_bytes(row)).hexdigest()


def pseudonym(store: Store, username: str) -> str:
    """The access log's name for ``username``: the store's keyed pseudonym (HMAC-SHA256, key
    outside the store). The DPO finds a person's lines by computing theirs
    (``belvedere audit who``); without the key the log names nobody."""
    p = _pseudonymisers.get(store)
    if p is None:
        p = _pseudonymisers[store] = pseudonymiser_for(store)
    return p(username)


def justify(text: str | None) -> contextvars.Token[str | None]:
    """Give the justification of what follows in this context (a request, a command): the
    lines recorded meanwhile carry it. Returns the token that :func:`unjustify` takes."""
    return _justification.set((text or "").strip() or None)


def unjustify(token: contextvars.Token[str | None]) -> None:
    """End the justification :func:`justify` gave."""
    _justification.reset(token)


def _clean(text: str) -> str:
    """A justification as kept: free text redacted (names, phones, plates, e-mails) and cut —
    the log says why, it does not become a file on people."""
    redacted, _ = redact(pl.Series([text]))
    return str(redacted[0] or "")[:JUSTIFICATION_MAX]


def record(store: Store, *, actor: str, role: str, purpose: str, action: str,
           what: dict[str, Any], rows_released: int,
           justification: str | None = None) -> AuditRow:
    """Append one line to the access log and return it (``actor`` is the user name; the line
    keeps its pseudonym). ``justification`` defaults to the one given with :func:`justify`,
    and is redacted. Every ``audit_sign_every`` lines, a tree head is signed."""
    if action not in ACTIONS:
        raise ConfigError(f"unknown access-log action {action!r}; actions: {', '.join(ACTIONS)}")
    why = justification if justification is not None else _justification.get()
    why = _clean(why) if why else None
    what_json = json.dumps(what, sort_keys=True, default=str)
    name = pseudonym(store, actor)

    def build(last: AuditRow | None) -> AuditRow:
        # Called by the store inside its serialised append: seq and prev_hash come from the
        # line that is really the newest, whichever process wrote it.
        seq = (last.seq + 1) if last else 1
        prev = last.hash if last else GENESIS
        row = AuditRow(seq=seq, ts=datetime.now(UTC), actor=name, role=role, purpose=purpose,
                       action=action, what=what_json, rows_released=rows_released,
                       prev_hash=prev, hash="", justification=why)
        return dataclasses.replace(row, hash=_digest(prev, row))

    row = store.append_audit_line(build)
    every = _sign_every()
    if every and row.seq % every == 0:
        try:
            sign_head(store)
        except AuditLogBroken as exc:  # never bless a rewritten past; verify will say it
            log.error("access log not signed at line %d: %s", row.seq, exc)
    return row


def _sign_every() -> int:
    value = setting("audit_sign_every")
    try:
        return max(0, int(value))
    except ValueError as exc:
        raise ConfigError(f"audit_sign_every must be a whole number, not {value!r}") from exc


# -- keys and signed tree heads --------------------------------------------------------------

def signing_key(store: Store, *, create: bool = True) -> Ed25519PrivateKey | None:
    """The tree-head signing key: the ``audit_key`` setting (hex seed), else the file
    ``.audit.key`` of the deployment (:meth:`~belvedere.store.deployment.Deployment.file`,
    mode 0600), created the first time when ``create``; an in-memory deployment's own
    throw-away key."""
    env = setting("audit_key")
    if env:
        try:
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(env))
        except ValueError as exc:
            raise ConfigError(f"{SETTINGS['audit_key'].env} must be 64 hex digits (an Ed25519 "
                              f"seed): {exc}") from exc
    if store.deployment.home is None:
        return store.deployment.ephemeral("audit_key",
                                          Ed25519PrivateKey.generate if create else None)
    secret = store.deployment.secret(".audit.key", create=create)
    if secret is None:
        return None
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    except ValueError as exc:
        raise ConfigError(f"{store.deployment.file('.audit.key')} must hold 64 hex digits "
                          f"(an Ed25519 seed): {exc}") from exc


def public_key_hex(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key, hex."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def public_key_pem(key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), for OpenSSL and other tools."""
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    return hashlib.sha256(bytes.fromhex(public_key_hex(key))).hexdigest()[:16]


def head_message(size: int, root: bytes, ts: datetime) -> bytes:
    """The bytes a tree head's signature covers, RFC 6962 §3.5's ``TreeHeadSignature``:
    version 0, signature type 1 (tree hash), the timestamp in milliseconds since the epoch
    and the tree size as big-endian uint64, then the 32-byte root."""
    millis = int(ts.timestamp() * 1000)
    return struct.pack(">BBQQ", 0, 1, millis, size) + root


def leaves(rows: list[AuditRow]) -> list[bytes]:
    """The Merkle leaf hashes of ``rows``, in order."""
    return [leaf_hash(entry_bytes(r)) for r in rows]


def sign_head(store: Store) -> AuditHead:
    """Sign and keep the tree head over the whole log now; refused (:class:`AuditLogBroken`)
    when the newest head already signed is no longer a prefix of the log."""
    with _sign_lock:
        return _sign(store)


def _sign(store: Store) -> AuditHead:
    key = signing_key(store)
    assert key is not None  # created when missing
    # Heads before lines: the log only grows, so every head read is covered by the lines read
    # after it, even while other processes append and sign (read the other way round, a head
    # signed in between would look larger than the log).
    heads = store.audit_heads()
    tree = MerkleTree(leaves(store.audit_rows()))
    if heads:
        last = heads[-1]
        if last.size > tree.size or tree.root(last.size).hex() != last.root:
            raise AuditLogBroken(f"the head signed at {last.ts.isoformat()} over {last.size} "
                                 "lines no longer matches the log: run `belvedere audit verify`",
                                 seq=None)
    now = datetime.now(UTC)
    ts = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the signature holds ms
    root = tree.root()
    head = AuditHead(size=tree.size, root=root.hex(), ts=ts,
                     signature=key.sign(head_message(tree.size, root, ts)).hex(),
                     key_id=key_id(key.public_key()))
    store.append_audit_head(head)
    return head


def head_signed_by(head: AuditHead, public: Ed25519PublicKey) -> bool:
    """Whether ``head``'s signature is ``public``'s over its size, root and time."""
    try:
        public.verify(bytes.fromhex(head.signature),
                      head_message(head.size, bytes.fromhex(head.root), head.ts))
    except (InvalidSignature, ValueError):
        return False
    return True


def head_json(head: AuditHead, public: Ed25519PublicKey) -> dict[str, Any]:
    """A signed tree head as published: enough to check it with the public key alone."""
    return {
        "log": LOG_ID, "tree_size": head.size, "root_hash": head.root,
        "timestamp": head.ts.isoformat(), "timestamp_ms": int(head.ts.timestamp() * 1000),
        "signature": head.signature, "signature_algorithm": "Ed25519",
        "signed_message": "RFC 6962 TreeHeadSignature: 0x00 0x01 || timestamp_ms (uint64 BE) "
                          "|| tree_size (uint64 BE) || root_hash (32 bytes)",
        "key_id": head.key_id, "public_key": public_key_hex(public),
    }


# -- verification ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the log: the first line concerned (``None``: a head only), what
    (``hash mismatch``, ``missing lines``, ``chain broken``, ``head mismatch``,
    ``truncated``, ``bad signature``, ``unverifiable``) and details."""

    seq: int | None
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"line #{self.seq}: " if self.seq is not None else ""
        return f"{where}{self.kind}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify` found: lines and heads checked, the current head, the problems."""

    lines: int
    heads: int
    root: str
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        """Whether the log is intact."""
        return not self.problems

    @property
    def first_bad(self) -> int | None:
        """The first line found wrong, if any line is."""
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None


def verify(store: Store, public: Ed25519PublicKey | None = None) -> Verification:
    """Recompute the chain and the Merkle tree, and check every signed head against them: its
    signature with ``public`` (by default the store's key) and its root at its size."""
    heads = store.audit_heads()  # before the lines: see _sign
    rows = store.audit_rows()
    problems = _check_chain(rows)
    tree = MerkleTree(leaves(rows))
    if public is None:
        key = signing_key(store, create=False)
        public = key.public_key() if key else None
    problems += _check_heads(heads, tree, public)
    return Verification(lines=len(rows), heads=len(heads), root=tree.root().hex(),
                        problems=tuple(problems))


def _check_chain(rows: list[AuditRow]) -> list[Problem]:
    problems: list[Problem] = []
    prev, expected = GENESIS, 1
    for row in rows:
        gap = row.seq != expected
        if row.seq > expected:
            problems.append(Problem(expected, "missing lines",
                                    f"lines #{expected}–#{row.seq - 1} were deleted"
                                    if row.seq - 1 > expected else
                                    f"line #{expected} was deleted"))
        elif gap:
            problems.append(Problem(row.seq, "out of order", f"line #{row.seq} where "
                                                             f"#{expected} was due"))
        if row.hash != _digest(row.prev_hash, row):
            problems.append(Problem(row.seq, "hash mismatch",
                                    "its content no longer matches its hash (altered)"))
        elif row.prev_hash != prev and not gap:
            # The line is whole but does not link to the one before: that one was rewritten
            # with a new hash, or this one with a new link.
            problems.append(Problem(row.seq - 1, "chain broken",
                                    f"line #{row.seq} does not link to line #{row.seq - 1}'s "
                                    "hash: one of them was rewritten"))
        prev, expected = row.hash, row.seq + 1
    return problems


def _check_heads(heads: list[AuditHead], tree: MerkleTree,
                 public: Ed25519PublicKey | None) -> list[Problem]:
    problems: list[Problem] = []
    if heads and public is None:
        problems.append(Problem(None, "unverifiable", "signed heads are kept but no key was "
                                "found to check them (give the public key)"))
    good: list[AuditHead] = []
    for head in heads:
        when = head.ts.isoformat(timespec="seconds")
        if public is not None and not head_signed_by(head, public):
            problems.append(Problem(None, "bad signature",
                                    f"the head of {head.size} lines signed at {when} does not "
                                    f"verify with key {key_id(public)}"))
            continue
        if head.size > tree.size:
            problems.append(Problem(tree.size + 1, "truncated",
                                    f"the head signed at {when} covers {head.size} lines but "
                                    f"the log holds {tree.size}: lines #{tree.size + 1}–"
                                    f"#{head.size} were deleted"))
            continue
        if tree.root(head.size).hex() != head.root:
            after = max((h.size for h in good), default=0)
            problems.append(Problem(None, "head mismatch",
                                    f"the first {head.size} lines no longer hash to the head "
                                    f"signed at {when}: a line among #{after + 1}–"
                                    f"#{head.size} was altered"))
            continue
        # Heads that each match the recomputed tree are consistent with each other by
        # construction; an outside auditor, without the lines, checks it with
        # consistency_proof(…) instead (docs/audit.md).
        good.append(head)
    return problems
