"""One call writes the whole synthetic Marseille: :func:`simulate_city`.

Example:
    >>> from pathlib import Path
    >>> import tempfile
    >>> summary = simulate_city(Path(tempfile.mkdtemp()), days=2, seed=7)
    >>> sorted(summary.rows)[:3]
    ['agents', 'cctv', 'evenements']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from belvedere.errors import ConfigError
from belvedere.simulate.agents import simulate_agents, write_agents
from belvedere.simulate.anomalies import plan_anomalies
from belvedere.simulate.calendar import build_calendar, write_calendar
from belvedere.simulate.cctv import simulate_cctv, write_cctv
from belvedere.simulate.clock import Period
from belvedere.simulate.context import SimContext
from belvedere.simulate.effects import EffectTruth
from belvedere.simulate.geography import build_city
from belvedere.simulate.hospitals import simulate_hospitals, write_hospitals
from belvedere.simulate.parameters import Parameters
from belvedere.simulate.police import simulate_police, write_police
from belvedere.simulate.pompiers import simulate_pompiers, write_pompiers
from belvedere.simulate.presence import simulate_presence, write_presence
from belvedere.simulate.transit import simulate_validations, write_transit
from belvedere.simulate.truth import write_truth

DEFAULT_START = date(2024, 9, 1)
"""Default first day: 90 days from here cover four real OM home matches (season 2024-25)."""
MAX_DAYS = 1096
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SimulationSummary:
    """What :func:`simulate_city` wrote.

    Attributes:
        out: the output folder.
        start: first local day simulated.
        days: number of days.
        seed: the seed used.
        rows: per feed folder, the number of rows (CSV), items (JSON) or events (CCTV) written.
    """

    out: Path
    start: date
    days: int
    seed: int
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def end(self) -> date:
        """The first local day after the period."""
        return self.start + timedelta(days=self.days)


def simulate_city(out: Path, *, days: int, seed: int, start: date | None = None,
                  progress: Progress | None = None) -> SimulationSummary:
    """Simulate ``days`` local days of Marseille from ``start`` and write every feed.

    Writes ``out/<folder>/`` for each feed of docs/feeds.md in its native format, and
    ``out/truth/``. Deterministic: the same ``seed``, ``days`` and ``start`` give byte-identical
    files. ``progress(stage, done, total)`` is called after each feed folder and after the
    truth folder. Raises :class:`~belvedere.errors.ConfigError` for unusable arguments.
    """
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"days must be within 1..{MAX_DAYS}, got {days}")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"the output {out} exists and is not a folder")
    params = Parameters()
    period = Period(start or DEFAULT_START, days)
    city = build_city(params.geography)
    events = build_calendar(period, seed, params.calendar)
    anomalies = plan_anomalies(period, events, city, seed, params.anomalies, params.cctv)
    ctx = SimContext(seed, period, params, city, events, anomalies)
    truths: list[EffectTruth] = []

    def police() -> int:
        frame, found = simulate_police(ctx)
        truths.extend(found)
        return write_police(frame, out / "police")

    def cctv() -> int:
        frame, found = simulate_cctv(ctx)
        truths.extend(found)
        for stale in (out / "cctv").glob("events-*.jsonl"):
            stale.unlink()  # a previous, longer run must not leave days behind
        return write_cctv(frame, out / "cctv")

    def pompiers() -> int:
        frame, found = simulate_pompiers(ctx)
        truths.extend(found)
        return write_pompiers(frame, out / "pompiers")

    def operateur() -> int:
        frame, found = simulate_presence(ctx)
        truths.extend(found)
        return write_presence(frame, out / "operateur")

    def transports() -> int:
        frame, found = simulate_validations(ctx)
        truths.extend(found)
        return write_transit(frame, out / "transports")

    def hopitaux() -> int:
        frame, found = simulate_hospitals(ctx)
        truths.extend(found)
        return write_hospitals(frame, out / "hopitaux")

    stages: list[tuple[str, Callable[[], int]]] = [
        ("police", police), ("cctv", cctv), ("pompiers", pompiers),
        ("agents", lambda: write_agents(simulate_agents(ctx), out / "agents")),
        ("operateur", operateur), ("transports", transports), ("hopitaux", hopitaux),
        ("evenements", lambda: write_calendar(events, out / "evenements")),
    ]
    total = len(stages) + 1
    rows: dict[str, int] = {}
    for done, (folder, run) in enumerate(stages, start=1):
        rows[folder] = run()
        if progress:
            progress(folder, done, total)
    write_truth(out / "truth", seed=seed, period=period, params=params, city=city,
                events=events, anomalies=anomalies, truths=truths)
    if progress:
        progress("truth", total, total)
    return SimulationSummary(out=out, start=period.start, days=days, seed=seed, rows=rows)
