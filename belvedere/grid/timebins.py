"""Time on the grid: UTC in storage, the city's wall clock for bins and display.

Example:
    >>> import pyarrow as pa
    >>> from datetime import datetime, timezone
    >>> utc = pa.timestamp("us", "UTC")
    >>> ts = pa.array([datetime(2024, 7, 14, 20, 30, tzinfo=timezone.utc)], utc)
    >>> local_wallclock(ts)[0].as_py()
    datetime.datetime(2024, 7, 14, 22, 30)
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

CITY_TZ = "Europe/Paris"
"""The city's time zone: bins (hour, day, hour of week) and displays use its wall clock."""


def local_wallclock(ts: pa.Array | pa.ChunkedArray, tz: str = CITY_TZ) -> pa.Array:
    """Naive local wall-clock timestamps of tz-aware UTC timestamps (vectorised)."""
    return pc.local_timestamp(pc.cast(ts, pa.timestamp("us", tz)))


def local_day_window(day: date, days: int = 1, tz: str = CITY_TZ) -> tuple[datetime, datetime]:
    """UTC ``[start, end)`` of ``days`` local days starting at midnight of ``day``."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=days), time(0), zone)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


def to_local(ts: datetime, tz: str = CITY_TZ) -> datetime:
    """Naive local wall-clock time of an aware datetime."""
    return ts.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
