"""``belvedere live`` and ``belvedere serve --mqtt`` refuse clearly when the broker cannot be
reached, and warn when a feed's reference file is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from belvedere.cli import app
from tests.test_cli import WIDE


@pytest.mark.parametrize("command", ["live", "serve"])
def test_an_unreachable_broker_is_a_clear_error(command: str, tmp_path: Path) -> None:
    env = {**WIDE, "BELVEDERE_LIVE_REFERENCE": str(tmp_path / "no-reference"),
           "BELVEDERE_LIVE_DIR": str(tmp_path / "live")}
    result = CliRunner().invoke(app, [command, "--store", str(tmp_path / "s.duckdb"), "--mqtt",
                                      "mqtt://127.0.0.1:1"], env=env)
    assert result.exit_code == 2
    assert "cannot reach the MQTT broker at 127.0.0.1:1" in result.output
    assert f"{tmp_path / 'no-reference' / 'cctv' / 'cameras.json'} is missing" in " ".join(
        result.output.split())
