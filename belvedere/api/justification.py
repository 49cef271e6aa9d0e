"""The ``X-Justification`` request header: why the person asks, recorded with every
access-log line the request leaves (redacted and cut to 280 characters; docs/audit.md)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from belvedere.privacy import audit

HEADER = b"x-justification"


class JustificationMiddleware:
    """Hands the request's justification to :func:`belvedere.privacy.audit.justify` for the
    request's lifetime (a pure ASGI middleware: streamed answers keep it to their end)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with its justification, if it gave one."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER)
        token = audit.justify(given.decode("utf-8", "replace") if given else None)
        try:
            await self.app(scope, receive, send)
        finally:
            audit.unjustify(token)
