"""The store's small interface and the value types that cross it.

Everything above the store (models, the release gate) talks to a :class:`Store`, opened by URL
with :func:`belvedere.store.factory.open_store`. The backends — the embedded DuckDB file
(``belvedere/store/duckdb/``) and the PostgreSQL/PostGIS server store
(``belvedere/store/postgres/``) — follow the same contract, checked by one test battery
(``tests/store/test_contract.py``) run on both. Analytical queries are built once, with Ibis, in
:mod:`belvedere.store.queries`, so they run unchanged on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

import pyarrow as pa

if TYPE_CHECKING:
    from belvedere.store.deployment import Deployment

RecordKind = Literal["incidents", "measurements", "planned_events"]
Level = Literal["cell", "zone", "city"]
Bin = Literal["hour", "day", "window"]


@dataclass(frozen=True, slots=True)
class SituationQuery:
    """Counts and sums by place × time bin × source × category over a window.

    Attributes:
        start, end: the window, UTC, ``start`` included, ``end`` excluded.
        sources: feeds to include (all when empty).
        level: ``cell`` (H3 at ``resolution``), ``zone`` (arrondissement) or ``city``.
        resolution: H3 resolution for ``level="cell"`` (0–9).
        bin: ``hour`` or ``day`` (local time, Europe/Paris), or ``window`` (one bin).
        zones: restrict to these zone ids (all when empty).
        metrics: restrict to these metrics (``incidents``, ``crowd_count``…; all when empty).
        by_category: keep categories apart (``False``: one total per metric, category ``""``).
    """

    start: datetime
    end: datetime
    sources: tuple[str, ...] = ()
    level: Level = "zone"
    resolution: int = 9
    bin: Bin = "hour"
    zones: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    by_category: bool = True

    def describe(self) -> dict[str, object]:
        """A JSON-able description (what the audit log records)."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "sources": list(self.sources),
            "level": self.level,
            "resolution": self.resolution,
            "bin": self.bin,
            "zones": list(self.zones),
            "metrics": list(self.metrics),
            "by_category": self.by_category,
        }


QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("line", pa.int64(), nullable=False),
        pa.field("rule", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw", pa.string(), nullable=False),
    ]
)
"""What a connector hands over for each rejected row (batch, source and file are added)."""


def empty_quarantine() -> pa.Table:
    """A quarantine table with no rows."""
    return QUARANTINE_SCHEMA.empty_table()


SITUATION_COLUMNS = ("bin_start", "place", "source", "metric", "category", "value", "n")
"""Columns of a situation table: local bin start, place key (cell hex / zone id / "city"),
source, metric (``incidents`` for point events), category, summed value, record count."""


