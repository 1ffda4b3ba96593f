"""The demo banner is said once where a process starts (the web server, the worker), never by
an operator command."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, wait_for

BANNER = "DEMO MODE"


@pytest.fixture
def demo_env(env):
    # ADMIN_TOKEN stays set: without it the app would write a demo token into the repository's
    # instance folder.
    return {k: v for k, v in env.items() if not k.startswith("TWILIO_")}


def test_the_web_server_says_it_once_however_many_workers_it_starts(demo_env, start_web):
    web = start_web(dict(demo_env, WEB_CONCURRENCY="3"))
    wait_for(lambda: web.output().count("Booting worker") == 3, message="three workers")
    assert web.output().count(BANNER) == 1


def test_the_worker_says_it_once(demo_env, start_worker):
    worker = start_worker(demo_env)
    wait_for(lambda: "Sender running" in worker.output(), message="the sender")
    assert worker.output().count(BANNER) == 1


@pytest.mark.parametrize("command", [["users", "list"], ["--help"], ["users", "--help"]])
def test_operator_commands_say_nothing_about_demo_mode(demo_env, command):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    environ.update(demo_env)
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    result = subprocess.run([flask, "--app", "wsgi", *command], cwd=ROOT, env=environ,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert BANNER not in result.stdout + result.stderr


def test_production_mode_has_no_banner(env):
    from bot.config import start_banner

    assert start_banner(env) is None
    # Without ADMIN_TOKEN the demo makes one, and the banner tells where it is.
    assert "instance/demo-admin-token" in start_banner({})
    assert "instance/demo-admin-token" not in start_banner({"ADMIN_TOKEN": "set"})
