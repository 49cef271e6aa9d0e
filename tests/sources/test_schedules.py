"""Real stadium schedules: Retrosheet game logs and football results, selected by a mapping,
placed at venues in their own time zone, every row stored, filtered or quarantined.

The tests on the real files read ``../shared/data/events`` (not part of the repository); without
it they skip, saying so. The synthetic ones write small files of their own.
"""

from __future__ import annotations

import tomllib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from belvedere.errors import ConfigError, SourceError
from belvedere.sources.base import ParsedFile, Source
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.schedules import (
    VENUES_CSV,
    ScheduleSource,
    load_venues,
    schedule_from_mapping,
)

KEY = Pseudonymiser.ephemeral()
EVENTS = Path(__file__).resolve().parents[3] / "shared" / "data" / "events"
MAPPINGS = resources.files("belvedere.sources").joinpath("mappings")


def packaged(name: str) -> ScheduleSource:
    text = MAPPINGS.joinpath(f"schedule_{name}.toml").read_text("utf-8")
    return schedule_from_mapping(tomllib.loads(text), origin=f"schedule_{name}.toml")


def mapping(**schedule: Any) -> ScheduleSource:
    return schedule_from_mapping({"source": {"name": "test"}, "schedule": schedule},
                                 origin="test.toml")


def read(source: Source, path: Path) -> ParsedFile:
    """Parse ``path`` and check that every row is accounted for."""
    parsed = source.read(path, KEY)
    stored = parsed.records["planned_events"].num_rows
    assert parsed.rows_read == stored + parsed.quarantine.num_rows + parsed.rows_filtered
    return parsed


def records(parsed: ParsedFile) -> pl.DataFrame:
    return pl.from_arrow(parsed.records["planned_events"])  # type: ignore[return-value]


def rules(parsed: ParsedFile) -> dict[int, str]:
    q = parsed.quarantine
    return dict(zip(q.column("line").to_pylist(), q.column("rule").to_pylist(), strict=True))