@dataclass(slots=True)
class BatchResult:
    """What one ingest batch did. Every read row is exactly one of: stored, a duplicate of a
    known record, quarantined (with a reason), or filtered out on purpose by the mapping."""

    batch_id: int
    source: str
    file: str | None
    rows_read: int = 0
    rows_stored: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    rows_filtered: int = 0
    quarantine_rules: dict[str, int] = field(default_factory=dict)
    minimised: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BatchInput:
    """One file's worth of parsed input for :meth:`Store.append_batch`.

    Attributes:
        source, file: where it came from.
        records: Arrow tables per record kind.
        quarantine: rejected rows (``line``, ``rule``, ``reason``, ``raw``).
        rows_read: input rows seen.
        rows_filtered: rows the mapping leaves out on purpose (e.g. other teams' games).
        minimised: counts of what minimisation did (``dropped:recit``, ``redacted:phone``…).
        notes: facts worth reporting (``encoding detected: latin-1``…).
        retry: this batch re-reads a file to retry its quarantined rows: the file's open
            quarantine rows are marked ``retried`` (the still-bad ones come back open).
    """

    source: str
    file: str | None
    records: dict[RecordKind, pa.Table]
    quarantine: pa.Table
    rows_read: int
    rows_filtered: int = 0
    minimised: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    retry: bool = False


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One line of the access log, as stored."""

    seq: int
    ts: datetime
    actor: str
    role: str
    purpose: str
    action: str
    what: str
    rows_released: int
    prev_hash: str
    hash: str
    justification: str | None = None


@dataclass(frozen=True, slots=True)
class AuditHead:
    """A signed tree head of the access log: the Merkle root over its first ``size`` lines,
    when it was signed, and the Ed25519 signature (hex) of the key ``key_id``."""

    size: int
    root: str
    ts: datetime
    signature: str
    key_id: str


@dataclass(frozen=True, slots=True)
class UserRow:
    """A dashboard/API user: a name, a role, a password hash (never the password)."""

    username: str
    password_hash: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiTokenRow:
    """A machine's API token: its name, role and lifetime, and the SHA-256 of the token (the
    token itself is shown once at creation and never stored)."""

    name: str
    token_hash: str
    role: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None


ALERT_STATUSES = ("open", "acknowledged", "closed", "dismissed")
"""An alert's states: raised ``open``; a person ``acknowledged`` it (with a reason), then
``closed`` it; or ``dismissed`` it (with a reason) as not worth acting on."""


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An alert: one anomaly wave in one place and feed, as stored.

    Attributes:
        alert_id: number given by the store (0 before it is stored).
        feed, category: the detector's feed (``police_log``, ``ed_arrivals``…) and, for feeds
            tested per category, the category (``""`` otherwise).
        level, place: ``zone`` (INSEE code), ``cell`` (H3 hex), ``site`` (site id) or
            ``cluster`` (a space-time scan cluster; ``place`` is its centre cell).
        zone: the arrondissement of the place (``None`` when outside every one).
        places: every place the wave touched (cells of a cluster, places merged by deduplication).
        method: the test that raised it (``negbin``, ``poisson``, ``gamma``, ``scan``).
        window_start, window_end: the span of the wave's data windows, UTC.
        observed, expected: the figures of its strongest evidence (smallest p-value), with
            its ``p_value``, ``q_value`` (BH; none for a scan cluster) and ``score`` (−log10
            p, or the scan's log-likelihood ratio).
        status: one of :data:`ALERT_STATUSES`.
        opened_at, updated_at, updates: when raised, last updated by the detector, how often.
        acknowledged_*, closed_*: who handled it, when, and why (closed or dismissed).
    """

    alert_id: int
    feed: str
    category: str
    level: str
    place: str
    zone: str | None
    places: tuple[str, ...]
    method: str
    window_start: datetime
    window_end: datetime
    observed: float
    expected: float
    p_value: float
    q_value: float | None
    score: float
    status: str
    opened_at: datetime
    updated_at: datetime
    updates: int = 0
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledge_reason: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PurgeRule:
    """What one dataset's purge deletes: the rows of ``table`` whose time is before ``before``
    (of ``sources`` only, or of every source but ``exclude_sources``). With ``aggregate``, their
    hourly counts are first added to the ``aggregates`` table. The datasets and their retention
    are in ``belvedere/privacy/retention.toml`` (:mod:`belvedere.privacy.retention`)."""

    dataset: str
    table: str
    before: datetime
    sources: tuple[str, ...] = ()
    exclude_sources: tuple[str, ...] = ()
    aggregate: bool = False


