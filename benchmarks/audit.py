"""The access log's cost: writing lines, signing heads, verifying, proving.

Run: ``.venv/bin/python benchmarks/audit.py`` (about a minute; ``--lines 100000`` for more).

Writes ``--lines`` lines through :func:`belvedere.privacy.audit.record` into a fresh store file
(each line pseudonymised, chained, appended; a head signed every 1000 lines, the default),
against its reference measured in the same run: the same rows inserted into the same table
with the same DuckDB statement, one at a time, with nothing else. Then times ``verify`` (the
chain, the Merkle tree, every head) against hashing the lines' entries twice with hashlib
alone (the chain's and the leaves' SHA-256: the least any verification must do), one
``sign_head`` and one inclusion proof.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from belvedere.privacy import audit
from belvedere.privacy.access_log import inclusion
from belvedere.privacy.release import Actor
from belvedere.store.factory import open_store


def _timed(label: str, seconds: float, extra: str = "") -> None:
    print(f"{label:<52} {seconds:8.3f} s {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000)
    n = parser.parse_args().lines
    with tempfile.TemporaryDirectory() as tmp:
        db = open_store(Path(tmp) / "audit.duckdb")
        started = time.perf_counter()
        for i in range(n):
            audit.record(db, actor=f"user-{i % 50}", role="analyst", purpose="analysis",
                         action="consultation",
                         what={"resource": "situation", "granted": "zone × day", "i": i},
                         rows_released=i % 400)
        written = time.perf_counter() - started
        rows = db.audit_rows()

        raw = open_store(Path(tmp) / "raw.duckdb")
        started = time.perf_counter()
        for row in rows:
            raw.append_audit(row)
        reference = time.perf_counter() - started
        raw.close()
        _timed(f"record() × {n:,} (pseudonym, chain, heads)", written,
               f"({n / written:,.0f} lines/s)")
        _timed(f"reference: the same {n:,} INSERTs alone", reference,
               f"(record / reference {written / reference:.2f})")

        started = time.perf_counter()
        result = audit.verify(db)
        verified = time.perf_counter() - started
        assert result.ok, result.problems
        started = time.perf_counter()
        for row in rows:
            entry = audit.entry_bytes(row)
            hashlib.sha256(row.prev_hash.encode() + entry).digest()
            hashlib.sha256(b"\x00" + entry).digest()
        hashing = time.perf_counter() - started
        _timed(f"verify(): {result.lines:,} lines, {result.heads} heads", verified)
        _timed("reference: the entries' two SHA-256 alone", hashing,
               f"(verify / reference {verified / hashing:.2f})")

        started = time.perf_counter()
        audit.sign_head(db)
        _timed("sign_head() over the whole log", time.perf_counter() - started)
        started = time.perf_counter()
        inclusion(db, Actor("dpo", "dpo"), n // 2)
        _timed("an inclusion proof (read, tree, path; recorded)", time.perf_counter() - started)
        print(f"store file: {Path(db.deployment.path).stat().st_size / 1e6:.1f} MB for {n:,} lines "
              f"({datetime.now(UTC):%Y-%m-%d})")
        db.close()


if __name__ == "__main__":
    main()
