"""The README's "Try it" commands work as printed, against the demo server."""

import re
import shlex
from urllib.parse import quote_plus

from bot.vault import new_key
from tests.conftest import WebServer, reply_text
from tests.test_operations_docs import README

DEMO_TOKEN = "token-for-the-readme-test"


def try_it_commands():
    block = re.search(r"Try it:\s*```sh\n(.*?)```", README, re.S).group(1)
    return [line for line in block.replace("\\\n", " ").splitlines()
            if line.startswith("curl ")]


def as_curl_would_send(command, server):
    """The request curl makes of these arguments: -d sends its value as it is (a "+" stays a
    "+", which a form decodes as a space), --data-urlencode encodes the value."""
    command = command.replace("$(cat instance/demo-admin-token)", DEMO_TOKEN)
    args = shlex.split(command)[1:]
    method, url, headers, data = "GET", None, {}, []
    while args:
        arg = args.pop(0)
        if arg == "-s":
            continue
        if arg.startswith("-X"):
            method = arg[2:] or args.pop(0)
        elif arg == "-H":
            name, _, value = args.pop(0).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            data.append(args.pop(0))
            method = "POST" if method == "GET" else method
        elif arg == "--data-urlencode":
            name, _, value = args.pop(0).partition("=")
            data.append(f"{name}={quote_plus(value)}")
        else:
            url = arg
    headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    url = re.sub(r"^(http://)?localhost:8000", server.url, url)
    return server.session.request(method, url, data="&".join(data).encode(), headers=headers,
                                  timeout=10)


def test_the_readme_demo_commands_subscribe_and_queue_a_broadcast(tmp_path):
    server = WebServer({"DATABASE_PATH": str(tmp_path / "demo.db"), "DATA_KEY": new_key(),
                        "ADMIN_TOKEN": DEMO_TOKEN})
    try:
        webhook, broadcast = try_it_commands()
        reply = as_curl_would_send(webhook, server)
        assert reply.status_code == 200, reply.text
        assert "Willkommen" in reply_text(reply.text)
        queued = as_curl_would_send(broadcast, server)
        assert queued.status_code == 202, queued.text
        assert queued.json()["recipients"] == 1
    finally:
        server.stop()
