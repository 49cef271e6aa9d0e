"""The CCTV connector accepts aggregate events only; a payload with an image or a track is
rejected at the door and nothing of it is stored."""

from __future__ import annotations

import json
from pathlib import Path

from belvedere.sources.cctv import Cctv
from belvedere.sources.minimise import Pseudonymiser
from tests.sources.feeds import write_cctv

TS = "2024-03-02T17:45:00+01:00"


def test_cctv_counts_become_measurements_and_alarms_incidents(tmp_path: Path) -> None:
    path = write_cctv(tmp_path, [
        {"event_id": "e1", "camera_id": "cam-a", "type": "people_count", "ts": TS,
         "window_s": 900, "value": 412},
        {"event_id": "e2", "camera_id": "cam-a", "type": "abandoned_object", "ts": TS,
         "confidence": 0.8},
    ])
    parsed = Cctv().read(path, Pseudonymiser.ephemeral())
    (m,) = parsed.records["measurements"].to_pylist()
    assert (m["metric"], m["value"], m["site"], m["zone"]) == ("people_count", 412.0, "cam-a",
                                                                "13202")
    assert (m["end"] - m["start"]).total_seconds() == 900
    (i,) = parsed.records["incidents"].to_pylist()
    assert (i["category"], i["origin"]) == ("abandoned_object", "sensor")
    assert parsed.sites is not None and parsed.sites.column("site_id").to_pylist() == ["cam-a"]


def test_cctv_rejects_payloads_with_images_tracks_or_plates(tmp_path: Path) -> None:
    path = write_cctv(tmp_path, [
        {"event_id": "e1", "camera_id": "cam-a", "type": "people_count", "ts": TS, "value": 3,
         "snapshot": "data:image/jpeg;base64,/9j/4AAQ"},
        {"event_id": "e2", "camera_id": "cam-a", "type": "intrusion", "ts": TS,
         "track_id": 17},
        {"event_id": "e3", "camera_id": "cam-a", "type": "intrusion", "ts": TS},
        {"event_id": "e4", "camera_id": "cam-a", "type": "face_match", "ts": TS},
    ])
    parsed = Cctv().read(path, Pseudonymiser.ephemeral())
    rules = {r["line"]: r["rule"] for r in parsed.quarantine.to_pylist()}
    assert rules == {1: "red_line", 2: "red_line", 4: "unknown_type"}
    everything = json.dumps(parsed.quarantine.to_pylist()) + json.dumps(
        [t.to_pylist() for t in parsed.records.values()], default=str)
    assert "base64" not in everything and "track_id\": 17" not in everything
    assert parsed.records["incidents"].column("source_id").to_pylist() == ["e3"]


def test_cctv_keeps_good_lines_around_a_malformed_one(tmp_path: Path) -> None:
    path = write_cctv(tmp_path, [])
    path.write_text(
        json.dumps({"event_id": "e1", "camera_id": "cam-a", "type": "people_count", "ts": TS,
                    "value": 5}) + "\n{not json\n"
        + json.dumps({"event_id": "e2", "camera_id": "cam-x", "type": "people_count", "ts": TS,
                      "value": 5}) + "\n")
    parsed = Cctv().read(path, Pseudonymiser.ephemeral())
    assert parsed.rows_read == 3
    assert [(r["line"], r["rule"]) for r in parsed.quarantine.to_pylist()] == [
        (2, "bad_json"), (3, "unknown_site")]
    assert parsed.records["measurements"].column("source_id").to_pylist() == ["e1"]


def test_cctv_strict_schema_rejects_unknown_nested_and_hidden_images(tmp_path: Path) -> None:
    base = {"camera_id": "cam-a", "type": "people_count", "ts": TS, "value": 3}
    path = write_cctv(tmp_path, [
        {"event_id": "e1", **base, "gender_estimate": "f"},
        {"event_id": "e2", **base, "meta": {"face_crop": "...", "model": "x"}},
        {"event_id": "data:image/png;base64,iVBORw0KGgo", **base},
        {"event_id": "e4", **base, "embedding": [0.1, 0.2, 0.3]},
        {"event_id": "e5", **base, "confidence": 7},
        {"event_id": "e6", **base},
    ])
    parsed = Cctv().read(path, Pseudonymiser.ephemeral())
    rows = {r["line"]: r for r in parsed.quarantine.to_pylist()}
    assert {line: r["rule"] for line, r in rows.items()} == {
        1: "unknown_field", 2: "red_line", 3: "red_line", 4: "red_line", 5: "bad_value"}
    assert "gender_estimate" in rows[1]["reason"]
    assert "face_crop" in rows[2]["reason"] and "embedding" in rows[4]["reason"]
    assert "an image" in rows[3]["reason"]
    stored_and_kept = json.dumps(parsed.quarantine.to_pylist())
    assert "iVBOR" not in stored_and_kept and "0.1, 0.2" not in stored_and_kept
    assert parsed.records["measurements"].column("source_id").to_pylist() == ["e6"]
