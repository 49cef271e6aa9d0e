"""Retention: each dataset is kept as long as its purpose needs, then erased with a receipt.

The durations and their reasons are data, in ``retention.toml`` beside this module (one entry
per dataset: the table, the sources, ``keep_days``, whether the rows are first coarsened into
hourly aggregates, and the basis). :func:`purge` applies them at a given ``now``: for each
dataset it computes the cutoff (``now − keep_days``, cut down to the UTC hour), deletes what is
older in one store transaction that also records the receipt (:meth:`Store.purge`), then writes
the receipt to the access log — action ``erasure``, ``what`` = dataset, table, the erased
period (``oldest`` row's time to the cutoff ``before``), count, digest, aggregate rows
written. The digest is the SHA-256 of the erased rows' sorted keys
(:func:`belvedere.store.purge.receipt_digest`): whoever kept a copy of the keys can prove what
was erased; nobody can recover the rows from it. A receipt a crash left out of the access log
is written there by the next purge.

:class:`RetentionJob` runs :func:`purge` every ``interval`` in a thread (``belvedere serve``);
its clock can be replaced, which is how the tests move time forward.

Example:
    >>> from datetime import UTC, datetime
    >>> rules = {d.name: d for d in load_retention().datasets}
    >>> rules["cctv_measurements"].keep.days, rules["incident_detail"].aggregate
    (30, True)
    >>> cutoff(rules["cctv_measurements"], datetime(2024, 10, 31, 9, 41, tzinfo=UTC)).isoformat()
    '2024-10-01T09:00:00+00:00'
"""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from belvedere.errors import ConfigError
from belvedere.privacy import audit
from belvedere.privacy.release import Actor
from belvedere.store.base import PurgeReceipt, PurgeRule, Store
from belvedere.store.purge import PURGEABLE_TABLES, receipt_digest

log = logging.getLogger(__name__)

RETENTION_FILE = Path(__file__).with_name("retention.toml")
PURPOSE = "retention"
"""The purpose under which receipts are written to the access log."""
ACTION = "erasure"
JOB_ACTOR = Actor("system:retention", "admin")
"""Who erases when ``belvedere serve``'s job does."""
FILES = "files"
"""The ``table`` of a dataset of files (the live staging folder) rather than rows."""
LIVE_FILE_PATTERN = "live-*"
"""Names of live staging files (:mod:`belvedere.live.ingest`); reference files are not purged."""


@dataclass(frozen=True, slots=True)
class Dataset:
    """One entry of ``retention.toml``: what is kept, how long, and why."""

    name: str
    table: str
    keep: timedelta
    basis: str
    time: str = ""
    sources: tuple[str, ...] = ()
    exclude_sources: tuple[str, ...] = ()
    aggregate: bool = False
    enforced: bool = True
    reason: str = ""

    def rule(self, now: datetime) -> PurgeRule:
        """The store's rule for this dataset at ``now``."""
        return PurgeRule(self.name, self.table, cutoff(self, now), self.sources,
                         self.exclude_sources, self.aggregate)


@dataclass(frozen=True, slots=True)
class Retention:
    """The retention table: the datasets, in the order they are purged, and the tables kept
    without a limit (name → why)."""

    datasets: tuple[Dataset, ...]
    kept: dict[str, str]


def load_retention(path: Path | None = None) -> Retention:
    """Read and check ``retention.toml`` (or ``path``).

    Raises:
        ConfigError: an entry is incomplete or names an unknown table or option.
    """
    path = path or RETENTION_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the retention table {path}: {exc}") from exc
    known = {"table", "time", "sources", "exclude_sources", "keep_days", "then", "enforced",
             "reason", "basis"}
    datasets = []
    for name, entry in data.get("datasets", {}).items():
        unknown = set(entry) - known
        if unknown:
            raise ConfigError(f"{path}: dataset {name}: unknown keys {sorted(unknown)}")
        table = entry.get("table")
        if table not in (*PURGEABLE_TABLES, FILES):
            raise ConfigError(f"{path}: dataset {name}: table {table!r} is not one of "
                              f"{', '.join((*PURGEABLE_TABLES, FILES))}")
        days = entry.get("keep_days")
        if not isinstance(days, int) or days < 0 or not entry.get("basis"):
            raise ConfigError(f"{path}: dataset {name}: give keep_days (days, ≥ 0) and basis")
        if entry.get("then", "aggregate") != "aggregate":
            raise ConfigError(f"{path}: dataset {name}: `then` can only be \"aggregate\"")
        enforced = bool(entry.get("enforced", True))
        if not enforced and not entry.get("reason"):
            raise ConfigError(f"{path}: dataset {name}: say why it is not enforced (reason)")
        datasets.append(Dataset(
            name=name, table=table, keep=timedelta(days=days), basis=entry["basis"].strip(),
            time=entry.get("time", ""), sources=tuple(entry.get("sources", ())),
            exclude_sources=tuple(entry.get("exclude_sources", ())),
            aggregate="then" in entry, enforced=enforced,
            reason=entry.get("reason", "").strip()))
    return Retention(tuple(datasets), {k: str(v) for k, v in data.get("kept", {}).items()})


