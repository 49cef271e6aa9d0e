"""Same seed, days and start → byte-identical files; another seed → another history."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from belvedere.simulate import simulate_city

START = date(2024, 10, 20)  # covers the OM–PSG match and the autumn DST change
DAYS = 10


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_trees_across_processes(tmp_path: Path) -> None:
    simulate_city(tmp_path / "a", days=DAYS, seed=3, start=START)
    # The second run lives in another interpreter with another string-hash seed, so that any
    # dependence on set or dict ordering of strings would show.
    code = ("import sys; from datetime import date; from pathlib import Path; "
            "from belvedere.simulate import simulate_city; "
            f"simulate_city(Path(sys.argv[1]), days={DAYS}, seed=3, start=date(2024, 10, 20))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "b")], check=True, env=env)
    first, second = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len(first) == DAYS + 13  # 10 CCTV days + 9 feed files + 4 truth files
    assert first == second


def test_another_seed_gives_another_police_log(tmp_path: Path) -> None:
    simulate_city(tmp_path / "a", days=3, seed=3, start=START)
    simulate_city(tmp_path / "b", days=3, seed=4, start=START)
    log = Path("police") / "main_courante.csv"
    assert (tmp_path / "a" / log).read_bytes() != (tmp_path / "b" / log).read_bytes()
    # The planned events do not depend on the seed's draws of the feeds.
    calendar = Path("evenements") / "evenements.csv"
    assert (tmp_path / "a" / calendar).read_text("utf-8").splitlines()[0].startswith(
        "id_evenement;")
