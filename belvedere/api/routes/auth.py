"""Login, logout, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from belvedere.api.deps import (
    ANY_ROLE,
    CSRF_COOKIE,
    PUBLIC,
    SESSION_COOKIE,
    StoreDep,
    allow,
)
from belvedere.api.schemas import LoginPublic, UserPublic
from belvedere.privacy.release import Actor
from belvedere.privacy.throttle import LoginThrottle
from belvedere.privacy.users import (
    SESSION_LIFETIME,
    authenticate,
    close_session,
    csrf_token,
    open_session,
)

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginPublic, dependencies=[PUBLIC],
             responses={429: {"description": "too many failed logins; see Retry-After"}})
def login(
    store: StoreDep,
    request: Request,
    response: Response,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
) -> dict[str, str]:
    """Check credentials, open a session, set its HttpOnly cookie and the CSRF cookie the
    page's script echoes, return the token (for ``Authorization: Bearer``). After 5 failures
    for a user name or from an address within 15 min, answers 429 for the rest of the window."""
    throttle: LoginThrottle = request.app.state.login_throttle
    with throttle.attempt(username, request.client.host if request.client else None):
        actor = authenticate(store, username, password)
    token = open_session(store, actor)
    max_age = int(SESSION_LIFETIME.total_seconds())
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", max_age=max_age)
    # Not HttpOnly on purpose: the page's script must read it to echo it (double submit).
    response.set_cookie(CSRF_COOKIE, csrf_token(token), httponly=False, samesite="strict",
                        max_age=max_age)
    return {"username": actor.username, "role": actor.role, "token": token}


@router.post("/logout", status_code=204)
def logout(store: StoreDep, request: Request, response: Response,
           actor: Annotated[Actor, allow(*ANY_ROLE)]) -> None:
    """End the session (of the cookie; a Bearer session token simply expires)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        close_session(store, token)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)


@router.get("/me", response_model=UserPublic)
def me(actor: Annotated[Actor, allow(*ANY_ROLE)]) -> dict[str, str]:
    """The logged-in user (``token:NAME`` for a machine's API token) and role."""
    return {"username": actor.username, "role": actor.role}
