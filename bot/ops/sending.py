"""``flask --app wsgi worker`` (the Procfile's sender) and ``broadcast TEXT``."""

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import config
from ..delivery import worker
from ..domain import announcements
from . import database

log = logging.getLogger(__name__)


@click.command("worker")
@with_appcontext
@click.option("--until-idle", is_flag=True, help="Exit once nothing is left to send.")
def worker_command(until_idle):
    """Run the sender: works through queued broadcasts until stopped (SIGTERM). With
    WARNINGS_ARS set it also relays the county's official warnings (not with --until-idle)."""
    services = current_app.extensions["infokanal"]
    banner = config.start_banner(current_app.config)
    if banner:
        log.warning(banner)
    try:
        worker.run(dict(current_app.config), services.vault, services.demo,
                   until_idle=until_idle)
    except worker.SenderRunning as exc:
        raise click.ClickException(str(exc)) from None


@click.command("broadcast")
@with_appcontext
@click.argument("text")
@click.option("--urgent", is_flag=True, help="Send ahead of regular broadcasts.")
@click.option("--send-at", default=None, help="ISO-8601 time to send (default: now).")
@click.option("--expires-at", default=None, help="ISO-8601 time after which to skip it.")
@click.option("--media-url", default=None, help="An image to attach (free-form mode only).")
def broadcast_command(text, urgent, send_at, expires_at, media_url):
    """Queue a broadcast to all active subscribers (the worker sends it)."""
    data = {"text": text, "urgent": urgent, "send_at": send_at, "expires_at": expires_at,
            "media_url": media_url}
    try:
        with database() as db:
            answer = announcements.submit(db, data, current_app.config, created_by="cli")
    except announcements.InvalidBroadcast as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Broadcast {answer['id']} {answer['status']} for "
               f"{answer['recipients']} subscribers.")
    for warning in answer["warnings"]:
        click.echo(f"Warning: {warning}")


def init_app(app):
    app.cli.add_command(worker_command)
    app.cli.add_command(broadcast_command)
