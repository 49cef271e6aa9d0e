"""The release gate for the live picture: what each role may see of the rolling windows.

The live hub (:mod:`belvedere.live.hub`) keeps unreleased counts per cell; a person receives
them only through a :class:`LiveView`, granted by :func:`open_live_view` — which writes one
line to the access log (a *consultation*) per stream opened or snapshot asked:

- a role with cell detail (operator) gets the rows per H3 cell, and the ``source_id`` of the
  records that arrived (to follow a report it has just received);
- other roles get arrondissement totals, counts under ``k`` suppressed and record counts
  withheld (:func:`belvedere.privacy.release.suppress`, the same rule as the situation), and
  no record ids nor per-batch arrivals (an arrival of one record is a count of one).

Feeds counting residents or patients are thresholded for every role, as in the situation.

Example:
    >>> import pyarrow as pa
    >>> view = LiveView(Actor("an", "analyst"), "zone", 11, 0)
    >>> rows = pa.table({"cell": [1, 2], "zone": ["13201", "13201"], "source": ["cctv"] * 2,
    ...                  "metric": ["incidents"] * 2, "category": ["fall"] * 2,
    ...                  "value": [3.0, 4.0], "n": [3, 4]})
    >>> out, hidden = view.rows(rows)
    >>> out.column("place").to_pylist(), out.column("value").to_pylist(), hidden
    (['13201'], [None], 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from belvedere.errors import PolicyDenied
from belvedere.grid.cells import cell_to_str
from belvedere.privacy import audit
from belvedere.privacy.policy import DEFAULT_K, check_purpose, policy_for
from belvedere.privacy.release import Actor, suppress
from belvedere.store.base import Level, Store

LIVE_ROLES = ("operator", "analyst", "dpo")
"""The roles that may follow the live picture."""


@dataclass(frozen=True, slots=True)
class LiveView:
    """What one actor was granted of the live picture (one access-log line)."""

    actor: Actor
    level: Level
    k: int | None
    audit_seq: int

    @property
    def sees_arrivals(self) -> bool:
        """Whether record ids and per-batch arrivals are released (cell detail only)."""
        return self.level == "cell"

    def rows(self, table: pa.Table) -> tuple[pa.Table, int]:
        """A window's rows (``cell, zone, source, metric, category, value, n``) as this view
        may see them: columns ``place`` (cell hex or zone id), ``zone``, ``source``, ``metric``,
        ``category``, ``value``, ``n``, ``suppressed``; and how many values were hidden."""
        df = pl.DataFrame(table)
        keys = ["source", "metric", "category"]
        if self.level == "cell":
            df = df.with_columns(place=pl.col("cell").map_elements(
                cell_to_str, return_dtype=pl.String, skip_nulls=True))
        else:
            df = df.group_by(["zone", *keys]).agg(pl.col("value").sum(), pl.col("n").sum())
            df = df.with_columns(place=pl.col("zone"))
        df = df.select("place", "zone", *keys, "value", "n").sort(
            ["place", *keys], nulls_last=True)
        return suppress(df.to_arrow(), policy_for(self.actor.role))


def _grant(actor: Actor, purpose: str) -> tuple[Level, int]:
    """The level and threshold ``actor`` gets of the live picture for ``purpose``."""
    check_purpose(purpose)
    policy = policy_for(actor.role)
    if policy.role not in LIVE_ROLES:
        raise PolicyDenied(f"role {actor.role!r} may not follow the live picture; roles: "
                           f"{', '.join(LIVE_ROLES)}")
    # Feeds about residents are thresholded for every role, so some k always applies.
    return ("cell" if policy.finest_level == "cell" else "zone",
            policy.k if policy.k is not None else DEFAULT_K)


def open_live_view(store: Store, actor: Actor, purpose: str) -> LiveView:
    """Grant ``actor`` a stream of the live picture for ``purpose``, recorded once in the access
    log (resource ``live_stream``; the rows that will flow are not known yet: 0).

    Raises:
        PolicyDenied: undeclared purpose, unknown role, or a role that may not follow it.
    """
    level, k = _grant(actor, purpose)
    row = audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                       action="consultation",
                       what={"resource": "live_stream", "granted": level, "k": k},
                       rows_released=0)
    return LiveView(actor, level, k, row.seq)


def release_live_windows(store: Store, actor: Actor, purpose: str,
                         windows: dict[str, pa.Table]) -> tuple[LiveView, dict[str, pa.Table]]:
    """The live windows (name → window rows) as ``actor`` may see them, recorded in the access
    log (resource ``live_situation``, with the rows released and the values hidden).

    Raises:
        PolicyDenied: as :func:`open_live_view`.
    """
    level, k = _grant(actor, purpose)
    view = LiveView(actor, level, k, 0)
    released = {name: view.rows(table) for name, table in windows.items()}
    row = audit.record(store, actor=actor.username, role=actor.role, purpose=purpose,
                       action="consultation",
                       what={"resource": "live_situation", "granted": level, "k": k,
                             "suppressed": sum(h for _, h in released.values())},
                       rows_released=sum(t.num_rows for t, _ in released.values()))
    return LiveView(actor, level, k, row.seq), {n: t for n, (t, _) in released.items()}
