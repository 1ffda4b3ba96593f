"""The IT operator's first day, through the real commands: a copied .env.example, going live in
the folder where the demo ran, scripts/run's messages and scripts/flask --help.

The service folder here is a copy of the repository's files with the shared .venv, as a clone
after ``scripts/setup``; its .env and instance/ are its own.
"""

import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from bot import config
from tests.conftest import ROOT, free_port

PRODUCTION = {
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "a-token-of-twilio",
    "TWILIO_WHATSAPP_FROM": "whatsapp:+4947919300",
    "PUBLIC_URL": "https://info.landkreis-osterholz.de",
    "ADMIN_TOKEN": "x" * 40,
    "AUTHORITY_NAME": "Landkreis Osterholz",
    "CONTACT_INFO": "Bürgertelefon 04791 930-0",
}


@pytest.fixture
def operator_env(tmp_path, monkeypatch):
    """The operator's environment as config.load reads it (no test mapping), nothing else."""
    for name in os.environ:
        if name in config.SETTINGS or name.startswith(("TWILIO_", "BROADCAST_", "META_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # a folder without .env

    def load(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return config.load(str(tmp_path / "instance"))

    return load


def example_file():
    """.env.example's settings, as copying it to .env gives them."""
    values = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def test_the_copied_example_file_does_not_go_live_until_each_must_is_set(operator_env):
    settings = dict(example_file(), TWILIO_ACCOUNT_SID=PRODUCTION["TWILIO_ACCOUNT_SID"],
                    TWILIO_AUTH_TOKEN=PRODUCTION["TWILIO_AUTH_TOKEN"])
    named = []
    for _ in range(10):
        try:
            operator_env(**settings)
            break
        except config.ConfigError as error:
            message = str(error)
            assert "\n" not in message
            name = re.match(r"[A-Z_]+", message).group(0)
            named.append(name)
            settings[name] = PRODUCTION[name]
    assert sorted(named) == ["AUTHORITY_NAME", "CONTACT_INFO", "PUBLIC_URL",
                             "TWILIO_WHATSAPP_FROM"]
    must = [line for line in (ROOT / ".env.example").read_text().splitlines()
            if line.startswith("# MUST")]
    assert len(must) >= 6


# The values older copies of .env.example held, and the README's examples.
OLD_EXAMPLES = [
    ("AUTHORITY_NAME", "Landkreis Musterstadt"),
    ("CONTACT_INFO", "Bürgertelefon 0800 123 456 oder www.musterstadt.de/kontakt"),
    ("TWILIO_WHATSAPP_FROM", "whatsapp:+49..."),
    ("PUBLIC_URL", "https://info.example-landkreis.de"),
    ("PUBLIC_URL", "https://info.landkreis.de"),
    ("PUBLIC_URL", "https://info.landkreis.de/"),
    ("DATA_PROTECTION_OFFICER", "Datenschutzbeauftragte, datenschutz@musterstadt.de"),
    ("TEST_RECIPIENTS", "whatsapp:+4915100000000"),
    ("BROADCAST_CONTENT_SID", "HX..."),
    ("AUTHORITY_NAME", "CHANGE-ME"),
    ("CONTACT_INFO", "…"),
    ("CONTACT_INFO", "Bürgertelefon +49..."),
    ("CONTACT_INFO", "Bürgertelefon 0800… oder www.….de/kontakt"),
    ("DATA_PROTECTION_OFFICER", "..."),
    ("ADMIN_TOKEN", "CHANGE-ME-CHANGE-ME-CHANGE-ME-CHANGE-ME"),
]


@pytest.mark.parametrize(("name", "value"), OLD_EXAMPLES)
def test_production_refuses_an_example_value_naming_the_setting(operator_env, name, value):
    with pytest.raises(config.ConfigError, match=f"^{name} still holds an example value"):
        operator_env(**dict(PRODUCTION, **{name: value}))


@pytest.mark.parametrize("contact", [
    "Bürgertelefon 04791 930-0, Mo–Fr 8–16 Uhr ...",
    "Bürgertelefon 04791 930-0 oder www.landkreis-osterholz.de/kontakt …",
    "Bürgerbüro … Kreishaus, Zimmer 12"])
def test_a_real_contact_text_with_an_ellipsis_goes_live(operator_env, contact):
    """An ellipsis in a free text is an example only as the whole value or where it cuts off a
    number or address; the number-like settings refuse any (see OLD_EXAMPLES)."""
    assert operator_env(**dict(PRODUCTION, CONTACT_INFO=contact))["CONTACT_INFO"] == contact


def test_an_example_host_only_by_its_name_goes_live(operator_env):
    """Only the README's example addresses are refused, not every host with "example" in it."""
    settings = operator_env(**dict(PRODUCTION, PUBLIC_URL="https://infokanal.example.de"))
    assert settings["PUBLIC_URL"] == "https://infokanal.example.de"


@pytest.mark.parametrize("name", ["AUTHORITY_NAME", "CONTACT_INFO"])
def test_production_refuses_an_unnamed_county(operator_env, name):
    with pytest.raises(config.ConfigError, match=f"^{name} is not set"):
        operator_env(**dict(PRODUCTION, **{name: ""}))


@pytest.mark.parametrize("sender", ["whatsapp:+49abc", "whatsapp:+49", "whatsapp:+4912",
                                    "whatsapp:4947919300", "+4947919300"])
def test_a_sender_that_is_not_a_whole_number_is_refused(operator_env, sender):
    with pytest.raises(config.ConfigError, match="^TWILIO_WHATSAPP_FROM must be the sender's "
                                                 "full number"):
        operator_env(**dict(PRODUCTION, TWILIO_WHATSAPP_FROM=sender))


def test_real_values_go_live(operator_env):
    settings = operator_env(**PRODUCTION)
    assert settings["AUTHORITY_NAME"] == "Landkreis Osterholz"
    assert settings["IDENTITY_UNSET"] == []
    # A free text may hold an ellipsis: only the county's identity is checked for examples.
    operator_env(**PRODUCTION, CHANNEL_DESCRIPTION="Meldungen … und mehr")


def test_the_demo_runs_with_the_copied_example_file_and_reminds(operator_env):
    settings = operator_env(**example_file())
    assert config.Mode.of(settings).demo
    assert settings["IDENTITY_UNSET"] == ["AUTHORITY_NAME", "CONTACT_INFO"]
    assert settings["AUTHORITY_NAME"] == config.DEFAULT_AUTHORITY
    assert settings["TWILIO_WHATSAPP_FROM"] == "" and settings["PUBLIC_URL"] == ""
    assert "Set AUTHORITY_NAME and CONTACT_INFO" in config.start_banner(settings)


@pytest.mark.parametrize(("name", "value"), OLD_EXAMPLES[:2])
def test_the_demo_flags_an_old_example_name_as_unset(operator_env, name, value):
    """The console's notice and the banner read IDENTITY_UNSET; the raw environment (gunicorn's
    master) is judged the same way."""
    settings = operator_env(**{name: value})
    assert name in settings["IDENTITY_UNSET"]
    raw = dict({"AUTHORITY_NAME": "Landkreis Osterholz", "CONTACT_INFO": "Tel. 1"},
               **{name: value})
    assert f"Set {name} (.env)" in config.start_banner(raw)


# --- through the real commands -----------------------------------------------------------------

SERVICE_FILES = ("bot", "scripts", "wsgi.py", "Procfile", "gunicorn.conf.py", "requirements.txt",
                 "schema.sql")


@pytest.fixture
def service(tmp_path):
    """A service folder: the repository's files and the shared .venv, no .env, no instance/."""
    folder = tmp_path / "infokanal"
    folder.mkdir()
    for name in SERVICE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, folder / name)
    (folder / ".venv").symlink_to(os.path.realpath(ROOT / ".venv"))
    return folder


def shell_env(**extra):
    environ = {k: v for k, v in os.environ.items()
               if k not in config.SETTINGS and not k.startswith(("FLASK_", "TWILIO_"))
               and k not in ("VIRTUAL_ENV", "PORT", "HOST", "WEB_CONCURRENCY")}
    venv_bin = os.path.realpath(os.path.dirname(sys.executable))
    environ["PATH"] = os.pathsep.join(
        d for d in environ["PATH"].split(os.pathsep) if d and os.path.realpath(d) != venv_bin)
    environ["WEB_CONCURRENCY"] = "1"
    return dict(environ, **extra)


def run(folder, command, timeout=90, **extra):
    return subprocess.run(["bash", "-c", command], cwd=folder, env=shell_env(**extra),
                          capture_output=True, text=True, timeout=timeout)


def go_live(folder):
    """The production steps' .env: the operator's own values, then a new DATA_KEY."""
    lines = [f"{name}={value}" for name, value in PRODUCTION.items()]
    (folder / ".env").write_text("\n".join(lines) + "\n")
    key = run(folder, "scripts/flask keys new")
    assert key.returncode == 0, key.stderr
    (folder / ".env").write_text("\n".join([*lines, key.stdout.strip()]) + "\n")


def test_going_live_where_the_demo_ran_says_in_one_line_what_to_do(service):
    demo = run(service, "scripts/flask init-db")
    assert demo.returncode == 0, demo.stderr
    assert (service / "instance" / config.DEMO_KEY_FILE).exists()
    go_live(service)
    database = service / "instance" / "infokanal.db"

    started = run(service, "scripts/run", PORT=str(free_port()), HOST="127.0.0.1")
    output = started.stdout + started.stderr
    assert started.returncode != 0
    assert "Traceback" not in output and "in use" not in output, output
    reason = [line for line in output.splitlines() if "DATA_KEY does not open" in line]
    assert len(reason) == 1 and "scripts/flask demo-reset" in reason[0], output
    assert "the web server did not start (its reason is above)" in output

    for command in ("scripts/flask users list", "scripts/flask worker"):
        refused = run(service, command)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
        assert "scripts/flask demo-reset" in refused.stderr

    kept = run(service, "echo n | scripts/flask demo-reset")
    assert kept.returncode != 0 and database.exists()
    reset = run(service, "scripts/flask demo-reset --yes")
    assert reset.returncode == 0, reset.stderr
    assert not database.exists()
    assert not (service / "instance" / config.DEMO_KEY_FILE).exists()

    ready = run(service, "scripts/flask init-db")
    assert ready.returncode == 0, ready.stderr
    # Production's own database is never the demo's.
    again = run(service, "scripts/flask demo-reset --yes")
    assert again.returncode != 0 and "not the demo's" in again.stderr and database.exists()


def test_demo_reset_leaves_a_database_the_demo_did_not_make(service):
    go_live(service)
    assert run(service, "scripts/flask init-db").returncode == 0
    database = service / "instance" / "infokanal.db"
    # Another key in .env: the database was made under the one before.
    env_file = service / ".env"
    other = run(service, "scripts/flask keys new").stdout.strip()
    env_file.write_text(re.sub(r"^DATA_KEY=.*$", other, env_file.read_text(), flags=re.M))
    refused = run(service, "scripts/flask users list")
    assert "encrypted with another key" in refused.stderr and "demo-reset" not in refused.stderr
    kept = run(service, "scripts/flask demo-reset --yes")
    assert kept.returncode != 0 and "is not the demo's database" in kept.stderr
    assert database.exists()


def test_scripts_run_says_port_in_use_only_when_it_is(service):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        started = run(service, "scripts/run", PORT=str(port), HOST="127.0.0.1")
    output = started.stdout + started.stderr
    assert started.returncode != 0
    assert f"port {port} on 127.0.0.1 is in use" in output, output
    assert "Traceback" not in output


def test_a_placeholder_stops_the_web_server_with_one_line(service):
    (service / ".env").write_text("\n".join(
        f"{name}={value}" for name, value in dict(
            PRODUCTION, AUTHORITY_NAME="Landkreis Musterstadt",
            DATA_KEY="x").items()) + "\n")
    started = run(service, "scripts/run", PORT=str(free_port()), HOST="127.0.0.1")
    output = started.stdout + started.stderr
    assert started.returncode != 0 and "Traceback" not in output, output
    assert "Infokanal does not start: AUTHORITY_NAME still holds an example value" in output
    assert "in use" not in output


def test_help_lists_our_commands_first_with_their_whole_description(service, app):
    shown = run(service, "scripts/flask --help")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    ours, _, flasks = text.partition("Flask's own commands")
    assert "Infokanal's commands" in ours
    for name in ("run", "shell", "routes"):
        assert re.search(rf"^  {name} ", flasks, re.M) and not re.search(rf"^  {name} ", ours,
                                                                          re.M)
    flat = " ".join(ours.split())
    for name, command in app.cli.commands.items():
        first = " ".join((command.help or "").strip().split("\n\n")[0].split())
        assert f"{name} {first}" in flat, name
    assert text.startswith("Usage: scripts/flask ")
    assert "demo-reset Remove the demo's database and keys, so that production starts with an " \
        "empty database." in flat
    # Flask's own commands still work.
    assert run(service, "scripts/flask routes").returncode == 0


def test_production_does_not_start_without_a_sender(operator_env):
    settings = dict(PRODUCTION, TWILIO_WHATSAPP_FROM="")
    with pytest.raises(config.ConfigError, match=r"^TWILIO_WHATSAPP_FROM is not set"):
        operator_env(**settings)
    assert operator_env(**PRODUCTION)["TWILIO_WHATSAPP_FROM"] == PRODUCTION["TWILIO_WHATSAPP_FROM"]


# --- Meta's Cloud API as the platform ------------------------------------------------------------

META_CREDENTIALS = ("META_ACCESS_TOKEN", "META_PHONE_NUMBER_ID", "META_APP_SECRET",
                    "META_VERIFY_TOKEN")
META_PRODUCTION = dict(
    {name: value for name, value in PRODUCTION.items() if not name.startswith("TWILIO_")},
    WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN="EAAG-a-system-user-token",
    META_PHONE_NUMBER_ID="106540352242922", META_APP_SECRET="an-app-secret-of-meta",
    META_VERIFY_TOKEN="a-verify-token-of-ours", META_DISPLAY_PHONE_NUMBER="+49 4791 930-0",
    META_TEMPLATE="infokanal_meldung")


def test_meta_production_goes_live_with_its_own_settings(operator_env):
    settings = operator_env(**META_PRODUCTION)
    assert not config.Mode.of(settings).demo
    assert config.start_banner(settings) is None
    assert settings["META_DISPLAY_PHONE_NUMBER"] == "+4947919300"
    assert (settings["META_API_URL"], settings["META_API_VERSION"],
            settings["META_TEMPLATE_LANGUAGE"]) == ("https://graph.facebook.com", "v23.0", "de")
    assert settings["META_TEMPLATE_NAMES"] == {} and settings["META_PARAGRAPH_NAMES"] == {}


def test_meta_without_any_credentials_is_the_demo(operator_env):
    settings = operator_env(**{name: value for name, value in META_PRODUCTION.items()
                               if name not in META_CREDENTIALS})
    assert config.Mode.of(settings).demo
    assert "no Meta credentials" in config.start_banner(settings)
    assert "META_APP_SECRET" in config.start_banner(settings)


def test_meta_named_with_only_twilio_credentials_stops_the_start(operator_env):
    """Not the demo: that would take unsigned webhooks on the county's public address."""
    with pytest.raises(config.ConfigError, match=r"^TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN are "
                       r"set but WHATSAPP_PLATFORM is meta: set WHATSAPP_PLATFORM=twilio, or "
                       r"remove them$"):
        operator_env(**{name: value for name, value in META_PRODUCTION.items()
                        if name not in META_CREDENTIALS},
                     TWILIO_ACCOUNT_SID=PRODUCTION["TWILIO_ACCOUNT_SID"],
                     TWILIO_AUTH_TOKEN=PRODUCTION["TWILIO_AUTH_TOKEN"])


@pytest.mark.parametrize("platform", [None, "twilio", ""])
def test_meta_credentials_without_naming_meta_stop_the_start(operator_env, platform):
    settings = {name: value for name, value in META_PRODUCTION.items()
                if name != "WHATSAPP_PLATFORM"}
    if platform is not None:
        settings["WHATSAPP_PLATFORM"] = platform
    with pytest.raises(config.ConfigError, match=r"^META_ACCESS_TOKEN, META_PHONE_NUMBER_ID, "
                       r"META_APP_SECRET, META_VERIFY_TOKEN are set but WHATSAPP_PLATFORM is "
                       r"twilio \(the default\): set WHATSAPP_PLATFORM=meta, or remove them$"):
        operator_env(**settings)
    # One left over from a trial is named as well.
    with pytest.raises(config.ConfigError, match=r"^META_APP_SECRET is set but "):
        operator_env(**dict(PRODUCTION, TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="",
                            **{name: "" for name in META_CREDENTIALS
                               if name != "META_APP_SECRET"}))


def test_meta_production_needs_a_template(operator_env):
    with pytest.raises(config.ConfigError, match=r"^META_TEMPLATE is not set: on Meta, "
                       r"broadcasts to citizens who have not written in the last 24 hours need "
                       r"an approved template"):
        operator_env(**dict(META_PRODUCTION, META_TEMPLATE=""))


@pytest.mark.parametrize("missing", META_CREDENTIALS)
def test_meta_with_some_credentials_names_the_first_missing_one(operator_env, missing):
    present = next(name for name in META_CREDENTIALS if name != missing)
    with pytest.raises(config.ConfigError,
                       match=f"^{present} is set but {missing} is not: set all of"):
        operator_env(**dict(META_PRODUCTION, **{missing: ""}))


def test_twilio_ignores_meta_settings(operator_env):
    settings = operator_env(**PRODUCTION, META_ACCESS_TOKEN="EAAG-left-from-a-trial")
    assert not config.Mode.of(settings).demo


def test_meta_production_needs_the_countys_number(operator_env):
    with pytest.raises(config.ConfigError, match="^META_DISPLAY_PHONE_NUMBER is not set"):
        operator_env(**dict(META_PRODUCTION, META_DISPLAY_PHONE_NUMBER=""))


@pytest.mark.parametrize("number", ["4947919300", "+49", "Landkreis", "+49 4791 abc"])
def test_meta_refuses_a_display_number_that_is_not_one(operator_env, number):
    with pytest.raises(config.ConfigError, match="^META_DISPLAY_PHONE_NUMBER must be"):
        operator_env(**dict(META_PRODUCTION, META_DISPLAY_PHONE_NUMBER=number))


@pytest.mark.parametrize(("name", "value"), [
    ("META_ACCESS_TOKEN", "CHANGE-ME"), ("META_APP_SECRET", "..."),
    ("META_VERIFY_TOKEN", "change-me-too"), ("META_DISPLAY_PHONE_NUMBER", "+49..."),
    ("META_TEMPLATE", "CHANGE-ME")])
def test_meta_production_refuses_an_example_value(operator_env, name, value):
    with pytest.raises(config.ConfigError, match=f"^{name} still holds an example value"):
        operator_env(**dict(META_PRODUCTION, **{name: value}))


def test_meta_production_refuses_a_short_admin_token(operator_env):
    with pytest.raises(config.ConfigError, match="^ADMIN_TOKEN is too short"):
        operator_env(**dict(META_PRODUCTION, ADMIN_TOKEN="x" * 20))


def test_meta_templates_per_language_and_paragraphs(operator_env):
    settings = operator_env(**dict(META_PRODUCTION, META_TEMPLATE="infokanal_text"),
                            LANGUAGES="de,en", META_TEMPLATE_EN="infokanal_text_en",
                            META_PARAGRAPH_TEMPLATES="2=infokanal_2, 3=infokanal_3",
                            META_PARAGRAPH_TEMPLATES_EN="2=infokanal_en_2")
    assert settings["META_TEMPLATE_NAMES"] == {"en": "infokanal_text_en"}
    assert settings["META_PARAGRAPH_NAMES"] == {None: {2: "infokanal_2", 3: "infokanal_3"},
                                                "en": {2: "infokanal_en_2"}}
    # Twilio's settings of the same kind stay apart.
    assert settings["CONTENT_SIDS"] == {} and settings["PARAGRAPH_SIDS"] == {}


@pytest.mark.parametrize(("extra", "message"), [
    ({"META_TEMPLATE": "", "META_PARAGRAPH_TEMPLATES": "2=infokanal_2"},
     "^META_TEMPLATE is not set"),
    ({"META_TEMPLATE": "infokanal", "META_PARAGRAPH_TEMPLATES": "2=HX1234"},
     "^META_PARAGRAPH_TEMPLATES holds '2=HX1234'"),
    ({"LANGUAGES": "de,en", "META_TEMPLATE": "infokanal",
      "META_PARAGRAPH_TEMPLATES_EN": "2=infokanal_en_2"},
     "^META_PARAGRAPH_TEMPLATES_EN is set but META_TEMPLATE_EN is not"),
    ({"META_TEMPLATE": "Infokanal Text"}, "^META_TEMPLATE must be an approved template's name"),
    ({"META_API_VERSION": "23"}, "^META_API_VERSION must look like v23.0"),
    ({"META_PHONE_NUMBER_ID": "+4947919300"}, "^META_PHONE_NUMBER_ID must be the number's id"),
])
def test_meta_settings_that_cannot_work_stop_the_start(operator_env, extra, message):
    with pytest.raises(config.ConfigError, match=message):
        operator_env(**dict(META_PRODUCTION, **extra))


@pytest.mark.parametrize("name", ["web", "worker"])
def test_a_missing_meta_setting_stops_the_procfile_processes(tmp_path, name):
    from bot.vault import new_key
    from tests.conftest import refused_start

    env = dict(META_PRODUCTION, META_APP_SECRET="", DATA_KEY=new_key(), PORT="0",
               HOST="127.0.0.1", DATABASE_PATH=str(tmp_path / "infokanal.db"))
    returncode, output = refused_start(name, env)
    assert returncode != 0
    assert "META_ACCESS_TOKEN is set but META_APP_SECRET is not" in output, output


@pytest.mark.parametrize("name", ["web", "worker"])
@pytest.mark.parametrize(("platform", "credentials"), [
    ("twilio", META_CREDENTIALS), ("meta", ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"))])
def test_credentials_of_the_other_platform_stop_the_procfile_processes(tmp_path, name,
                                                                        platform, credentials):
    """Neither process falls into the demo (unsigned webhooks, nothing sent)."""
    from bot.vault import new_key
    from tests.conftest import refused_start

    env = {key: value for key, value in META_PRODUCTION.items()
           if key not in META_CREDENTIALS}
    env.update({key: (PRODUCTION.get(key) or META_PRODUCTION[key]) for key in credentials},
               WHATSAPP_PLATFORM=platform, DATA_KEY=new_key(), PORT="0", HOST="127.0.0.1",
               DATABASE_PATH=str(tmp_path / "infokanal.db"),
               TWILIO_WHATSAPP_FROM=PRODUCTION["TWILIO_WHATSAPP_FROM"])
    returncode, output = refused_start(name, env)
    assert returncode != 0
    assert f"are set but WHATSAPP_PLATFORM is {platform}" in output, output
    assert "Traceback" not in output and "DEMO MODE" not in output, output
