"""The send loop on Meta's Cloud API: the real Meta transport against the fake Graph API
(tests/fake_meta.py), a real SQLite file. What only Meta says shows here: its cap per citizen
on marketing messages (131049), a citizen who declined them (131050), and answers to citizens
sent as free-form text inside the 24-hour window even where broadcasts use a template."""

import asyncio
import base64
import binascii
import contextlib
import re
import sqlite3
import time

import pytest

from bot import vocabulary as v
from bot.delivery import worker
from bot.store import broadcasts, replies
from bot.store.db import write
from tests.conftest import database, rows
from tests.fake_meta import ACCESS_TOKEN, PHONE_NUMBER_ID, TEMPLATE, FakeMeta
from tests.test_reply_sending import ANSWER, counter, queue_answer, subscribe_many


@pytest.fixture(scope="module")
def fake_meta_server():
    fake = FakeMeta().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_meta(fake_meta_server):
    fake_meta_server.reset()
    return fake_meta_server


def run_on_meta(app, fake, citizen_cap_seconds=None, timeout=30, **settings):
    config = dict(app.config, WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN=ACCESS_TOKEN,
                  META_PHONE_NUMBER_ID=PHONE_NUMBER_ID, META_API_URL=fake.url,
                  META_TEMPLATE=TEMPLATE, **settings)

    async def run():
        sender = worker.build(config, app.extensions["infokanal"].vault, demo=False)
        sender.throttle_backoff_cap = 0.05
        if citizen_cap_seconds is not None:
            sender.citizen_cap_seconds = citizen_cap_seconds
        try:
            await asyncio.wait_for(sender.run(until_idle=True), timeout)
        finally:
            await sender.transport.close()
            sender.database.conn.close()

    asyncio.run(run())


def new_broadcast(app, text="Hochwasser: Pegel steigt"):
    with write(database(app)) as conn:
        return broadcasts.create(conn, text)[0]


def test_metas_cap_per_citizen_holds_a_message_back_for_later_counted_apart(app, fake_meta):
    numbers = subscribe_many(app, 2)
    broadcast_id = new_broadcast(app)
    fake_meta.error_queue = [[400, 131049]]  # the first send is held back, once
    run_on_meta(app, fake_meta, citizen_cap_seconds=0.3, SEND_MAX_ATTEMPTS=1)
    assert sorted(m["to"] for m in fake_meta.messages) == sorted(n[1:] for n in numbers)
    assert fake_meta.requests == 3
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["status"] == "done"
    assert final["counts"]["sent"] == 2 and final["counts"]["failed"] == 0
    assert final["retries_citizen_cap"] == 1 and final["retries_unknown"] == 0
    assert rows(app, "SELECT DISTINCT attempts FROM deliveries") == [(0,)]


def test_a_citizen_who_declined_marketing_at_whatsapp_fails_apart_and_stays(app, fake_meta):
    declined, fine = subscribe_many(app, 2)
    fake_meta.recipient_errors = {declined[1:]: [400, 131050]}
    broadcast_id = new_broadcast(app)
    run_on_meta(app, fake_meta)
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["counts"]["sent"] == 1 and final["counts"]["failed"] == 1
    assert final["failures"] == {(v.MARKETING_DECLINED, "131050"): 1}
    assert final["retries_citizen_cap"] == 0
    assert rows(app, "SELECT count(*) FROM subscribers") == [(2,)], "their choice, not a Stop"


def test_an_answer_goes_out_as_free_form_text_where_broadcasts_take_a_template(app, fake_meta):
    subscribe_many(app, 1)
    new_broadcast(app)
    number, _ = queue_answer(app)
    run_on_meta(app, fake_meta)
    answer, = [m for m in fake_meta.messages if m["to"] == number[1:]]
    assert answer["json"]["type"] == "text" and answer["json"]["text"]["body"] == ANSWER
    assert {m["json"]["type"] for m in fake_meta.messages if m is not answer} == {"template"}
    assert counter(app, replies.SENT) == 1


