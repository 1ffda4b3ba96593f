"""What replication costs, and how long a failover takes.

    python bench/replica.py                 # both parts
    python bench/replica.py --webhook-only  # part 1
    python bench/replica.py --failover-only # part 2

1. The citizen webhook (a signed "Start" from a new number each time, several citizens at once)
   against the Procfile's web and replica processes: without REPLICA_URL, with a file replica
   and with an S3 replica on moto's S3 server. Prints p50/p99 of the answer's latency and the
   CPU per Start (from /proc) of the web processes and of Litestream, in one run.
2. The failover at the storm night's sizes (tests/failover_scenario.py): 2,000 Starts and Stops
   and a 5,000-recipient broadcast, kill -9 halfway, failover, the broadcast finished from the
   standby; for a file and an S3 replica. Prints the figures, among them the time from the kill
   to the first message the standby sent (with the scenario's 15-second lease; with the default
   REPLICA_LEASE_SECONDS=30 add 15 seconds).
"""

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
from common import PUBLIC_URL, base_env, procfile, scratch_dir, start_web

from tests import failover_scenario
from tests.conftest import Citizen, wait_for

CITIZENS = 4


def tree_cpu(root):
    """CPU seconds (user + system) of a process and all its descendants (/proc): gunicorn's
    workers, and Litestream, which runs in a session of its own."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent, cpu = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks
    total = 0.0
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor > 1 and ancestor != root:
            ancestor = parent.get(ancestor, 0)
        if ancestor == root:
            total += seconds
    return total


def starts(url, count, offset):
    """``count`` Starts from new numbers, CITIZENS at a time; their latencies in seconds."""
    latencies, lock = [], threading.Lock()
    per = count // CITIZENS

    def citizen(index):
        session = requests.Session()

        def post(path, params, headers):
            return session.post(url + path, data=params, headers=headers, timeout=30)

        for n in range(per):
            number = f"+49175{offset + index * per + n:08d}"
            started = time.perf_counter()
            response = Citizen(post, public_url=PUBLIC_URL, number=number).send("Start")
            took = time.perf_counter() - started
            assert response.status_code == 200, response.text
            with lock:
                latencies.append(took)

    threads = [threading.Thread(target=citizen, args=(i,)) for i in range(CITIZENS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def webhook_costs(count, s3):
    print(f"1. Citizen webhook: {count} Starts per configuration, {CITIZENS} citizens at once")
    print(f"   {'replica':<8} {'p50 ms':>7} {'p99 ms':>7} {'web CPU ms/Start':>17} "
          f"{'Litestream CPU ms/Start':>24}")
    for kind in ("none", "file", "s3"):
        workdir = tempfile.mkdtemp(prefix="rb", dir="/tmp")  # a short path for the socket
        replica = {} if kind == "none" else failover_scenario.replica_settings(kind, workdir, s3)
        env = base_env(workdir, PUBLIC_URL=PUBLIC_URL, WEB_CONCURRENCY=2, **replica)
        web = start_web(env)
        process = procfile("replica", env)
        try:
            if kind == "none":
                wait_for(lambda: "REPLICA_URL is not set" in process.output(), timeout=30,
                         message="the idle replica process")
            else:
                wait_for(lambda: os.path.exists(f"{env['DATABASE_PATH']}-litestream.sock"),
                         timeout=30, message="Litestream")
            starts(web.url, 100, 0)  # warm up
            web_before, replica_before = tree_cpu(web.pid), tree_cpu(process.pid)
            latencies = starts(web.url, count, 1000)
            web_cpu = tree_cpu(web.pid) - web_before
            replica_cpu = tree_cpu(process.pid) - replica_before
            cuts = statistics.quantiles(latencies, n=100)
            print(f"   {kind:<8} {cuts[49] * 1000:>7.1f} {cuts[98] * 1000:>7.1f} "
                  f"{web_cpu / len(latencies) * 1000:>17.2f} "
                  f"{replica_cpu / len(latencies) * 1000:>24.2f}", flush=True)
        finally:
            process.stop()
            web.stop()


def failovers(s3, storm, recipients, rate):
    print(f"2. Failover: {storm} Starts and Stops, {recipients} recipients at {rate}/s, "
          "kill -9 when half were sent")
    for kind in ("file", "s3"):
        root = scratch_dir("rf")
        figures = failover_scenario.run(kind, root, storm, recipients, rate, s3=s3,
                                        report=lambda line: print("   " + line, flush=True),
                                        hold=False)
        print(f"   {kind}: {figures}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhook-only", action="store_true")
    parser.add_argument("--failover-only", action="store_true")
    parser.add_argument("--starts", type=int, default=1000)
    parser.add_argument("--storm", type=int, default=2000)
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=200)
    args = parser.parse_args()
    s3 = failover_scenario.S3Server(scratch_dir("moto"))
    try:
        if not args.failover_only:
            webhook_costs(args.starts, s3)
        if not args.webhook_only:
            failovers(s3, args.storm, args.recipients, args.rate)
    finally:
        s3.stop()


if __name__ == "__main__":
    main()
