"""Builders of the records and rows the store takes, for the store's tests.

Records are the real types (:mod:`belvedere.grid.records`), turned into tables with
:func:`~belvedere.grid.records.to_table`; batches are real :class:`BatchInput`. Times are fixed
(never the clock), so that every figure a test expects can be written down.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import h3
import pyarrow as pa

from belvedere.grid.cells import str_to_cell
from belvedere.grid.records import Incident, Measurement, PlannedEvent, to_table
from belvedere.store.base import (
    QUARANTINE_SCHEMA,
    AlertRow,
    AuditRow,
    BatchInput,
    LedgerRow,
    RecordKind,
)

T0 = datetime(2024, 9, 7, 18, 0, tzinfo=UTC)
"""A Saturday, 20:00 in Marseille (CEST, UTC+2)."""

VELODROME = (43.2698, 5.3959)
VIEUX_PORT = (43.2951, 5.3740)
VELODROME_CELL = str_to_cell(h3.latlng_to_cell(*VELODROME, 9))
VIEUX_PORT_CELL = str_to_cell(h3.latlng_to_cell(*VIEUX_PORT, 9))
VELODROME_CELL8 = str_to_cell(h3.latlng_to_cell(*VELODROME, 8))
VELODROME_ZONE, VIEUX_PORT_ZONE = "13208", "13201"


def incident(i: int, minutes: float = 0, *, source: str = "police_log",
             cell: int | None = VELODROME_CELL, zone: str | None = VELODROME_ZONE,
             category: str = "theft", origin: str = "reported_by_public",
             time_precision: str = "minute") -> Incident:
    """Incident ``MC-<i>`` of ``source``, ``minutes`` after :data:`T0`."""
    return Incident(source=source, source_id=f"MC-{i}", category=category,
                    source_category="VOL_SIMPLE", ts=T0 + timedelta(minutes=minutes),
                    lat=VELODROME[0] if cell is not None else None,
                    lon=VELODROME[1] if cell is not None else None, cell=cell, zone=zone,
                    origin=origin, time_precision=time_precision,
                    place_precision="point" if cell is not None else "zone")


def measurement(i: int, start: datetime, minutes: float = 60, value: float | None = 1.0, *,
                source: str = "mobile_presence", metric: str = "crowd_count",
                category: str = "", site: str | None = None,
                cell: int | None = VELODROME_CELL8,
                zone: str | None = VELODROME_ZONE) -> Measurement:
    """Measurement ``m<i>`` over ``[start, start + minutes)``; ``value=None``: suppressed."""
    return Measurement(source=source, source_id=f"m{i}", metric=metric, category=category,
                       site=site, zone=zone, cell=cell, start=start,
                       end=start + timedelta(minutes=minutes), value=value,
                       flags="" if value is not None else "suppressed_at_source")


def planned_event(event_id: str, start: datetime, hours: float = 2, *,
                  source: str = "events") -> PlannedEvent:
    """A concert at the Vélodrome over ``[start, start + hours)``."""
    return PlannedEvent(source=source, source_id=event_id, kind="concert", title=event_id,
                        venue="velodrome", lat=VELODROME[0], lon=VELODROME[1], route=None,
                        start=start, end=start + timedelta(hours=hours),
                        expected_attendance=5000, cell=VELODROME_CELL, zone=VELODROME_ZONE)


def quarantine(*rows: tuple[int, str, str, str]) -> pa.Table:
    """A connector's rejected rows: ``(line, rule, reason, raw)`` each."""
    return pa.Table.from_pylist(
        [dict(zip(QUARANTINE_SCHEMA.names, r, strict=True)) for r in rows], QUARANTINE_SCHEMA)


def batch(source: str = "police_log", file: str | None = "f.csv", *,
          incidents: Sequence[Incident] = (), measurements: Sequence[Measurement] = (),
          planned_events: Sequence[PlannedEvent] = (),
          rejected: Sequence[tuple[int, str, str, str]] = (), rows_read: int | None = None,
          rows_filtered: int = 0, minimised: dict[str, int] | None = None,
          notes: tuple[str, ...] = (), retry: bool = False) -> BatchInput:
    """One file's batch; ``rows_read`` defaults to every row given (records, rejected and
    filtered), so that nothing counts as a duplicate unless the store finds it one."""
    records: dict[RecordKind, pa.Table] = {}
    for kind, record, rows in (("incidents", Incident, incidents),
                               ("measurements", Measurement, measurements),
                               ("planned_events", PlannedEvent, planned_events)):
        if rows:
            records[kind] = to_table(record, list(rows))
    read = (len(incidents) + len(measurements) + len(planned_events) + len(rejected)
            + rows_filtered) if rows_read is None else rows_read
    return BatchInput(source=source, file=file, records=records,
                      quarantine=quarantine(*rejected), rows_read=read,
                      rows_filtered=rows_filtered, minimised=dict(minimised or {}), notes=notes,
                      retry=retry)


def alert(feed: str = "police_log", place: str = VELODROME_ZONE, *, opened_at: datetime = T0,
          updated_at: datetime | None = None, status: str = "open", level: str = "zone",
          zone: str | None = VELODROME_ZONE, places: tuple[str, ...] | None = None,
          observed: float = 25.0, q_value: float | None = 1e-4) -> AlertRow:
    """An alert before the store numbers it (``alert_id`` 0)."""
    return AlertRow(alert_id=0, feed=feed, category="", level=level, place=place, zone=zone,
                    places=places if places is not None else (place,), method="negbin",
                    window_start=opened_at - timedelta(hours=2), window_end=opened_at,
                    observed=observed, expected=3.0, p_value=1e-6, q_value=q_value, score=6.0,
                    status=status, opened_at=opened_at,
                    updated_at=updated_at if updated_at is not None else opened_at)


def audit_line(seq: int, *, prev_hash: str = "0" * 64, actor: str = "ana",
               justification: str | None = None) -> AuditRow:
    """An access-log line as given (its hashes are placeholders: the chain is the caller's)."""
    return AuditRow(seq=seq, ts=T0 + timedelta(seconds=seq), actor=actor, role="analyst",
                    purpose="analysis", action="consultation", what=f'{{"line": {seq}}}',
                    rows_released=seq * 10, prev_hash=prev_hash, hash=f"{seq:064x}",
                    justification=justification)


def ledger_row(epsilon: float, *, purpose: str = "analysis", period: str = "day:2024-09-07",
               delta: float = 0.0, at: datetime = T0) -> LedgerRow:
    """A noised release to charge (``seq`` 0: the store numbers it)."""
    return LedgerRow(seq=0, ts=at, actor="ana", role="analyst", purpose=purpose,
                     dataset="police_log", query='{"q": 1}', mechanism="discrete_laplace",
                     epsilon=epsilon, delta=delta, rho=None, period=period)
