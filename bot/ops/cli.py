"""``scripts/flask``: Flask's command line, with Infokanal's commands first.

Flask's own help speaks of developing a Flask app, cuts each description to 45 characters and
lists ``run``, ``shell`` and ``routes`` among ours. An operator reads this one: our commands
with the whole first line of their description, then Flask's own (which keep working).
"""

import functools

import click
from flask.cli import FlaskGroup

HELP = """Infokanal's operator commands. Run them as the service's user (in production:
runuser -u infokanal -- scripts/flask …); they read .env and use instance/ of the service's
directory, wherever they are started. COMMAND --help explains each one."""

# Flask's commands, for development: listed after ours.
FLASKS_OWN = ("run", "shell", "routes")


def description(command):
    """The first line of a command's description, whole."""
    text = command.short_help or (command.help or "").strip().split("\n\n")[0]
    return " ".join(text.split())


def listed(group, ctx):
    """(name, description) of a group's visible commands."""
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            found.append((name, description(command)))
    return found


def format_subcommands(group, ctx, formatter):
    """``users --help`` and the like: each subcommand's line whole too."""
    rows = listed(group, ctx)
    if rows:
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class Commands(FlaskGroup):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # scripts/flask names the app itself; debug mode is for developing Flask apps.
        for param in self.params:
            if param.name in ("app", "debug"):
                param.hidden = True

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if isinstance(command, click.Group):
            # Our groups are click's own class, made in their modules; only their listing
            # changes, and only here.
            command.format_commands = functools.partial(format_subcommands, command)
        return command

    def format_commands(self, ctx, formatter):
        rows = listed(self, ctx)
        ours = [row for row in rows if row[0] not in FLASKS_OWN]
        flasks = [row for row in rows if row[0] in FLASKS_OWN]
        if ours:
            with formatter.section("Infokanal's commands"):
                formatter.write_dl(ours)
        if flasks:
            with formatter.section("Flask's own commands (for development)"):
                formatter.write_dl(flasks)


def main():
    Commands(help=HELP).main(prog_name="scripts/flask")


if __name__ == "__main__":
    main()
