"""The README's first hour, as a new operator has it: a fresh clone, a fresh shell, the "Try it"
block pasted as it is, and the operator commands as printed.

The clone is the repository's files as a clone of this commit would have them (tracked, and
new ones not ignored): no .venv, no instance/, no .env. The block runs in a network namespace
of its own, so that its port 8000 is private to this test (other test runs on the machine may
hold 8000) and nothing it does reaches beyond loopback. Its scripts/run really creates .venv
and installs the pinned packages (about 15 s): exactly the wait the block must survive. With no
network in the namespace, pip is told through its environment (as an operator behind a proxy
would tell it) to install from a wheel directory made beforehand from the same requirements.
"""

import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from bot import config
from tests.conftest import ROOT, wait_for
from tests.test_operations_docs import README

# What a shell on this machine has that a fresh one would not: our virtualenv, and any
# configuration of the service.
NOT_IN_A_FRESH_SHELL = set(config.SETTINGS) | {
    "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PORT", "HOST", "WEB_CONCURRENCY", "WEB_THREADS",
    "WEB_WORKER_CLASS", "ACCESS_LOG", "METRICS_TOKEN", "INFOKANAL_REQUIRE_BROWSER"}


# A network namespace with only its own loopback: root may make one; anyone else through a
# user namespace of their own.
PRIVATE_NETWORK = ["unshare", "--net"] if os.geteuid() == 0 else [
    "unshare", "--user", "--map-root-user", "--net"]


def fresh_shell():
    venv_bin = os.path.realpath(os.path.dirname(sys.executable))
    environ = {k: v for k, v in os.environ.items()
               if k not in NOT_IN_A_FRESH_SHELL and not k.startswith(("FLASK_", "TWILIO_"))}
    environ["PATH"] = os.pathsep.join(
        d for d in os.environ["PATH"].split(os.pathsep) if d and os.path.realpath(d) != venv_bin)
    return environ


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory):
    clone = tmp_path_factory.mktemp("fresh-clone")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
        capture_output=True, check=True, timeout=30).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree is not in a clone of it
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    assert not (clone / ".venv").exists() and not (clone / "instance").exists()
    return clone


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    """The pinned packages as wheels (pip's cache makes this a few seconds)."""
    directory = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir",
                    str(directory), "-r", str(ROOT / "requirements.txt"), "pip"],
                   check=True, capture_output=True, timeout=300)
    return directory


def readme_block(after):
    return re.search(re.escape(after) + r".*?```(?:sh)?\n(.*?)```", README, re.S).group(1)


def test_the_try_it_block_works_pasted_as_it_is(fresh_clone, wheelhouse):
    block = readme_block("## Try it")
    expected = readme_block("Between the service's own log lines you then see, in this order:")
    assert "stops with `kill %1`" in README
    # The block as pasted, then (once the test has seen the broadcast arrive) the README's way
    # to stop a service started with "&".
    # And what the public page shows then: a test broadcast is not there.
    script = (f"ip link set lo up\n{block}\nread _\n"
              "curl -sS localhost:8000/ > public-page.html\nkill %1\nwait\n")
    log_path = fresh_clone / "try-it.log"
    with open(log_path, "wb") as log:
        shell = subprocess.Popen([*PRIVATE_NETWORK, "bash", "-c", script], cwd=fresh_clone,
                                 env=dict(fresh_shell(), PIP_NO_INDEX="1",
                                          PIP_FIND_LINKS=str(wheelhouse)),
                                 stdin=subprocess.PIPE, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    output = lambda: log_path.read_text(errors="replace")  # noqa: E731
    try:
        wait_for(lambda: "[demo outbox] broadcast" in output() or shell.poll() is not None,
                 timeout=180, interval=0.2, message="the broadcast in the demo outbox")
        shell.stdin.write(b"\n")
        shell.stdin.close()
        assert shell.wait(timeout=30) == 0, output()
        # Everything it started has ended with it.
        with pytest.raises(ProcessLookupError):
            os.killpg(shell.pid, 0)
    finally:
        if shell.poll() is None or _group_alive(shell.pid):
            os.killpg(shell.pid, signal.SIGKILL)
            shell.wait(10)
    seen = output()
    position = 0
    for line in expected.splitlines():
        pattern = "^" + ".*".join(map(re.escape, line.split("…"))) + "$"
        found = re.compile(pattern, re.M).search(seen, position)
        assert found, f"not in the output, or not in the README's order: {line}\n\n{seen}"
        position = found.end()
    running = re.search(r"`scripts/run` says `(.*?) …`", README).group(1)
    assert running in seen
    public_page = (fresh_clone / "public-page.html").read_text()
    assert "Infokanal" in public_page and "Probealarm" not in public_page
    assert seen.count("DEMO MODE") == 2  # web server and sender, once each
    assert "No such file" not in seen and "Traceback" not in seen


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def readme_commands():
    """Every operator command the README prints, as the words after scripts/flask."""
    found = set()
    for match in re.finditer(r"scripts/flask((?: [a-z][a-z-]*)+)", README):
        found.add(tuple(match.group(1).split()))
    return sorted(found)


PROCFILE_LINES = (ROOT / "Procfile").read_text().splitlines()


def test_the_readme_prints_no_command_that_needs_an_activated_virtualenv():
    """A machine-wide flask answers "No such command 'users'": only the Procfile, whose
    processes run with .venv on their PATH, says flask --app wsgi."""
    for number, line in enumerate(README.splitlines(), 1):
        if re.search(r"(?<![/\w])flask --app wsgi \w", line):
            assert line in PROCFILE_LINES, f"README line {number}: {line}"


@pytest.mark.parametrize("words", readme_commands(), ids=" ".join)
def test_every_operator_command_in_the_readme_exists(app, words):
    result = app.test_cli_runner().invoke(args=[*words, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output, result.output


def test_operator_commands_work_as_printed_in_a_fresh_shell(fresh_clone):
    """After the two set-up commands (here: the clone's own set-up, by the wrapper itself when
    it runs first), in a shell with nothing activated."""

    def run(command, **environ):
        return subprocess.run(["bash", "-c", command], cwd=fresh_clone,
                              env=dict(fresh_shell(), **environ), capture_output=True,
                              text=True, timeout=180)

    assert "No such command" in run("flask --app wsgi users list").stderr \
        or shutil.which("flask", path=fresh_shell()["PATH"]) is None
    key = run("scripts/flask keys new")
    assert key.returncode == 0, key.stderr
    assert re.fullmatch(r"DATA_KEY=\S+\n", key.stdout)  # the key on stdout, and nothing else
    # The README's line for scripts, with NAME filled in.
    line = re.search(r"^printf .*--password-stdin", README, re.M).group(0)
    added = run(line.replace("NAME", "presse"), PASSWORD="ein-langes-Passwort-1")
    assert added.returncode == 0, added.stderr
    listed = run("scripts/flask users list")
    assert listed.returncode == 0 and listed.stdout.startswith("presse\t"), listed.stderr
    # From another directory, as from cron: it finds the service's .env and database.
    elsewhere = subprocess.run([str(fresh_clone / "scripts" / "flask"), "users", "list"],
                               cwd="/", env=fresh_shell(), capture_output=True, text=True,
                               timeout=60)
    assert elsewhere.stdout.startswith("presse\t"), elsewhere.stderr
