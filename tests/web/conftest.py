"""Fixtures for the dashboard's browser tests: a real headless Chromium and a live server.

The browser is Debian's ``/usr/bin/chromium`` driven by pip ``playwright`` (its own browser
download does not work offline). Missing either one skips the browser tests, except when
``CI=true``, where it fails them: CI must really run the dashboard in a browser.

The server is the real application (``create_app``) over a small store that the real pipeline
built: the simulator's feeds for 14 days, ingested by the real connectors, into a store of the
tests' backend (``BELVEDERE_TEST_BACKEND``: a DuckDB file, or a PostgreSQL database dropped
afterwards; see ``tests/backends.py``).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # MapLibre needs WebGL; without a GPU, SwiftShader renders it in software.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

USERS: dict[str, tuple[str, str]] = {
    "operator": ("op", "op-password-123"),
    "analyst": ("an", "an-password-123"),
    "agent": ("ag", "ag-password-123"),
}
"""Role → (user name, password) of the users the live server's store holds."""


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "pip package 'playwright' is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (playwright ``Browser``) for the module's tests."""
    reason = _missing_browser()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests are required on CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def users() -> dict[str, tuple[str, str]]:
    """Role → (user name, password) for logging in to the live server."""
    return USERS


@dataclass(frozen=True)
class LiveServer:
    """The running dashboard: its base URL (``http://127.0.0.1:PORT``) and the app (a test may
    set ``app.state`` options such as the basemap, and must restore them)."""

    url: str
    app: Any


def _wait_for_health(url: str, thread: threading.Thread, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the uvicorn thread stopped before answering")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url}/api/v1/health did not answer within {timeout} s")


@pytest.fixture(scope="module")
def live_server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real app over a 14-day simulated store, served by uvicorn in a background thread.

    Depends on ``browser`` so that a machine without Chromium skips before building the store.
    Its users are those of the ``users`` fixture.
    """
    import uvicorn

    from belvedere.api.main import create_app
    from belvedere.privacy.users import add_user
    from belvedere.simulate import simulate_city
    from belvedere.sources.ingest import ingest_folder
    from belvedere.store.factory import open_store
    from tests.backends import discard_store, new_store_url

    root = tmp_path_factory.mktemp("dashboard")
    feeds = root / "feeds"
    # Fourteen days: they end on a home match of OM (2024-09-14), which the events view opens.
    simulate_city(feeds, days=14, seed=7)
    store_url = new_store_url(root, "belvedere")
    store = open_store(store_url)
    try:
        ingest_folder(store, feeds)
        for role, (username, password) in USERS.items():
            add_user(store, username, password, role=role)

        # Bind the socket here: port 0 gives a free port with no window for another process.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = create_app(store)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_for_health(url, thread)
            yield LiveServer(url, app)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
    finally:
        store.close()
        discard_store(store_url)
