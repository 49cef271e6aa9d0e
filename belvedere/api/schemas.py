"""Public response schemas (``XPublic``), separate from storage rows."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class PeriodPublic(BaseModel):
    start: datetime
    end: datetime


class HealthPublic(BaseModel):
    status: str
    schema_version: int
    data_period: PeriodPublic | None


class UserPublic(BaseModel):
    username: str
    role: str


class LoginPublic(UserPublic):
    token: str


class LabelPublic(BaseModel):
    fr: str
    en: str


class SourcePublic(BaseModel):
    name: str
    label: LabelPublic
    kind: str
    metric: str
    always_aggregate: bool
    description: str


class GrantPublic(BaseModel):
    level: str
    resolution: int
    bin: str


class SituationRowPublic(BaseModel):
    bin_start: datetime
    place: str
    source: str
    metric: str
    category: str
    value: float | None
    n: int | None
    suppressed: bool


class NoisePublic(BaseModel):
    """How a noised release was made: the mechanism, its ε and δ, and its ledger line."""

    mechanism: str
    epsilon: float
    ledger: int


class SituationPublic(BaseModel):
    granted: GrantPublic
    k: int | None
    suppressed: int
    noise: NoisePublic | None = None
    rows: list[SituationRowPublic]


class TimelinePointPublic(BaseModel):
    bin_start: datetime
    value: float | None
    suppressed: bool


class TimelinePublic(BaseModel):
    granted: GrantPublic
    k: int | None
    noise: NoisePublic | None = None
    source: str
    series: list[TimelinePointPublic]


class EventPublic(BaseModel):
    source_id: str
    kind: str
    title: str
    venue: str | None
    venue_name: str | None
    lat: float | None
    lon: float | None
    start: datetime
    end: datetime
    expected_attendance: int | None


class ConflictPublic(BaseModel):
    first: str
    second: str
    kinds: list[str]
    overlap_start: datetime
    overlap_end: datetime
    distance_m: float
    hospital: str | None
    lines: list[str]
    combined_attendance: int


class EventCreate(BaseModel):
    """A planned event entered by a user (crowd safety only: no organiser, no participant)."""

    kind: Literal["match_football", "manifestation", "concert", "festival"]
    title: str = Field(min_length=1, max_length=200)
    venue: str
    start: datetime
    end: datetime
    expected_attendance: int | None = Field(default=None, ge=0)
    id: str | None = Field(default=None, max_length=100)


class PushPublic(BaseModel):
    """What a push did: every item read is stored, a duplicate, quarantined or filtered."""

    feed: str
    read: int
    stored: int
    duplicates: int
    quarantined: int
    filtered: int
    batches: int
    batch_ids: list[int]


class LiveRowPublic(BaseModel):
    place: str | None
    zone: str | None
    source: str
    metric: str
    category: str
    value: float | None
    n: int | None
    suppressed: bool


class LiveWindowPublic(BaseModel):
    start: datetime
    end: datetime
    suppressed: int
    rows: list[LiveRowPublic]


class LiveArrivalPublic(BaseModel):
    feed: str
    batch_id: int
    read: int
    stored: int
    duplicates: int
    quarantined: int
    filtered: int
    ids: list[str]


class LiveGrantedPublic(BaseModel):
    level: str
    k: int | None


class LiveSituationPublic(BaseModel):
    """One state of the live picture, as the caller's role may see it."""

    seq: int
    at: datetime
    coalesced: int
    ids_dropped: int
    granted: LiveGrantedPublic
    windows: dict[str, LiveWindowPublic]
    arrived: list[LiveArrivalPublic] | None


class ReasonIn(BaseModel):
    """Why a person acknowledges, closes or dismisses an alert (required, not blank)."""

    reason: str = Field(min_length=1, max_length=500, pattern=r"\S")


class AlertPublic(BaseModel):
    """An alert as the caller's role may see it (``place`` is the arrondissement for roles
    without cell detail; ``observed``/``expected`` are null when withheld under k)."""

    alert_id: int
    feed: str
    category: str
    level: str
    place: str
    zone: str | None
    places: list[str]
    method: str
    window_start: datetime
    window_end: datetime
    observed: float | None
    expected: float | None
    p_value: float
    q_value: float | None
    score: float
    status: str
    opened_at: datetime
    updated_at: datetime
    updates: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_reason: str | None
    closed_by: str | None
    closed_at: datetime | None
    close_reason: str | None
    suppressed: bool


class AlertsPublic(BaseModel):
    granted: str
    k: int | None
    suppressed: int
    alerts: list[AlertPublic]
