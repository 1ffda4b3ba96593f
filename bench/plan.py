"""How long POST /api/broadcasts/plan takes at 100,000 subscribers with topics and languages,
after two broadcasts to 80,000 of them in the last 24 hours.

    python bench/plan.py --subscribers 100000 --rounds 20

The Procfile's web process, with a messaging limit (MESSAGING_LIMIT_24H) so that the reach of
today is worked out, prices per category and a monthly budget. A third of the subscribers get
everything, the others one or two of three topics; a fifth read English. Two
earlier broadcasts reached everyone 20 and 4 hours ago (their deliveries written as the sender
writes them: claimed, then sent at a time); four more are scheduled in the next minutes
(their recipients counted, since they join the queue while the one planned goes out). No
worker runs, so nothing is sent; the plan creates nothing anyway.
"""

import argparse
import statistics
import subprocess
import sys
import time

import requests
from common import (ADMIN_TOKEN, base_env, cpu_seconds, procfile, scratch_dir, seed_subscribers,
                    wait_http)
from topic_post import TOPICS, choose_topics

from bot.store import db
from tests.conftest import free_port


def shape_audience(env, count):
    """Topics and languages as in topic_post.py, and two earlier broadcasts to the first four
    fifths."""
    choose_topics(env, count)
    database = db.connect(env["DATABASE_PATH"])
    now = time.time()
    with db.write(database) as conn:
        conn.execute("UPDATE subscribers SET language = 'en' WHERE id % 5 = 0")
        for hours_ago in (20, 4):
            broadcast_id = conn.execute(
                "INSERT INTO broadcasts (text, status, urgent, created_at, recipients) "
                "VALUES ('Früher', 'done', 1, ?, ?) RETURNING id",
                (db.now_iso(-hours_ago * 3600), count)).fetchone()[0]
            # Claimed, then sent, spread over the minutes the sending took: written as the
            # sender writes them, so that the database keeps whom they reached.
            conn.execute(
                "INSERT INTO deliveries (broadcast_id, subscriber_id, state) "
                "SELECT ?, id, 'sending' FROM subscribers WHERE id <= ?",
                (broadcast_id, count * 4 // 5))
            conn.execute(
                "UPDATE deliveries SET state = 'sent', sid = 'SMbench' || id, "
                "sent_at = ? + subscriber_id / 80.0 WHERE broadcast_id = ?",
                (now - hours_ago * 3600, broadcast_id))
        # Four scheduled in the next minutes (urgent, a picture, topics): each joins the
        # queue while the one planned goes out, so the plan counts the recipients of each.
        for minutes, urgent, media, topics in (
                (1, 0, None, None), (2, 1, None, None),
                (3, 0, "https://kreis.example/bild.jpg", '["baustellen"]'),
                (4, 0, None, '["stellen", "veranstaltungen"]')):
            conn.execute(
                "INSERT INTO broadcasts (text, status, urgent, media_url, topics, created_at, "
                "send_at) VALUES ('Geplant', 'scheduled', ?, ?, ?, ?, ?)",
                (urgent, media, topics, db.now_iso(), db.now_iso(minutes * 60)))
    database.conn.close()


def web_cpu(pid):
    """CPU seconds the web process and its workers have used so far: a figure the other work
    on a shared machine does not move, as it moves the time an answer takes."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return sum(cpu_seconds(p) for p in [pid] + [int(c) for c in children.stdout.split()])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    port = free_port()
    env = base_env(scratch_dir("bench-plan-"), PORT=port, TOPICS=TOPICS,
                   PUBLIC_URL=f"http://127.0.0.1:{port}", LANGUAGES="de,en",
                   MESSAGING_LIMIT_24H=args.subscribers * 9 // 10, PRICE_MARKETING="0.1131",
                   PRICE_UTILITY="0.0456", TEMPLATE_CATEGORY_EN="utility",
                   PLATFORM_FEE="0.0046", MONTHLY_BUDGET="20000", SEND_RATE_LIMIT="200",
                   SEND_RATE_LIMIT_MEDIA="80")
    started = time.perf_counter()
    seed_subscribers(env, args.subscribers)
    shape_audience(env, args.subscribers)
    print(f"seeded {args.subscribers} subscribers, two earlier broadcasts to them and four "
          f"scheduled in {time.perf_counter() - started:.0f} s")
    web = procfile("web", env)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    cases = {"no topics (subscribers of everything)": {},
             "one topic": {"topics": ["baustellen"]},
             "two topics, a picture": {"topics": ["baustellen", "stellen"],
                                       "media_url": "https://kreis.example/bild.jpg"},
             "urgent (everyone)": {"urgent": True}}
    times = {name: [] for name in cases}
    cpu = {name: 0.0 for name in cases}
    answers = {}
    try:
        wait_http(url + "/healthz", web)
        for _ in range(args.rounds):
            for name, extra in cases.items():
                used = web_cpu(web.pid)
                started = time.perf_counter()
                response = requests.post(url + "/api/broadcasts/plan", headers=auth,
                                         timeout=60, json={"text": "Probe", **extra})
                times[name].append((time.perf_counter() - started) * 1000)
                cpu[name] += web_cpu(web.pid) - used
                response.raise_for_status()
                answers[name] = response.json()
    finally:
        web.stop()
    print(f"POST /api/broadcasts/plan at {args.subscribers} subscribers (topics, two "
          f"languages, two broadcasts in the last 24 h), {args.rounds} rounds:")
    every = []
    for name, values in times.items():
        every += values
        values.sort()
        plan = answers[name]
        print(f"  {name:38s} {plan['recipients']:7d} recipients, reachable now "
              f"{plan['reachable_now']:7d}  p50 {statistics.median(values):5.0f} ms  "
              f"p95 {values[int(len(values) * 0.95) - 1]:5.0f} ms  max {values[-1]:5.0f} ms  "
              f"CPU {cpu[name] / len(values) * 1000:4.0f} ms")
    every.sort()
    print(f"  {'all':38s} p50 {statistics.median(every):5.0f} ms  "
          f"p95 {every[int(len(every) * 0.95) - 1]:5.0f} ms  max {every[-1]:5.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
