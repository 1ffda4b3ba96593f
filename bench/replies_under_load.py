"""Answers to citizens during a big broadcast: how long each waits, and whether the number's
rate holds.

The Procfile's worker sends a broadcast to ``--subscribers`` at ``--rate`` to a fake Twilio (in
this process, so that it can note when each message arrived); meanwhile an answer is queued
every ``--every`` seconds as the web process queues them (``store.replies``, a transaction of
its own). Printed: the answers' wait from being queued to reaching the platform (p50, p99,
max), the broadcast's own time, and the most messages that reached the platform in any one
second (sliding by 10 ms), which must stay within the rate and its small burst.

    python bench/replies_under_load.py [--subscribers 20000] [--rate 800] [--every 0.05]
"""

import argparse
import statistics
import threading
import time

from common import base_env, procfile, scratch_dir, seed_subscribers  # noqa: I001

from bot import vault
from bot.store import broadcasts, db, replies
from tests.fake_twilio import FakeTwilio


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=800)
    parser.add_argument("--every", type=float, default=0.05)
    parser.add_argument("--latency", type=float, default=0.02)
    args = parser.parse_args()

    fake = FakeTwilio(latency=args.latency).start()
    env = base_env(scratch_dir("bench-replies-"), TWILIO_API_URL=fake.url,
                   SEND_RATE_LIMIT=args.rate, SENDER_POLL_SECONDS=0.05)
    seed_subscribers(env, args.subscribers)
    fernet = vault.parse_data_key(env["DATA_KEY"])
    box = vault.Vault(fernet, db.init_db(env["DATABASE_PATH"], fernet))
    database = db.connect(env["DATABASE_PATH"])
    with db.write(database) as conn:
        broadcast_id = broadcasts.create(conn, "Unwetterwarnung: Orkanböen. Bleiben Sie im Haus.")[0]

    queued = {}  # body → when it was queued
    done = threading.Event()

    def queue_answers():
        number = 0
        while not done.is_set():
            body = f"Antwort {number}"
            citizen = f"+49160{number:08d}"
            with db.write(database) as conn:
                replies.queue(conn, box.hash(citizen), box.encrypt(citizen), body)
            queued[body] = time.time()
            number += 1
            done.wait(args.every)

    worker = procfile("worker", env)
    deadline = time.monotonic() + args.subscribers / args.rate * 3 + 60
    try:
        while len(fake.messages) < args.subscribers // 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        answering = threading.Thread(target=queue_answers, daemon=True)
        answering.start()
        while time.monotonic() < deadline:
            broadcast_messages = sum(1 for m in list(fake.messages)
                                     if not m["Body"].startswith("Antwort "))
            if broadcast_messages >= args.subscribers:
                break
            time.sleep(0.2)
        done.set()
        answering.join()
        expected = args.subscribers + len(queued)
        while len(fake.messages) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        worker.stop()
        fake.stop()

    messages = list(fake.messages)
    arrived = {m["Body"]: m["received_at"] for m in messages if m["Body"] in queued}
    waits = sorted(arrived[body] - at for body, at in queued.items() if body in arrived)
    broadcast = [m["received_at"] for m in messages if m["Body"] not in queued]
    stamps = sorted(m["received_at"] for m in messages)
    worst = 0
    low = 0
    for high, stamp in enumerate(stamps):  # every window ending at a message
        while stamps[low] <= stamp - 1.0:
            low += 1
        worst = max(worst, high - low + 1)
    counts = broadcasts.get(database.conn, broadcast_id)["counts"]
    print(f"broadcast: {len(broadcast)} messages in {max(broadcast) - min(broadcast):.1f} s "
          f"at SEND_RATE_LIMIT={args.rate} (ideal {args.subscribers / args.rate:.1f} s); "
          f"counts sent {counts['sent']}, queued {counts['queued']}")
    print(f"answers: {len(waits)} of {len(queued)} arrived; wait from queued to the platform: "
          f"p50 {statistics.median(waits) * 1000:.0f} ms, "
          f"p99 {waits[int(len(waits) * 0.99) - 1] * 1000:.0f} ms, "
          f"max {waits[-1] * 1000:.0f} ms")
    whole = max(count for second, count in fake.per_second.items()
                if min(stamps) + 1 <= second < max(stamps) - 1)
    print(f"most messages in any one second: {worst} sliding, {whole} in a whole second "
          f"(rate {args.rate}, burst {max(1, args.rate // 50)}; arrival times at the platform, "
          f"so the network's jitter is in them)")


if __name__ == "__main__":
    main()
