"""The storm night on one box: an urgent broadcast to every subscriber while the platform posts
three receipts per message and citizens keep writing.

    python bench/worst_night.py --subscribers 100000 --rate 800
    python bench/worst_night.py --platform meta --subscribers 100000 --rate 800

Everything runs here: the Procfile's web and worker, the platform's fake (its own process,
answering each send in 150 ms and posting signed ``sent``, ``delivered`` and ``read``
receipts half a second later, as the platform does), two citizens writing questions and
Starts throughout, and a press officer's console polling the broadcast's counts every second.
Subscribers join through the signed webhook first (``--join storage``: through the storage
code the webhook uses, faster). With ``--nginx`` the shipped nginx site (deploy/nginx, plain
HTTP on loopback) stands in front, as the README's production setup has it: the platform and
the citizens then reach the web process through nginx, which keeps its connections to the app
alive. Prints the time from the POST to the last message, the receipts taken and lost, when
the counts showed every message read, the citizens' reply times, and the CPU each process used
per message (read from /proc).

``--platform meta`` runs it on Meta's Cloud API: the fake Graph API posts the receipts as
Meta's webhooks (``--shape single``: one status to a POST; ``batched``: several) and posts a
webhook again until it is answered 200; citizens' answers are queued and sent by the worker, so
the time until an answer reaches the fake is printed beside the webhook's own answer time. By
default the web process is killed (SIGKILL, its whole process group, as a crash takes it) in
the middle of the broadcast and started again (``--restart-web``); no receipt may be lost.
Then, in the same run, the CPU comparison: smaller broadcasts without restart or citizens,
alternating Twilio and Meta's two webhook shapes (``--compare``), each platform's CPU per
message with its receipts and the ratio Meta ÷ Twilio.
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time

import aiohttp
from common import (ADMIN_TOKEN, base_env, cpu_seconds, free_port, procfile, scratch_dir,
                    seed_subscribers, wait_http)
from fakes import SIDES

BROADCAST_NUMBERS = "+49151"   # the subscribers; citizens write from +49176…
CITIZEN_NUMBERS = "+49176"


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


class Stack:
    """The platform's fake, the web process and the worker of one run; the web process can be
    killed and started again, and its CPU is counted across both lives."""

    def __init__(self, side, args, subscribers, join):
        self.side = side
        self.fake = side.start_fake(args.latency)
        port = free_port()
        self.proxy = None
        if args.nginx:
            from tests.test_deploy import Nginx

            # Each receipt passed on takes two connections (the platform's, the app's); when
            # the machine is busy, hundreds wait at once. The README says to raise Debian's 768.
            self.proxy = Nginx(port, worker_connections=args.nginx_connections).start()
        self.public_url = self.proxy.url if self.proxy else f"http://127.0.0.1:{port}"
        env = base_env(scratch_dir("bench-night-"), PORT=port, PUBLIC_URL=self.public_url,
                       **({"PROXY_COUNT": 1} if self.proxy else {}),
                       **side.env(self.fake, self.public_url), SEND_RATE_LIMIT=args.rate,
                       SENDER_POLL_SECONDS=0.2,
                       **({"WEB_CONCURRENCY": args.web_workers} if args.web_workers else {}),
                       **({"STATUS_SHORT_PATH": 0} if args.no_short_path else {}))
        if side.name != "twilio":
            env = {k: v for k, v in env.items() if not k.startswith("TWILIO_")}
        self.env = env
        if join == "storage":
            seed_subscribers(env, subscribers)
        self.web = self.worker = None
        self.web = procfile("web", env)
        wait_http(self.public_url + "/healthz", self.web)
        self.worker = procfile("worker", env)
        self.spent_web = (0.0, 0.0)   # CPU of web processes killed during the measurement
        self.restart_cpu = None

    def processes(self):
        return {"web": self.web.pid, "worker": self.worker.pid, "fake": self.fake.pid,
                **({"nginx": self.proxy.proc.pid} if self.proxy else {})}

    def cpu(self):
        spent = {name: process_cpu(pid) for name, pid in self.processes().items()}
        spent["web"] = tuple(a + b for a, b in zip(spent["web"], self.spent_web))
        return spent

    def kill_web(self):
        """SIGKILL to the web's whole process group (master and workers), as a crash or an
        OOM kill of the service takes it; returns when it is gone."""
        last = process_cpu(self.web.pid)
        self.spent_web = tuple(a + b for a, b in zip(self.spent_web, last))
        os.killpg(self.web.proc.pid, signal.SIGKILL)
        self.web.proc.wait(10)

    def start_web(self):
        """The web process again, as systemd's Restart= brings it; returns once it answers."""
        self.web = procfile("web", self.env)
        wait_http(self.public_url + "/healthz", self.web, timeout=60)
        self.restart_cpu = sum(process_cpu(self.web.pid))

    def stop(self):
        for proc in (self.worker, self.web, self.fake, self.proxy):
            if proc is not None:
                proc.stop()


