"""Infokanal: a WhatsApp information channel for a German county or town."""

import logging
import os
import secrets
from dataclasses import dataclass

from . import config as config_module
from . import logs, texts, vault
from .domain.citizens import Channel
from .store import db

log = logging.getLogger(__name__)

@dataclass
class Services:
    """What the app assembled at start, for views and commands (``app.extensions``)."""

    demo: bool
    fernet: object
    vault: vault.Vault
    texts: texts.Texts
    channel: Channel  # what handling a citizen's message needs


def create_app(test_config=None):
    # Flask only here, not at import: the worker's and the tests' imports of the package's
    # other layers must not pull in the web framework.
    from flask import Flask

    from . import ops, web

    app = Flask(__name__, instance_relative_config=True, template_folder="web/templates",
                static_folder="web/static", instance_path=config_module.instance_path(test_config))
    # The instance folder holds the session key and, in demo mode, the API token and data key.
    os.makedirs(app.instance_path, mode=0o700, exist_ok=True)
    db.owner_only(app.instance_path, directory=True)
    logs.configure()
    settings = config_module.load(app.instance_path, test_config)
    app.config.update(settings)
    mode = config_module.Mode.of(settings)

    if mode.demo:
        # The demo banner is logged where a process starts (gunicorn's master, the worker
        # command), not here: every gunicorn worker and every command builds an app.
        if not app.config["DATA_KEY"]:
            app.config["DATA_KEY"] = _instance_secret(app, config_module.DEMO_KEY_FILE,
                                                      vault.new_key)
        if not app.config["ADMIN_TOKEN"]:
            app.config["ADMIN_TOKEN"] = _instance_secret(
                app, config_module.DEMO_TOKEN_FILE, lambda: secrets.token_urlsafe(24))
    elif not app.config["DATA_KEY"]:
        error = config_module.ConfigError(
            "DATA_KEY is not set. Phone numbers are stored encrypted and need a key: run "
            "'scripts/flask keys new', put the printed line into .env, keep a copy safe.")
        if _under_the_cli(test_config):
            return _mending_cli_app(app, error, "keys")
        raise error
    if not mode.demo and not app.config["PUBLIC_URL"]:
        log.warning("PUBLIC_URL is not set: signatures are checked against the URL this "
                    "app sees, which is wrong behind a proxy or TLS terminator.")
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = _instance_secret(
            app, "secret-key", lambda: secrets.token_urlsafe(32))
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024

    db.leave_checkpoints_to_litestream(bool(app.config["REPLICA_URL"]))
    fernet = vault.parse_data_key(app.config["DATA_KEY"])
    try:
        lookup_key = db.init_db(app.config["DATABASE_PATH"], fernet)
    except vault.DataKeyError:
        error = config_module.ConfigError(_wrong_key(app))
        if _under_the_cli(test_config):
            return _mending_cli_app(app, error, "keys", "demo-reset")
        raise error from None
    box = vault.Vault(fernet, lookup_key)
    citizen_texts = texts.load_texts(app.config, app.config["TOPIC_LIST"])
    app.extensions["infokanal"] = Services(
        demo=mode.demo, fernet=fernet, vault=box, texts=citizen_texts,
        channel=Channel(vault=box, texts=citizen_texts, demo=mode.demo,
                        notice_window_seconds=app.config["NOTICE_WINDOW_HOURS"] * 3600,
                        timezone=app.config["TIMEZONE"],
                        # Meta's webhook carries no answer: the worker sends each one.
                        replies_by_api=not mode.demo
                        and app.config["WHATSAPP_PLATFORM"] == "meta"),
    )

    if app.config["PROXY_COUNT"]:
        # Only the client address: the throttle needs the real one, and PUBLIC_URL already
        # fixes scheme and host for signatures.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXY_COUNT"], x_proto=0,
                                x_host=0, x_port=0, x_prefix=0)

    web.init_app(app)
    ops.init_app(app)
    return app


def _under_the_cli(test_config):
    return test_config is None and os.environ.get("FLASK_RUN_FROM_CLI") == "true"


def _wrong_key(app):
    """What to say when DATA_KEY does not open the database, and what to do about it."""
    from .ops import demo

    path = app.config["DATABASE_PATH"]
    if demo.made_by_demo(app.instance_path, path):
        return (f"DATA_KEY does not open {path}: that database is the demo's, made under the "
                "demo's own key. To start afresh, run 'scripts/flask demo-reset' (it removes "
                "the demo's database and keys), then start again.")
    return (f"DATA_KEY does not open {path}: it was encrypted with another key. Put the key "
            "it was made with into .env (while changing keys: DATA_KEY=<new>,<old>).")


def _mending_cli_app(app, error, *commands):
    """The app the Flask CLI gets when the service cannot start: only the commands that mend
    that work, and any other says in one line why not.

    ``scripts/flask keys new`` must work in exactly the situation that needs it (no DATA_KEY),
    and ``demo-reset`` where the demo's database is in the way; yet the service itself must
    not start, and gunicorn never runs under the Flask CLI, so it still fails.
    """
    import click

    from .ops import demo, keys

    if "keys" in commands:
        keys.init_app(app)
    if "demo-reset" in commands:
        demo.init_app(app)
    own = app.cli.get_command

    def get_command(ctx, name):
        command = own(ctx, name)
        if command is not None:
            return command

        @click.command(name, add_help_option=False, context_settings={
            "ignore_unknown_options": True, "allow_extra_args": True})
        def refused():
            raise click.ClickException(str(error))

        return refused

    app.cli.get_command = get_command

    @app.before_request
    def refuse():
        return str(error) + "\n", 503

    return app


def _instance_secret(app, name, make):
    """A secret kept in the instance folder, created once even when workers start together."""
    path = os.path.join(app.instance_path, name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        db.owner_only(path)
        with open(path, encoding="ascii") as fh:
            value = fh.read().strip()
        if value:
            return value
        # Another worker created it a moment ago and is still writing.
        import time

        time.sleep(0.2)
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(make())
    with open(path, encoding="ascii") as fh:
        return fh.read().strip()