def cutoff(dataset: Dataset, now: datetime) -> datetime:
    """The time before which ``dataset``'s rows are due at ``now``: ``now − keep``, cut down
    to the UTC hour (an hour is coarsened into aggregates whole, in one purge)."""
    if now.tzinfo is None:
        raise ConfigError("the purge's `now` must carry a time zone")
    at = (now - dataset.keep).astimezone(UTC)
    return at.replace(minute=0, second=0, microsecond=0)


Status = Literal["erased", "due", "not enforced"]


@dataclass(frozen=True, slots=True)
class PurgeOutcome:
    """What the purge did with one dataset: ``erased`` (its receipt is in the access log at
    line ``audit_seq`` when something was erased), ``due`` (a dry run: what would go) or
    ``not enforced`` (what is past its retention but kept, see the dataset's reason)."""

    dataset: Dataset
    receipt: PurgeReceipt
    status: Status
    audit_seq: int | None = None


def purge(store: Store, *, now: datetime, actor: Actor = JOB_ACTOR, dry_run: bool = False,
          staging: Path | None = None, retention: Retention | None = None
          ) -> list[PurgeOutcome]:
    """Erase what ``retention`` (``retention.toml`` by default) makes due at ``now``.

    Args:
        store: the store.
        now: the time the retention is counted back from (tz-aware).
        actor: who erases, as the access log records it.
        dry_run: only count and digest what is due; nothing is erased or logged.
        staging: the live staging folder, for the ``files`` dataset (skipped when ``None``).
        retention: the table to apply.

    Returns:
        One outcome per dataset, in the table's order (receipts left pending by an earlier
        crash are logged first and not returned).
    """
    retention = retention or load_retention()
    if not dry_run:
        for pending in store.purge_receipts(pending=True):
            _log(store, pending, actor)
    outcomes = []
    for dataset in retention.datasets:
        if dataset.table == FILES:
            if staging is None:
                continue
            receipt = _purge_files(store, dataset, staging, now,
                                   dry_run=dry_run or not dataset.enforced)
        else:
            receipt = store.purge(dataset.rule(now), now=now,
                                  dry_run=dry_run or not dataset.enforced)
        status: Status = ("not enforced" if not dataset.enforced else
                          "due" if dry_run else "erased")
        seq = _log(store, receipt, actor) if receipt.receipt_id else None
        outcomes.append(PurgeOutcome(dataset, receipt, status, seq))
    return outcomes


def _log(store: Store, receipt: PurgeReceipt, actor: Actor) -> int:
    """Write ``receipt`` to the access log and note the line in the store."""
    row = audit.record(store, actor=actor.username, role=actor.role, purpose=PURPOSE,
                       action=ACTION, rows_released=0, what={
                           "dataset": receipt.dataset, "table": receipt.table,
                           "oldest": receipt.oldest.isoformat() if receipt.oldest else None,
                           "before": receipt.before.isoformat(), "count": receipt.count,
                           "digest": receipt.digest, "aggregated": receipt.aggregated,
                           "receipt": receipt.receipt_id})
    store.mark_receipt_logged(receipt.receipt_id, row.seq)
    return row.seq


def _purge_files(store: Store, dataset: Dataset, folder: Path, now: datetime, *,
                 dry_run: bool) -> PurgeReceipt:
    """Delete the live staging files older than the cutoff; the receipt's keys are their
    paths relative to ``folder``. The receipt is recorded after the files are gone, so it never
    claims more than was erased."""
    before = cutoff(dataset, now)
    due = sorted(p for p in folder.rglob(LIVE_FILE_PATTERN)
                 if p.is_file() and p.stat().st_mtime < before.timestamp()) if folder.is_dir() \
        else []
    keys = [(p.relative_to(folder).as_posix(),) for p in due]
    oldest = min((p.stat().st_mtime for p in due), default=None)
    receipt = PurgeReceipt(0, dataset.name, FILES, before, len(keys), receipt_digest(keys), 0,
                           now, oldest=datetime.fromtimestamp(oldest, UTC) if oldest else None)
    if dry_run or not due:
        return receipt
    for p in due:
        p.unlink(missing_ok=True)
    return store.add_purge_receipt(receipt)


@dataclass
class RetentionJob:
    """Runs :func:`purge` at start and then every ``interval``, in a daemon thread.

    Args:
        store: the store (the process's own: the purge takes its write lock).
        interval: time between two runs.
        clock: what "now" is (the tests pass a fake one).
        staging: the live staging folder (its old files are purged too).
    """

    store: Store
    interval: timedelta
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    staging: Path | None = None
    runs: int = 0
    last: list[PurgeOutcome] = field(default_factory=list)
    last_error: str | None = None
    ran: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def run_once(self) -> list[PurgeOutcome]:
        """One purge at the clock's now (errors are logged and kept in ``last_error``: the
        next run tries again)."""
        try:
            self.last = purge(self.store, now=self.clock(), staging=self.staging)
            self.last_error = None
        except Exception as exc:  # a failed purge must not stop the server; it is retried
            log.exception("retention purge failed")
            self.last_error = str(exc)
        self.runs += 1
        self.ran.set()
        return self.last

    def start(self) -> None:
        """Start the thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a purge under way finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval.total_seconds())
