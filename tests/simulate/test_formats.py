"""Every feed folder of docs/feeds.md is written, in its declared native format."""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date

import numpy as np
import polars as pl
import shapely
from pyproj import Transformer

from belvedere.grid.places import CAMERAS, HOSPITALS, STATIONS, VENUES
from belvedere.grid.zones import arrondissements, city_outline
from belvedere.simulate import SimulationSummary

EXPECTED_FILES = {
    "police": ["main_courante.csv"],
    "cctv": ["cameras.json"],
    "pompiers": ["interventions.csv"],
    "agents": ["signalements.json"],
    "operateur": ["presence.csv"],
    "transports": ["gtfs.zip", "validations.csv"],
    "hopitaux": ["passages_urgences.csv"],
    "evenements": ["evenements.csv"],
    "truth": ["parameters.json", "events.json", "anomalies.csv", "intensity_by_zone_hour.csv"],
}


def test_every_feed_folder_and_file_exists(simulated: SimulationSummary) -> None:
    for folder, names in EXPECTED_FILES.items():
        for name in names:
            assert (simulated.out / folder / name).is_file(), f"{folder}/{name}"
    days = sorted(p.name for p in (simulated.out / "cctv").glob("events-*.jsonl"))
    assert len(days) == simulated.days
    assert days[0] == f"events-{simulated.start.isoformat()}.jsonl"


def test_summary_counts_match_the_files(simulated: SimulationSummary) -> None:
    out = simulated.out
    lines = sum(len(p.read_text("utf-8").splitlines()) for p in (out / "cctv").glob("*.jsonl"))
    assert simulated.rows["cctv"] == lines
    assert simulated.rows["agents"] == len(json.loads((out / "agents" / "signalements.json")
                                                      .read_text("utf-8")))
    csvs = {"police": "main_courante.csv", "pompiers": "interventions.csv",
            "operateur": "presence.csv", "transports": "validations.csv",
            "hopitaux": "passages_urgences.csv", "evenements": "evenements.csv"}
    for folder, name in csvs.items():
        data_lines = (out / folder / name).read_bytes().count(b"\n") - 1
        assert simulated.rows[folder] == data_lines, folder


def test_police_log_is_the_police_softwares_dialect(simulated: SimulationSummary) -> None:
    raw = (simulated.out / "police" / "main_courante.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfnumero_fiche;date_heure;adresse;latitude;longitude;"
                          b"code_nature;libelle_nature;origine;gravite;recit\r\n")
    assert raw.count(b"\n") == raw.count(b"\r\n")
    first = raw.decode("utf-8-sig").split("\r\n")[1].split(";")
    assert re.fullmatch(r"MC-\d{4}-\d{6}", first[0])
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}", first[1])
    assert re.fullmatch(r"43,\d{1,5}", first[3]) and re.fullmatch(r"5,\d{1,5}", first[4])
    assert first[2].endswith(" Marseille")


def test_police_log_values_follow_the_contract(police: pl.DataFrame) -> None:
    known = {"VOL_SIMPLE", "VOL_VIOLENCE", "CAMBRIOLAGE", "VIOLENCES", "RIXE", "DEGRADATION",
             "TROUBLE_OTP", "TAPAGE", "IVRESSE", "ACCIDENT_CIRC", "STUPEFIANTS"}
    codes = set(police["code_nature"].unique())
    assert known <= codes, "every mapped police code occurs"
    assert codes - known, "some codes map to 'other'"
    assert set(police["origine"].unique()) == {"appel_public", "patrouille", "videoprotection",
                                               "pompiers"}
    assert set(police["gravite"].unique()) == {"1", "2", "3"}
    assert police["numero_fiche"].is_unique().all()
    # Fiches are numbered in time order; local time only steps back when clocks go back.
    steps_back = police.filter(pl.col("ts").diff() < 0)
    assert steps_back.height <= 2
    assert (steps_back["ts"].dt.date() == date(2024, 10, 27)).all()
    outline = city_outline(arrondissements())
    assert shapely.contains_xy(outline, police["lon"].to_numpy(), police["lat"].to_numpy()).all()


