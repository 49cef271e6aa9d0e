"""The release gate: coarsening by role, small counts never leave, every release audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from belvedere.errors import PolicyDenied
from belvedere.grid.zones import arrondissements
from belvedere.privacy import audit
from belvedere.privacy.policy import DEFAULT_K
from belvedere.privacy.release import Actor, release
from belvedere.store.base import SituationQuery, Store
from belvedere.store.factory import open_store
from tests import rawsql
from tests.backends import discard_store, new_store_url
from tests.privacy.populate import DAYS, START, populate

ZONE_IDS = [z.zone_id for z in arrondissements()]
ANALYST = Actor("ana", "analyst")
OPERATOR = Actor("op", "operator")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    url = new_store_url(tmp_path_factory.mktemp("release"), "r")
    db = open_store(url)
    populate(db)
    yield db
    db.close()
    discard_store(url)


def test_analyst_gets_zone_by_day_whatever_is_asked(filled: Store) -> None:
    q = SituationQuery(start=START, end=START + timedelta(days=7), level="cell", bin="hour")
    rel = release(filled, q, ANALYST, "analysis")
    assert (rel.granted.level, rel.granted.bin, rel.k) == ("zone", "day", DEFAULT_K)
    assert set(rel.table.column("place").to_pylist()) <= set(ZONE_IDS)


def test_operator_sees_cells_by_hour_without_threshold_on_incidents(
        filled: Store) -> None:
    q = SituationQuery(start=START, end=START + timedelta(days=7), level="cell", bin="hour",
                       sources=("police_log",))
    rel = release(filled, q, OPERATOR, "situation_monitoring")
    values = rel.table.column("value").to_pylist()
    assert rel.granted.level == "cell" and rel.suppressed == 0 and rel.k is None
    assert min(values) == 1.0  # single incidents are visible to the supervision centre


def test_hospital_counts_are_thresholded_even_for_operators(filled: Store) -> None:
    q = SituationQuery(start=START, end=START + timedelta(days=2), level="cell", bin="hour",
                       sources=("hospital_ed",))
    rel = release(filled, q, OPERATOR, "situation_monitoring")
    rows = rel.table.to_pylist()
    assert rel.suppressed > 0 and rel.k == DEFAULT_K
    assert all(r["value"] is None or r["value"] >= DEFAULT_K for r in rows)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first_day=st.integers(0, DAYS - 1),
    length_hours=st.integers(1, 24 * 10),
    zones=st.lists(st.sampled_from(ZONE_IDS), max_size=4, unique=True),
    level=st.sampled_from(["cell", "zone", "city"]),
    time_bin=st.sampled_from(["hour", "day", "window"]),
    sources=st.sampled_from([(), ("police_log",), ("hospital_ed",)]),
)
def test_no_count_below_k_ever_reaches_an_analyst(
    filled: Store, first_day: int, length_hours: int, zones: list[str], level: str,
    time_bin: str, sources: tuple[str, ...],
) -> None:
    start = START + timedelta(days=first_day)
    q = SituationQuery(start=start, end=start + timedelta(hours=length_hours),
                       zones=tuple(zones), level=level, bin=time_bin,  # type: ignore[arg-type]
                       sources=sources)
    rel = release(filled, q, ANALYST, "analysis")
    for row in rel.table.to_pylist():
        assert row["n"] is None
        if row["suppressed"]:
            assert row["value"] is None
        else:
            assert row["value"] >= DEFAULT_K


def test_the_threshold_really_hides_something(filled: Store) -> None:
    # Guard against a vacuous property: the data has small daily zone counts to hide, and the
    # analyst's (noised) release hides many keys while still releasing many others.
    q = SituationQuery(start=START, end=START + timedelta(days=DAYS), level="zone", bin="day",
                       sources=("police_log",), by_category=False)
    exact = release(filled, q, OPERATOR, "situation_monitoring").table.column("value")
    assert sum(1 for v in exact.to_pylist() if v < DEFAULT_K) > 20
    rel = release(filled, q, ANALYST, "analysis")
    assert rel.mechanism == "discrete_laplace" and rel.suppressed > 20
    assert rel.table.num_rows - rel.suppressed > 20


def test_each_release_leaves_one_chained_audit_line(store: Store) -> None:
    db = store
    populate(db)
    q = SituationQuery(start=START, end=START + timedelta(days=1))
    for _ in range(3):
        release(db, q, ANALYST, "analysis")
    rows = db.audit_rows()
    # The log names the analyst by the store's keyed pseudonym, the role in clear.
    ana = audit.pseudonym(db, "ana")
    assert ana.startswith("psn-")
    assert [(r.seq, r.actor, r.role, r.purpose, r.action) for r in rows] == [
        (i, ana, "analyst", "analysis", "consultation") for i in (1, 2, 3)]
    assert audit.verify(db).ok
    # Editing a past line breaks the chain at that line.
    rawsql.execute(db, "UPDATE audit_log SET rows_released = ? WHERE seq = ?", [0, 2])
    assert (audit.verify(db).ok, audit.verify(db).first_bad) == (False, 2)


def test_undeclared_purpose_and_unknown_role_are_refused(filled: Store) -> None:
    q = SituationQuery(start=START, end=START + timedelta(days=1))
    with pytest.raises(PolicyDenied, match="purpose"):
        release(filled, q, ANALYST, "curiosity")
    with pytest.raises(PolicyDenied, match="role"):
        release(filled, q, Actor("x", "superuser"), "analysis")
