"""Fire/EMS (Lambert-93), field reports (pseudonymised), mobile presence (suppressed at source),
hospital arrivals (aggregate only), the events calendar (routes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyproj import Transformer

from belvedere.errors import RedLineViolation
from belvedere.sources.events import EventsCalendar
from belvedere.sources.field_reports import FieldReports
from belvedere.sources.hospital_ed import HospitalEd
from belvedere.sources.incident_log import IncidentLog
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.mobile_presence import MobilePresence

KEY = Pseudonymiser(b"0123456789abcdef0123456789abcdef")


def test_fire_ems_converts_lambert93_and_keeps_duration(tmp_path: Path) -> None:
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True).transform(5.3959,
                                                                                     43.2698)
    path = tmp_path / "interventions.csv"
    path.write_text(
        "id_intervention;date_alerte;date_fin;x_l93;y_l93;type_intervention;sous_type\n"
        f"B-1;2024-03-02 17:45:00;2024-03-02 18:31:00;{x:.0f};{y:.0f};SAP;Malaise\n"
        "B-2;2024-03-02 17:45:00;2024-03-02 18:31:00;;;INCENDIE;Feu\n")
    parsed = IncidentLog.packaged("marseille_fire_ems").read(path, KEY)
    (row,) = parsed.records["incidents"].to_pylist()
    assert abs(row["lat"] - 43.2698) < 1e-4 and abs(row["lon"] - 5.3959) < 1e-4
    assert (row["category"], row["zone"], json.loads(row["attrs"])) == (
        "rescue", "13208", {"sous_type": "Malaise", "duration_min": 46})
    assert parsed.quarantine.column("rule").to_pylist() == ["no_place"]


def test_field_reports_pseudonymise_the_agent_redact_the_text_and_drop_the_photo(
        tmp_path: Path) -> None:
    path = tmp_path / "signalements.json"
    path.write_text(json.dumps([
        {"id": "r1", "created_at": "2024-03-02T16:45:12Z", "category": "eclairage",
         "location": {"lat": 43.2951, "lon": 5.3740}, "agent": "agent-0042",
         "comment": "Lampadaire éteint, Mme Martin (06 12 34 56 78) a appelé. " + "x" * 400,
         "photo": "IMG_2024.jpg"},
    ]))
    parsed = FieldReports().read(path, KEY)
    (row,) = parsed.records["incidents"].to_pylist()
    assert row["category"] == "lighting" and row["origin"] == "field_agent"
    attrs = json.loads(row["attrs"])
    assert attrs["reporter"] == KEY("agent-0042")
    assert attrs["narrative"].startswith("Lampadaire éteint")
    assert "06 12" not in attrs["narrative"] and len(attrs["narrative"]) <= 280
    assert parsed.minimised.get("pseudonymised:agent") == 1
    text = json.dumps(row, default=str)
    assert "agent-0042" not in text and "Martin" not in text and "IMG_2024" not in text


def test_mobile_presence_keeps_suppressed_rows_as_flags(tmp_path: Path) -> None:
    path = tmp_path / "presence.csv"
    path.write_text("zone_id;date;heure;nb_presents;seuil_diffusion\n"
                    "881f9a4a1bfffff;2024-03-02;17;1843;20\n"
                    "881f9a4a1bfffff;2024-03-02;04;;20\n"
                    "881f9a4a1bfffff;2024-03-02;05;12;20\n"
                    "not-a-cell;2024-03-02;04;12;20\n")
    parsed = MobilePresence().read(path, KEY)
    rows = parsed.records["measurements"].to_pylist()
    assert [(r["value"], r["flags"]) for r in rows] == [
        (1843.0, ""), (None, "suppressed_at_source"), (None, "suppressed_below_threshold")]
    assert parsed.minimised == {"suppressed:below_operator_threshold": 1}
    assert rows[0]["start"].isoformat() == "2024-03-02T16:00:00+00:00"
    assert parsed.quarantine.column("rule").to_pylist() == ["unknown_zone"]


def test_hospital_file_with_a_patient_column_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "passages.csv"
    path.write_text("finess;etablissement;date;heure;motif;nb_passages;date_naissance\n"
                    "130783293;Timone;2024-03-02;17;malaise;4;1970-01-01\n")
    with pytest.raises(RedLineViolation, match="date_naissance"):
        HospitalEd().read(path, KEY)


def test_events_calendar_reads_demonstration_routes(tmp_path: Path) -> None:
    path = tmp_path / "evenements.csv"
    path.write_text(
        "id_evenement;type;titre;lieu;latitude;longitude;debut;fin;affluence_prevue;parcours\n"
        "M-1;manifestation;Manif;canebiere;43,2951;5,3740;2024-03-08 14:00;2024-03-08 17:00;"
        "8000;43.2951 5.3740|43.2975 5.3810\n"
        "X-1;emeute;?;canebiere;43,2951;5,3740;2024-03-08 14:00;2024-03-08 17:00;;\n")
    parsed = EventsCalendar().read(path, KEY)
    (row,) = parsed.records["planned_events"].to_pylist()
    assert json.loads(row["route"])["coordinates"] == [[5.374, 43.2951], [5.381, 43.2975]]
    assert row["expected_attendance"] == 8000
    assert parsed.quarantine.column("rule").to_pylist() == ["unknown_kind"]
