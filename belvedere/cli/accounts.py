"""Accounts: dashboard/API users and machines' API tokens (each change is an administration line
of the access log)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from belvedere.privacy.deployment import (
    check_password,
)
from belvedere.privacy.tokens import (
    DEFAULT_TOKEN_DAYS,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from belvedere.privacy.users import add_user, list_users

if TYPE_CHECKING:
    pass

from belvedere.cli.app import tokens_app, users_app
from belvedere.cli.context import StoreOpt, cli_actor, console, invocation, opened


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="operator, analyst, public or dpo.")],
    store: StoreOpt = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Create a user (the password is asked, or read from stdin)."""
    password = (invocation().stdin.readline().rstrip("\n") if password_stdin
                else typer.prompt("password", hide_input=True, confirmation_prompt=True))
    check_password(password)
    with opened(store, create=True) as db:
        add_user(db, username, password, role=role, by=cli_actor("admin"))
    console.print(f"user [bold]{username}[/bold] ({role}) created.")


@users_app.command("list")
def users_list(store: StoreOpt = None) -> None:
    """List users and roles (recorded in the access log)."""
    with opened(store) as db:
        rows = list_users(db, cli_actor("admin"))
    table = Table(title="Users")
    for col in ("user", "role", "created"):
        table.add_column(col)
    for u in rows:
        table.add_row(u.username, u.role, u.created_at.isoformat(timespec="seconds"))
    console.print(table)


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="The machine's name (letters, digits, -_.).")],
    role: Annotated[str, typer.Option(help="Role of the token.")] = "machine",
    days: Annotated[int, typer.Option(help="Days until it expires.")] = DEFAULT_TOKEN_DAYS,
    store: StoreOpt = None,
) -> None:
    """Create an API token and print it once (only its hash is stored); audited."""
    with opened(store, create=True) as db:
        token, row = create_api_token(db, name, role=role, days=days, by=cli_actor("admin"))
    console.print(f"token [bold]{name}[/bold] ({row.role}), expires "
                  f"{row.expires_at:%Y-%m-%d}. Copy it now, it is not shown again:")
    # Printed bare so that scripts can capture it (`belvedere tokens create … | tail -1`).
    print(token)


@tokens_app.command("list")
def tokens_list(store: StoreOpt = None) -> None:
    """List API tokens: name, role, dates, state (never the tokens); audited."""
    with opened(store) as db:
        rows = list_api_tokens(db, by=cli_actor("admin"))
    now = datetime.now(UTC)
    table = Table(title="API tokens")
    for col in ("name", "role", "created", "expires", "state"):
        table.add_column(col)
    for t in rows:
        state = ("revoked " + t.revoked_at.isoformat(timespec="seconds") if t.revoked_at
                 else "expired" if t.expires_at <= now else "live")
        table.add_row(t.name, t.role, t.created_at.isoformat(timespec="seconds"),
                      t.expires_at.isoformat(timespec="seconds"), state)
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    store: StoreOpt = None,
) -> None:
    """Revoke an API token at once; audited."""
    with opened(store) as db:
        revoke_api_token(db, name, by=cli_actor("admin"))
    console.print(f"token [bold]{name}[/bold] revoked.")

