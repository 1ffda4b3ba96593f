"""A poll's taps and results at a county's size, in-process on a real SQLite file.

    python bench/polls.py [--subscribers 100000] [--taps 20000]

Fills a real SQLite file with ``--subscribers`` subscribers and one poll delivered to all of
them (inserted in one transaction), then times, each in the write transaction a webhook would
hold:

- ``--taps`` taps, one transaction each (what a burst of taps costs the write lock),
- the results with every tap counted (what the console page and the API read),
- a typed message from a citizen who got the poll (the check that keeps "Ja" from the notice).
"""

import argparse
import os
import sys
import time

from common import scratch_dir

from bot import vault
from bot.domain import polls as poll_domain
from bot.store import db, polls
from bot.texts import load_texts


def fill(path, box, subscribers):
    database = db.connect(path)
    now = time.time()
    with db.write(database) as conn:
        conn.executemany(
            "INSERT INTO subscribers (phone_hash, phone_enc, subscribed_at) VALUES (?, ?, ?)",
            ((box.hash(f"+49151{n:08d}"), b"x", "2026-12-01T00:00:00Z")
             for n in range(subscribers)))
        broadcast_id = conn.execute(
            "INSERT INTO broadcasts (text, status, created_at, recipients) VALUES "
            "('Frage?', 'done', '2026-12-01T00:00:00Z', ?) RETURNING id",
            (subscribers,)).fetchone()[0]
        polls.create(conn, broadcast_id, ["Ja", "Nein", "Egal"])
        conn.execute(
            "INSERT INTO deliveries (broadcast_id, subscriber_id, state, sid, sent_at) "
            "SELECT ?, id, 'sent', 'SM' || id, ? FROM subscribers", (broadcast_id, now))
    return database, broadcast_id


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--taps", type=int, default=20_000)
    args = parser.parse_args()
    path = os.path.join(scratch_dir("polls"), "infokanal.db")
    fernet = vault.parse_data_key(vault.new_key())
    box = vault.Vault(fernet, db.init_db(path, fernet))
    started = time.perf_counter()
    database, broadcast_id = fill(path, box, args.subscribers)
    print(f"filled {args.subscribers:,} subscribers and deliveries in "
          f"{time.perf_counter() - started:.1f} s")
    texts = load_texts({"LANGUAGE": "", "LANGUAGES": "", "TOPICS": "", "TEXTS_FILE": "",
                        "AUTHORITY_NAME": "Landkreis", "CONTACT_INFO": "Telefon"})
    voters = [box.hash(f"+49151{n:08d}") for n in range(min(args.taps, args.subscribers))]
    started = time.perf_counter()
    for index, voter in enumerate(voters):
        with db.write(database) as conn:
            poll_domain.tap(conn, texts, voter, broadcast_id, index % 3)
    taken = time.perf_counter() - started
    print(f"{len(voters):,} taps, one write transaction each: {taken:.2f} s, "
          f"{1e6 * taken / len(voters):.0f} µs a tap, {len(voters) / taken:,.0f} taps/s")
    started = time.perf_counter()
    results = polls.results(database.conn, broadcast_id)
    print(f"results of {results['votes']:,} votes: "
          f"{1000 * (time.perf_counter() - started):.1f} ms")
    started = time.perf_counter()
    with db.write(database) as conn:
        typed = poll_domain.typed_answer(conn, voters[-1], None, "ja")
    print(f"a typed 'ja' recognised as an answer ({typed}): "
          f"{1000 * (time.perf_counter() - started):.2f} ms")
    database.conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
