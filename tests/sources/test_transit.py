"""Transit: GTFS static reading and validation, ridership CSV → boardings, and the whole feed
(GTFS + ridership + GTFS-realtime) through the ingest."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from belvedere.errors import SourceError
from belvedere.grid.cells import latlng_to_cells
from belvedere.simulate.transit import gtfs_members
from belvedere.sources.base import get_source
from belvedere.sources.gtfs import read_gtfs
from belvedere.sources.minimise import Pseudonymiser
from belvedere.sources.transit import Transit

KEY = Pseudonymiser(b"0123456789abcdef0123456789abcdef")

STOPS = {
    # stop_id: (name, lat, lon, location_type, parent_station)
    "STA-CAS": ("Castellane", "43.2859", "5.3836", "1", ""),
    "CAS-1": ("Castellane quai 1", "43.2858", "5.3835", "0", "STA-CAS"),
    "CAS-2": ("Castellane quai 2", "43.2860", "5.3837", "0", "STA-CAS"),
    "STC": ("Saint-Charles", "43.3025", "5.3807", "", ""),
    "VPO": ("Vieux-Port", "43.2962", "5.3747", "", ""),
    "TIM": ("La Timone", "43.2869", "5.4010", "", ""),
    "S9": ("Arrêt sans position", "", "", "", ""),
}
"""A small Marseille network: a station with two platforms, three stops, one unlocated stop."""


def gtfs_files(*, stops: dict[str, tuple[str, str, str, str, str]] | None = None,
               schedule: bool = True) -> dict[str, str]:
    """The text files of a small GTFS (metro M1, bus 21), with or without trips/stop_times."""
    stops = STOPS if stops is None else stops
    files = {
        "agency.txt": "agency_id,agency_name,agency_url,agency_timezone\n"
                      "RTM,Régie des Transports Métropolitains,https://www.rtm.fr,Europe/Paris\n",
        # BOM, as many producers write it, and a quoted name with a comma.
        "stops.txt": "\ufeffstop_id,stop_name,stop_lat,stop_lon,location_type,parent_station\n"
                     + "".join(f'{sid},"{n}",{lat},{lon},{lt},{parent}\n'
                               for sid, (n, lat, lon, lt, parent) in stops.items()),
        "routes.txt": "route_id,agency_id,route_short_name,route_long_name,route_type\n"
                      "M1,RTM,M1,La Rose – La Fourragère,1\n"
                      "B21,RTM,,\"Bus 21, Timone\",3\n",
    }
    if schedule:
        files["trips.txt"] = ("route_id,service_id,trip_id,direction_id,shape_id\n"
                              "M1,WK,T1,0,SH1\nM1,WK,T2,1,SH1\nB21,WK,T3,0,\n")
        files["stop_times.txt"] = (
            "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n"
            "T1,17:40:00,17:40:30,CAS-1,1\nT1,17:44:00,17:44:30,STC,2\n"
            "T1,17:47:00,17:47:30,VPO,3\n"
            "T2,25:10:00,25:10:30,VPO,1\nT2,25:13:00,25:13:30,CAS-2,2\n"
            "T3,08:00:00,08:00:00,TIM,1\nT3,08:10:00,08:10:00,S9,2\n")
        files["shapes.txt"] = ("shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence\n"
                               "SH1,43.2962,5.3747,3\nSH1,43.2858,5.3835,1\n"
                               "SH1,43.3025,5.3807,2\n")
    return files


def write_gtfs(folder: Path, files: dict[str, str] | None = None) -> Path:
    """``folder/gtfs.zip`` holding ``files`` (default: :func:`gtfs_files`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gtfs.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in (gtfs_files() if files is None else files).items():
            z.writestr(name, text.encode("utf-8"))
    return path


def write_validations(folder: Path, rows: list[str], name: str = "validations.csv") -> Path:
    """A ridership file (``stop_id,date,heure,validations``)."""
    path = folder / name
    path.write_text("stop_id,date,heure,validations\n" + "".join(f"{r}\n" for r in rows))
    return path


def cell(lat: str, lon: str) -> int:
    """The H3 cell (resolution 9) of a stop, as the store keeps it."""
    return int(latlng_to_cells(np.array([float(lat)]), np.array([float(lon)]))[0])


def test_gtfs_reads_stops_routes_and_shapes(tmp_path: Path) -> None:
    feed = read_gtfs(write_gtfs(tmp_path))
    sites = {s["site_id"]: s for s in feed.sites().to_pylist()}
    assert set(sites) == {"STA-CAS", "CAS-1", "CAS-2", "STC", "VPO", "TIM"}
    assert sites["STC"]["zone"] == "13201" and sites["STC"]["cell"] == cell("43.3025", "5.3807")
    assert sites["CAS-1"]["name"] == "Castellane quai 1" and sites["CAS-1"]["code"] == "CAS-1"
    assert feed.timezone == "Europe/Paris"
    assert feed.route_table().rows() == [("M1", "M1", 1), ("B21", "Bus 21, Timone", 3)]
    assert feed.shape_lines() == {"SH1": {"type": "LineString", "coordinates": [
        [5.3835, 43.2858], [5.3807, 43.3025], [5.3747, 43.2962]]}}
    # Platforms fold into their station; times past midnight (25:10) are kept as seconds.
    assert feed.stops_of_routes(["M1"]) == {"M1": ["STA-CAS", "STC", "VPO"]}
    assert feed.schedule(["T2"])["arrival_s"].to_list() == [25 * 3600 + 600, 25 * 3600 + 780]


def test_gtfs_without_stops_txt_is_refused_naming_the_file(tmp_path: Path) -> None:
    files = gtfs_files()
    del files["stops.txt"]
    path = write_gtfs(tmp_path, files)
    with pytest.raises(SourceError, match=r"stops\.txt is missing") as caught:
        read_gtfs(path)
    assert caught.value.file == str(path)
    # The ridership file that needs it is refused with the same clear reason.
    csv = write_validations(tmp_path, ["STC,2024-03-02,17,120"])
    with pytest.raises(SourceError, match=r"gtfs\.zip.*stops\.txt is missing"):
        Transit().read(csv, KEY)


@pytest.mark.parametrize(("name", "header", "missing"), [
    ("stops.txt", "stop_id,stop_name,stop_lon\nA,a,5.3\n", "stop_lat"),
    ("routes.txt", "route_id,route_type\nM1,1\n", "route_short_name or route_long_name"),
    ("agency.txt", "agency_name,agency_url\nRTM,https://www.rtm.fr\n", "agency_timezone"),
])
def test_gtfs_file_without_a_required_column_is_refused(tmp_path: Path, name: str, header: str,
                                                        missing: str) -> None:
    path = write_gtfs(tmp_path, {**gtfs_files(), name: header})
    with pytest.raises(SourceError, match=f"{name} lacks required column.*{missing}"):
        read_gtfs(path)


def test_a_corrupt_or_missing_gtfs_zip_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "gtfs.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(SourceError, match="not a readable GTFS zip") as caught:
        read_gtfs(tmp_path / "gtfs.zip")
    assert caught.value.file == str(tmp_path / "gtfs.zip")
    with pytest.raises(SourceError, match="cannot read the GTFS feed"):
        read_gtfs(tmp_path / "elsewhere" / "gtfs.zip")


def test_broken_optional_file_is_reported_not_fatal(tmp_path: Path) -> None:
    files = {**gtfs_files(), "shapes.txt": "shape_id,shape_pt_lat\nSH1,43.3\n"}
    feed = read_gtfs(write_gtfs(tmp_path, files))
    assert feed.shapes is None and feed.shape_lines() == {}
    assert any("shapes.txt lacks required column" in p for p in feed.problems)
    assert feed.stop_times is not None


def test_a_stop_without_coordinates_is_reported_and_rows_naming_it_quarantined(
        tmp_path: Path) -> None:
    feed = read_gtfs(write_gtfs(tmp_path))
    (problem,) = feed.problems
    assert "S9 (line 8: stop_lat '', stop_lon '')" in problem
    csv = write_validations(tmp_path, ["S9,2024-03-02,17,12", "STC,2024-03-02,17,120"])
    parsed = Transit().read(csv, KEY)
    (q,) = parsed.quarantine.to_pylist()
    assert (q["line"], q["rule"]) == (2, "unknown_site")
    assert "S9 has no valid coordinates in gtfs.zip stops.txt (line 8" in q["reason"]
    assert any("S9" in n for n in parsed.notes)


def test_validations_become_hourly_boardings_at_the_stop(tmp_path: Path) -> None:
    write_gtfs(tmp_path)
    csv = write_validations(tmp_path, [
        "STC,2024-03-02,17,120",     # stored
        "STC,2024-03-02,17,120",     # in-file duplicate: the store skips it
        "XXX,2024-03-02,17,4",       # unknown stop
        "VPO,2024-03-31,2,4",        # 02:00 does not exist on the spring DST night
        "VPO,2024-03-02,18,-3",      # not a count
        "CAS-1,2024-10-27,2,7",      # autumn overlap: the earlier instant
    ])
    parsed = Transit().read(csv, KEY)
    rows = parsed.records["measurements"].to_pylist()
    got = [(r["site"], r["start"].isoformat(), r["end"].isoformat(), r["value"]) for r in rows]
    assert got == [
        ("STC", "2024-03-02T16:00:00+00:00", "2024-03-02T17:00:00+00:00", 120.0),
        ("STC", "2024-03-02T16:00:00+00:00", "2024-03-02T17:00:00+00:00", 120.0),
        ("CAS-1", "2024-10-27T00:00:00+00:00", "2024-10-27T01:00:00+00:00", 7.0),
    ]
    assert rows[0]["metric"] == "boardings" and rows[0]["zone"] == "13201"
    assert rows[0]["source_id"] == "STC|2024-03-02|17"
    q = parsed.quarantine.to_pylist()
    assert [(r["line"], r["rule"]) for r in q] == [(4, "unknown_site"), (5, "bad_time"),
                                                   (6, "bad_value")]
    assert json.loads(q[0]["raw"]) == {"stop_id": "XXX", "date": "2024-03-02", "heure": "17",
                                       "validations": "4"}
    assert parsed.rows_read == len(rows) + len(q) == 6


def test_the_simulators_gtfs_and_ridership_still_read(tmp_path: Path) -> None:
    write_gtfs(tmp_path, gtfs_members())
    csv = write_validations(tmp_path, ["M1-CAS,2024-03-02,07,812"])
    parsed = Transit().read(csv, KEY)
    (row,) = parsed.records["measurements"].to_pylist()
    assert (row["site"], row["zone"], row["value"]) == ("M1-CAS", "13206", 812.0)
    assert parsed.sites is not None and parsed.sites.num_rows == len(
        io.StringIO(gtfs_members()["stops.txt"]).readlines()) - 1


def test_transit_reads_ridership_and_realtime_files_of_its_folder(tmp_path: Path) -> None:
    source = get_source("transit")
    assert set(source.info.patterns) >= {"validations*.csv", "realtime/*.pb"}
    folder = tmp_path / "transports"
    write_gtfs(folder)
    write_validations(folder, ["STC,2024-03-02,17,120"])
    (folder / "realtime").mkdir()
    (folder / "realtime" / "feed-1.pb").write_bytes(b"")
    (folder / "notes.txt").write_text("not a feed")
    assert [p.relative_to(folder).as_posix() for p in source.files(folder)] == [
        "realtime/feed-1.pb", "validations.csv"]
    with pytest.raises(SourceError, match="neither a ridership CSV"):
        Transit().read(folder / "notes.txt", KEY)