def test_metas_throughput_refusal_never_fails_an_answer(app, fake_meta):
    number, _ = queue_answer(app)
    fake_meta.error_queue = [[400, 130429]] * 3
    run_on_meta(app, fake_meta, SEND_MAX_ATTEMPTS=1)
    assert [m["to"] for m in fake_meta.messages] == [number[1:]]
    assert counter(app, replies.SENT) == 1 and counter(app, replies.FAILED) == 0



def test_a_chatty_citizens_pair_limit_holds_back_only_their_messages_never_the_broadcast(
        app, fake_meta):
    """The storm night: a 600-message broadcast while one citizen keeps writing, and Meta keeps
    refusing every message to them for its pair rate (131056). Only that citizen's messages
    wait (tried again seconds later, here shortened); the bucket is never held, nothing is
    counted as an attempt or a failure, and everyone else gets the broadcast at the rate."""
    numbers = subscribe_many(app, 600)
    chatty = numbers[0]
    fake_meta.recipient_errors = {chatty[1:]: [400, 131056]}
    broadcast_id = new_broadcast(app, "Sturmwarnung: Orkanböen im ganzen Kreis")
    config = dict(app.config, WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN=ACCESS_TOKEN,
                  META_PHONE_NUMBER_ID=PHONE_NUMBER_ID, META_API_URL=fake_meta.url,
                  META_TEMPLATE=TEMPLATE, SEND_RATE_LIMIT=200)
    others = {n[1:] for n in numbers[1:]}

    def reached():
        return others & {m["to"] for m in fake_meta.messages}

    async def run():
        sender = worker.build(config, app.extensions["infokanal"].vault, demo=False)
        sender.pair_limit_seconds = (0.2, 0.3)  # Meta's 6-10 s, shortened: refused many times
        running = asyncio.create_task(sender.run())
        deadline = time.monotonic() + 30  # three seconds at this rate; bounded either way
        try:
            while len(reached()) < len(others) and time.monotonic() < deadline:
                if len(fake_meta.messages) % 100 < 10:  # "Hilfe", again and again
                    await asyncio.to_thread(queue_answer, app, chatty, "Hilfe-Text")
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a few more refusals for the chatty citizen
        finally:
            sender.stop()
            try:
                await asyncio.wait_for(running, 15)
            finally:
                await sender.transport.close()
                sender.database.conn.close()
        return sender

    sender = asyncio.run(run())
    assert len(reached()) == len(others)
    refusals = fake_meta.requests - len(fake_meta.messages)
    assert refusals >= 3, "the chatty citizen's messages were refused again and again"
    assert chatty[1:] not in {m["to"] for m in fake_meta.messages}
    assert sender.bucket.blocked_until == 0.0 and sender.throttle_level == 0, \
        "the refusals for one citizen held the whole number"
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["counts"]["sent"] == 599 and final["counts"]["failed"] == 0
    assert final["counts"]["queued"] == 1 and final["retries_unknown"] == 0
    assert rows(app, "SELECT state, attempts FROM deliveries WHERE sid IS NULL") == [
        ("queued", 0)]
    waiting = rows(app, "SELECT DISTINCT state, attempts FROM replies")
    assert waiting == [("queued", 0)], "the answers wait for the citizen, none given up"
    assert counter(app, replies.FAILED) == 0


