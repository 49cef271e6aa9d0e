"""What only the DuckDB store does: one process holds the file. Everything else a store does is
checked on every backend by the contract battery (``tests/store/test_contract.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from belvedere.errors import StoreBusy
from belvedere.store.duckdb import DuckDBStore


def test_a_second_process_gets_a_clear_busy_error(tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    DuckDBStore(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(30)", str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusy, match="belvedere serve"):
            DuckDBStore(path)
    finally:
        holder.kill()
        holder.wait()
