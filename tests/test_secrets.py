"""Secrets: a production API token cannot be guessed."""

import pytest

from bot import create_app
from bot.config import ConfigError
from tests.conftest import Process, wait_for


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
    process = Process(name, dict(env, ADMIN_TOKEN="kurz", PORT="0", HOST="127.0.0.1"))
    try:
        wait_for(lambda: process.proc.poll() is not None, timeout=30,
                 message=f"{name} to stop")
        output = process.output()
    finally:
        process.stop()
    assert process.proc.returncode != 0
    assert "ADMIN_TOKEN is too short" in output and "this one has 4" in output
    assert "secrets.token_urlsafe(32)" in output
