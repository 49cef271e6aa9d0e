"""In a real browser: the session cookie stays out of the page's reach, and the dashboard's
``api()`` helper echoes the CSRF cookie on the requests that change something."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest


@pytest.mark.browser
def test_the_dashboard_logs_out_with_its_csrf_header_and_the_session_ends(
        browser: Any, live_server: Any, users: dict[str, tuple[str, str]]) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/")
    username, password = users["analyst"]
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    with page.expect_response("**/api/v1/auth/login") as login:
        page.click("#login-submit")
    assert login.value.status == 200
    cookies = {c["name"]: c for c in context.cookies()}
    session, csrf = cookies["belvedere_session"], cookies["belvedere_csrf"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert not csrf["httpOnly"] and csrf["sameSite"] == "Strict"
    # The page's script sees the CSRF cookie and never the session's.
    visible = page.evaluate("document.cookie")
    assert f"belvedere_csrf={csrf['value']}" in visible and "belvedere_session" not in visible

    page.wait_for_selector("#logout", state="visible")
    with page.expect_response("**/api/v1/auth/logout") as logout:
        page.click("#logout")
    assert logout.value.request.headers.get("x-csrf-token") == csrf["value"]
    assert logout.value.status == 204
    context.close()

    # The session is gone on the server, not only in the browser.
    request = urllib.request.Request(f"{live_server.url}/api/v1/auth/me",
                                     headers={"Authorization": f"Bearer {session['value']}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 401
    assert "session" in json.loads(refused.value.read())["detail"]
