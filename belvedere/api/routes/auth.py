"""Login, logout, who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from belvedere.api.deps import SESSION_COOKIE, CurrentActor, StoreDep
from belvedere.api.schemas import LoginPublic, UserPublic
from belvedere.privacy.users import SESSION_LIFETIME, authenticate, close_session, open_session

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginPublic)
def login(
    store: StoreDep,
    response: Response,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> dict[str, str]:
    """Check credentials, open a session, set its HttpOnly cookie, return the token."""
    actor = authenticate(store, username, password)
    token = open_session(store, actor)
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict",
        max_age=int(SESSION_LIFETIME.total_seconds()),
    )
    return {"username": actor.username, "role": actor.role, "token": token}


@router.post("/logout", status_code=204)
def logout(store: StoreDep, request: Request, response: Response, actor: CurrentActor) -> None:
    """End the session."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        close_session(store, token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", response_model=UserPublic)
def me(actor: CurrentActor) -> dict[str, str]:
    """The logged-in user and role."""
    return {"username": actor.username, "role": actor.role}
