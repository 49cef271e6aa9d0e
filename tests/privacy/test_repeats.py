"""An identical noised request on the same data gets the answer already released, uncharged:
asking again cannot average the noise away, nor spend the budget. New data of the feed, another
query or another purpose gets fresh noise, charged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pytest

from belvedere.grid.records import Incident, to_table
from belvedere.privacy import audit
from belvedere.privacy.release import Actor, release
from belvedere.store.base import BatchInput, SituationQuery, Store, empty_quarantine
from belvedere.store.factory import open_store
from tests.backends import discard_store, new_store_url
from tests.privacy.populate import START, populate

ANALYST = Actor("ana", "analyst")
WEEK = SituationQuery(start=START, end=START + timedelta(days=7), level="zone", bin="day",
                      sources=("police_log",))


@pytest.fixture
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    url = new_store_url(tmp_path_factory.mktemp("repeats"), "r")
    db = open_store(url)
    populate(db)
    yield db
    db.close()
    discard_store(url)


def _values(table: pa.Table) -> list[object]:
    keys = [(c, "ascending") for c in ("place", "bin_start", "category")]
    return table.sort_by(keys).column("value").to_pylist()


def _one_more_incident(db: Store, source: str = "police_log") -> None:
    row = Incident(source=source, source_id=f"late-{source}", category="theft",
                   source_category="X", ts=START + timedelta(days=30), lat=None, lon=None,
                   cell=None, zone="13201", origin="reported_by_public", place_precision="zone")
    db.append_batch(BatchInput(source=source, file=None,
                               records={"incidents": to_table(Incident, [row])},
                               quarantine=empty_quarantine(), rows_read=1))


def test_asking_again_gets_the_same_noised_answer_and_spends_nothing(filled: Store) -> None:
    first = release(filled, WEEK, ANALYST, "analysis")
    assert first.mechanism and first.ledger_seq is not None and not first.repeated
    again = [release(filled, WEEK, Actor(name, "analyst"), "analysis")
             for name in ("ana", "ana", "bob")]  # another analyst too: same role, same answer
    assert all(r.repeated and r.ledger_seq == first.ledger_seq for r in again)
    assert all(_values(r.table) == _values(first.table) for r in again)
    assert all(r.suppressed == first.suppressed and r.k == first.k for r in again)
    # One charge in the ledger; every consultation in the access log, saying what it repeats.
    assert len(filled.ledger_rows()) == 1
    lines = [json.loads(r.what) for r in filled.audit_rows()[-4:]]
    assert [w.get("repeat_of") for w in lines] == [None] + [first.ledger_seq] * 3
    assert [w["epsilon"] for w in lines] == [first.epsilon, 0.0, 0.0, 0.0]
    assert {r.actor for r in filled.audit_rows()[-4:]} == {
        audit.pseudonym(filled, "ana"), audit.pseudonym(filled, "bob")}
    # Averaging a hundred askings gives the one answer: the noise does not wash out.
    mean = np.mean([np.array(_values(release(filled, WEEK, ANALYST, "analysis").table),
                             dtype=float) for _ in range(100)], axis=0)
    assert np.allclose(mean, np.array(_values(first.table), dtype=float), equal_nan=True)
    assert len(filled.ledger_rows()) == 1


def test_new_data_of_the_feed_another_query_or_purpose_gets_fresh_noise_charged(
        filled: Store) -> None:
    first = release(filled, WEEK, ANALYST, "analysis")
    # A batch of another feed leaves the answer as it was.
    _one_more_incident(filled, "fire_rescue")
    assert release(filled, WEEK, ANALYST, "analysis").repeated
    # A batch of the feed itself — even one outside the week — is a new version: new noise.
    _one_more_incident(filled)
    fresh = release(filled, WEEK, ANALYST, "analysis")
    assert not fresh.repeated and fresh.ledger_seq != first.ledger_seq
    assert _values(fresh.table) != _values(first.table)
    other_week = SituationQuery(start=WEEK.end, end=WEEK.end + timedelta(days=7), level="zone",
                                bin="day", sources=("police_log",))
    assert not release(filled, other_week, ANALYST, "analysis").repeated
    assert len(filled.ledger_rows()) == 3
    assert release(filled, other_week, ANALYST, "analysis").repeated


def test_an_operators_repeat_has_its_log_line_and_new_data_shows_at_once(filled: Store) -> None:
    operator = Actor("op", "operator")
    q = SituationQuery(start=START, end=START + timedelta(days=40), level="zone", bin="window",
                       sources=("police_log",))
    before = len(filled.audit_rows())
    first = release(filled, q, operator, "situation_monitoring")
    again = release(filled, q, operator, "situation_monitoring")
    assert again.table.equals(first.table) and again.mechanism is None
    assert len(filled.audit_rows()) == before + 2  # every consultation logged
    total = sum(v or 0 for v in first.table.column("value").to_pylist())
    _one_more_incident(filled)  # inside the 40 days: the operator sees it now
    after = release(filled, q, operator, "situation_monitoring")
    assert sum(v or 0 for v in after.table.column("value").to_pylist()) == total + 1
