"""``flask --app wsgi worker`` (the Procfile's sender) and ``broadcast TEXT``."""

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import with_appcontext

from .. import config
from ..delivery import worker
from ..domain import announcements
from . import database, refuse_when_replaced

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
    except (worker.SenderRunning, worker.Fenced) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("broadcast")
@with_appcontext
@click.argument("text")
@click.option("--urgent", is_flag=True, help="Send ahead of regular broadcasts.")
@click.option("--send-at", default=None, help="ISO-8601 time to send (default: now).")
@click.option("--expires-at", default=None, help="ISO-8601 time after which to skip it.")
@click.option("--media-url", default=None, help="An image to attach (free-form mode only).")
@click.option("--answer", "answers", multiple=True,
              help="An answer of a poll (give two or three: --answer Ja --answer Nein).")
@click.option("--plan", "plan_only", is_flag=True,
              help="Print the plan (time, reach today, cost, the month) and send nothing.")
def broadcast_command(text, urgent, send_at, expires_at, media_url, answers, plan_only):
    """Queue a broadcast to all active subscribers (the worker sends it)."""
    if not plan_only:
        refuse_when_replaced()
    data = {"text": text, "urgent": urgent, "send_at": send_at, "expires_at": expires_at,
            "media_url": media_url, "answers": list(answers)}
    try:
        with database() as db:
            if plan_only:
                the_plan = announcements.plan_of(db, data, current_app.config)
            else:
                answer = announcements.submit(db, data, current_app.config, created_by="cli")
                the_plan = answer["plan"]
    except announcements.InvalidBroadcast as exc:
        raise click.ClickException(str(exc)) from None
    if plan_only:
        click.echo("Plan only: nothing was sent or queued.")
    else:
        click.echo(f"Broadcast {answer['id']} {answer['status']} for "
                   f"{answer['recipients']} subscribers.")
    for line in describe(the_plan, current_app.config["TIMEZONE"]):
        click.echo(line)


def describe(plan, tz_name):
    """A broadcast's plan (``domain.plan``) in plain words, a line each; its warnings as the
    press office reads them."""
    zone = ZoneInfo(tz_name)

    def local(iso):
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(zone).strftime(
            "%Y-%m-%d %H:%M")

    languages = ", ".join(f"{code} {n}" for code, n in plan["by_language"].items())
    lines = [f"Recipients: {plan['recipients']}" + (f" ({languages})" if languages else "")]
    if plan["by_topic"]:
        lines.append("Topics: " + ", ".join(f"{slug} {n}" for slug, n in plan["by_topic"].items()))
    ahead = f", after {plan['queue_ahead']} messages queued ahead" if plan["queue_ahead"] else ""
    lines.append(f"Time: about {plan['seconds_to_last']:g} s to the last recipient at "
                 f"{plan['rate']:g}/s{ahead}; done at {local(plan['finishes_at'])} ({tz_name})")
    if plan["reachable_at"] is None:
        lines.append(f"Reach today: all {plan['reachable_now']}")
    else:
        lines.append(f"Reach today: {plan['reachable_now']} of {plan['recipients']} (messaging "
                     f"limit {plan['messaging_limit']} people per 24 hours); the rest from "
                     f"{local(plan['reachable_at'])}")
    cost, month = plan["cost"], plan["month"]
    if cost["total"] is None:
        lines.append("Cost: unknown (no price configured)")
    else:
        each = (f"{cost['per_message']:g} per message" if cost["per_message"] is not None
                else ", ".join(f"{category} {split['recipients']} × {split['per_message']:g}"
                               for category, split in cost["by_category"].items()))
        lines.append(f"Cost: about {cost['total']:.2f} {cost['currency']} ({cost['category']}, "
                     f"{each}, platform fee {cost['platform_fee']:g} included)")
    if month["spent"] is not None:
        budget = (f", budget {month['budget']:.2f}" if month["budget"] is not None
                  else ", no budget")
        after = f", {month['after']:.2f} after it" if month["after"] is not None else ""
        lines.append(f"This month: {month['spent']:.2f} {cost['currency']} spent{after}{budget}")
    lines += [f"Warning: {warning}" for warning in plan["warnings"]]
    return lines


def init_app(app):
    app.cli.add_command(worker_command)
    app.cli.add_command(broadcast_command)
