"""Property tests: every connector, fed real-looking files corrupted at random, raises nothing
unexpected and accounts for every row (stored, quarantined or filtered — nothing lost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from belvedere.sources.base import Source, get_source
from belvedere.sources.minimise import Pseudonymiser

KEY = Pseudonymiser(b"k" * 32)
BASE_ROWS = 40

# (source, file inside the simulated city) for the line-oriented feeds.
CSV_FEEDS = [
    ("police_log", "police/main_courante.csv"),
    ("fire_ems", "pompiers/interventions.csv"),
    ("mobile_presence", "operateur/presence.csv"),
    ("hospital_ed", "hopitaux/passages_urgences.csv"),
    ("transit", "transports/validations.csv"),
    ("events", "evenements/evenements.csv"),
]

GARBAGE = st.text(alphabet=st.sampled_from(list("abcXYZ019 -/:;,.éàç?!")), max_size=12)
MUTATION = st.tuples(
    st.sampled_from(["field", "drop_field", "extra_field", "truncate", "bad_bytes",
                     "duplicate", "keep"]),
    st.integers(0, 10_000),
    GARBAGE,
)


def mutate(line: bytes, sep: bytes, how: str, n: int, text: str) -> list[bytes]:
    """One corrupted version of ``line`` (possibly none or two lines)."""
    fields = line.split(sep)
    i = n % len(fields)
    if how == "field":
        fields[i] = text.encode("utf-8")
    elif how == "drop_field" and len(fields) > 1:
        del fields[i]
    elif how == "extra_field":
        fields.append(text.encode("utf-8"))
    elif how == "truncate":
        return [line[: n % max(len(line), 1)]]
    elif how == "bad_bytes":
        cut = n % max(len(line), 1)
        return [line[:cut] + b"\xff\xfe" + line[cut:]]
    elif how == "duplicate":
        return [line, line]
    return [sep.join(fields)]


def corrupted_copy(src: Path, dst: Path, sep: bytes, mutations: list[tuple[str, int, str]]
                   ) -> int:
    """Write the header and the first rows of ``src``, corrupted; return the data rows written
    (non-blank lines: blank lines are not records)."""
    raw = src.read_bytes()
    newline = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    header, *rows = raw.split(newline)[: BASE_ROWS + 1]
    out: list[bytes] = []
    for k, row in enumerate(rows):
        if not row:
            continue
        how, n, text = mutations[k % len(mutations)] if mutations else ("keep", 0, "")
        out.extend(mutate(row, sep, how, n, text))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(newline.join([header, *out]) + newline)
    return sum(1 for line in out if line.strip())


def accounted(source: Source, path: Path) -> tuple[int, int]:
    """(rows read, rows accounted for) of one file."""
    parsed = source.read(path, KEY)
    records = sum(t.num_rows for t in parsed.records.values())
    return parsed.rows_read, records + parsed.quarantine.num_rows + parsed.rows_filtered


@pytest.mark.parametrize(("name", "relative"), CSV_FEEDS)
@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(MUTATION, min_size=1, max_size=8))
def test_corrupted_csv_rows_are_all_accounted_for(
        city_dir: Path, tmp_path: Path, name: str, relative: str,
        mutations: list[tuple[str, int, str]]) -> None:
    source = get_source(name)
    sep = b"," if name == "transit" else b";"
    target = tmp_path / "feed" / Path(relative).parent.name / Path(relative).name
    if name == "transit":  # the ridership file needs its GTFS beside it
        (target.parent).mkdir(parents=True, exist_ok=True)
        (target.parent / "gtfs.zip").write_bytes((city_dir / "transports/gtfs.zip").read_bytes())
    written = corrupted_copy(city_dir / relative, target, sep, mutations)
    read, accounted_for = accounted(source, target)
    assert read == written
    assert accounted_for == read


JSON_VALUES = st.one_of(st.none(), st.integers(-5, 10**6), st.floats(allow_nan=False),
                        GARBAGE, st.lists(st.integers(), max_size=3))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, BASE_ROWS - 1),
                                st.sampled_from(["event_id", "camera_id", "type", "ts", "value",
                                                 "window_s", "image", "extra", "__line__"]),
                                JSON_VALUES), max_size=10))
def test_corrupted_cctv_events_are_all_accounted_for(
        city_dir: Path, tmp_path: Path, edits: list[tuple[int, str, object]]) -> None:
    day = sorted((city_dir / "cctv").glob("events-*.jsonl"))[0]
    lines = day.read_text().splitlines()[:BASE_ROWS]
    events: list[object] = [json.loads(line) for line in lines]
    for k, key, value in edits:
        if key == "__line__":
            events[k] = "{broken json"
        elif isinstance(events[k], dict):
            events[k][key] = value  # type: ignore[index]
    folder = tmp_path / "cctv"
    folder.mkdir(exist_ok=True)
    (folder / "cameras.json").write_bytes((city_dir / "cctv/cameras.json").read_bytes())
    path = folder / day.name
    path.write_text("\n".join(e if isinstance(e, str) else json.dumps(e) for e in events) + "\n")
    read, accounted_for = accounted(get_source("cctv"), path)
    assert read == len(events) == accounted_for


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, BASE_ROWS - 1),
                                st.sampled_from(["id", "created_at", "category", "location",
                                                 "agent", "comment", "photo"]),
                                JSON_VALUES), max_size=10))
def test_corrupted_field_reports_are_all_accounted_for(
        city_dir: Path, tmp_path: Path, edits: list[tuple[int, str, object]]) -> None:
    reports = json.loads((city_dir / "agents/signalements.json").read_text())[:BASE_ROWS]
    for k, key, value in edits:
        reports[k][key] = value
    path = tmp_path / "signalements.json"
    path.write_text(json.dumps(reports))
    try:
        read, accounted_for = accounted(get_source("field_reports"), path)
    except Exception as exc:  # a whole-file refusal must be the project's own, clear error
        from belvedere.errors import SourceError

        assert isinstance(exc, SourceError), repr(exc)
        return
    assert read == len(reports) == accounted_for
