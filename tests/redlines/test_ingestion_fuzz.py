"""Red line "no biometrics, no images" (DESIGN.md §2), fuzzed at every ingestion entry point: a
CCTV payload carrying an image, an embedding, a track id, a plate or a face box — under any field
name style, at any depth, or inside an allowed field — is refused with a red-line reason, its
neighbours are stored, and nothing of it is kept: not in any table of the store, not in the live
folder where batches are staged.

Entry points: the connector's file reader (``belvedere ingest``), live messages
(:meth:`LiveIngestor.ingest`, which the MQTT bridge calls — its own test with the real broker is
tests/live/test_red_lines_mqtt.py), the push endpoint (JSON items and whole JSON Lines files) and
the field agents' form endpoint.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from belvedere.api.main import create_app
from belvedere.live.hub import LiveHub
from belvedere.live.ingest import LiveIngestor
from belvedere.live.service import LiveService
from belvedere.privacy.release import Actor
from belvedere.privacy.tokens import create_api_token
from belvedere.privacy.users import add_user, open_session
from belvedere.sources.cctv import Cctv
from belvedere.sources.ingest import IngestReport, ingest_file
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import Store
from tests import rawsql
from tests.redlines.carriers import (
    Carrier,
    carriers,
    folder_text,
    images,
    leaked,
    planted,
    store_text,
)

KEY = Pseudonymiser(b"red-lines-fuzz-key-0123456789abc")
CAMERAS = [{"camera_id": "cam-a", "name": "Vieux-Port", "lat": 43.2953, "lon": 5.3744}]
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
_ids = itertools.count()


def event(ts: datetime | None = None) -> dict[str, Any]:
    """A clean aggregate event (now, unless ``ts``), with an id of its own."""
    when = (ts or datetime.now(UTC)).isoformat(timespec="seconds")
    return {"event_id": f"ok-{next(_ids)}", "camera_id": "cam-a", "type": "people_count",
            "ts": when, "window_s": 60, "value": 12}


@st.composite
def batches(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[Carrier], list[bool]]:
    """Events, some clean and some carrying a red line, in a random order: (events, carriers of
    the planted ones, which are planted)."""
    clean = [event() for _ in range(draw(st.integers(0, 3)))]
    found = draw(st.lists(carriers(), min_size=1, max_size=3))
    bad = []
    for carrier in found:
        item = draw(planted(event(), carrier))
        if carrier.key != "event_id":
            item["event_id"] = f"bad-{next(_ids)}"
        bad.append(item)
    order = draw(st.permutations(range(len(clean) + len(bad))))
    events = [(clean + bad)[i] for i in order]
    return events, found, [i >= len(clean) for i in order]


def _stored_ids(store: Store) -> set[str]:
    rows = rawsql.query(store, "SELECT source_id FROM measurements UNION ALL "
                        "SELECT source_id FROM incidents")
    return {r[0] for r in rows}


def _check(store: Store, events: list[dict[str, Any]], found: list[Carrier],
           planted_: list[bool], *also: str) -> None:
    """Clean events stored, planted ones refused as ``red_line`` and found nowhere."""
    ids = _stored_ids(store)
    for item, bad in zip(events, planted_, strict=True):
        assert (item["event_id"] in ids) is not bad, item
    text = store_text(store)
    for carrier in found:
        assert leaked(carrier, text, *also) == [], carrier


@pytest.fixture
def cctv_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ingest" / "cctv"
    folder.mkdir(parents=True)
    (folder / "cameras.json").write_text(json.dumps(CAMERAS))
    return folder


@FUZZ
@given(batch=batches())
def test_the_cctv_file_reader_refuses_every_red_line_carrier_and_keeps_nothing_of_it(
        batch: tuple[list[dict[str, Any]], list[Carrier], list[bool]],
        cctv_folder: Path, store: Store) -> None:
    events, found, planted_ = batch
    path = cctv_folder / f"events-{next(_ids)}.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))

    parsed = Cctv().read(path, KEY)
    rules = {r["line"]: (r["rule"], r["reason"], r["raw"])
             for r in parsed.quarantine.to_pylist()}
    for line, bad in enumerate(planted_, start=1):
        if bad:
            rule, reason, raw = rules[line]
            assert rule == "red_line" and "never accepted" in reason and raw == "{}"
        else:
            assert line not in rules
    report = IngestReport()
    ingest_file(store, Cctv(), path, KEY, report)
    assert report.batches[0].quarantine_rules == {"red_line": sum(planted_)}
    _check(store, events, found, planted_)


@pytest.fixture
def live(store: Store, cctv_folder: Path, tmp_path: Path) -> LiveService:
    ingestor = LiveIngestor(store, LiveHub(), staging=tmp_path / "live",
                            reference=cctv_folder.parent, pseudonymiser=KEY)
    return LiveService(store, ingestor, queue=4)


@FUZZ
@given(batch=batches(), together=st.booleans())
def test_live_messages_crossing_a_red_line_are_quarantined_and_scrubbed_from_the_live_folder(
        batch: tuple[list[dict[str, Any]], list[Carrier], list[bool]], together: bool,
        live: LiveService) -> None:
    events, found, planted_ = batch
    payloads = ([json.dumps(events).encode()] if together
                else [json.dumps(e).encode() for e in events])

    result = live.ingestor.ingest("cctv", payloads)

    assert (result.stored, result.quarantined) == (len(events) - sum(planted_), sum(planted_))
    assert {r for b in result.batches for r in b.quarantine_rules} == {"red_line"}
    # The batch file is kept for review (rows were quarantined), with placeholders instead.
    kept = folder_text(live.ingestor.staging)
    assert kept.count('{"red_line_removed": true}') >= sum(planted_)
    _check(live.store, events, found, planted_, kept)


@pytest.fixture
def pushing(store: Store, live: LiveService) -> Iterator[tuple[TestClient, dict[str, str]]]:
    token, _ = create_api_token(store, "fuzz-box", by=Actor("test", "admin"))
    with TestClient(create_app(store, live_service=live)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


@FUZZ
@given(batch=batches(), whole_file=st.booleans())
def test_the_push_endpoint_refuses_red_line_items_and_answers_without_them(
        batch: tuple[list[dict[str, Any]], list[Carrier], list[bool]], whole_file: bool,
        pushing: tuple[TestClient, dict[str, str]], live: LiveService) -> None:
    client, headers = pushing
    events, found, planted_ = batch
    if whole_file:  # a JSON Lines export pushed as it is
        answer = client.post("/api/v1/push/cctv", headers={
            **headers, "Content-Type": "application/x-ndjson"},
            content="\n\n".join(json.dumps(e) for e in events).encode())
    else:
        answer = client.post("/api/v1/push/cctv", headers=headers, json=events)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["stored"], body["quarantined"]) == (len(events) - sum(planted_), sum(planted_))
    rules = {r["rule"] for r in live.store.quarantined().to_pylist()
             if r["batch_id"] in body["batch_ids"]}
    assert rules == {"red_line"}
    _check(live.store, events, found, planted_, answer.text,
           folder_text(live.ingestor.staging))


@st.composite
def reports_with_carriers(draw: st.DrawFn) -> tuple[dict[str, Any], Carrier]:
    """A field report whose comment holds an image, or with a carrier anywhere else."""
    report = {"category": "tag", "lat": 43.2951, "lon": 5.3740,
              "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "comment": "Tag frais sur la façade."}
    if draw(st.booleans()):
        carrier = draw(images(keys=st.just("comment")))
        return {**report, "comment": carrier.value}, carrier
    carrier = draw(carriers().filter(lambda c: c.key not in report and c.key != "photo"))
    return draw(planted(report, carrier)), carrier


@FUZZ
@given(case=reports_with_carriers())
def test_field_reports_carrying_an_image_or_a_red_line_field_are_refused(
        case: tuple[dict[str, Any], Carrier], store: Store, live: LiveService,
        pushing: tuple[TestClient, dict[str, str]]) -> None:
    client, machine = pushing
    report, carrier = case
    if store.get_user("fuzz-agent") is None:
        add_user(store, "fuzz-agent", "agent-password-1", role="agent")
    agent = {"Authorization": f"Bearer {open_session(store, Actor('fuzz-agent', 'agent'))}"}
    before = store.count("incidents", "field_reports")

    # The agents' form: refused before anything is ingested.
    answer = client.post("/api/v1/field-reports", headers=agent, json=report)
    # The same report in an agents' export, pushed: quarantined by the connector.
    export = {"id": f"fr-{next(_ids)}", "agent": "agent-0042",
              "location": {"lat": report["lat"], "lon": report["lon"]},
              **{k: v for k, v in report.items() if k not in ("lat", "lon")}}
    pushed = client.post("/api/v1/push/field_reports", headers=machine, json=[export])

    assert answer.status_code == 422 and "red line" in answer.text
    assert pushed.status_code == 200, pushed.text
    assert (pushed.json()["stored"], pushed.json()["quarantined"]) == (0, 1)
    (row,) = [r for r in store.quarantined("field_reports").to_pylist()
              if r["batch_id"] == pushed.json()["batch_ids"][-1]]
    assert row["rule"] == "red_line" and row["raw"] == "{}"
    assert store.count("incidents", "field_reports") == before
    assert leaked(carrier, store_text(store), folder_text(live.ingestor.staging)) == []