@dataclass(frozen=True, slots=True)
class PurgeReceipt:
    """What one purge of one dataset erased: how many rows, and the SHA-256 ``digest`` of their
    sorted keys (:func:`belvedere.store.purge.receipt_digest`), so that a later audit can check
    what was erased without the rows being kept. The erased period is ``[oldest, before)``.
    ``aggregated``: aggregate rows written first. ``audit_seq``: the access-log line of the
    receipt (``None`` until it is written there)."""

    receipt_id: int
    dataset: str
    table: str
    before: datetime
    count: int
    digest: str
    aggregated: int
    purged_at: datetime
    audit_seq: int | None = None
    oldest: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReleaseRow:
    """A noised answer kept for identical requests (:mod:`belvedere.privacy.repeats`).

    Attributes:
        key: digest of everything the answer depends on (role, purpose, granted query,
            mechanism, the data's version).
        released_at: when it was first released (UTC).
        meta: what the release said of itself (k, suppressed, mechanism, ε, ledger line), JSON.
        payload: the released table, Arrow IPC, base64.
    """

    key: str
    released_at: datetime
    meta: str
    payload: str


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One noised release in the privacy-loss ledger (:mod:`belvedere.privacy.ledger`).

    Attributes:
        seq: number given by the store (0 before it is stored).
        ts: when it was released (UTC).
        actor, role, purpose: who asked, for what.
        dataset: the feeds it covered, comma-separated.
        query: the granted query, JSON.
        mechanism: ``discrete_laplace`` or ``discrete_gaussian``.
        epsilon, delta: the privacy loss accounted for it; ``rho``: its zCDP loss (Gaussian).
        period: the budget period it counts against (``day:2025-01-31``, ``month:2025-01``…).
    """

    seq: int
    ts: datetime
    actor: str
    role: str
    purpose: str
    dataset: str
    query: str
    mechanism: str
    epsilon: float
    delta: float
    rho: float | None
    period: str


class Store(Protocol):
    """What belvedere needs from persistence.

    ``deployment`` says which store this is and where the deployment's own files are (keys,
    live folder, reports): nothing derives them from a file path.
    """

    deployment: Deployment

    def migrate(self) -> list[int]:
        """Apply pending migrations in order; returns the versions applied."""
        ...

    def append_batch(self, batch: BatchInput) -> BatchResult:
        """Store one batch atomically: records (skipping known ``(source, source_id)``),
        quarantined rows, the batch log line and the source's cursor — all or nothing."""
        ...

    def situation(self, query: SituationQuery) -> pa.Table:
        """The situation table (:data:`SITUATION_COLUMNS`) for ``query``, unfiltered by privacy."""
        ...

    def count(self, kind: RecordKind, source: str | None = None) -> int:
        """Number of stored records of a kind (optionally of one source)."""
        ...

    def data_period(self) -> tuple[datetime, datetime] | None:
        """First and last UTC timestamps held, or ``None`` when empty."""
        ...

    def planned_events(self, start: datetime, end: datetime) -> pa.Table:
        """Planned events overlapping ``[start, end)``."""
        ...

    def incident_points(self, sources: tuple[str, ...] = (), *, start: datetime | None = None,
                        end: datetime | None = None) -> pa.Table:
        """Incidents placed on a cell (``cell, ts, category, origin, source``), for models."""
        ...

    def measurement_points(self, metric: str) -> pa.Table:
        """A metric's values on cells (``cell, ts, value``), for cross-source models."""
        ...

    def schema_version(self) -> int:
        """The newest applied migration."""
        ...

    def upsert_sites(self, sites: pa.Table) -> None:
        """Insert or replace reference sites (cameras, stations, hospitals, venues)."""
        ...

    def sites(self) -> pa.Table:
        """Every reference site, by id."""
        ...

    def cursors(self) -> pa.Table:
        """Per source: the newest record time held, the last file and batch ingested."""
        ...

    def counts_by_source(self) -> dict[str, int]:
        """Stored records per source, over every kind."""
        ...

    def batches(self, *, after: int | None = None, since: datetime | None = None) -> pa.Table:
        """The ingest log, by batch number (only the batches numbered above ``after``, and
        only those started at or after ``since``)."""
        ...

    def batch_records(self, batch_id: int, *, since: datetime) -> dict[RecordKind, pa.Table]:
        """The incidents and measurements batch ``batch_id`` stored whose own time (an
        incident's ``ts``, a measurement's ``start``) is at or after ``since``, every column —
        what another process's live picture needs of a batch it did not commit."""
        ...

    def batch_source_ids(self, batch_id: int) -> dict[RecordKind, list[str]]:
        """Per record kind, the ``source_id`` of every record that batch ``batch_id`` stored
        (what was new in it: its duplicates are not there)."""
        ...

    def quarantined(self, source: str | None = None, *, status: str | None = None,
                    rule: str | None = None) -> pa.Table:
        """The quarantine table (optionally of one source, status or rule)."""
        ...

    def add_user(self, user: UserRow) -> None:
        """Create a user (error if the name exists)."""
        ...

    def get_user(self, username: str) -> UserRow | None:
        """A user by name."""
        ...

    def list_users(self) -> list[UserRow]:
        """Every user."""
        ...

    def set_password(self, username: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        ...

    def add_session(self, token_hash: str, username: str, expires_at: datetime) -> None:
        """Record a login session by the hash of its token."""
        ...

    def session_user(self, token_hash: str, now: datetime) -> str | None:
        """The user of a live session, or ``None``."""
        ...

    def delete_session(self, token_hash: str) -> None:
        """Log a session out."""
        ...

    def add_api_token(self, token: ApiTokenRow) -> None:
        """Record an API token (error if the name exists, even revoked)."""
        ...

    def api_token(self, token_hash: str) -> ApiTokenRow | None:
        """The API token with this hash (live, expired or revoked), or ``None``."""
        ...

    def api_tokens(self) -> list[ApiTokenRow]:
        """Every API token, by name."""
        ...

    def revoke_api_token(self, name: str, at: datetime) -> bool:
        """Mark a token revoked at ``at``; ``False`` if no unrevoked token has this name."""
        ...

    def append_audit(self, row: AuditRow) -> None:
        """Append one access-log line as given (never update or delete). The chain is the
        caller's to keep: :meth:`append_audit_line` is what the access log uses."""
        ...

    def append_audit_line(self, build: Callable[[AuditRow | None], AuditRow]) -> AuditRow:
        """Append the next access-log line as one serialisable step: inside one write
        transaction, ordered with every other writer of the store (every thread and process),
        read the newest line, call ``build`` with it (``None`` for the first) and append what it
        returns. So no two writers ever chain onto the same line (no fork, no gap)."""
        ...

    def last_audit(self) -> AuditRow | None:
        """The newest access-log line."""
        ...

    def audit_rows(self, limit: int | None = None) -> list[AuditRow]:
        """Access-log lines, oldest first (the newest ``limit`` when given)."""
        ...

    def append_audit_head(self, head: AuditHead) -> None:
        """Keep one signed tree head of the access log (never update or delete)."""
        ...

    def audit_heads(self) -> list[AuditHead]:
        """The signed tree heads, smallest tree first."""
        ...

    def hourly_figures(self, start: datetime, end: datetime) -> pa.Table:
        """Per UTC hour in ``[start, end)``, source, metric, category, zone, site and cell:
        ``value`` (incidents count 1; measurements their value), ``n`` records and ``seconds``
        of measurement windows. Measurements ending after ``end`` are left out (not complete
        yet), as are incidents known only to the day and measurements longer than an hour."""
        ...

    def open_alert(self, alert: AlertRow) -> AlertRow:
        """Store a new alert; returns it with its number."""
        ...

    def update_alert(self, alert: AlertRow) -> None:
        """Replace a stored alert's fields (same ``alert_id``)."""
        ...

    def alerts(self, status: str | None = None, *, since: datetime | None = None
               ) -> list[AlertRow]:
        """Alerts (of one status; updated since ``since``), newest first."""
        ...

    def alert(self, alert_id: int) -> AlertRow | None:
        """One alert by number."""
        ...

    def purge(self, rule: PurgeRule, *, now: datetime, dry_run: bool = False) -> PurgeReceipt:
        """Delete what ``rule`` makes due, in one transaction with its receipt (kept pending
        until :meth:`mark_receipt_logged`); with ``dry_run``, only count and digest it."""
        ...

    def add_purge_receipt(self, receipt: PurgeReceipt) -> PurgeReceipt:
        """Record a receipt for something erased outside the tables (files); returns it with
        its number."""
        ...

    def purge_receipts(self, *, pending: bool = False,
                       limit: int | None = None) -> list[PurgeReceipt]:
        """Purge receipts, oldest first (only those not yet in the access log with
        ``pending``; only the newest ``limit``)."""
        ...

    def mark_receipt_logged(self, receipt_id: int, audit_seq: int) -> None:
        """Note the access-log line that carries a receipt."""
        ...

    def charge_ledger(self, row: LedgerRow, *, epsilon_cap: float, delta_cap: float
                      ) -> tuple[LedgerRow | None, float, float]:
        """Append ``row`` to the privacy ledger if, with it, the ε and δ already spent for its
        purpose and period stay within the caps — the check and the append in one transaction,
        serialised with every other charge. Returns ``(stored row or None, ε spent, δ spent)``
        (the sums before this row)."""
        ...

    def kept_release(self, key: str) -> ReleaseRow | None:
        """The answer kept under ``key``, or ``None``."""
        ...

    def keep_release(self, row: ReleaseRow, *, drop_before: datetime) -> ReleaseRow:
        """Keep ``row`` unless an answer is already kept under its key — then that one is
        returned (two processes releasing the same request at once give both the first
        answer). Answers released before ``drop_before`` are dropped."""
        ...

    def ledger_rows(self, *, purpose: str | None = None, period: str | None = None,
                    limit: int | None = None) -> list[LedgerRow]:
        """Ledger rows, oldest first (of one purpose and period; the newest ``limit``)."""
        ...

    def close(self) -> None:
        """Release the store."""
        ...
