"""The command line: ``belvedere demo · simulate · ingest · situation · serve · users · tokens
· audit · detect · alerts · purge · dossier · …`` (``belvedere --help`` lists them all).

One Typer app (:mod:`belvedere.cli.app`) with its commands grouped by concern — feeds in
(:mod:`~belvedere.cli.feeds`), the picture and its products (:mod:`~belvedere.cli.picture`),
accounts (:mod:`~belvedere.cli.accounts`), the access log (:mod:`~belvedere.cli.access_log`),
privacy duties (:mod:`~belvedere.cli.privacy`) and the long-running processes
(:mod:`~belvedere.cli.serving`). Commands open their store through one place
(:func:`belvedere.cli.context.opened`), and one handler turns belvedere's errors into a message
and exit status 2. Human-facing figures go through the release gate like the API's.

:func:`main` is the ``belvedere`` executable: while a server holds the embedded store, it hands
the command over to that server (:mod:`belvedere.cli.handoff`).
"""

from __future__ import annotations

import sys

from belvedere.cli import access_log, accounts, feeds, picture, privacy, serving
from belvedere.cli.app import app

__all__ = ["app", "main"]
_COMMANDS = (access_log, accounts, feeds, picture, privacy, serving)  # registered on import


def main() -> None:
    """The ``belvedere`` executable."""
    from belvedere.cli.handoff import forward

    code = forward(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    app()