def local(df: pl.DataFrame, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> list[str]:
    return df["start"].dt.convert_time_zone(zone).dt.strftime(fmt).to_list()


def real(relative: str) -> Path:
    if not EVENTS.is_dir():
        pytest.skip(f"real schedules not available: {EVENTS} (../shared/data is not in this "
                    "checkout)")
    path = EVENTS / relative
    if not path.exists():
        pytest.skip(f"real schedule file not available: {path}")
    return path


# --- synthetic Retrosheet -----------------------------------------------------------------------

def game(day: str, home: str, park: str, flag: str = "N", number: str = "0",
         attendance: str = "30000", minutes: str = "180", visitor: str = "MIL") -> str:
    fields = [""] * 161
    fields[0], fields[1], fields[2], fields[3] = day, number, "Sat", visitor
    fields[6], fields[12], fields[16] = home, flag, park
    fields[17], fields[18] = attendance, minutes
    fields[80] = "Umpire Name"  # a person's name the connector must never read
    return ",".join(f'"{f}"' for f in fields)


def game_log(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "gl2022.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_retrosheet_keeps_the_mapping_parks_and_explains_the_rest(tmp_path: Path) -> None:
    parsed = read(mapping(format="retrosheet", parks=["CHI11"]), game_log(
        tmp_path, game("20220702", "CHN", "CHI11"), game("20220702", "NYA", "NYC21"),
        game("20220703", "BOS", "BOS07")))
    (row,) = records(parsed).to_dicts()
    assert (row["source_id"], row["title"], row["venue"]) == (
        "20220702/CHN/0", "MIL at CHN", "wrigley_field")
    assert (row["kind"], row["expected_attendance"], row["zone"]) == ("match_baseball", 30000,
                                                                       None)
    assert parsed.rows_filtered == 2 and parsed.notes[0] == "filtered 2 rows: park not in [CHI11]"
    assert "Umpire" not in str(parsed.records) + str(parsed.quarantine.to_pylist())


def test_retrosheet_start_times_follow_the_day_night_flag_in_the_venue_zone(
        tmp_path: Path) -> None:
    parsed = read(mapping(format="retrosheet", parks=["CHI11", "LON01", "SEO01"]), game_log(
        tmp_path, game("20220702", "CHN", "CHI11", "D", minutes="170"),
        game("20220702", "CHN", "CHI11", "N", number="0"),
        game("20230624", "SLN", "LON01", "N"), game("20240320", "LAN", "SEO01", "N")))
    df = records(parsed)
    # Chicago in July is CDT (UTC-5); London BST (UTC+1); Seoul KST (UTC+9).
    assert df["start"].dt.strftime("%Y-%m-%d %H:%M").to_list() == [
        "2022-07-02 18:20", "2022-07-03 00:05", "2023-06-24 18:05", "2024-03-20 10:05"]
    assert df["end"][0].isoformat() == "2022-07-02T21:10:00+00:00"  # 170 minutes later


def test_retrosheet_second_game_of_a_doubleheader_follows_the_first(tmp_path: Path) -> None:
    parsed = read(mapping(format="retrosheet", parks=["CHI12"]), game_log(
        tmp_path, game("20220723", "CHA", "CHI12", "D", "1", minutes="178"),
        game("20220723", "CHA", "CHI12", "D", "2", minutes="186"),
        game("20220724", "CHA", "CHI12", "D", "1"), game("20220724", "CHA", "CHI12", "N", "2")))
    assert local(records(parsed), "America/Chicago", "%d %H:%M") == [
        "23 13:20", "23 16:48", "24 13:20", "24 19:05"]


def test_retrosheet_unknown_attendance_and_duration_use_the_mapping(tmp_path: Path) -> None:
    parsed = read(mapping(format="retrosheet", parks=["CHI11"], expected_attendance=35000),
                  game_log(tmp_path, game("20200724", "CHN", "CHI11", attendance=""),
                           game("20210707", "CHN", "CHI11", attendance="0", minutes=""),
                           game("20210708", "CHN", "CHI11", attendance="-1")))
    df = records(parsed)
    assert df["expected_attendance"].to_list() == [35000, 35000, 35000]
    assert (df["end"] - df["start"]).dt.total_minutes().to_list() == [180, 180, 180]
    assert "1 games without a duration: 180 min assumed" in parsed.notes
    assert ("3 games without an attendance figure: the mapping's expected_attendance 35,000 "
            "used") in parsed.notes


def test_retrosheet_quarantines_selected_games_it_cannot_place(tmp_path: Path) -> None:
    parsed = read(mapping(format="retrosheet", home_teams=["CHN"]), game_log(
        tmp_path, game("2022-07-02", "CHN", "CHI11"), game("20220702", "CHN", "XYZ01"),
        game("20220703", "CHN", "CHI11", "X"), game("20220704", "NYA", "XYZ01")))
    assert rules(parsed) == {1: "bad_date", 2: "unknown_venue", 3: "bad_time"}
    assert parsed.rows_filtered == 1
    assert "XYZ01 is not in the venue table" in parsed.quarantine.column("reason")[1].as_py()


def test_retrosheet_date_window_filters_with_a_reason(tmp_path: Path) -> None:
    parsed = read(mapping(format="retrosheet", parks=["CHI11"], **{"from": date(2022, 7, 3)}),
                  game_log(tmp_path, game("20220702", "CHN", "CHI11"),
                           game("20220703", "CHN", "CHI11")))
    assert records(parsed)["source_id"].to_list() == ["20220703/CHN/0"]
    assert parsed.notes[0] == "filtered 1 rows: date outside 2022-07-03..…"


def test_retrosheet_file_that_is_not_a_game_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "gl2022.txt"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(SourceError, match="161"):
        mapping(format="retrosheet", parks=["CHI11"]).read(path, KEY)


# --- synthetic football -------------------------------------------------------------------------

def results(tmp_path: Path, *rows: str, extra: str = "") -> Path:
    path = tmp_path / "france.csv"
    path.write_text(f"Date,Season,home,visitor,FT{extra}\n" + "\n".join(rows) + "\n")
    return path


def test_football_kickoff_rule_by_weekday_in_the_venue_zone(tmp_path: Path) -> None:
    om = mapping(format="football", home_teams=["Olympique Marseille"], kickoff_local="21:00",
                 kickoff_by_weekday={"sun": "20:45"}, expected_attendance=60000)
    parsed = read(om, results(tmp_path, "2024-08-25,2024,Olympique Marseille,Stade Reims,2-2",
                              "2024-09-14,2024,Olympique Marseille,OGC Nice,2-0",
                              "2024-09-15,2024,Paris SG,Stade Rennes,3-1"))
    df = records(parsed)
    assert local(df, "Europe/Paris", "%a %H:%M") == ["Sun 20:45", "Sat 21:00"]
    assert df["start"][0].isoformat() == "2024-08-25T18:45:00+00:00"
    assert (df["end"] - df["start"]).dt.total_minutes().to_list() == [110, 110]
    assert df["title"][0] == "Olympique Marseille – Stade Reims"
    assert df["source_id"][0] == "2024-08-25/Olympique Marseille/Stade Reims"
    assert (df["venue"][0], df["zone"][0], df["expected_attendance"][0]) == (
        "velodrome", "13208", 60000)
    assert parsed.notes[0] == "filtered 1 rows: home team not in [Olympique Marseille]"
    assert "sun 20:45, otherwise 21:00 local, 110 min" in parsed.notes[1]


def test_football_home_venue_depends_on_the_date(tmp_path: Path) -> None:
    fire = mapping(format="football", home_teams=["Chicago Fire"], kickoff_local="19:30")
    parsed = read(fire, results(tmp_path, "2001-05-05,2001,Chicago Fire,DC United,1-0",
                                "2003-05-05,2003,Chicago Fire,DC United,1-0",
                                "2010-05-05,2010,Chicago Fire,DC United,1-0"))
    assert records(parsed)["venue"].to_list() == ["soldier_field", "seatgeek_stadium"]
    assert rules(parsed) == {3: "unknown_venue"}
    assert "Chicago Fire on 2003-05-05" in parsed.quarantine.column("reason")[0].as_py()


def test_football_quarantines_neutral_ground_bad_and_placeholder_dates(tmp_path: Path) -> None:
    milan = mapping(format="football", home_teams=["AC Milan"], kickoff_local="20:45",
                    neutral={"round": ["final"]})
    placeholders = [f"1937-07-01,1936,Team {i},Other {i},1-0,R1" for i in range(41)]
    parsed = read(milan, results(
        tmp_path, "2007-05-23,2006,AC Milan,Liverpool,2-1,final",
        "2007-04-24,2006,AC Milan,Manchester United,3-0,SF", "24/04/2007,2006,AC Milan,X,1-0,SF",
        "1937-07-01,1936,AC Milan,Y,1-0,R1", *placeholders, extra=",round"))
    assert records(parsed)["source_id"].to_list() == [
        "2007-04-24/AC Milan/Manchester United"]
    assert rules(parsed) == {2: "neutral_venue", 4: "bad_date", 5: "placeholder_date"}
    assert "round=final" in parsed.quarantine.column("reason")[0].as_py()
    assert parsed.rows_filtered == 41


def test_football_malformed_lines_are_quarantined_not_filtered(tmp_path: Path) -> None:
    om = mapping(format="football", home_teams=["Olympique Marseille"], kickoff_local="21:00")
    parsed = read(om, results(tmp_path, "2024-08-25,2024,Olympique Marseille,Stade Reims,2-2",
                              "2024-08-26,2024,Olympique Marseille"))
    assert rules(parsed) == {3: "ragged_row"} and parsed.rows_filtered == 0


def test_football_file_without_the_needed_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("when,home,away\n2024-08-25,a,b\n")
    with pytest.raises(SourceError, match="Date"):
        mapping(format="football", home_teams=["a"], kickoff_local="21:00").read(path, KEY)


# --- mappings -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "key"), [
    ({"source": {"name": "x"}}, "[schedule]"),
    ({"schedule": {"format": "retrosheet", "parks": ["CHI11"]}}, "[source]"),
    ({"source": {}, "schedule": {"format": "retrosheet", "parks": ["CHI11"]}}, "name"),
    ({"source": {"name": "X y"}, "schedule": {"format": "retrosheet", "parks": ["CHI11"]}},
     "name"),
    ({"source": {"name": "x"}, "schedule": {"format": "csv"}}, "format"),
    ({"source": {"name": "x"}, "schedule": {"format": "retrosheet"}}, "parks"),
    ({"source": {"name": "x"}, "schedule": {"format": "retrosheet", "parks": ["Wrigley"]}},
     "parks"),
    ({"source": {"name": "x"}, "schedule": {"format": "retrosheet", "parks": ["CHI11"],
                                            "kickoff_local": "21:00"}}, "kickoff_local"),
    ({"source": {"name": "x"}, "schedule": {"format": "retrosheet", "parks": ["CHI11"],
                                            "day_start_local": "1pm"}}, "day_start_local"),
    ({"source": {"name": "x"}, "schedule": {"format": "football", "kickoff_local": "21:00"}},
     "home_teams"),
    ({"source": {"name": "x"}, "schedule": {"format": "football", "home_teams": ["a"]}},
     "kickoff_local"),
    ({"source": {"name": "x"}, "schedule": {"format": "football", "home_teams": ["a"],
                                            "kickoff_local": "25:00"}}, "kickoff_local"),
    ({"source": {"name": "x"}, "schedule": {"format": "football", "home_teams": ["a"],
                                            "kickoff_local": "21:00",
                                            "kickoff_by_weekday": {"sunday": "20:45"}}},
     "sunday"),
    ({"source": {"name": "x"}, "schedule": {"format": "football", "home_teams": "a",
                                            "kickoff_local": "21:00"}}, "home_teams"),
    ({"source": {"name": "x"}, "schedule": {"format": "football", "home_teams": ["a"],
                                            "kickoff_local": "21:00",
                                            "expected_attendance": -5}}, "expected_attendance"),
    ({"source": {"name": "x"}, "schedule": {"format": "football", "home_teams": ["a"],
                                            "kickoff_local": "21:00", "from": "2024-13-01"}},
     "from"),
    ({"source": {"name": "x"}, "schedule": {"format": "football", "home_teams": ["a"],
                                            "kickoff_local": "21:00", "from": "2024-02-01",
                                            "to": "2024-01-01"}}, "to"),
    ({"source": {"name": "x", "kind": "incidents"},
      "schedule": {"format": "retrosheet", "parks": ["CHI11"]}}, "kind"),
])
def test_bad_schedule_mappings_name_the_file_and_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=r"bad\.toml") as err:
        schedule_from_mapping(data, origin="bad.toml")
    assert key in str(err.value)