async def subscribe(inbound, count, concurrency=48):
    numbers = iter(range(count))
    failures = 0

    async def one_lane():
        nonlocal failures
        for i in numbers:
            if await inbound.post(inbound.message(f"{BROADCAST_NUMBERS}{i:08d}", "Start")) != 200:
                failures += 1

    await asyncio.gather(*(one_lane() for _ in range(concurrency)))
    return failures


async def citizen(inbound, name, stop, every, posts, written, again):
    """Writes a question or a Start every ``every`` seconds, from ever new numbers. With
    ``again`` a message not answered 200 is posted again, as Meta does, until it is."""
    n = 0
    while not stop.is_set():
        n += 1
        number = f"{CITIZEN_NUMBERS}{name}{n:07d}"
        message = inbound.message(number, "Start" if n % 3 == 0 else "Ist die B74 noch gesperrt?")
        first = time.time()
        while True:
            started = time.time()
            try:
                status = await inbound.post(message)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status = None
            posts.append((started, time.time(), status))
            if status == 200 or not again or stop.is_set():
                break
            await asyncio.sleep(0.5)
        written[number] = (first, time.time(), status)
        try:
            await asyncio.wait_for(stop.wait(), every)
        except asyncio.TimeoutError:
            pass


async def wait_for_fake(stack, count, timeout):
    """Until the fake took ``count`` messages (the welcomes a webhook join queued on Meta)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.side.sent(stack.fake)["messages"] >= count:
            return True
        await asyncio.sleep(1)
    return False


async def storm(args, stack, subscribers, join, restart, citizens, shape, keepalive):
    side, url = stack.side, stack.public_url
    timeout = aiohttp.ClientTimeout(total=30)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    result = {"restart": None}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        inbound = side.inbound(session, url, url)
        if join == "webhook":
            started = time.monotonic()
            failed = await subscribe(inbound, subscribers)
            print(f"{subscribers} subscribed through the signed webhook in "
                  f"{time.monotonic() - started:.0f} s ({failed} refused)", flush=True)
            if side.replies_by_api:
                # Each Start queued a welcome for the worker: sent before the broadcast starts,
                # so that the broadcast's clock measures the broadcast.
                if not await wait_for_fake(stack, subscribers, subscribers / args.rate * 3 + 60):
                    print("  the welcomes were not all sent; going on", flush=True)
                print(f"  their welcomes sent by {time.monotonic() - started:.0f} s", flush=True)
        side.receipts(stack.fake, url, delay=0.5, keepalive=keepalive,
                      batch=args.batch if shape == "batched" else 1)
        await asyncio.sleep(2)  # the worker is idle, the web server quiet: a clean start
        stop = asyncio.Event()
        posts, written = [], {}
        writers = [asyncio.create_task(citizen(inbound, f"{k}", stop, 0.1, posts, written,
                                               again=side.replies_by_api))
                   for k in range(2 if citizens else 0)]
        cpu_before = stack.cpu()
        posted = time.time()
        async with session.post(url + "/api/broadcasts", headers=auth, json={
                "text": "Unwetterwarnung: Orkanböen bis 140 km/h. Bleiben Sie im Haus.",
                "urgent": True}) as response:
            answer = await response.json()
        answered_ms = (time.time() - posted) * 1000
        restarter = None
        if restart:
            restarter = asyncio.create_task(restart_web(stack, posted + subscribers / args.rate / 2,
                                                        result))
        read_at, counts, last_read = None, {}, (None, time.time())
        deadline = posted + subscribers / args.rate * 2 + 120
        while time.time() < deadline:
            await asyncio.sleep(1)  # the console's counts poll, once a second
            try:
                async with session.get(f"{url}/api/broadcasts/{answer['id']}",
                                       headers=auth) as response:
                    counts = (await response.json())["counts"]
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                continue  # the web process is down for its restart
            if args.trace:
                print(f"    {time.time() - posted:6.1f} s  counts {counts}  fake "
                      f"{side.trace(stack.fake)}", flush=True)
            if counts["read"] >= subscribers and (restarter is None or restarter.done()):
                read_at = time.time()
                break
            if counts["read"] != last_read[0]:
                last_read = (counts["read"], time.time())
            elif time.time() - last_read[1] > 30 and (restarter is None or restarter.done()):
                break  # no receipt for half a minute: the rest are lost
        cpu_after = stack.cpu()
        stop.set()
        await asyncio.gather(*writers)
        if restarter is not None:
            await restarter
    # The last citizens' answers and their receipts are still on their way: the fake's
    # figures once it has nothing left to post (at most half a minute).
    await asyncio.sleep(1)
    settle = time.monotonic() + 30
    while side.pending(stack.fake) and time.monotonic() < settle:
        await asyncio.sleep(0.5)
    result.update({
        "posted": posted, "answered_ms": answered_ms, "read_at": read_at, "counts": counts,
        "sent": side.sent(stack.fake, to=BROADCAST_NUMBERS, since=posted),
        "receipts": side.stats(stack.fake), "posts": posts, "written": written,
        "cpu": {k: sum(cpu_after[k]) - sum(cpu_before[k]) for k in cpu_before},
        "system": {k: cpu_after[k][1] - cpu_before[k][1] for k in cpu_before}})
    if side.replies_by_api and written:
        result["replies"] = side.reply_times(stack.fake, list(written))
    return result


async def restart_web(stack, at, result):
    await asyncio.sleep(max(0.0, at - time.time()))
    killed = time.time()
    await asyncio.to_thread(stack.kill_web)
    await asyncio.to_thread(stack.start_web)
    result["restart"] = (killed, time.time())
    print(f"  web process killed at {killed - at:+.1f} s from the middle, answering again "
          f"{time.time() - killed:.1f} s later", flush=True)


def percentile(values, share):
    values = sorted(values)
    return values[max(0, int(len(values) * share) - 1)] if values else float("nan")


def report(args, label, subscribers, result):
    side, n = result["side"], subscribers
    sent, receipts = result["sent"], result["receipts"]
    ideal = n / args.rate
    restart = result["restart"]
    restart_seconds = restart[1] - restart[0] if restart else 0.0
    limit = 1.05 * ideal + 3 + restart_seconds
    last = sent["last_at"] - result["posted"] if sent["last_at"] else float("nan")
    settled = (result["read_at"] - sent["last_at"]) if result["read_at"] else None
    cpu = result["cpu"]
    print(f"\nworst night: {label}")
    print(f"  POST /api/broadcasts answered in      {result['answered_ms']:.0f} ms")
    print(f"  messages sent                         {sent['messages']} of {n}"
          + (f" (the fake took, by type: {receipts['types']}; refused: "
             f"{receipts['failed'] or 'none'})" if receipts.get("types") else ""))
    if restart:
        print(f"  web process down (SIGKILL → /healthz) {restart_seconds:.1f} s, "
              f"{restart[0] - result['posted']:.1f} s after the POST")
    print(f"  time from POST to the last message    {last:.1f} s (ideal {ideal:.1f} s, limit "
          f"{limit:.1f} s = 1.05 × ideal + 3 s"
          + (f" + {restart_seconds:.1f} s restart" if restart else "")
          + f"): {'met' if last <= limit else 'MISSED'}")
    given_up = receipts["given_up"]
    if given_up is None:  # Twilio: a callback not taken is gone
        print(f"  callbacks taken / lost                {receipts['taken']} / "
              f"{receipts['refused']}  {receipts['detail']}")
    else:
        print(f"  receipt webhooks answered 200 / not (posted again) / given up  "
              f"{receipts['taken']} / {receipts['refused']} / {given_up}  {receipts['detail']}")
        print(f"  statuses the app never took           {receipts['missing'] or 'none'} "
              f"({receipts['statuses_posted']} posted)")
    read = result["counts"].get("read", 0)
    print(f"  receipts lost (messages not read)     {n - read}")
    print("  counts show every message read        "
          + (f"{settled:.1f} s after the last send (limit 15 s): "
             f"{'met' if settled <= 15 else 'MISSED'}" if settled is not None else
             f"never (read {read} of {n}): MISSED"))
    posts = result["posts"]
    if posts:
        outside = [(end - start) * 1000 for start, end, status in posts
                   if not restart or end < restart[0] or start > restart[1]]
        refused = [status for start, end, status in posts if status != 200
                   and (not restart or end < restart[0] or start > restart[1])]
        print(f"  citizens' webhook answered            p50 {statistics.median(outside):.0f} ms, "
              f"p99 {percentile(outside, 0.99):.0f} ms (limit 500 ms: "
              f"{'met' if percentile(outside, 0.99) <= 500 else 'MISSED'}), {len(outside)} posts"
              + (" outside the restart" if restart else "")
              + f", {len(refused)} refused{' ' + str(refused[:5]) if refused else ''}")
        if restart:
            inside = [(start, end, status) for start, end, status in posts
                      if not (end < restart[0] or start > restart[1])]
            after = [(end - start) * 1000 for start, end, status in posts
                     if restart[1] < start < restart[1] + 10]
            print(f"    during the restart                  {len(inside)} posts, "
                  f"{sum(1 for p in inside if p[2] != 200)} not answered 200"
                  f"{' and posted again' if side.replies_by_api else ''}; "
                  f"the 10 s after it: p99 {percentile(after, 0.99):.0f} ms")
    if "replies" in result:
        written, replies = result["written"], result["replies"]
        waits = [(replies[number] - first) * 1000 for number, (first, _, _) in written.items()
                 if number in replies
                 and (not restart or replies[number] < restart[0] or first > restart[1])]
        print(f"  citizens' answers reached the fake    p50 {statistics.median(waits):.0f} ms, "
              f"p99 {percentile(waits, 0.99):.0f} ms after the citizen wrote"
              + (" (outside the restart)" if restart else "")
              + f"; {len(replies)} of {len(written)} citizens answered" if waits else
              f"  citizens' answers reached the fake    none of {len(written)}")
    count = max(1, sent["messages"])
    project = cpu["web"] + cpu["worker"]
    print(f"  CPU per message                       web {cpu['web'] / count * 1000:.2f} ms, "
          f"worker {cpu['worker'] / count * 1000:.2f} ms, together "
          f"{project / count * 1000:.2f} ms ({side.label} apart: "
          f"{cpu['fake'] / count * 1000:.2f} ms)")
    if "nginx" in cpu:
        print(f"    nginx in front                      {cpu['nginx'] / count * 1000:.2f} ms, "
              f"together with web and worker "
              f"{(project + cpu['nginx']) / count * 1000:.2f} ms")
    system = result["system"]
    print(f"    of which in the kernel              web {system['web'] / count * 1000:.2f} ms, "
          f"worker {system['worker'] / count * 1000:.2f} ms")
    if result.get("restart_cpu") is not None:
        print(f"    of which the restarted web's start  {result['restart_cpu'] * 1000:.0f} ms "
              f"in all ({result['restart_cpu'] / count * 1000:.2f} ms per message)")


def night(args, platform, subscribers, join, restart, citizens, shape, keepalive=False):
    side = SIDES[platform]
    stack = Stack(side, args, subscribers, join)
    try:
        result = asyncio.run(storm(args, stack, subscribers, join, restart, citizens, shape,
                                   keepalive))
    finally:
        stack.stop()
    result["side"] = side
    result["restart_cpu"] = stack.restart_cpu
    return result


def compare(args):
    """CPU per message with its receipts, the platforms taking turns in the same hour."""
    rounds = []
    # Twilio posts each callback on a connection of its own (the bench's default); the fake
    # Graph API keeps its connections, as Meta's webhooks do. Twilio with kept-alive callbacks
    # takes a turn too: the difference the connections make, apart from the platforms' bodies.
    turns = [("twilio", "", False), ("meta", "single", True), ("twilio", "kept-alive", True),
             ("meta", "batched", True)]
    for number in range(args.compare_rounds):
        for platform, shape, keepalive in turns:
            result = night(args, platform, args.compare, "storage", restart=False,
                           citizens=False, shape=shape, keepalive=keepalive)
            count = max(1, result["sent"]["messages"])
            cpu = result["cpu"]
            row = {"platform": platform, "shape": shape or "", "round": number + 1,
                   "web": cpu["web"] / count * 1000, "worker": cpu["worker"] / count * 1000,
                   "fake": cpu["fake"] / count * 1000, "sent": result["sent"]["messages"],
                   "read": result["read_at"] is not None,
                   "last": (result["sent"]["last_at"] or float("nan")) - result["posted"]}
            row["together"] = row["web"] + row["worker"]
            rounds.append(row)
            print(f"  round {row['round']} {platform:6} {row['shape']:10} web {row['web']:.2f} + "
                  f"worker {row['worker']:.2f} = {row['together']:.2f} ms per message "
                  f"(fake {row['fake']:.2f} ms; {row['sent']} sent, the last after "
                  f"{row['last']:.1f} s of an ideal {args.compare / args.rate:.1f} s, "
                  f"{'all read' if row['read'] else 'NOT all read'})", flush=True)
    print(f"\nCPU per message with its receipts, alternating, {args.compare} subscribers at "
          f"{args.rate:g}/s, no restart, no citizens (median of {args.compare_rounds} rounds):")
    median = {shape: statistics.median(r["together"] for r in rounds if r["shape"] == shape)
              for _, shape, _ in turns}
    twilio, kept = median[""], median["kept-alive"]
    print(f"  twilio, a connection per callback     {twilio:.2f} ms")
    print(f"  twilio, kept-alive callbacks          {kept:.2f} ms")
    for shape, words in (("single", "one status per POST"),
                         ("batched", f"up to {args.batch} statuses per POST")):
        meta = median[shape]
        print(f"  meta, {words:31} {meta:.2f} ms   meta ÷ twilio {meta / twilio:.2f} "
              f"(target ≤ 1.0: {'met' if meta <= twilio else 'MISSED'}); ÷ twilio kept-alive "
              f"{meta / kept:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", choices=sorted(SIDES), default="twilio")
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=800)
    parser.add_argument("--join", choices=("webhook", "storage"), default=None,
                        help="subscribers join through the signed webhook or the storage code "
                             "it uses (default: webhook for twilio; storage for meta, where "
                             "each Start would queue a welcome for the worker to send first)")
    parser.add_argument("--restart-web", action=argparse.BooleanOptionalAction, default=None,
                        help="kill the web process (SIGKILL) in the middle of the broadcast and "
                             "start it again (default: on for meta)")
    parser.add_argument("--shape", choices=("single", "batched"), default="single",
                        help="meta: one status per webhook POST, or several")
    parser.add_argument("--batch", type=int, default=10,
                        help="meta: statuses per POST at most with --shape batched")
    parser.add_argument("--compare", type=int, default=None,
                        help="then the CPU comparison with this many subscribers, platforms "
                             "alternating (default: 20000 for meta, none for twilio; 0: none)")
    parser.add_argument("--compare-rounds", type=int, default=2)
    parser.add_argument("--trace", action="store_true",
                        help="print the counts and the fake's figures every second")
    parser.add_argument("--keepalive", action="store_true",
                        help="twilio: the fake posts callbacks on kept-alive connections")
    parser.add_argument("--latency", type=float, default=0.15, help="the fake's answer time")
    parser.add_argument("--nginx", action="store_true",
                        help="the shipped nginx site in front (needs Debian's nginx)")
    parser.add_argument("--nginx-connections", type=int, default=4096,
                        help="nginx's worker_connections")
    parser.add_argument("--web-workers", type=int, default=0,
                        help="WEB_CONCURRENCY (default: gunicorn.conf.py's)")
    parser.add_argument("--no-short-path", action="store_true",
                        help="STATUS_SHORT_PATH=0: receipts through gunicorn's request tasks")
    args = parser.parse_args()
    meta = args.platform == "meta"
    restart = meta if args.restart_web is None else args.restart_web
    args.join = args.join or ("storage" if meta else "webhook")
    args.compare = (20_000 if meta else 0) if args.compare is None else args.compare
    # Stopped from outside (SIGTERM), still stop what it started: they run in sessions of
    # their own and would go on sending.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    label = (f"{args.platform}, {args.subscribers} subscribers, SEND_RATE_LIMIT={args.rate:g}"
             + (f", {f'up to {args.batch} statuses' if args.shape == 'batched' else 'one status'}"
                f" per webhook POST"
                if meta else f", callbacks {'with' if args.keepalive else 'without'} keep-alive")
             + (", web process killed and restarted mid-broadcast" if restart else "")
             + (", through nginx" if args.nginx else "")
             + (", STATUS_SHORT_PATH=0" if args.no_short_path else ""))
    print(f"worst night: {label} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
          flush=True)
    if args.join == "storage":
        print(f"  {args.subscribers} subscribers joined through the storage code the webhook "
              "uses", flush=True)
    if args.subscribers:
        result = night(args, args.platform, args.subscribers, args.join, restart, citizens=True,
                       shape=args.shape, keepalive=args.keepalive)
        report(args, label, args.subscribers, result)
    if args.compare:
        print(f"\nthe CPU comparison ({time.strftime('%H:%M UTC', time.gmtime())}):", flush=True)
        compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
