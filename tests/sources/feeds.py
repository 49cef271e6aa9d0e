"""Tiny hand-written feed files, to test connectors rule by rule."""

from __future__ import annotations

import json
from pathlib import Path

POLICE_HEADER = ("numero_fiche;date_heure;adresse;latitude;longitude;code_nature;libelle_nature;"
                 "origine;gravite;recit")


def write_police_log(folder: Path, rows: list[str], name: str = "main_courante.csv") -> Path:
    """A police-log export with BOM and CRLF, as the police software writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(("\ufeff" + "\r\n".join([POLICE_HEADER, *rows]) + "\r\n").encode("utf-8"))
    return path


def police_row(fiche: str, when: str = "02/03/2024 17:45", lat: str = "43,29512",
               lon: str = "5,37803", nature: str = "VOL_SIMPLE",
               recit: str = "Jean Dupont signale un vol, tél 06 12 34 56 78") -> str:
    """One police-log line (defaults: a theft in the 1st arrondissement)."""
    return f"{fiche};{when};12 rue de Rome;{lat};{lon};{nature};Vol;appel_public;1;{recit}"


def write_cctv(folder: Path, events: list[dict[str, object]], day: str = "2024-03-02") -> Path:
    """A camera list and one day of JSON Lines events."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.json").write_text(json.dumps(
        [{"camera_id": "cam-a", "name": "A", "lat": 43.2953, "lon": 5.3744}]))
    path = folder / f"events-{day}.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    return path
