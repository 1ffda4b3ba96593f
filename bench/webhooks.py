"""Webhook throughput under the Procfile's web command, measured with wrk on loopback.

    python bench/webhooks.py            # needs wrk (Debian: apt-get install wrk)

In one run against one server: ``GET /healthz``, signed inbound messages (a mix of Start, Stop
and questions, each with its own MessageSid, so none is a cheap replay), and signed status
callbacks. Prints requests/s, the ratio to /healthz and latency percentiles at 32 connections.
"""

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import AUTH_TOKEN, PUBLIC_URL, base_env, seed_subscribers, start_web
from twilio.request_validator import RequestValidator

LUA = """
local i = 0
local n = #bodies
request = function()
  i = i + 1
  local k = ((i - 1) %% n) + 1
  return wrk.format("POST", "%s", {["Content-Type"] = "application/x-www-form-urlencoded",
                                  ["X-Twilio-Signature"] = sigs[k]}, bodies[k])
end
"""


def lua_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(path, url_path, requests_params, public_url):
    from urllib.parse import urlencode

    validator = RequestValidator(AUTH_TOKEN)
    bodies, sigs = [], []
    for params in requests_params:
        bodies.append(lua_string(urlencode(params)))
        sigs.append(lua_string(validator.compute_signature(public_url + url_path, params)))
    script = ("bodies = {" + ",\n".join(bodies) + "}\n" + "sigs = {" + ",\n".join(sigs) + "}\n"
              + LUA % url_path)
    Path(path).write_text(script)


def inbound_mix(count, subscribed):
    """Start from new numbers, Stop from subscribed ones, questions from anyone."""
    out = []
    for i in range(count):
        roll = i % 10
        if roll < 4:
            number, body = f"+49170{i:08d}", "Start"
        elif roll < 6:
            number, body = f"+49151{random.randrange(subscribed):08d}", "Stop"
        else:
            number, body = f"+49172{i:08d}", "Wann ist die Straße wieder frei?"
        out.append({"MessageSid": f"SMbench{i:026d}", "AccountSid": "AC" + "0" * 32,
                    "From": f"whatsapp:{number}", "To": "whatsapp:+4930901820", "Body": body,
                    "NumMedia": "0", "ProfileName": "Bench", "WaId": number[1:]})
    return out


def status_mix(count):
    out = []
    for i in range(count):
        status = ("sent", "delivered", "read")[i % 3]
        sid = f"SM{i // 3:032x}"
        out.append({"MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                    "SmsStatus": status, "AccountSid": "AC" + "0" * 32,
                    "To": "whatsapp:+4915100000001", "From": "whatsapp:+4930901820",
                    "ChannelPrefix": "whatsapp", "ApiVersion": "2010-04-01"})
    return out


def wrk(url, seconds, connections, script=None):
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        args[1:1] = ["-s", script]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rate": rate, "latency": latency, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "requests": total}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    workdir = tempfile.mkdtemp(prefix="bench-webhooks-")
    env = base_env(workdir, PUBLIC_URL=PUBLIC_URL, WEB_CONCURRENCY=args.workers,
                   WEB_THREADS=args.threads)
    seed_subscribers(env, 20_000)
    web = start_web(env)
    try:
        inbound_script = f"{workdir}/inbound.lua"
        status_script = f"{workdir}/status.lua"
        expected = args.seconds * 6000  # enough distinct requests that none repeats
        write_script(inbound_script, "/twilio/messages", inbound_mix(expected, 20_000),
                     PUBLIC_URL)
        write_script(status_script, "/twilio/status", status_mix(expected), PUBLIC_URL)
        wrk(web.url + "/healthz", 2, args.connections)  # warm-up
        health = wrk(web.url + "/healthz", args.seconds, args.connections)
        inbound = wrk(web.url + "/twilio/messages", args.seconds, args.connections,
                      inbound_script)
        status = wrk(web.url + "/twilio/status", args.seconds, args.connections, status_script)
    finally:
        web.stop()
    print(f"gunicorn ({args.workers} workers x {args.threads} threads), wrk -t2 -c{args.connections} "
          f"-d{args.seconds}s, loopback")
    for name, result in (("GET /healthz", health), ("POST /twilio/messages", inbound),
                         ("POST /twilio/status", status)):
        lat = result["latency"]
        print(f"  {name:24s} {result['rate']:7.0f} req/s  ratio {result['rate'] / health['rate']:.2f}"
              f"  p50 {lat.get('50')}  p99 {lat.get('99')}  non-2xx {result['non2xx']}"
              f" of {result['requests']}")
    for name, result in (("inbound", inbound), ("status", status)):
        if result["requests"] > expected:
            print(f"  note: {name} ran out of distinct requests; later ones were replays")
    return 0


if __name__ == "__main__":
    sys.exit(main())
