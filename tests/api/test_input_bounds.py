"""Times far outside the calendar the data can cover are refused with 422, never a crash.

Found by the schemathesis run (tests/api/test_schemathesis.py): ``date=0001-01-01`` made the
daily briefing subtract eight weeks from the first day of the calendar (a 500).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from belvedere.api.main import create_app
from belvedere.privacy.release import Actor
from belvedere.privacy.users import add_user, open_session
from belvedere.store.duckdb import DuckDBStore


@pytest.mark.parametrize(("path", "params", "name"), [
    ("/api/v1/briefings/daily.pdf", {"date": "0001-01-01"}, "date"),
    ("/api/v1/briefings/daily.pdf", {"date": "9999-12-31"}, "date"),
    ("/api/v1/situation", {"end": "0001-01-02T00:00:00Z"}, "end"),
    ("/api/v1/situation", {"start": "9999-12-31T23:00:00+05:00"}, "start"),
    ("/api/v1/events", {"start": "1899-12-31T23:00:00Z"}, "start"),
])
def test_times_outside_1900_2199_are_refused_with_422(store: DuckDBStore, path: str,
                                                       params: dict[str, str],
                                                       name: str) -> None:
    add_user(store, "ana", "analyst-password", role="analyst")
    auth = {"Authorization": f"Bearer {open_session(store, Actor('ana', 'analyst'))}"}
    with TestClient(create_app(store)) as client:
        answer = client.get(path, params=params, headers=auth)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"{name} must fall between 1900 and 2199")