def test_packaged_schedule_mappings_load_as_planned_event_sources() -> None:
    names = sorted(p.name for p in MAPPINGS.iterdir() if p.name.startswith("schedule_"))
    assert names == ["schedule_chicago_mlb.toml", "schedule_om_home.toml",
                     "schedule_portland_timbers.toml", "schedule_san_siro.toml",
                     "schedule_toronto_fc.toml"]
    for name in names:
        source = packaged(name.removeprefix("schedule_").removesuffix(".toml"))
        assert isinstance(source, Source) and source.info.kind == "planned_events"
    chicago = packaged("chicago_mlb")
    assert (chicago.info.name, chicago.info.folder) == ("mlb_chicago", "mlb_retrosheet")
    assert chicago.mapping.parks == ("CHI11", "CHI12")


# --- venue table --------------------------------------------------------------------------------

def test_venue_table_places_the_named_home_grounds() -> None:
    table = load_venues()
    venues = {r["venue_id"]: r for r in table.venues.to_dicts()}
    expected = {"velodrome": (43.2698, 5.3959, "Europe/Paris"),
                "san_siro": (45.4781, 9.1240, "Europe/Rome"),
                "providence_park": (45.5215, -122.6917, "America/Los_Angeles"),
                "bmo_field": (43.6332, -79.4186, "America/Toronto"),
                "soldier_field": (41.8623, -87.6167, "America/Chicago")}
    for venue_id, (lat, lon, zone) in expected.items():
        v = venues[venue_id]
        assert (v["lat"], v["lon"], v["timezone"]) == (lat, lon, zone)
    parks = dict(table.parks.iter_rows())
    assert (parks["CHI11"], parks["CHI12"]) == ("wrigley_field", "guaranteed_rate_field")
    assert len(parks) == 38
    teams = {r["team"] for r in table.teams.to_dicts()}
    assert {"Olympique Marseille", "AC Milan", "Inter", "Internazionale", "Portland Timbers",
            "Toronto FC", "Chicago Fire"} <= teams


