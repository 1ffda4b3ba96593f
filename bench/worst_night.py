"""The storm night on one box: an urgent broadcast to every subscriber while the platform posts
three status callbacks per message and citizens keep writing.

    python bench/worst_night.py --subscribers 100000 --rate 800

Everything runs here: the Procfile's web and worker, a fake Twilio API (its own process,
answering each send in 150 ms and posting signed ``sent``, ``delivered`` and ``read``
callbacks half a second later, as the platform does), two citizens writing questions and
Starts throughout, and a press officer's console polling the broadcast's counts every second.
Subscribers join through the signed webhook first. With ``--nginx`` the shipped nginx site
(deploy/nginx, plain HTTP on loopback) stands in front, as the README's production setup has
it: the platform and the citizens then reach the web process through nginx, which keeps its
connections to the app alive. Prints the time from the POST to the last
message, the callbacks taken and lost, when the counts showed every message read, the
citizens' reply times, and the CPU each process used per message (read from /proc).
"""

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import time

import aiohttp
from common import (ADMIN_TOKEN, AUTH_TOKEN, base_env, cpu_seconds, fake_config, fake_stats,
                    free_port, procfile, scratch_dir, start_fake_twilio, wait_http)
from twilio.request_validator import RequestValidator

COUNTY = "whatsapp:+4930901820"


