"""DATA_KEY: a new key, rotation under a newer key, and no start without a key."""

import sqlite3

import pytest
from cryptography.fernet import Fernet

from bot.store.db import connect, write
from bot.store.keys import rotate
from bot.vault import new_key, parse_data_key


def database(app):
    return connect(app.config["DATABASE_PATH"])


def vault(app):
    return app.extensions["infokanal"].vault


def test_rotate_re_encrypts_every_number_and_the_lookup_key(app, citizen, config):
    people = [citizen() for _ in range(7)]
    for person in people:
        person.send("Start")
    old, new = config["DATA_KEY"], new_key()
    report = rotate(database(app), f"{new},{old}", batch_size=3, pause_seconds=0)
    assert (report.rotated, report.current, report.unreadable) == (7, 0, 0)
    assert report.lookup_rewrapped
    again = rotate(database(app), f"{new},{old}", batch_size=3, pause_seconds=0)
    assert (again.rotated, again.current, again.lookup_rewrapped) == (0, 7, False)

    from bot import create_app

    rotated = create_app(dict(config, DATA_KEY=new))
    assert vault(rotated).hash(people[0].number) == vault(app).hash(people[0].number)
    with sqlite3.connect(config["DATABASE_PATH"]) as conn:
        tokens = [row[0] for row in conn.execute("SELECT phone_enc FROM subscribers")]
    assert sorted(vault(rotated).decrypt(t) for t in tokens) == sorted(p.number for p in people)


def test_rotate_counts_numbers_no_key_opens(app, citizen, config):
    citizen().send("Start")
    with write(database(app)) as conn:
        stranger = Fernet(new_key().encode()).encrypt(b"+4915100000001").decode()
        conn.execute("UPDATE subscribers SET phone_enc = ?", (stranger,))
    report = rotate(database(app), f"{new_key()},{config['DATA_KEY']}", pause_seconds=0)
    assert report.unreadable == 1 and report.rotated == 0


def test_keys_new_prints_a_fernet_key_line(app):
    result = app.test_cli_runner().invoke(args=["keys", "new"])
    assert result.exit_code == 0
    line = result.stdout.strip()
    assert line.startswith("DATA_KEY=")
    parse_data_key(line.removeprefix("DATA_KEY="))
    assert "keys rotate" in result.stderr


def test_keys_rotate_command_reports(app, config):
    from bot import create_app

    both = create_app(dict(config, DATA_KEY=f"{new_key()},{config['DATA_KEY']}"))
    result = both.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Lookup key re-wrapped" in result.output and "first key alone" in result.output


def test_without_data_key_production_refuses_to_start(config):
    from bot import create_app
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="keys new"):
        create_app(dict(config, DATA_KEY=""))


@pytest.mark.parametrize("missing, present", [("TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID"),
                                              ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")])
def test_half_set_twilio_credentials_refuse_to_start(config, missing, present):
    from bot import create_app
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match=f"{present} is set but {missing} is not"):
        create_app(dict(config, **{missing: ""}))


def test_half_set_twilio_credentials_stop_the_web_process(env, tmp_path):
    """The same through the environment, as gunicorn starts it: no silent demo mode."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    full_env.update(env)
    del full_env["TWILIO_AUTH_TOKEN"]
    result = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=tmp_path, env=dict(
        full_env, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "TWILIO_AUTH_TOKEN is not" in result.stderr
    assert "DEMO MODE" not in result.stderr
