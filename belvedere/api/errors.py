"""Map belvedere's errors to HTTP answers (domain code never raises HTTP errors)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from belvedere.errors import (
    AuthError,
    BelvedereError,
    ConfigError,
    CsrfRejected,
    NotFound,
    PrivacyError,
    TooManyAttempts,
)

# The first matching class wins: subclasses come before their parents.
_STATUS: list[tuple[type[BelvedereError], int]] = [
    (CsrfRejected, 403),
    (TooManyAttempts, 429),
    (AuthError, 401),
    (PrivacyError, 403),
    (NotFound, 404),  # before ConfigError, of which it is a kind
    (ConfigError, 422),
]


def install_error_handlers(app: FastAPI) -> None:
    """Answer every :class:`BelvedereError` with its status and a JSON ``detail``."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, TooManyAttempts):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    app.add_exception_handler(BelvedereError, handle)