def test_a_sender_held_up_by_a_long_write_makes_the_time_up_never_above_the_rate(
        app, fake_meta):
    """A write that keeps the database's lock for half a second (the web process's commit on a
    busy night) holds up the sender's next claim: the messages of that moment go out after it,
    faster than the rate for a while, and yet no one-second window at the platform holds more
    than the rate."""
    rate = 150
    numbers = subscribe_many(app, 450)  # three seconds at this rate
    broadcast_id = new_broadcast(app, "Sturmwarnung: Orkanböen im ganzen Kreis")
    config = dict(app.config, WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN=ACCESS_TOKEN,
                  META_PHONE_NUMBER_ID=PHONE_NUMBER_ID, META_API_URL=fake_meta.url,
                  META_TEMPLATE=TEMPLATE, SEND_RATE_LIMIT=rate)

    def hold_the_lock(seconds):
        with write(database(app)):
            time.sleep(seconds)

    async def run():
        sender = worker.build(config, app.extensions["infokanal"].vault, demo=False)
        running = asyncio.create_task(sender.run(until_idle=True))
        try:
            deadline = time.monotonic() + 30  # bounded either way
            while len(fake_meta.messages) < 100 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(hold_the_lock, 0.5)
            await asyncio.wait_for(running, 30)
        finally:
            await sender.transport.close()
            sender.database.conn.close()
        return sender

    sender = asyncio.run(run())
    stamps = sorted(m["received_at"] for m in fake_meta.messages)
    assert len(stamps) == len(numbers)
    assert sender.bucket.made_up >= rate * 0.1, f"made up: {sender.bucket.made_up}"
    # Counted where the messages arrive, each window starting at a message, so a busy
    # machine's jitter (the fake's thread stamping a few late) is allowed for; the bucket's
    # own count is exact (tests/test_sender.py). Made up at once, the half second's messages
    # (up to 75) would have come on top of the rate.
    ahead = worst = 0
    for index, stamp in enumerate(stamps):
        while ahead < len(stamps) and stamps[ahead] < stamp + 1.0:
            ahead += 1
        worst = max(worst, ahead - index)
    assert worst <= rate * 1.1, f"{worst} messages within one second at {rate} a second"
    final = broadcasts.get(database(app).conn, broadcast_id)
    assert final["counts"]["sent"] == len(numbers) and final["status"] == "done"


def test_end_to_end_on_meta_answers_wait_for_the_worker_and_a_capped_receipt_sends_again(
        env, fake_meta, start_web, start_worker):
    """Through the Procfile's processes: a citizen's Start posted by the fake to the web
    process queues the welcome, which the worker sends once it runs; a broadcast whose message
    Meta then reports held back for its cap per citizen (a failed status, 131049) is queued
    again for later, counted apart, and the citizen stays subscribed."""
    import requests

    from tests.conftest import ADMIN_TOKEN, wait_for
    from tests.fake_meta import APP_SECRET, DISPLAY_PHONE_NUMBER

    meta_env = dict(env, WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN=ACCESS_TOKEN,
                    META_PHONE_NUMBER_ID=PHONE_NUMBER_ID, META_APP_SECRET=APP_SECRET,
                    META_VERIFY_TOKEN="verify-token-for-tests", META_API_URL=fake_meta.url,
                    META_TEMPLATE=TEMPLATE, META_DISPLAY_PHONE_NUMBER="+" + DISPLAY_PHONE_NUMBER)
    meta_env = {k: v for k, v in meta_env.items() if not k.startswith("TWILIO_")}
    web = start_web(meta_env)
    fake_meta.webhook_url = web.url + "/meta/webhook"
    citizen = "4915199990001"
    assert fake_meta.post_inbound(citizen, "Start") == 200
    time.sleep(0.3)
    assert fake_meta.messages == [], "no worker yet: the welcome waits"
    worker_process = start_worker(meta_env)
    wait_for(lambda: fake_meta.sent_to(citizen), timeout=20, message="the welcome")
    welcome, = fake_meta.messages
    assert welcome["json"]["type"] == "text"

    fake_meta.callback_failures = [131049]
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    created = requests.post(web.url + "/api/broadcasts", json={"text": "Sturmwarnung"},
                            headers=auth, timeout=10)
    assert created.status_code == 202, created.text
    path = f"{web.url}/api/broadcasts/{created.json()['id']}"

    def capped():
        detail = requests.get(path, headers=auth, timeout=10).json()
        return detail if detail["retries_citizen_cap"] == 1 else None

    detail = wait_for(capped, timeout=20, message="the cap reported and counted")
    assert detail["counts"]["queued"] == 1 and detail["counts"]["failed"] == 0
    assert detail["status"] == "sending", "it goes out again hours later"
    assert len(fake_meta.messages) == 2
    worker_process.stop()


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def _decodings(value):
    """``value`` itself and every run in it that decodes as base64 (standard or URL-safe), as
    text: Meta's message ids hold the number in base64."""
    yield value
    for run in _BASE64_RUN.findall(value):
        core = run.rstrip("=")
        padded = core + "=" * (-len(core) % 4)
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                yield decode(padded).decode("latin-1")
            except (ValueError, binascii.Error):
                pass


