"""The purge's digest: the vectorised one equals the documented definition, whatever the keys."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from belvedere.store.purge import receipt_digest, table_digest

text = st.text(max_size=12) | st.none()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(text, text, st.integers(-2**62, 2**62) | st.none()), max_size=30))
def test_table_digest_is_the_receipt_digest(keys: list[tuple[str | None, str | None,
                                                              int | None]]) -> None:
    table = pa.table({"source": pa.array([k[0] for k in keys], pa.string()),
                      "source_id": pa.array([k[1] for k in keys], pa.string()),
                      "line": pa.array([k[2] for k in keys], pa.int64())})
    assert table_digest(table) == receipt_digest(keys)


def test_digest_of_times_and_of_nothing() -> None:
    hour = datetime(2024, 9, 1, 22, tzinfo=UTC)
    table = pa.table({"source": ["cctv"], "hour": pa.array([hour], pa.timestamp("us", "UTC"))})
    expected = hashlib.sha256(b'["cctv","2024-09-01T22:00:00+00:00"]').hexdigest()
    assert table_digest(table) == receipt_digest([("cctv", hour)]) == expected
    assert table_digest(table.slice(0, 0)) == hashlib.sha256(b"").hexdigest()
