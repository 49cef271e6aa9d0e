"""Time for the simulator: the simulated period and local-time arithmetic.

Point feeds (police log, fire/EMS, field reports, CCTV) are simulated on the UTC time line and
formatted in local time, so a day of daylight-saving change has 23 or 25 hours, as the real one.
Hourly aggregate feeds (presence, validations, ED arrivals) are reported by their producers on
the local wall clock, 24 hours per local date; they are simulated on that grid.

Times are int64 seconds: *utc* seconds count from the Unix epoch; *wall* seconds count the
naive local wall-clock time the same way (as if the wall clock were UTC), which makes local
hour, weekday and date plain integer arithmetic.

Example:
    >>> from datetime import date
    >>> p = Period(date(2024, 10, 27), 1)   # the autumn DST change
    >>> len(p.utc_hours()), len(p.wall_hours())
    (25, 24)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from belvedere.errors import ConfigError

TZ_NAME = "Europe/Paris"
TZ = ZoneInfo(TZ_NAME)
HOUR = 3600
DAY = 86400
_EPOCH = datetime(1970, 1, 1)


def wall_seconds(moment: datetime) -> int:
    """Wall seconds of a naive local datetime."""
    return int((moment - _EPOCH).total_seconds())


def wall_to_utc(moment: datetime) -> int:
    """UTC seconds of a naive local datetime (the earlier one when the clock repeats)."""
    return int(moment.replace(tzinfo=TZ).timestamp())


def utc_to_wall(utc: np.ndarray) -> np.ndarray:
    """Wall seconds of many UTC instants (vectorised through polars' time-zone database)."""
    local = (
        pl.from_epoch(pl.Series(np.asarray(utc, dtype=np.int64)), time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(TZ_NAME)
        .dt.replace_time_zone(None)
    )
    return local.dt.epoch("s").to_numpy().astype(np.int64)


def weekday(wall: np.ndarray) -> np.ndarray:
    """Local weekday, Monday = 0 (1970-01-01 was a Thursday)."""
    return (np.asarray(wall) // DAY + 3) % 7


def hour_of_day(wall: np.ndarray) -> np.ndarray:
    """Local hour 0–23."""
    return (np.asarray(wall) % DAY) // HOUR


def day_of_year(wall: np.ndarray) -> np.ndarray:
    """Local day of the year, 1–366."""
    days = (np.asarray(wall) // DAY).astype("datetime64[D]")
    return (days - days.astype("datetime64[Y]")).astype(np.int64) + 1


def seasonal_factor(wall: np.ndarray, amplitude: float, peak_day: int) -> np.ndarray:
    """Smooth annual cycle ``1 + amplitude·cos(2π(doy − peak_day)/365.25)``."""
    return 1.0 + amplitude * np.cos(2 * np.pi * (day_of_year(wall) - peak_day) / 365.25)


@dataclass(frozen=True, slots=True)
class Period:
    """The simulated local days ``[start, start + days)``.

    Attributes:
        start: first local day.
        days: number of local days (at least 1).
    """

    start: date
    days: int

    def __post_init__(self) -> None:
        if self.days < 1:
            raise ConfigError(f"the simulated period needs at least one day, got {self.days}")

    @property
    def end(self) -> date:
        """First local day after the period."""
        return self.start + timedelta(days=self.days)

    @property
    def start_utc(self) -> int:
        """UTC seconds of the local midnight that opens the period."""
        return wall_to_utc(datetime.combine(self.start, time()))

    @property
    def end_utc(self) -> int:
        """UTC seconds of the local midnight that closes the period."""
        return wall_to_utc(datetime.combine(self.end, time()))

    def utc_hours(self) -> np.ndarray:
        """UTC seconds of each UTC hour of the period (local midnights fall on UTC hours)."""
        return np.arange(self.start_utc, self.end_utc, HOUR, dtype=np.int64)

    def wall_hours(self) -> np.ndarray:
        """Wall seconds of each wall-clock hour, 24 per local day."""
        first = wall_seconds(datetime.combine(self.start, time()))
        return np.arange(first, first + self.days * DAY, HOUR, dtype=np.int64)

    def covers(self, day: date) -> bool:
        """Whether a local day lies in the period."""
        return self.start <= day < self.end