def stored_values_holding(path, digits):
    """(table, column) of every stored text that holds ``digits``, also base64-decoded."""
    found = set()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [column[1] for column in conn.execute(f'PRAGMA table_info("{table}")')]
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for column, value in zip(columns, row):
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    if isinstance(value, str) and any(digits in text
                                                      for text in _decodings(value)):
                        found.add((table, column))
    return found


def test_no_stored_value_holds_the_citizens_number_after_start_broadcast_and_erasure(
        config, env, fake_meta, start_web, start_worker):
    """Meta's message ids ("wamid.…") are base64 with the citizen's number in them: after a
    Start, its welcome, a broadcast with every status, a reaction to it and an erasure, no
    value in any table of the database file holds the number, as it is or base64-decoded."""
    import requests

    from bot import create_app
    from tests.conftest import ADMIN_TOKEN, wait_for
    from tests.fake_meta import APP_SECRET, DISPLAY_PHONE_NUMBER

    settings = dict(WHATSAPP_PLATFORM="meta", META_ACCESS_TOKEN=ACCESS_TOKEN,
                    META_PHONE_NUMBER_ID=PHONE_NUMBER_ID, META_APP_SECRET=APP_SECRET,
                    META_VERIFY_TOKEN="verify-token-for-tests", META_API_URL=fake_meta.url,
                    META_TEMPLATE=TEMPLATE, META_DISPLAY_PHONE_NUMBER="+" + DISPLAY_PHONE_NUMBER)
    meta_env = {k: v for k, v in dict(env, **settings).items() if not k.startswith("TWILIO_")}
    web = start_web(meta_env)
    fake_meta.webhook_url = web.url + "/meta/webhook"
    fake_meta.statuses = ["sent", "delivered", "read"]
    citizen = "4915199990002"
    assert fake_meta.post_inbound(citizen, "Start") == 200
    worker_process = start_worker(meta_env)
    wait_for(lambda: fake_meta.sent_to(citizen), timeout=20, message="the welcome")
    created = requests.post(web.url + "/api/broadcasts", json={"text": "Sturmwarnung"},
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
    assert created.status_code == 202, created.text
    wait_for(lambda: len(fake_meta.messages) == 2, timeout=20, message="the broadcast")
    broadcast_id = fake_meta.messages[1]["id"]
    assert fake_meta.post_inbound(citizen, kind="reaction", replied_to=broadcast_id,
                                  emoji="👍") == 200
    wait_for(lambda: fake_meta.pending == 0 and fake_meta.missing() == {}
             and len(fake_meta.acknowledged) == 2, timeout=20, message="every status taken")
    worker_process.stop()
    path = config["DATABASE_PATH"]
    before = stored_values_holding(path, citizen)
    # The check itself sees what it looks for: the raw ids as Meta sent them would be found.
    assert any(citizen in text for text in _decodings(broadcast_id))

    runner = create_app(dict(config, **settings)).test_cli_runner()
    erased = runner.invoke(args=["privacy", "erase", "+" + citizen])
    assert erased.exit_code == 0, erased.output
    assert stored_values_holding(path, citizen) == set(), before


def test_a_message_that_ends_failed_for_the_pair_limit_is_named_in_plain_german():
    from bot.web import labels

    label = labels.failure(v.PAIR_LIMIT, "131056")
    assert "Code" not in label and "kurz hintereinander" in label
    assert label not in {labels.failure(other, "131056")
                         for other in v.ERROR_KINDS if other != v.PAIR_LIMIT}
