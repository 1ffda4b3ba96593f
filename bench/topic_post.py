"""How long POST /api/broadcasts takes at 100,000 subscribers, with topics and without.

    python bench/topic_post.py --subscribers 100000

The Procfile's web process; a third of the subscribers get everything, the others one or two
of three topics. Each POST writes the broadcast and one delivery per recipient in one
transaction (INSERT … SELECT) before it answers. No worker runs, so nothing is sent.
"""

import argparse
import statistics
import sys
import time

import requests
from common import ADMIN_TOKEN, base_env, procfile, scratch_dir, seed_subscribers, wait_http

from bot.store import db
from tests.conftest import free_port

TOPICS = "baustellen=Baustellen,veranstaltungen=Veranstaltungen,stellen=Stellenangebote"
SLUGS = ("baustellen", "veranstaltungen", "stellen")


def choose_topics(env, count):
    """Two of three subscribers choose topics: road works and events, or jobs."""
    database = db.connect(env["DATABASE_PATH"])
    with db.write(database) as conn:
        conn.execute("UPDATE subscribers SET all_topics = 0 WHERE id % 3 != 0")
        conn.executemany(
            "INSERT INTO subscriber_topics (subscriber_id, topic) VALUES (?, ?)",
            [(i, topic) for i in range(1, count + 1) if i % 3 == 1
             for topic in ("baustellen", "veranstaltungen")]
            + [(i, "stellen") for i in range(1, count + 1) if i % 3 == 2])
    database.conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    port = free_port()
    env = base_env(scratch_dir("bench-topics-"), PORT=port, TOPICS=TOPICS,
                   PUBLIC_URL=f"http://127.0.0.1:{port}")
    seed_subscribers(env, args.subscribers)
    choose_topics(env, args.subscribers)
    web = procfile("web", env)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    cases = {"no topics (subscribers of everything)": {},
             "one topic": {"topics": ["baustellen"]},
             "two topics": {"topics": ["baustellen", "stellen"]},
             "urgent (everyone)": {"urgent": True, "topics": ["stellen"]}}
    times = {name: [] for name in cases}
    recipients = {}
    try:
        wait_http(url + "/healthz", web)
        for _ in range(args.rounds):
            for name, extra in cases.items():
                started = time.perf_counter()
                answer = requests.post(url + "/api/broadcasts", headers=auth, timeout=60,
                                       json={"text": "Probe", **extra}).json()
                times[name].append((time.perf_counter() - started) * 1000)
                recipients[name] = answer["recipients"]
    finally:
        web.stop()
    print(f"POST /api/broadcasts at {args.subscribers} subscribers (a third get everything), "
          f"median of {args.rounds}:")
    for name, values in times.items():
        print(f"  {name:40s} {recipients[name]:7d} recipients  "
              f"{statistics.median(values):6.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
