"""The web process's group commit for status callbacks (``StatusWriter``) when the process
stops: every callback it has taken is stored and answered, also one whose commit is still
waiting for the database's write lock, and also more than one commit's worth."""

import asyncio
import sqlite3
import threading

from bot.platforms import twilio as gateway
from bot.store.db import connect, init_db, write
from bot.vault import new_key, parse_data_key
from bot.web.status_writer import StatusWriter
from tests.conftest import new_sid


def hold_write_lock(path):
    """Another writer holds the database's write lock until the returned event is set."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with write(connect(path)):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(5)
    return release, thread


def stored_statuses(path):
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT sid, status FROM message_status"))


def test_stopping_answers_and_stores_every_callback_taken_even_one_waiting_for_the_lock(
        tmp_path):
    path = str(tmp_path / "infokanal.db")
    init_db(path, parse_data_key(new_key()))
    sids = [new_sid() for _ in range(7)]
    release, holder = hold_write_lock(path)

    async def scenario():
        # Three a commit: the seven need three commits, the first of them blocked.
        writer = StatusWriter(path, interval=0.01, max_batch=3)
        writer.start()
        answers = [asyncio.ensure_future(writer.submit(
            gateway.parse_status({"MessageSid": sid, "MessageStatus": "delivered"})))
            for sid in sids]
        await asyncio.sleep(0.2)  # the first commit is in the writer's thread, waiting
        stopping = asyncio.ensure_future(writer.stop())
        await asyncio.sleep(0.2)
        waited = not stopping.done()
        release.set()
        await asyncio.wait_for(stopping, 10)
        await asyncio.wait(answers, timeout=5)
        return waited, [a.done() and a.exception() is None for a in answers]

    waited, answered = asyncio.run(scenario())
    holder.join(5)
    assert waited, "stop() returned while a commit was still waiting for the lock"
    assert answered == [True] * len(sids)
    assert stored_statuses(path) == {sid: "delivered" for sid in sids}