def test_some_narratives_carry_fake_personal_data_to_minimise(police: pl.DataFrame) -> None:
    recit = police["recit"]
    phones = recit.str.contains(r"06( \d{2}){4}").to_numpy().mean()
    plates = recit.str.contains(r"[A-Z]{2}-\d{3}-[A-Z]{2}").to_numpy().mean()
    names = recit.str.contains(r"(M\.|Mme) [A-Z][a-z]+").to_numpy().mean()
    for share in (phones, plates, names):
        assert 0.01 < share < 0.1


def test_pompiers_use_lambert93_coordinates_inside_marseille(
        simulated: SimulationSummary) -> None:
    frame = pl.read_csv(simulated.out / "pompiers" / "interventions.csv", separator=";")
    assert frame.columns == ["id_intervention", "date_alerte", "date_fin", "x_l93", "y_l93",
                             "type_intervention", "sous_type"]
    to_wgs84 = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(frame["x_l93"].to_numpy(), frame["y_l93"].to_numpy())
    # Lambert-93 is written in whole metres.
    outline = city_outline(arrondissements()).buffer(0.0001)
    assert shapely.contains_xy(outline, lon, lat).all()
    start = frame["date_alerte"].str.to_datetime("%Y-%m-%d %H:%M:%S")
    end = frame["date_fin"].str.to_datetime("%Y-%m-%d %H:%M:%S")
    minutes = ((end - start).dt.total_seconds() / 60).to_numpy()
    # Local clock times read an hour short across the autumn DST change: skip that night.
    ordinary = (start.dt.date() != date(2024, 10, 27)).to_numpy()
    assert ((minutes[ordinary] >= 20) & (minutes[ordinary] <= 120)).all()
    assert set(frame["type_intervention"].unique()) == {"INCENDIE", "SAP", "ACCIDENT",
                                                         "ASSISTANCE", "AUTRE"}
    assert 100 <= frame.height / 90 <= 150


def test_agents_reports_are_a_json_array_in_daytime(simulated: SimulationSummary) -> None:
    items = json.loads((simulated.out / "agents" / "signalements.json").read_text("utf-8"))
    assert set(items[0]) == {"id", "created_at", "category", "location", "agent", "comment",
                             "photo"}
    assert {i["category"] for i in items} == {"degradation", "tag", "eclairage", "squat",
                                             "depot_sauvage", "voirie"}
    assert len({i["agent"] for i in items}) <= 40
    assert 30 <= len(items) / 90 <= 60
    local = (pl.Series([i["created_at"] for i in items])
             .str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC")
             .dt.convert_time_zone("Europe/Paris"))
    assert local.dt.hour().is_between(7, 18).all()


def test_cctv_events_are_valid_jsonl_with_allowed_types_only(
        simulated: SimulationSummary, cctv: pl.DataFrame) -> None:
    cameras = json.loads((simulated.out / "cctv" / "cameras.json").read_text("utf-8"))
    assert {c["camera_id"] for c in cameras} == set(CAMERAS)
    one_day = (simulated.out / "cctv" / f"events-{simulated.start.isoformat()}.jsonl")
    for line in one_day.read_text("utf-8").splitlines():
        json.loads(line)
    assert set(cctv["type"].unique()) == {"people_count", "crowd_density", "abandoned_object",
                                          "intrusion", "fall", "fire_smoke"}
    assert set(cctv.columns) == {"camera_id", "event_id", "ts", "type", "value", "window_s",
                                 "confidence"}
    assert cctv["event_id"].is_unique().all()
    counts = cctv.filter(pl.col("type") == "people_count")
    assert counts.height == len(CAMERAS) * 96 * 90 + len(CAMERAS) * 4  # +1 h on 27 October
    assert (counts["window_s"] == 900).all()
    near = cctv.filter(pl.col("type") == "crowd_density")["camera_id"].unique()
    assert "cam-velodrome-n" in near.to_list() and "cam-la-rose" not in near.to_list()


def test_presence_suppresses_small_counts_under_the_threshold(
        simulated: SimulationSummary, presence: pl.DataFrame) -> None:
    header = (simulated.out / "operateur" / "presence.csv").read_text("utf-8").split("\n")[0]
    assert header == "zone_id;date;heure;nb_presents;seuil_diffusion"
    assert presence["zone_id"].n_unique() == 322
    assert presence.height == 322 * 24 * 90
    assert (presence["seuil_diffusion"] == "20").all()
    suppressed = presence["nb_presents"].null_count()
    assert 0 < suppressed < presence.height * 0.2
    assert presence["nb_presents"].drop_nulls().to_numpy().min() >= 20
    assert presence["heure"].str.len_chars().eq(2).all()


