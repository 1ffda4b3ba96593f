"""``flask --app wsgi users …``: press officer accounts for the console, and their roles.

Every change is recorded in the audit trail with the actor ``cli`` (``domain.accounts``).
"""

import sys

import click
from flask.cli import AppGroup

from ..domain import accounts
from ..store.audit import CLI
from ..store.users import (ADMIN, DEFAULT_ROLE, MIN_PASSWORD_LENGTH, ROLES, InvalidUser,
                           UserExists, UserNotFound, check_name, check_password, count_admins,
                           names)
from . import database, refuse_when_replaced

ROLE_HELP = ("editor: writes and previews, saves drafts, asks for approval, never sends; "
             "publisher: also sends, cancels, approves; admin: also accounts and the audit trail.")

users_cli = AppGroup("users", help="Manage press officer accounts for the web console.")


def _read_password(from_stdin):
    if from_stdin:
        try:
            return check_password(sys.stdin.readline().rstrip("\r\n"))
        except InvalidUser as exc:
            raise click.ClickException(str(exc)) from None
    # A password that is too short is refused before it is typed a second time, and asked for
    # again; so is a repetition that differs. No input left (Ctrl+D) ends the command.
    while True:
        password = click.prompt(f"Password (at least {MIN_PASSWORD_LENGTH} characters)",
                                hide_input=True)
        try:
            check_password(password)
        except InvalidUser as exc:
            click.echo(f"Error: {exc}. Please try again.", err=True)
            continue
        if click.prompt("Repeat the password", hide_input=True) == password:
            return password
        click.echo("Error: the two passwords differ. Please try again.", err=True)


def _existing_name(ctx, param, name):
    """An account name as typed, for the commands that look one up. Bytes that are not UTF-8
    (a terminal in another encoding) cannot name any account."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise click.ClickException(f"no account named {name!r}: the name is not UTF-8 text, "
                                   "check the terminal's encoding") from None
    return name


@users_cli.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default=DEFAULT_ROLE, show_default=True,
              help=ROLE_HELP)
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
def add_command(name, role, password_stdin):
    """Create an account NAME; asks for the password (hidden), then again."""
    refuse_when_replaced()
    try:
        check_name(name)
    except InvalidUser as exc:
        raise click.ClickException(str(exc)) from None
    password = _read_password(password_stdin)
    try:
        with database() as db:
            accounts.add(db, CLI, name, password, role)
            admins = count_admins(db.conn)
    except UserExists:
        raise click.ClickException(f"an account named {name!r} exists already") from None
    click.echo(f"Account {name} ({role}) created. Sign in at /admin.")
    # Without an admin nobody can open the accounts and audit pages; the default role stays
    # publisher (scripts and the documented default rely on it), so say what to do instead.
    if not admins:
        click.echo(f"No account is an admin yet, so nobody can manage accounts or read the "
                   f"audit trail in the console. Make one an admin: "
                   f"scripts/flask users role {name} {ADMIN}")


@users_cli.command("role")
@click.argument("name", callback=_existing_name)
@click.argument("role", type=click.Choice(ROLES))
def role_command(name, role):
    """Give NAME the ROLE (editor, publisher or admin); it counts from NAME's next click."""
    refuse_when_replaced()
    try:
        with database() as db:
            before = accounts.set_role(db, CLI, name, role)
    except UserNotFound:
        raise click.ClickException(f"no account named {name!r}") from None
    click.echo(f"{name} is now {role}." if before != role else f"{name} is {role} already.")


@users_cli.command("password")
@click.argument("name", callback=_existing_name)
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from the first line of standard input.")
def password_command(name, password_stdin):
    """Set a new password for NAME; signs out every open session of NAME."""
    refuse_when_replaced()
    password = _read_password(password_stdin)
    try:
        with database() as db:
            accounts.set_password(db, CLI, name, password)
    except UserNotFound:
        raise click.ClickException(f"no account named {name!r}") from None
    click.echo(f"Password of {name} changed.")


@users_cli.command("remove")
@click.argument("name", callback=_existing_name)
def remove_command(name):
    """Delete the account NAME; its open sessions end with the next request."""
    refuse_when_replaced()
    try:
        with database() as db:
            accounts.remove(db, CLI, name)
    except UserNotFound:
        raise click.ClickException(f"no account named {name!r}") from None
    click.echo(f"Account {name} removed.")


@users_cli.command("list")
def list_command():
    """Show the accounts: name, role, creation date (never passwords)."""
    with database() as db:
        found = names(db.conn)
    if not found:
        click.echo(f"No accounts yet. Create the first, an admin: "
                   f"scripts/flask users add NAME --role {ADMIN}")
    for account in found:
        click.echo(f"{account['name']}\t{account['role']}\t{account['created_at'][:10]}")


def init_app(app):
    app.cli.add_command(users_cli)