@pytest.mark.parametrize(("row", "message"), [
    ("x,X,43.2,5.3,Mars/Olympus,City,,", "Mars/Olympus"),
    ("x,X,143.2,5.3,Europe/Paris,City,,", "WGS84"),
    ("x,X,43.2,5.3,Europe/Paris,City,CHI11,", "park"),
    ("x,X,43.2,5.3,Europe/Paris,City,,Chicago Fire@2010..2012", "two venues at once"),
    ("x,X,43.2,5.3,Europe/Paris,City,,Team@2010", "Team@from..to"),
    ("x,X,43.2,5.3,Europe/Paris,City,,Team@2012..2010", "ends before"),
])
def test_a_broken_venue_table_is_refused(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "venues.csv"
    path.write_text(VENUES_CSV.read_text("utf-8") + row + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_venues(path)


# --- the real files -----------------------------------------------------------------------------

def test_every_retrosheet_park_of_2020_to_2024_is_in_the_venue_table() -> None:
    real("mlb_retrosheet")
    parks: set[str] = set()
    for path in sorted((EVENTS / "mlb_retrosheet").glob("gl*.txt.gz")):
        frame = pl.read_csv(path, has_header=False, infer_schema=False)
        parks |= set(frame.to_series(16).to_list())
    assert len(parks) == 38
    assert parks <= set(load_venues().parks["park"].to_list())


def test_chicago_2022_home_games_real_file() -> None:
    source = packaged("chicago_mlb")
    parsed = read(source, real("mlb_retrosheet/gl2022.txt.gz"))
    df = records(parsed)
    # 81 Cubs home games at Wrigley Field, 81 White Sox home games at Guaranteed Rate Field.
    assert dict(df.group_by("venue").len().iter_rows()) == {"wrigley_field": 81,
                                                            "guaranteed_rate_field": 81}
    assert (parsed.rows_read, parsed.quarantine.num_rows, parsed.rows_filtered) == (2430, 0, 2268)
    opener = df.filter(pl.col("source_id") == "20220407/CHN/0").to_dicts()[0]
    # A day game: 13:20 in Chicago, CDT (UTC-5).
    assert opener["start"].isoformat() == "2022-04-07T18:20:00+00:00"
    assert opener["expected_attendance"] == 35112 and opener["title"] == "MIL at CHN"
    assert sorted(set(local(df, "America/Chicago", "%H:%M"))) == ["13:20", "19:05"]
    again = records(read(source, real("mlb_retrosheet/gl2022.txt.gz")))
    assert again["source_id"].to_list() == df["source_id"].to_list()


def test_chicago_2020_to_2024_real_files_are_fully_accounted() -> None:
    source = packaged("chicago_mlb")
    counts = {}
    for path in source.files(real("mlb_retrosheet")):
        parsed = read(source, path)
        counts[path.name[2:6]] = (parsed.rows_read, records(parsed).height)
    # 2020: 60-game season; 2021: one White Sox home game was played at the Field of Dreams.
    assert counts == {"2020": (898, 63), "2021": (2429, 161), "2022": (2430, 162),
                      "2023": (2430, 162), "2024": (2429, 162)}


def test_om_home_games_real_file() -> None:
    source = packaged("om_home")
    parsed = read(source, real("football/france.csv.gz"))
    df = records(parsed)
    season = df.filter(pl.col("start").is_between(pl.datetime(2024, 7, 1, time_zone="UTC"),
                                                  pl.datetime(2025, 6, 30, time_zone="UTC")))
    assert season.height == 17 and season["venue"].unique().to_list() == ["velodrome"]
    assert set(local(season, "Europe/Paris", "%H:%M")) == {"21:00", "20:45"}
    assert (parsed.rows_read, df.height, parsed.rows_filtered) == (29558, 1259, 28226)
    # The 1932–1936 seasons are all dated 1 July in the file: quarantined, not guessed.
    assert set(parsed.quarantine.column("rule").to_pylist()) == {"placeholder_date"}
    assert parsed.quarantine.num_rows == 73
    again = records(read(source, real("football/france.csv.gz")))
    assert again["source_id"].to_list() == df["source_id"].to_list()


def test_om_champions_league_final_is_neutral_ground_real_file() -> None:
    parsed = read(packaged("om_home"), real("football/champs.csv.gz"))
    (final,) = parsed.quarantine.to_pylist()
    assert final["rule"] == "neutral_venue" and "1993-05-26" in final["raw"]
    assert records(parsed).height == 50


def test_san_siro_november_december_2013_real_file() -> None:
    parsed = read(packaged("san_siro"), real("football/italy.csv.gz"))
    df = records(parsed).filter(pl.col("start").is_between(
        pl.datetime(2013, 11, 1, time_zone="UTC"), pl.datetime(2013, 12, 31, time_zone="UTC")))
    assert local(df, "Europe/Rome", "%m-%d") == ["11-02", "11-09", "11-23", "12-01", "12-08",
                                                 "12-16", "12-22"]
    assert set(local(df, "Europe/Rome", "%H:%M")) == {"20:45"}
    # Inter played at the Arena Civica before 1947: those home games have no venue here.
    reasons = parsed.quarantine.column("reason").to_pylist()
    assert len(reasons) == 259 and all("home team Inter on 19" in r for r in reasons)


def test_portland_timbers_2016_real_file() -> None:
    parsed = read(packaged("portland_timbers"), real("football/mls.csv.gz"))
    df = records(parsed)
    assert df.height == 107 and parsed.quarantine.num_rows == 0
    season = df.filter(pl.col("source_id").str.starts_with("2016-"))
    assert season.height == 17
    assert set(local(season, "America/Los_Angeles", "%H:%M")) == {"19:30"}
    assert season["venue"].unique().to_list() == ["providence_park"]