def process_cpu(pid):
    """(user, system) CPU seconds of a process and its children (gunicorn's master and
    workers)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    user = system = 0.0
    for child in [pid, *map(int, children.stdout.split())]:
        try:
            u, s = cpu_seconds(child, split=True)
        except FileNotFoundError:
            continue
        user, system = user + u, system + s
    return user, system


class Webhook:
    """Posts signed inbound messages the way the platform does."""

    def __init__(self, session, url, public_url):
        self.session = session
        self.url = url
        self.public_url = public_url
        self.validator = RequestValidator(AUTH_TOKEN)
        self.sequence = 0

    async def post(self, number, body):
        self.sequence += 1
        sid = f"SMnight{self.sequence:026d}"
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC" + "0" * 32,
                  "From": f"whatsapp:{number}", "To": COUNTY, "Body": body, "NumMedia": "0",
                  "WaId": number[1:]}
        signature = self.validator.compute_signature(self.public_url + "/twilio/messages",
                                                     params)
        async with self.session.post(self.url + "/twilio/messages", data=params,
                                     headers={"X-Twilio-Signature": signature}) as response:
            await response.read()
            return response.status


async def subscribe(webhook, count, concurrency=48):
    numbers = iter(range(count))
    failures = 0

    async def one_lane():
        nonlocal failures
        for i in numbers:
            if await webhook.post(f"+49151{i:08d}", "Start") != 200:
                failures += 1

    await asyncio.gather(*(one_lane() for _ in range(concurrency)))
    return failures


async def citizen(webhook, name, stop, every, latencies, refused):
    """Writes a question or a Start every ``every`` seconds, from ever new numbers."""
    n = 0
    while not stop.is_set():
        n += 1
        number = f"+49176{name}{n:07d}"
        body = "Start" if n % 3 == 0 else "Ist die B74 noch gesperrt?"
        started = time.perf_counter()
        try:
            status = await webhook.post(number, body)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            status = None
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            refused.append(status)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass


async def storm(args, web_url, public_url, fake, web, worker, proxy=None):
    timeout = aiohttp.ClientTimeout(total=30)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        webhook = Webhook(session, web_url, public_url)
        started = time.monotonic()
        failed = await subscribe(webhook, args.subscribers)
        print(f"{args.subscribers} subscribed through the signed webhook in "
              f"{time.monotonic() - started:.0f} s ({failed} refused)", flush=True)
        fake_config(fake, callbacks=["sent", "delivered", "read"], callback_delay=0.5,
                    callback_keepalive=args.keepalive)
        await asyncio.sleep(2)  # the worker is idle, the web server quiet: a clean start
        stop = asyncio.Event()
        latencies, refused = [], []
        citizens = [asyncio.create_task(citizen(webhook, f"{k}", stop, 0.1, latencies, refused))
                    for k in range(2)]
        processes = {"web": web.pid, "worker": worker.pid, "fake": fake.pid,
                     **({"nginx": proxy.proc.pid} if proxy else {})}
        cpu_before = {name: process_cpu(pid) for name, pid in processes.items()}
        posted = time.time()
        async with session.post(web_url + "/api/broadcasts", headers=auth, json={
                "text": "Unwetterwarnung: Orkanböen bis 140 km/h. Bleiben Sie im Haus.",
                "urgent": True}) as response:
            answer = await response.json()
        answered_ms = (time.time() - posted) * 1000
        read_at = None
        deadline = posted + args.subscribers / args.rate * 2 + 120
        while time.time() < deadline:
            await asyncio.sleep(1)  # the console's counts poll, once a second
            async with session.get(f"{web_url}/api/broadcasts/{answer['id']}",
                                   headers=auth) as response:
                counts = (await response.json())["counts"]
            if counts["read"] >= args.subscribers:
                read_at = time.time()
                break
        stop.set()
        await asyncio.gather(*citizens)
        cpu_after = {name: process_cpu(pid) for name, pid in processes.items()}
    stats = fake_stats(fake)
    return {"posted": posted, "answered_ms": answered_ms, "read_at": read_at, "counts": counts,
            "stats": stats, "latencies": latencies, "refused": refused,
            "cpu": {k: sum(cpu_after[k]) - sum(cpu_before[k]) for k in cpu_before},
            "system": {k: cpu_after[k][1] - cpu_before[k][1] for k in cpu_before}}


def report(args, result):
    stats, n = result["stats"], args.subscribers
    ideal = n / args.rate
    last = stats["last_at"] - result["posted"] if stats["last_at"] else float("nan")
    callbacks = stats["callbacks"]
    taken = sum(v for k, v in callbacks.items() if k.isdigit() and 200 <= int(k) < 300)
    lost = sum(callbacks.values()) - taken
    settled = (result["read_at"] - stats["last_at"]) if result["read_at"] else None
    lat = sorted(result["latencies"])
    cpu = result["cpu"]
    print(f"\nworst night: {n} subscribers, SEND_RATE_LIMIT={args.rate:g}, "
          f"callbacks {'with' if args.keepalive else 'without'} keep-alive"
          + (", through nginx" if "nginx" in result["cpu"] else "")
          + (", STATUS_SHORT_PATH=0" if args.no_short_path else ""))
    print(f"  POST /api/broadcasts answered in      {result['answered_ms']:.0f} ms")
    print(f"  messages sent                         {stats['messages']} of {n}")
    print(f"  time from POST to the last message    {last:.1f} s (ideal {ideal:.1f} s, "
          f"target {1.05 * ideal + 3:.1f} s)")
    print(f"  callbacks taken / lost                {taken} / {lost}  {json.dumps(callbacks)}")
    print("  counts show every message read        "
          + (f"{settled:.1f} s after the last send" if settled is not None else
             f"never (read {result['counts']['read']} of {n})"))
    if lat:
        print(f"  citizens' replies                     p50 {statistics.median(lat):.0f} ms, "
              f"p99 {lat[int(len(lat) * 0.99) - 1]:.0f} ms, {len(lat)} messages, "
              f"{len(result['refused'])} refused")
    sent = max(1, stats["messages"])
    print(f"  CPU per message                       web {cpu['web'] / sent * 1000:.2f} ms, "
          f"worker {cpu['worker'] / sent * 1000:.2f} ms, together "
          f"{(cpu['web'] + cpu['worker']) / sent * 1000:.2f} ms "
          f"(fake Twilio apart: {cpu['fake'] / sent * 1000:.2f} ms)")
    if "nginx" in cpu:
        print(f"    nginx in front                      {cpu['nginx'] / sent * 1000:.2f} ms, "
              f"together with web and worker "
              f"{(cpu['web'] + cpu['worker'] + cpu['nginx']) / sent * 1000:.2f} ms")
    system = result["system"]
    print(f"    of which in the kernel              web {system['web'] / sent * 1000:.2f} ms, "
          f"worker {system['worker'] / sent * 1000:.2f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=800)
    parser.add_argument("--keepalive", action="store_true",
                        help="the fake posts callbacks on kept-alive connections")
    parser.add_argument("--latency", type=float, default=0.15, help="the fake's answer time")
    parser.add_argument("--nginx", action="store_true",
                        help="the shipped nginx site in front (needs Debian's nginx)")
    parser.add_argument("--nginx-connections", type=int, default=4096,
                        help="nginx's worker_connections")
    parser.add_argument("--web-workers", type=int, default=0,
                        help="WEB_CONCURRENCY (default: gunicorn.conf.py's)")
    parser.add_argument("--no-short-path", action="store_true",
                        help="STATUS_SHORT_PATH=0: callbacks through gunicorn's request tasks")
    args = parser.parse_args()
    # Stopped from outside (SIGTERM), still stop what it started: they run in sessions of
    # their own and would go on sending.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    fake = start_fake_twilio(args.latency)
    port = free_port()
    proxy = None
    if args.nginx:
        from tests.test_deploy import Nginx

        # Each callback passed on takes two connections (the platform's, the app's); when
        # the machine is busy, hundreds wait at once. The README says to raise Debian's 768.
        proxy = Nginx(port, worker_connections=args.nginx_connections).start()
    public_url = proxy.url if proxy else f"http://127.0.0.1:{port}"
    env = base_env(scratch_dir("bench-night-"), PORT=port, PUBLIC_URL=public_url,
                   **({"PROXY_COUNT": 1} if proxy else {}),
                   TWILIO_API_URL=fake.url, SEND_RATE_LIMIT=args.rate,
                   SENDER_POLL_SECONDS=0.2,
                   **({"WEB_CONCURRENCY": args.web_workers} if args.web_workers else {}),
                   **({"STATUS_SHORT_PATH": 0} if args.no_short_path else {}))
    web = procfile("web", env)
    worker = None
    try:
        wait_http(public_url + "/healthz", web)
        worker = procfile("worker", env)
        result = asyncio.run(storm(args, public_url, public_url, fake, web, worker, proxy))
    finally:
        for proc in (worker, web, fake, proxy):
            if proc is not None:
                proc.stop()
    report(args, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
