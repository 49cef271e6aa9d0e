"""The privacy-loss ledger: every noised release recorded, a cap per purpose and period that
is never passed (even by concurrent releases), and a clear refusal over it."""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from belvedere.errors import PolicyDenied
from belvedere.privacy import ledger
from belvedere.privacy.dp import SeededSampler, calibrate, use_sampler
from belvedere.privacy.purposes import Budget, Registry, registry
from belvedere.privacy.release import Actor, release
from belvedere.store.base import SituationQuery, Store
from tests import rawsql
from tests.privacy.populate import START, populate

T0 = datetime(2025, 3, 14, 9, tzinfo=UTC)


def capped(cap: float, period: str = "day", purpose: str = "analysis") -> Registry:
    """The packaged registry with ``purpose``'s cap set to ``cap`` per ``period``."""
    reg = registry()
    purposes = {**reg.purposes, purpose: dataclasses.replace(
        reg.purposes[purpose], budget=Budget(cap, 1e-6, period))}
    return dataclasses.replace(reg, purposes=purposes)


def spend(store: Store, eps: float, *, reg: Registry, at: datetime,
          purpose: str = "analysis") -> ledger.LedgerRow:
    return ledger.charge(store, actor="ana", role="analyst", purpose=purpose,
                         datasets=["police_log"], query={"q": 1},
                         mech=calibrate("discrete_laplace", epsilon=eps), reg=reg,
                         clock=lambda: at)


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cap=st.sampled_from([1.0, 2.5, 3.0]),
       steps=st.lists(st.tuples(st.sampled_from([0.1, 0.2, 0.25, 0.5, 1.0, 1.5]),
                                st.integers(0, 9)), min_size=1, max_size=40),
       period=st.sampled_from(["day", "month"]))
def test_the_ledger_never_exceeds_the_cap_of_a_purpose_in_a_period(
        store: Store, cap: float, steps: list[tuple[float, int]], period: str) -> None:
    # The examples share the store (a new PostgreSQL database each would take a second):
    # each starts from an empty ledger, which is all the ledger's sums depend on.
    db = store
    rawsql.execute(db, "DELETE FROM privacy_ledger")
    reg = capped(cap, period)
    at = T0
    spent: dict[str, float] = {}
    for eps, hours in steps:
        at += timedelta(hours=hours)
        key = ledger.period_of(at, period)
        before = spent.get(key, 0.0)
        try:
            row = spend(db, eps, reg=reg, at=at)
        except PolicyDenied as exc:
            # Refused exactly when this release would pass the cap, and the message says why.
            assert before + eps > cap + 1e-9
            assert f"'analysis' in period {key}" in str(exc) and f"ε = {cap:g}" in str(exc)
        else:
            assert before + eps <= cap + 1e-9 and row.period == key
            spent[key] = before + eps
        for p in {r.period for r in db.ledger_rows()}:
            assert math.fsum(r.epsilon for r in db.ledger_rows(period=p)) <= cap + 1e-9
    assert {r.period for r in db.ledger_rows()} == set(spent)


def test_concurrent_releases_never_overspend(store: Store) -> None:
    db = store
    reg = capped(10.0)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            try:
                spend(db, 0.5, reg=reg, at=T0)
                ok = True
            except PolicyDenied:
                ok = False
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = db.ledger_rows()
    assert sum(results) == len(rows) == 20 and len(results) == 80
    assert math.fsum(r.epsilon for r in rows) == pytest.approx(10.0)
    assert [r.seq for r in rows] == list(range(1, 21))


@pytest.fixture
def filled(store: Store) -> Store:
    populate(store)
    return store


def test_each_noised_release_is_one_ledger_line_and_the_cap_refuses_the_next(
        filled: Store) -> None:
    q = SituationQuery(start=START, end=START + timedelta(days=2), sources=("police_log",))
    analyst = Actor("ana", "analyst")
    with use_sampler(SeededSampler(1)):
        first = release(filled, q, analyst, "analysis")
        release(filled, q, Actor("op", "operator"), "situation_monitoring")  # exact: no line
        rows = filled.ledger_rows()
        assert [(r.seq, r.actor, r.role, r.purpose, r.dataset, r.mechanism, r.epsilon, r.delta)
                for r in rows] == [(1, "ana", "analyst", "analysis", "police_log",
                                    "discrete_laplace", 0.5, 0.0)]
        assert first.ledger_seq == 1 and json.loads(rows[0].query) == first.granted.describe()
        assert rows[0].period == ledger.period_of(rows[0].ts, "day")
        # The access-log line of the release names its ledger line and its cost.
        line = json.loads(filled.audit_rows()[first.audit_seq - 1].what)
        assert (line["ledger"], line["epsilon"], line["mechanism"]) == (
            1, 0.5, "discrete_laplace")
        # Spend the day's budget up to 0.5 short of the cap: one more release fits, not two.
        cap = registry().purposes["analysis"].budget
        assert cap is not None
        ledger.charge(filled, actor="filler", role="analyst", purpose="analysis",
                      datasets=["police_log"], query={},
                      mech=calibrate("discrete_laplace", epsilon=cap.epsilon - 1.0))
        # (Other days each time: the same request again would be its kept answer, free.)
        q2 = dataclasses.replace(q, start=q.end, end=q.end + timedelta(days=2))
        q3 = dataclasses.replace(q2, start=q2.end, end=q2.end + timedelta(days=2))
        assert not release(filled, q2, analyst, "analysis").repeated
        assert release(filled, q, analyst, "analysis").repeated  # fits whatever is left
        audit_lines = len(filled.audit_rows())
        with pytest.raises(PolicyDenied) as refused:
            release(filled, q3, analyst, "analysis")
    message = str(refused.value)
    assert "privacy budget exhausted for purpose 'analysis'" in message
    assert f"spent ε = {cap.epsilon:g}" in message and f"cap ε = {cap.epsilon:g}" in message
    assert rows[0].period in message
    assert len(filled.audit_rows()) == audit_lines  # nothing released, nothing logged
    assert math.fsum(r.epsilon for r in filled.ledger_rows()) == pytest.approx(cap.epsilon)
    # Another purpose has its own budget.
    with use_sampler(SeededSampler(2)):
        assert release(filled, q, Actor("pub", "public"), "public_information").ledger_seq == 4


def test_spending_sums_per_purpose_and_period(filled: Store) -> None:
    reg = capped(5.0)
    for eps, at in ((0.5, T0), (1.0, T0 + timedelta(hours=2)), (0.25, T0 + timedelta(days=1))):
        spend(filled, eps, reg=reg, at=at)
    spent = {(s.purpose, s.period): (s.releases, s.epsilon) for s in ledger.spending(filled)}
    assert spent == {("analysis", "day:2025-03-14"): (2, 1.5),
                     ("analysis", "day:2025-03-15"): (1, 0.25)}
