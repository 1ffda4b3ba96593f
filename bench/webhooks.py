"""Webhook throughput under the Procfile's web command, measured with wrk on loopback.

    python bench/webhooks.py            # needs wrk (Debian: apt-get install wrk)

One server, several rounds; each round runs ``GET /healthz``, signed inbound messages (a mix of
Start, Stop and questions) and signed status callbacks one after the other, in an order that
rotates between rounds, so that a noisy neighbour on the shared machine hits all three alike.
Every inbound message and status callback in the whole run is distinct (no wrk thread repeats
another's, no round repeats an earlier one): none is a cheap replay. Prints, per endpoint, the
median over the rounds of requests/s, of the ratio to /healthz in the same round, and of the
latency percentiles, and the CPU the gunicorn workers spent per request.
"""

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

from common import (AUTH_TOKEN, PUBLIC_URL, base_env, cpu_seconds, scratch_dir, seed_subscribers,
                    start_web)
from twilio.request_validator import RequestValidator

WRK_THREADS = 2

# Request number k of a run: thread `id` of `nthreads` sends offset + id, offset + id + n, ...
LUA = """
local next_id = 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  offset = tonumber(args[1])
  nthreads = tonumber(args[2])
  sent = 0
end
request = function()
  local k = offset + sent * nthreads + id
  sent = sent + 1
  if k > #bodies then k = ((k - 1) %% #bodies) + 1 end
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded",
                   ["X-Twilio-Signature"] = sigs[k]}
  if close_each then headers["Connection"] = "close" end
  return wrk.format("POST", "%s", headers, bodies[k])
end
"""


def lua_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(path, url_path, requests_params, public_url, close_each=False):
    validator = RequestValidator(AUTH_TOKEN)
    bodies, sigs = [], []
    for params in requests_params:
        bodies.append(lua_string(urlencode(params)))
        sigs.append(lua_string(validator.compute_signature(public_url + url_path, params)))
    script = ("bodies = {" + ",\n".join(bodies) + "}\n" + "sigs = {" + ",\n".join(sigs) + "}\n"
              + f"close_each = {'true' if close_each else 'false'}\n" + LUA % url_path)
    Path(path).write_text(script)


def inbound_mix(count, subscribed):
    """Start from new numbers, Stop from subscribed ones, questions from anyone."""
    stoppers = random.sample(range(subscribed), min(subscribed, count))
    out = []
    for i in range(count):
        roll = i % 10
        if roll < 4:
            number, body = f"+49170{i:08d}", "Start"
        elif roll < 6:
            number, body = f"+49151{stoppers[i % len(stoppers)]:08d}", "Stop"
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


def wrk(url, seconds, connections, script=None, offset=0):
    args = ["wrk", f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        args[1:1] = ["-s", script]
        args += ["--", str(offset), str(WRK_THREADS)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rate": rate, "latency": latency, "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "requests": total}


def _ms(text):
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def workers_cpu(web):
    """CPU seconds used so far by the gunicorn master and its workers."""
    children = subprocess.run(["pgrep", "-P", str(web.pid)], capture_output=True, text=True)
    return sum(cpu_seconds(pid) for pid in [web.pid, *map(int, children.stdout.split())])


ENDPOINTS = (("GET /healthz", "/healthz"), ("POST /twilio/messages", "/twilio/messages"),
             ("POST /twilio/status", "/twilio/status"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=4, help="per endpoint and round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1,
                        help="gunicorn workers (default as in gunicorn.conf.py)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--close", action="store_true",
                        help="a new connection for every webhook (Connection: close), as a "
                             "platform that does not keep connections alive would post them")
    parser.add_argument("--worker-classes", default="default",
                        help="comma-separated gunicorn worker classes to compare in one run, "
                             "each its own server: 'default' (gunicorn.conf.py's), 'long' "
                             "(the same with STATUS_SHORT_PATH=0), gthread, …")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    # Enough distinct requests for every round at well above the rates seen here.
    per_round = args.seconds * 10000
    total = per_round * args.rounds
    servers = {}
    try:
        for worker_class in args.worker_classes.split(","):
            workdir = scratch_dir("bench-webhooks-")
            extra = ({} if worker_class == "default" else {"STATUS_SHORT_PATH": 0}
                     if worker_class == "long" else {"WEB_WORKER_CLASS": worker_class})
            env = base_env(workdir, PUBLIC_URL=PUBLIC_URL, WEB_CONCURRENCY=args.workers,
                           WEB_THREADS=args.threads, **extra)
            seed_subscribers(env, 20_000)
            web = start_web(env)
            web.scripts = {"/twilio/messages": f"{workdir}/inbound.lua",
                           "/twilio/status": f"{workdir}/status.lua"}
            write_script(web.scripts["/twilio/messages"], "/twilio/messages",
                         inbound_mix(total, 20_000), PUBLIC_URL, args.close)
            write_script(web.scripts["/twilio/status"], "/twilio/status", status_mix(total),
                         PUBLIC_URL, args.close)
            web.results = {name: [] for name, _ in ENDPOINTS}
            servers[worker_class] = web
            wrk(web.url + "/healthz", 2, args.connections)  # warm-up
        for round_no in range(args.rounds):
            order = ENDPOINTS[round_no % 3:] + ENDPOINTS[:round_no % 3]
            for web in servers.values():
                for name, path in order:
                    before = workers_cpu(web)
                    result = wrk(web.url + path, args.seconds, args.connections,
                                 web.scripts.get(path), offset=round_no * per_round)
                    result["cpu_us"] = (workers_cpu(web) - before) / result["requests"] * 1e6
                    web.results[name].append(result)
    finally:
        for web in servers.values():
            web.stop()
    for worker_class, web in servers.items():
        report(args, worker_class, web.results, per_round)
    return 0


def report(args, worker_class, results, per_round):
    print(f"gunicorn worker class {worker_class} ({args.workers} workers x {args.threads} "
          f"threads), wrk -t{WRK_THREADS} -c{args.connections}, {args.rounds} rounds of "
          f"{args.seconds} s per endpoint, loopback"
          + (", webhooks each on a new connection" if args.close else ""))
    print(f"  {'endpoint':24s} {'req/s':>7s} {'ratio':>6s} {'(range)':>12s} {'p50 ms':>7s} "
          f"{'p99 ms':>7s} {'(worst)':>8s} {'cpu/req':>8s}  non-2xx")
    health = results["GET /healthz"]
    for name, runs in results.items():
        ratios = [run["rate"] / h["rate"] for run, h in zip(runs, health)]
        median = statistics.median
        print(f"  {name:24s} {median(r['rate'] for r in runs):7.0f} {median(ratios):6.2f} "
              f"{min(ratios):5.2f}-{max(ratios):4.2f} "
              f"{median(r['latency']['50'] for r in runs):7.1f} "
              f"{median(r['latency']['99'] for r in runs):7.1f} "
              f"{max(r['latency']['99'] for r in runs):8.1f} "
              f"{median(r['cpu_us'] for r in runs):6.0f}us  "
              f"{sum(r['non2xx'] for r in runs)}")
        if any(r["requests"] > per_round for r in runs):
            print(f"    note: a round of {name} ran out of distinct requests")


if __name__ == "__main__":
    sys.exit(main())