def test_transit_has_gtfs_and_no_boardings_at_night(simulated: SimulationSummary,
                                                    validations: pl.DataFrame) -> None:
    with zipfile.ZipFile(simulated.out / "transports" / "gtfs.zip") as archive:
        assert set(archive.namelist()) == {"agency.txt", "stops.txt", "routes.txt"}
        stops = archive.read("stops.txt").decode("utf-8").splitlines()
        routes = archive.read("routes.txt").decode("utf-8")
    assert {line.split(",")[0] for line in stops[1:]} == {s.code for s in STATIONS.values()}
    assert "\nM1," in routes and "\nM2," in routes
    assert set(validations["stop_id"].unique()) == {s.code for s in STATIONS.values()}
    night = validations.filter(pl.col("ts").dt.hour().is_between(1, 4))
    assert night.height > 0 and night["validations"].sum() == 0
    peak = validations.filter(pl.col("ts").dt.hour() == 8, pl.col("ts").dt.weekday() <= 5)
    midday = validations.filter(pl.col("ts").dt.hour() == 11, pl.col("ts").dt.weekday() <= 5)
    assert peak["validations"].to_numpy().mean() > 1.5 * midday["validations"].to_numpy().mean()


def test_hospital_arrivals_are_small_aggregate_counts(ed: pl.DataFrame) -> None:
    assert ed.columns[:6] == ["finess", "etablissement", "date", "heure", "motif", "nb_passages"]
    assert set(ed["finess"].unique()) == {h.code for h in HOSPITALS.values()}
    assert set(ed["motif"].unique()) == {"traumatologie", "malaise", "intoxication",
                                         "psychiatrie", "autre"}
    per_site = ed.group_by("finess").agg(pl.col("nb_passages").sum())
    busiest = per_site.sort("nb_passages")["finess"][-1]
    assert busiest == HOSPITALS["timone"].code
    city_hourly = ed.group_by("ts").agg(pl.col("nb_passages").sum())["nb_passages"]
    assert 10 <= np.quantile(city_hourly.to_numpy(), 0.95) <= 25


def test_events_calendar_points_at_known_venues(events: pl.DataFrame) -> None:
    assert set(events["lieu"].unique()) <= set(VENUES)
    assert events["id_evenement"].is_unique().all()
    assert set(events["type"].unique()) <= {"match_football", "manifestation", "concert",
                                            "festival"}
    demos = events.filter(pl.col("type") == "manifestation")
    assert (demos["parcours"].str.count_matches(r"\|") >= 2).all()
    others = events.filter(pl.col("type") != "manifestation")
    assert others["parcours"].is_null().all()
    assert events["latitude"].str.contains(",").all()


def test_truth_files_describe_the_run(simulated: SimulationSummary) -> None:
    truth = simulated.out / "truth"
    params = json.loads((truth / "parameters.json").read_text("utf-8"))
    assert params["seed"] == 42 and params["period"]["days"] == 90
    assert params["parameters"]["police"]["branching_ratio"] == 0.2
    assert "match_football" in params["event_effects"]
    planted = json.loads((truth / "events.json").read_text("utf-8"))
    match = next(e for e in planted if e["kind"] == "match_football")
    feeds = {effect["feed"] for effect in match["effects"]}
    assert feeds == {"mobile_presence", "cctv", "police_log", "fire_ems", "hospital_ed",
                     "transit"}
    police = next(e for e in match["effects"] if e["feed"] == "police_log")
    assert police["multiplier"] > 1.3 and police["radius_m"] == 1000
    anomalies = pl.read_csv(truth / "anomalies.csv", separator=";")
    assert anomalies.columns == ["anomaly_id", "feed", "zone_or_site", "start_utc", "end_utc",
                                 "multiplier", "label"]
    assert 4 <= anomalies.height <= 8
    table = pl.read_csv(truth / "intensity_by_zone_hour.csv", separator=";")
    assert table.height == 16 * 168


