"""The WAL stays small while broadcasts go out and their status callbacks come back.

Web and worker write to the same database from several processes; a checkpoint that never
catches up with them lets the WAL grow without end (it reached 75 MB over a few broadcasts of
2,000 recipients, with a database of 3 MB).
"""

import os
import threading

from bot import vault
from bot.store import db, subscribers
from tests.conftest import free_port, wait_for

# Three broadcasts of 1,000 with three callbacks each: 12,000 writes from two processes,
# at a pace the web process keeps up with (the platform gives up on a callback after 15 s).
RECIPIENTS = 1000
BROADCASTS = 3
CALLBACKS = ["sent", "delivered", "read"]
# SQLite checkpoints every 1,000 pages (4 MB); a WAL that outgrew that is cut back to 8 MB.
WAL_LIMIT = 8 * 1024 * 1024


def seed(env, count):
    """Subscribers written through the storage code the webhook uses, in one transaction."""
    fernet = vault.parse_data_key(env["DATA_KEY"])
    box = vault.Vault(fernet, db.init_db(env["DATABASE_PATH"], fernet))
    with db.opened(env["DATABASE_PATH"]) as database, db.write(database) as conn:
        for i in range(count):
            number = f"+49152{i:08d}"
            subscribers.subscribe(conn, box.hash(number), box.encrypt(number), "Start",
                                  f"SMwal{i}")


class LargestFile:
    """Watches a file's size in the background and remembers the largest."""

    def __init__(self, path, interval=0.02):
        self.path, self.interval = path, interval
        self.largest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.largest = max(self.largest, os.path.getsize(self.path))
            except FileNotFoundError:
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def test_the_wal_stays_small_through_broadcasts_and_their_callbacks(env, twilio_api, start_web,
                                                                     start_worker):
    port = free_port()
    env = dict(env, PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}",
               SEND_RATE_LIMIT="500", SENDER_POLL_SECONDS="0.05")
    seed(env, RECIPIENTS)
    twilio_api.callbacks = CALLBACKS
    # As the platform, a moment after accepting: what is measured here is the WAL, not a
    # callback that overtakes the sender's own record of the message.
    twilio_api.callback_delay = 0.5
    web = start_web(env)
    with LargestFile(env["DATABASE_PATH"] + "-wal") as wal:
        start_worker(env)
        ids = []
        for n in range(BROADCASTS):
            answer = web.api("POST", "/api/broadcasts", json={"text": f"Meldung {n + 1}"})
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])
        expected = RECIPIENTS * BROADCASTS * len(CALLBACKS)
        wait_for(lambda: sum(twilio_api.callback_results.values()) >= expected, timeout=120,
                 interval=0.2, message="every status callback")
    assert twilio_api.callback_results[200] == expected, twilio_api.callback_results
    reads = sum(web.api("GET", f"/api/broadcasts/{broadcast_id}").json()["counts"]["read"]
                for broadcast_id in ids)
    assert reads == RECIPIENTS * BROADCASTS
    database_size = os.path.getsize(env["DATABASE_PATH"])
    assert wal.largest < WAL_LIMIT, \
        f"WAL reached {wal.largest / 1e6:.1f} MB (database {database_size / 1e6:.1f} MB)"
