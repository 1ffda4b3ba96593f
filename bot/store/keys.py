"""Rotating DATA_KEY over the stored numbers (``keys rotate``).

Rotation never stops the webhook: the operator first puts the new key in front
(``DATA_KEY=new,old``) and reloads the web workers, so both keys decrypt and new rows are
already written under the new key. ``keys rotate`` then re-encrypts the remaining rows in short
transactions, so a webhook waits at most one batch for the write lock.
"""

import time
from dataclasses import dataclass

from cryptography.fernet import InvalidToken, MultiFernet

from .. import vault
from .db import write

BATCH_SIZE = 500
# Between batches the lock is free for a moment, so that waiting webhooks get their turn
# instead of racing a rotation that re-takes the lock at once.
PAUSE_SECONDS = 0.005


@dataclass
class RotationReport:
    keys: int
    rotated: int = 0
    current: int = 0
    unreadable: int = 0
    lookup_rewrapped: bool = False


def rotate(conn, data_key, batch_size=BATCH_SIZE, pause_seconds=PAUSE_SECONDS):
    """Re-encrypt every phone number and the wrapped lookup key under the newest key.

    ``conn`` is a connection (or sqlite-utils Database) that holds no transaction. Rows
    already under the newest key are left alone, so running it twice is harmless. Rows that no
    key in ``data_key`` opens are counted as unreadable and left as they are.
    """
    keys = vault.split_data_key(data_key)
    newest, every_key = keys[0], MultiFernet(keys)
    report = RotationReport(keys=len(keys))
    with write(conn) as tx:
        wrapped = tx.execute("SELECT value FROM app_keys WHERE name = 'lookup'").fetchone()[0]
        if not vault.opens(newest, wrapped):
            tx.execute("UPDATE app_keys SET value = ? WHERE name = 'lookup'",
                       (every_key.rotate(wrapped.encode("ascii")).decode("ascii"),))
            report.lookup_rewrapped = True
    last_id = 0
    while True:
        with write(conn) as tx:
            rows = tx.execute("SELECT id, phone_enc FROM subscribers WHERE id > ? ORDER BY id "
                              "LIMIT ?", (last_id, batch_size)).fetchall()
            updates = []
            for subscriber_id, token in rows:
                if vault.opens(newest, token):
                    report.current += 1
                    continue
                try:
                    fresh = every_key.rotate(token.encode("ascii")).decode("ascii")
                except InvalidToken:
                    report.unreadable += 1
                    continue
                updates.append((fresh, subscriber_id))
            tx.executemany("UPDATE subscribers SET phone_enc = ? WHERE id = ?", updates)
            report.rotated += len(updates)
        if len(rows) < batch_size:
            return report
        last_id = rows[-1][0]
        time.sleep(pause_seconds)
