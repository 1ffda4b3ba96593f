"""Files and secrets: the database, its side files, backups and the instance folder's secrets
are the service user's alone, whatever the umask; a production API token cannot be guessed."""

import contextlib
import os
import stat

import pytest

from bot import create_app
from bot.config import ConfigError
from tests.conftest import ROOT, citizens_of, refused_start

SIDE_FILES = ("-wal", "-shm", "-writelock")


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def database_files(path):
    return [str(path)] + [f"{path}{suffix}" for suffix in SIDE_FILES]


def assert_owner_only(paths):
    modes = {str(p): oct(mode(p)) for p in paths}
    assert modes == {str(p): "0o700" if os.path.isdir(p) else "0o600" for p in paths}


def test_database_and_side_files_are_owner_only_with_umask_022(config, tmp_path):
    path = tmp_path / "state" / "infokanal.db"
    with umask(0o022):
        app = create_app(dict(config, DATABASE_PATH=str(path)))
        # A write through the app, on the connection it keeps: -wal and -shm exist now.
        assert citizens_of(app.test_client())().send("Start").status_code == 200
    assert_owner_only([path.parent, *database_files(path)])


def test_the_instance_folder_and_its_secrets_are_owner_only(config):
    instance = ROOT / "instance"
    with umask(0o022):
        app = create_app(dict(config, TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="",
                              ADMIN_TOKEN="", DATA_KEY=""))  # demo mode writes its secrets
    assert app.instance_path == str(instance)
    assert {"secret-key", "demo-admin-token", "demo-data-key"} <= set(os.listdir(instance))
    assert_owner_only([instance, *instance.iterdir()])


def test_files_of_an_older_installation_are_tightened_at_start(config, tmp_path):
    path = tmp_path / "infokanal.db"
    with umask(0o022):
        app = create_app(dict(config, DATABASE_PATH=str(path)))
        citizens_of(app.test_client())().send("Start")
    secret = ROOT / "instance" / "secret-key"
    for name in [*database_files(path), secret, ROOT / "instance"]:
        os.chmod(name, 0o755 if os.path.isdir(name) else 0o644)
    create_app(dict(config, DATABASE_PATH=str(path)))
    assert_owner_only([*database_files(path), secret, ROOT / "instance"])


def test_backups_are_owner_only_with_umask_022(app, tmp_path):
    with umask(0o022):
        result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "copy.db")])
    assert result.exit_code == 0, result.output
    assert_owner_only([tmp_path / "copy.db"])


def test_the_served_database_is_owner_only_with_umask_022(env, tmp_path, start_web):
    path = tmp_path / "infokanal.db"
    with umask(0o022):  # the Procfile's process inherits it
        web = start_web(dict(env, DATABASE_PATH=str(path)))
    assert web.citizen().send("Start").status_code == 200
    assert_owner_only(database_files(path))


# --- the API token ---------------------------------------------------------------------------

@pytest.mark.parametrize("token", ["a", "x" * 31, " " + "x" * 31 + " "])
def test_a_short_admin_token_stops_a_production_start(config, token):
    with pytest.raises(ConfigError) as stopped:
        create_app(dict(config, ADMIN_TOKEN=token))
    reason = str(stopped.value)
    assert "ADMIN_TOKEN is too short" in reason and "at least 32" in reason
    assert f"this one has {len(token.strip())}" in reason
    assert "secrets.token_urlsafe(32)" in reason  # how to make one
    assert "x" * 31 not in reason


def test_a_token_of_32_characters_opens_the_api(config):
    token = "t" * 32
    client = create_app(dict(config, ADMIN_TOKEN=token)).test_client()
    assert client.get("/api/stats", headers={"Authorization": f"Bearer {token}"}).status_code \
        == 200


def test_without_a_token_production_starts_with_the_api_closed(config):
    client = create_app(dict(config, ADMIN_TOKEN="")).test_client()
    assert client.get("/api/stats", headers={"Authorization": "Bearer "}).status_code == 401


def test_demo_mode_takes_the_token_it_is_given(config):
    client = create_app(dict(config, TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="",
                             ADMIN_TOKEN="demo")).test_client()
    assert client.get("/api/stats", headers={"Authorization": "Bearer demo"}).status_code == 200


@pytest.mark.parametrize("name", ["web", "worker"])
def test_a_short_admin_token_stops_the_procfile_processes(env, name):
    returncode, output = refused_start(name, dict(env, ADMIN_TOKEN="kurz", PORT="0",
                                                  HOST="127.0.0.1"))
    assert returncode != 0
    assert "ADMIN_TOKEN is too short" in output and "this one has 4" in output
    assert "secrets.token_urlsafe(32)" in output
