"""What every command shares: where it prints, which store it works on, who runs it, from where.

A command runs in one of two ways, and nothing in its code tells them apart:

- **in its own process** (``belvedere ingest …`` at a terminal): it prints to the terminal, opens
  the store named by ``--store`` / ``BELVEDERE_STORE`` and closes it when done;
- **handed over to a running server** (:mod:`belvedere.cli.handoff`): while ``belvedere serve``
  holds a DuckDB file, the CLI sends the command line to it over a local socket, and the server
  runs the command in a thread of its own — printing to that socket, working on the server's
  open store, for the OS user at the other end of the socket, resolving relative paths against
  that user's working directory.

:class:`Invocation` carries that difference in a context variable; :func:`opened`, :data:`console`,
:func:`here` and :func:`cli_actor` read it.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from belvedere.errors import ConfigError
from belvedere.privacy.deployment import check_deployment
from belvedere.privacy.release import Actor
from belvedere.settings import SETTINGS
from belvedere.store.base import Bin, Level, Store
from belvedere.store.deployment import Deployment
from belvedere.store.factory import open_store


@dataclass
class Invocation:
    """One run of a command.

    Attributes:
        user: the OS user who typed it (the access log's ``cli:<user>``).
        cwd: their working directory (relative paths are theirs).
        console: where the command prints.
        stdin: what it reads (``--password-stdin``).
        store: the server's open store when the command was handed over (``None``: the
            command opens its own).
    """

    user: str
    cwd: Path
    console: Console
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    store: Store | None = None


_LOCAL_CONSOLE = Console()
_invocation: ContextVar[Invocation | None] = ContextVar("belvedere_invocation", default=None)


def invocation() -> Invocation:
    """The current command's invocation (a local one when none was set)."""
    current = _invocation.get()
    if current is None:
        current = Invocation(user=getpass.getuser(), cwd=Path.cwd(), console=_LOCAL_CONSOLE)
    return current


@contextmanager
def invoked(inv: Invocation) -> Iterator[Invocation]:
    """Run what follows as ``inv`` (the hand-off server wraps each command in it)."""
    token = _invocation.set(inv)
    try:
        yield inv
    finally:
        _invocation.reset(token)


class _ConsoleProxy:
    """The console of the current invocation: commands write ``console.print(…)`` and it goes
    to the terminal, or to the socket of a handed-over command."""

    def __getattr__(self, name: str) -> Any:
        return getattr(invocation().console, name)


console: Console = _ConsoleProxy()  # type: ignore[assignment]


def here(path: Path | str) -> Path:
    """``path`` made absolute against the invoking user's working directory (a handed-over
    command runs in the server's process, whose working directory is not theirs)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else invocation().cwd / p


StoreOpt = Annotated[str | None, typer.Option(
    "--store", help=SETTINGS["store"].help, envvar=SETTINGS["store"].env, show_default=False)]
"""The ``--store`` option every store command takes (default: the ``store`` setting)."""


def deployment_of(store: str | None) -> Deployment:
    """The deployment a command names, a relative DuckDB path taken from the user's working
    directory."""
    deployment = Deployment.from_url(store)
    if deployment.kind == "duckdb" and deployment.path is not None and store is not None:
        text = store[len("duckdb://"):] if store.startswith("duckdb://") else store
        if not Path(text).expanduser().is_absolute():
            deployment = Deployment.from_url(str(here(text)))
    return deployment


@contextmanager
def opened(store: str | None, *, create: bool = False) -> Iterator[Store]:
    """The store a command works on, closed when the command ends: the one ``store`` names —
    or, for a command handed over to a running server, the server's own (still open after).

    Only commands that bring data or accounts in (``create``: ingest, users add, tokens create,
    serve, live, demo) create a DuckDB file that does not exist: any other refuses, so that a
    typo in ``--store`` does not answer "access log intact" about an empty new store.
    """
    inv = invocation()
    if inv.store is not None:
        if store is not None and deployment_of(store).identity != inv.store.deployment.identity:
            raise ConfigError(f"this server serves {inv.store.deployment.display}, not {store}")
        yield inv.store
        return
    db = open_store(deployment_of(store), must_exist=not create)
    try:
        yield db
    finally:
        db.close()


def cli_actor(role: str) -> Actor:
    """The person at the terminal, acting with ``role``'s policy."""
    return Actor(f"cli:{invocation().user}", role)


def purpose_for(role: str, declared: str | None, default: str) -> str:
    """The purpose a command serves: the one declared, else ``default`` when the register lets
    ``role`` hold it, else the role's own (the DPO: ``dpo_review``)."""
    from belvedere.privacy.purposes import registry as purpose_registry

    return purpose_registry().resolve_purpose(role, declared, default)


def warn_deployment(db: Store) -> None:
    """Refuse default secrets in prod (:mod:`belvedere.privacy.deployment`); in dev, say what
    prod would refuse."""
    for problem in check_deployment(db):
        console.print(f"[yellow]would be refused in prod:[/yellow] {problem}")


def progress_bar() -> Progress:
    """A progress bar on the invocation's console."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=invocation().console, transient=False)


def aware(ts: datetime) -> datetime:
    """``ts`` in UTC when it carries no offset."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 option value (UTC when it carries no offset)."""
    try:
        return aware(datetime.fromisoformat(text))
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r}: give an ISO 8601 time") from None


def parse_level(value: str) -> Level:
    """``--level``: cell, zone or city."""
    if value not in ("cell", "zone", "city"):
        raise typer.BadParameter("level is cell, zone or city")
    return value  # type: ignore[return-value]


def parse_bin(value: str) -> Bin:
    """``--bin``: hour, day or window."""
    if value not in ("hour", "day", "window"):
        raise typer.BadParameter("bin is hour, day or window")
    return value  # type: ignore[return-value]


def parse_duration(text: str) -> timedelta:
    """A duration like ``7d``, ``24h`` or ``90m``."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    try:
        return timedelta(**{units[text[-1]]: float(text[:-1])})
    except (KeyError, ValueError, IndexError):
        raise typer.BadParameter(f"{text!r}: give a duration like 7d, 24h or 90m") from None
