"""gunicorn.conf.py takes its settings from the environment or the operator's .env."""

import os
import runpy
import subprocess
import sys

import pytest

from tests.conftest import ROOT

CONFIG = str(ROOT / "gunicorn.conf.py")


def load(monkeypatch, directory, dotenv=None, **environ):
    for name in ("WEB_CONCURRENCY", "WEB_THREADS", "ACCESS_LOG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    if dotenv is not None:
        (directory / ".env").write_text(dotenv, encoding="utf-8")
    monkeypatch.chdir(directory)
    return runpy.run_path(CONFIG)


def test_access_log_and_workers_can_be_set_in_dotenv(monkeypatch, tmp_path):
    config = load(monkeypatch, tmp_path, "ACCESS_LOG=-\nWEB_CONCURRENCY=3\nWEB_THREADS=5\n")
    assert config["accesslog"] == "-"
    assert (config["workers"], config["threads"]) == (3, 5)


def test_the_environment_wins_over_dotenv(monkeypatch, tmp_path):
    config = load(monkeypatch, tmp_path, "WEB_CONCURRENCY=3\n", WEB_CONCURRENCY="5")
    assert config["workers"] == 5


def test_dotenv_values_do_not_leak_into_the_workers_environment(monkeypatch, tmp_path):
    # Workers inherit the master's environment: a DATA_KEY loaded there would survive the .env
    # edit that a reload (HUP) is meant to pick up during key rotation.
    monkeypatch.delenv("DATA_KEY", raising=False)
    load(monkeypatch, tmp_path, "DATA_KEY=old-key\n")
    assert "DATA_KEY" not in os.environ


def test_no_access_log_by_default(monkeypatch, tmp_path):
    config = load(monkeypatch, tmp_path)
    assert config["accesslog"] is None


@pytest.mark.parametrize("cores, workers", [(None, 1), (1, 1), (2, 1), (3, 1), (4, 2), (8, 4)])
def test_one_web_worker_per_two_cores_by_default(monkeypatch, tmp_path, cores, workers):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    config = load(monkeypatch, tmp_path)
    assert (config["workers"], config["threads"]) == (workers, 4)


PARSER_OF_A_CONNECTION = """
import sys
from gunicorn.config import Config
from bot.web.connection import FrontProtocol, find_c_parser
if sys.argv[1] == "worker":
    find_c_parser()  # what FrontWorker.init_process does before its first connection
protocol = FrontProtocol.__new__(FrontProtocol)
protocol.cfg = Config()
protocol._setup_callback_parser()
print(type(protocol._callback_parser).__module__)
"""


def parser_module(*args):
    # A fresh interpreter: gunicorn remembers what it found on its classes.
    return subprocess.run([sys.executable, "-c", PARSER_OF_A_CONNECTION, *args], cwd=ROOT,
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def test_web_connections_are_parsed_by_gunicorns_c_parser():
    assert parser_module("worker") == "gunicorn_h1c._protocol"
    # Without the worker's step gunicorn falls back to Python for a subclass of its
    # protocol: when this fails, gunicorn has fixed that and find_c_parser can go.
    assert parser_module("bare") == "gunicorn.asgi.parser"


def test_a_workers_settings_read_once_are_the_values_gunicorn_gives():
    from gunicorn.config import Config

    from bot.web.gunicorn_worker import Settings

    cfg = Config()
    cfg.set("keepalive", 7)
    cfg.set("limit_request_line", 0)
    settings = Settings(cfg)
    for name in cfg.settings:
        assert getattr(settings, name) == getattr(cfg, name), name
    # What Config computes is still Config's: the worker class itself, not its name.
    assert settings.worker_class is cfg.worker_class
    assert isinstance(settings.worker_class, type)
    assert settings.keepalive == 7
    assert settings.proxy_allow_networks() == cfg.proxy_allow_networks() != []
    assert settings.settings is cfg.settings
