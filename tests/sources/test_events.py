"""The events calendar: CSV (the simulator's), iCalendar and JSON in, the same PlannedEvents out,
demonstrations kept for crowd safety only, every row accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from belvedere.errors import SourceError
from belvedere.sources.events import EventsCalendar
from belvedere.sources.ingest import ingest_folder
from belvedere.sources.minimise import Pseudonymiser
from belvedere.store.base import Store

KEY = Pseudonymiser.ephemeral()
CALENDAR = EventsCalendar()
HEADER = "id_evenement;type;titre;lieu;latitude;longitude;debut;fin;affluence_prevue;parcours"


def read(path: Path):  # type: ignore[no-untyped-def]
    """Parse ``path`` and check the accounting every calendar must satisfy."""
    parsed = CALENDAR.read(path, KEY)
    stored = parsed.records["planned_events"].num_rows
    assert parsed.rows_read == stored + parsed.quarantine.num_rows + parsed.rows_filtered
    return parsed


def rows(parsed) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return parsed.records["planned_events"].to_pylist()


def rules(parsed) -> dict[int, str]:  # type: ignore[no-untyped-def]
    return dict(zip(parsed.quarantine.column("line").to_pylist(),
                    parsed.quarantine.column("rule").to_pylist(), strict=True))


def ics(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//belvedere tests//EN\r\n"
            f"{body}END:VCALENDAR\r\n").replace("\n", "\r\n").replace("\r\r\n", "\r\n")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- discovery ----------------------------------------------------------------------------------

def test_events_connector_finds_csv_ics_and_json_files(tmp_path: Path) -> None:
    for name in ("a.csv", "b.ics", "c.json", "notes.txt"):
        (tmp_path / name).write_text("")
    assert CALENDAR.info.patterns == ("*.csv", "*.ics", "*.json")
    assert [p.name for p in CALENDAR.files(tmp_path)] == ["a.csv", "b.ics", "c.json"]


def test_events_connector_refuses_an_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown calendar format"):
        CALENDAR.read(write(tmp_path, "x.xml", "<x/>"), KEY)


# --- CSV ----------------------------------------------------------------------------------------

def test_events_csv_reads_the_simulator_format_in_utc(tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "evenements.csv", f"{HEADER}\n"
                        "OM-1;match_football;OM – Rennes;velodrome;43,2698;5,3959;"
                        "2024-03-02 21:00;2024-03-02 22:50;62000;\n"
                        "M-1;manifestation;Manif;canebiere;43,2951;5,3740;2024-03-08 14:00;"
                        "2024-03-08 17:00;8000;43.2951 5.3740|43.2975 5.3810\n"))
    om, demo = rows(parsed)
    assert om["source_id"] == "OM-1" and om["venue"] == "velodrome" and om["zone"] == "13208"
    assert om["start"].isoformat() == "2024-03-02T20:00:00+00:00"  # CET = UTC+1
    assert om["expected_attendance"] == 62000 and om["route"] is None
    assert json.loads(demo["route"])["coordinates"] == [[5.374, 43.2951], [5.381, 43.2975]]


def test_events_csv_counts_dropped_columns_and_keeps_them_out(tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "evenements.csv", f"{HEADER};organisateur;contact\n"
                        "M-1;manifestation;Manif;canebiere;43,2951;5,3740;2024-03-08 14:00;"
                        "2024-03-08 17:00;8000;;Syndicat X;06 12 34 56 78\n"
                        "M-2;manifestation;Manif;canebiere;;;2024-03-08 14:00;"
                        "2024-03-08 17:00;;;;\n"))
    assert parsed.minimised == {"dropped:contact": 1, "dropped:organisateur": 1}
    assert "Syndicat" not in json.dumps(rows(parsed), default=str)


def test_events_csv_places_an_event_at_its_venue_when_coordinates_are_blank(
        tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "evenements.csv", f"{HEADER}\n"
                        "C-1;concert;Concert;le_dome;;;2024-03-09 20:00;2024-03-09 23:00;;\n"
                        "C-2;concert;Concert;Salle inconnue;;;2024-03-09 20:00;"
                        "2024-03-09 23:00;;\n"
                        "C-3;concert;Concert;Salle inconnue;43,3;5,39;2024-03-09 20:00;"
                        "2024-03-09 23:00;;\n"))
    dome, elsewhere = rows(parsed)
    assert (dome["venue"], dome["lat"], dome["lon"]) == ("le_dome", 43.3067, 5.3968)
    # An unknown place is context for people, never a venue id.
    assert elsewhere["venue"] is None and elsewhere["title"] == "Concert — Salle inconnue"
    assert rules(parsed) == {3: "no_place"}


def test_events_csv_quarantines_each_rule_once(tmp_path: Path) -> None:
    good = "2024-03-08 14:00;2024-03-08 17:00"
    parsed = read(write(tmp_path, "evenements.csv", f"{HEADER}\n"
                        f";concert;x;le_dome;;;{good};;\n"
                        f"X-1;emeute;x;le_dome;;;{good};;\n"
                        "X-2;concert;x;le_dome;;;2024-03-08 17:00;2024-03-08 14:00;;\n"
                        "X-3;concert;x;le_dome;;;2024-03-31 02:30;2024-03-31 04:00;;\n"
                        f"X-4;concert;x;le_dome;;;{good};beaucoup;\n"
                        f"X-5;manifestation;x;canebiere;;;{good};;43.29 5.37\n"
                        f"X-6;concert;x;le_dome;91;5;{good};;\n"
                        f"X-7;concert;x;le_dome;;;{good};;;trop;de;champs\n"))
    assert rules(parsed) == {2: "no_id", 3: "unknown_kind", 4: "bad_time", 5: "bad_time",
                             6: "bad_attendance", 7: "bad_route", 8: "no_place",
                             9: "ragged_row"}


# --- JSON ---------------------------------------------------------------------------------------

def test_events_json_reads_offsets_routes_and_counts_dropped_keys(tmp_path: Path) -> None:
    items = [
        {"id": "OM-1", "kind": "football", "title": "OM – Lens", "venue": "velodrome",
         "start": "2024-03-02T21:00:00+01:00", "end": "2024-03-02T22:50+01:00",
         "expected_attendance": 62000},
        {"id": "M-1", "kind": "demonstration", "title": "Marche", "lat": 43.2951, "lon": 5.374,
         "start": "2024-03-08T13:00:00Z", "end": "2024-03-08T16:00:00Z",
         "route": {"type": "LineString", "coordinates": [[5.374, 43.2951], [5.381, 43.2975]]},
         "organiser": "Collectif Y", "contact": "y@example.org", "description": "…"},
        {"id": "M-2", "kind": "manifestation", "venue": "canebiere",
         "start": "2024-03-09T14:00:00+01:00", "end": "2024-03-09T17:00:00+01:00",
         "route": [[43.2951, 5.374], [43.2975, 5.381]]},
        {"id": "X-1", "kind": "concert", "venue": "le_dome",
         "start": "2024-03-09T20:00:00", "end": "2024-03-09T23:00:00"},
        "not an object",
    ]
    parsed = read(write(tmp_path, "calendar.json", json.dumps(items)))
    om, march, demo = rows(parsed)
    assert om["kind"] == "match_football" and om["start"].isoformat() == "2024-03-02T20:00:00+00:00"
    assert om["end"].isoformat() == "2024-03-02T21:50:00+00:00"
    assert march["kind"] == "manifestation" and march["zone"] == "13201"
    # A GeoJSON LineString ([lon, lat]) and a list of [lat, lon] pairs give the same line.
    assert march["route"] == demo["route"]
    assert rules(parsed) == {4: "bad_time", 5: "bad_json"}
    assert "ISO 8601 with a UTC offset" in parsed.quarantine.column("reason")[0].as_py()
    assert parsed.minimised == {"dropped:contact": 1, "dropped:description": 1,
                                "dropped:organiser": 1}
    assert "Collectif" not in json.dumps(rows(parsed), default=str)


def test_events_json_that_is_not_an_array_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a JSON array"):
        CALENDAR.read(write(tmp_path, "c.json", '{"id": "x"}'), KEY)
    with pytest.raises(SourceError, match="cannot read as JSON"):
        CALENDAR.read(write(tmp_path, "d.json", "[{"), KEY)


# --- iCalendar ----------------------------------------------------------------------------------

OM_EVENT = """
UID:om-1@example.org
DTSTAMP:20240101T000000Z
SUMMARY:OM – Rennes
DTSTART;TZID=Europe/Paris:20240302T210000
DTEND;TZID=Europe/Paris:20240302T225000
LOCATION:Stade Vélodrome, 3 boulevard Michelet, Marseille
CATEGORIES:Sport,Football
X-BELVEDERE-ATTENDANCE:62000
"""


def test_events_ics_reads_tzid_utc_and_floating_times(tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "c.ics", ics(
        OM_EVENT,
        "UID:u\nSUMMARY:Concert\nCATEGORIES:concert\nLOCATION:le_dome\n"
        "DTSTART:20240702T180000Z\nDTEND:20240702T210000Z",
        "UID:f\nSUMMARY:Festival\nCATEGORIES:festival\nLOCATION:Plages du Prado\n"
        "DTSTART:20240702T180000\nDURATION:PT4H",
        "UID:d\nSUMMARY:Fête\nCATEGORIES:festival\nLOCATION:Vieux-Port\nDTSTART;VALUE=DATE:20240621",
    )))
    om, concert, festival, day = rows(parsed)
    assert (om["venue"], om["kind"], om["expected_attendance"]) == (
        "velodrome", "match_football", 62000)
    assert om["start"].isoformat() == "2024-03-02T20:00:00+00:00"
    assert concert["start"].isoformat() == "2024-07-02T18:00:00+00:00"
    # Floating time = Europe/Paris wall clock (CEST, UTC+2 in July).
    assert festival["start"].isoformat() == "2024-07-02T16:00:00+00:00"
    assert festival["end"].isoformat() == "2024-07-02T20:00:00+00:00"
    # A date is a whole local day.
    assert (day["start"].isoformat(), day["end"].isoformat()) == (
        "2024-06-20T22:00:00+00:00", "2024-06-21T22:00:00+00:00")
    assert [r["line"] for r in parsed.quarantine.to_pylist()] == []


def test_events_ics_uses_geo_and_keeps_unknown_places_as_title_context(tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "c.ics", ics(
        "UID:g\nSUMMARY:Rassemblement\nCATEGORIES:manifestation\nLOCATION:Cours Julien\n"
        "GEO:43.2937;5.3838\nDTSTART:20240302T140000Z\nDTEND:20240302T160000Z",
        "UID:n\nSUMMARY:Nowhere\nCATEGORIES:concert\nLOCATION:Somewhere else\n"
        "DTSTART:20240302T140000Z\nDTEND:20240302T160000Z",
        "UID:k\nSUMMARY:Salon\nCATEGORIES:salon\nLOCATION:le_dome\n"
        "DTSTART:20240302T140000Z\nDTEND:20240302T160000Z",
    )))
    (gathering,) = rows(parsed)
    assert (gathering["lat"], gathering["lon"], gathering["venue"]) == (43.2937, 5.3838, None)
    assert gathering["title"] == "Rassemblement — Cours Julien"
    assert rules(parsed) == {2: "no_place", 3: "unknown_kind"}
    assert "salon" in parsed.quarantine.column("reason")[1].as_py()


def test_events_ics_drops_organisers_attendees_and_descriptions(tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "c.ics", ics(
        "UID:m\nSUMMARY:Marche\nCATEGORIES:DEMONSTRATION\nLOCATION:canebiere\n"
        "DTSTART:20240308T130000Z\nDTEND:20240308T160000Z\n"
        "ORGANIZER;CN=Jeanne Martin:mailto:jeanne@example.org\n"
        "ATTENDEE;CN=Paul Durand:mailto:paul@example.org\n"
        "CONTACT:Jeanne Martin 06 12 34 56 78\nDESCRIPTION:Départ à 14h avec Jeanne\n"
        "X-BELVEDERE-ROUTE:43.2951 5.3740|43.2975 5.3810",
    )))
    (march,) = rows(parsed)
    assert march["kind"] == "manifestation" and json.loads(march["route"])["type"] == "LineString"
    assert parsed.minimised == {"dropped:attendee": 1, "dropped:contact": 1,
                                "dropped:description": 1, "dropped:organizer": 1}
    text = json.dumps(rows(parsed), default=str) + json.dumps(parsed.quarantine.to_pylist())
    assert "Jeanne" not in text and "Paul" not in text


def test_events_ics_expands_a_simple_weekly_rule(tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "c.ics", ics(
        OM_EVENT + "RRULE:FREQ=WEEKLY;COUNT=4;BYDAY=SA\n"
        "EXDATE;TZID=Europe/Paris:20240309T210000",
        # This occurrence moved: it replaces the one of the series.
        "UID:om-1@example.org\nRECURRENCE-ID;TZID=Europe/Paris:20240316T210000\n"
        "SUMMARY:OM – Rennes (décalé)\nCATEGORIES:football\nLOCATION:velodrome\n"
        "DTSTART;TZID=Europe/Paris:20240317T204500\nDTEND;TZID=Europe/Paris:20240317T223500",
    )))
    starts = {r["source_id"]: r["start"].isoformat() for r in rows(parsed)}
    assert starts == {
        "om-1@example.org/20240302T200000Z": "2024-03-02T20:00:00+00:00",
        # 23 March is a Saturday; Paris is still on CET.
        "om-1@example.org/20240323T200000Z": "2024-03-23T20:00:00+00:00",
        "om-1@example.org/20240316T200000Z": "2024-03-17T19:45:00+00:00",
    }
    assert parsed.rows_read == 3
    assert any("expanded 1 recurring event(s) into 2 occurrence(s)" in n for n in parsed.notes)


def test_events_ics_stops_an_endless_rule_at_the_horizon(tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "c.ics", ics(
        "UID:w\nSUMMARY:Marché\nCATEGORIES:festival\nLOCATION:Vieux-Port\n"
        "DTSTART;TZID=Europe/Paris:20240106T080000\nDTEND;TZID=Europe/Paris:20240106T130000\n"
        "RRULE:FREQ=WEEKLY",
    )))
    assert len(rows(parsed)) == 53  # 6 Jan 2024 to 5 Jan 2025 inclusive
    assert any("beyond the 366-day horizon" in n for n in parsed.notes)
    summer = next(r for r in rows(parsed) if r["source_id"] == "w/20240706T060000Z")
    assert summer["start"].isoformat() == "2024-07-06T06:00:00+00:00"  # 08:00 CEST


def test_events_ics_quarantines_recurrences_it_does_not_expand(tmp_path: Path) -> None:
    base = ("SUMMARY:x\nCATEGORIES:concert\nLOCATION:le_dome\n"
            "DTSTART:20240302T140000Z\nDTEND:20240302T160000Z\n")
    parsed = read(write(tmp_path, "c.ics", ics(
        f"UID:a\n{base}RRULE:FREQ=MONTHLY;BYMONTHDAY=1,15",
        f"UID:b\n{base}RRULE:FREQ=HOURLY;COUNT=3",
        f"UID:c\n{base}RRULE:FREQ=MONTHLY;BYDAY=1SA",
        f"UID:d\n{base}RRULE:FREQ=WEEKLY;COUNT=2\nRDATE:20240401T140000Z",
    )))
    assert rows(parsed) == []
    assert rules(parsed) == dict.fromkeys((1, 2, 3, 4), "recurrence_unsupported")
    reasons = parsed.quarantine.column("reason").to_pylist()
    assert "BYMONTHDAY" in reasons[0] and "FREQ=HOURLY" in reasons[1] and "RDATE" in reasons[3]


def test_events_ics_filters_cancelled_events(tmp_path: Path) -> None:
    parsed = read(write(tmp_path, "c.ics", ics(OM_EVENT + "STATUS:CANCELLED", OM_EVENT)))
    assert len(rows(parsed)) == 1 and parsed.rows_filtered == 1
    assert parsed.notes == ["filtered 1 cancelled event(s) (STATUS:CANCELLED)"]


def test_events_ics_that_does_not_parse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="iCalendar"):
        CALENDAR.read(write(tmp_path, "c.ics", "not a calendar"), KEY)


# --- all formats --------------------------------------------------------------------------------

def test_events_one_event_in_three_formats_gives_one_record(tmp_path: Path) -> None:
    csv = write(tmp_path, "a.csv", f"{HEADER}\nOM-1;match_football;OM – Rennes;velodrome;"
                "43,2698;5,3959;2024-03-02 21:00;2024-03-02 22:50;62000;\n")
    js = write(tmp_path, "b.json", json.dumps([{
        "id": "OM-1", "kind": "match_football", "title": "OM – Rennes", "venue": "velodrome",
        "lat": 43.2698, "lon": 5.3959, "start": "2024-03-02T21:00+01:00",
        "end": "2024-03-02T22:50+01:00", "expected_attendance": 62000}]))
    ic = write(tmp_path, "c.ics", ics(OM_EVENT.replace("om-1@example.org", "OM-1")
                                      .replace("Stade Vélodrome, 3 boulevard Michelet, "
                                               "Marseille", "velodrome")
                                      + "GEO:43.2698;5.3959"))
    records = [rows(read(p)) for p in (csv, js, ic)]
    assert records[0] == records[1] == records[2]


def test_events_every_row_is_stored_duplicate_quarantined_or_filtered(
        tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "evenements"
    folder.mkdir()
    write(folder, "a.csv", f"{HEADER}\nOM-1;match_football;OM;velodrome;;;2024-03-02 21:00;"
          "2024-03-02 22:50;;\nOM-1;match_football;OM;velodrome;;;2024-03-02 21:00;"
          "2024-03-02 22:50;;\nX;emeute;x;velodrome;;;2024-03-02 21:00;2024-03-02 22:50;;\n")
    write(folder, "b.ics", ics(OM_EVENT + "STATUS:CANCELLED", OM_EVENT))
    report = ingest_folder(store, tmp_path, sources=["events"])
    assert report.totals()["events"] == {"files": 2, "read": 5, "stored": 2, "duplicates": 1,
                                         "quarantined": 1, "filtered": 1}
