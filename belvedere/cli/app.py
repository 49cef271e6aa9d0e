"""The command-line application: one Typer app, its command groups, and the one error handler.

Every command module (``feeds``, ``picture``, ``accounts``, ``access_log``, ``privacy``,
``serving``) registers its commands on :data:`app` or on one of the groups below;
:mod:`belvedere.cli` imports them all. A :class:`~belvedere.errors.BelvedereError` raised by any
command reaches :class:`_Application`, which prints it and exits with status 2 — commands do not
catch errors themselves.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from belvedere.cli.context import console
from belvedere.errors import BelvedereError
from belvedere.privacy import audit

ERROR_EXIT = 2
"""Exit status of a command refused with a :class:`BelvedereError` (1: a negative answer, such as
``audit verify`` finding the log broken)."""


class _Application(TyperGroup):
    """The root group: runs the command, and turns belvedere's errors into a message and
    :data:`ERROR_EXIT` (tracebacks are for bugs, not for a refused input)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BelvedereError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(ERROR_EXIT) from exc


app = typer.Typer(cls=_Application, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="belvedere — a privacy-by-design public-safety observatory.")
users_app = typer.Typer(help="Manage dashboard/API users.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and check the access log.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Review and retry quarantined input rows.",
                             no_args_is_help=True)
tokens_app = typer.Typer(help="Manage machines' API tokens (MQTT bridge, push clients).",
                         no_args_is_help=True)
privacy_app = typer.Typer(help="Purposes, privacy budgets and the privacy-loss ledger.",
                          no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(tokens_app, name="tokens")
app.add_typer(privacy_app, name="privacy")


@app.callback()
def _justification(
    ctx: typer.Context,
    why: Annotated[str | None, typer.Option(
        "--why", help="Why you run this command: recorded (redacted) with its access-log "
                      "lines, e.g. `belvedere --why \"enquête 2024-117\" situation`.")] = None,
) -> None:
    token = audit.justify(why)
    ctx.call_on_close(lambda: audit.unjustify(token))
