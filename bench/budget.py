"""The month's spending, the budget's verdict and the month's report at 100,000 subscribers,
and what counting deliveries for them adds to a status callback's write.

    python bench/budget.py [--subscribers 100000] [--broadcasts 5]

In this process, on a real SQLite file: ``--subscribers`` subscribers (a fifth reading English,
whose template is utility while the main one is marketing), ``--broadcasts`` broadcasts to
all of them queued as the API queues them, every delivery sent and then reported delivered in
batches of 200 through the status callbacks' own storage code (``statuses.record_many``), as
the web's group commit writes them; once with the counting trigger of 0024_message_usage
and once, on a copy of the same database, without it. Then it times, median of many calls:

- ``costs.month_spent`` (what the plan and the budget read),
- ``budget.verdict`` (this broadcast's cost by language + the month: what a POST adds, read
  before its write lock), with two template categories and with one,
- ``month_report.report`` (the console page, the API, the command).
"""

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

from common import base_env, scratch_dir, seed_subscribers

from bot import create_app
from bot.domain import announcements, budget, costs, month_report
from bot.platforms.base import StatusUpdate
from bot.store import db, statuses

BATCH = 200


def median_ms(call, times):
    values = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        values.append((time.perf_counter() - started) * 1000)
    return statistics.median(values)


def deliver_all(path):
    """Every delivery sent with a message id, then reported delivered in batches; returns the
    seconds the reports took."""
    database = db.connect(path)
    with db.write(database) as conn:
        conn.execute("UPDATE deliveries SET state = 'sent', sid = 'SM' || id, "
                     "sent_at = unixepoch()")
    ids = [row[0] for row in database.conn.execute("SELECT id FROM deliveries ORDER BY id")]
    started = time.perf_counter()
    for at in range(0, len(ids), BATCH):
        with db.write(database) as conn:
            statuses.record_many(conn, [StatusUpdate(f"SM{i}", "delivered", 3)
                                        for i in ids[at:at + BATCH]])
    seconds = time.perf_counter() - started
    database.conn.close()
    return seconds, len(ids)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--broadcasts", type=int, default=5)
    args = parser.parse_args()
    workdir = scratch_dir("bench-budget-")
    env = base_env(workdir, LANGUAGES="de,en", TEMPLATE_CATEGORY_EN="utility",
                   PRICE_MARKETING="0.1131", PRICE_UTILITY="0.0456", PRICE_SERVICE="0",
                   PLATFORM_FEE="0.0046", MONTHLY_BUDGET="50000")
    seed_subscribers(env, args.subscribers)
    app = create_app(dict(env))
    settings = app.config
    path = env["DATABASE_PATH"]
    database = db.connect(path)
    with db.write(database) as conn:
        conn.execute("UPDATE subscribers SET language = 'en' WHERE id % 5 = 0")
    posts = []
    for n in range(args.broadcasts):
        started = time.perf_counter()
        announcements.submit(database, {"text": f"Probe {n}"}, settings, created_by="api")
        posts.append((time.perf_counter() - started) * 1000)
    database.conn.close()
    copy = str(Path(workdir) / "without-trigger.db")
    shutil.copy(path, copy)
    plain = db.connect(copy)
    with db.write(plain) as conn:
        conn.execute("DROP TRIGGER deliveries_count_usage")
    plain.conn.close()
    with_trigger, reports = deliver_all(path)
    without_trigger, _ = deliver_all(copy)

    conn = db.connect(path).conn
    spent = costs.month_spent(conn, settings)
    rows = conn.execute("SELECT count(*) FROM message_usage").fetchone()[0]
    print(f"{args.subscribers} subscribers (a fifth in English: utility), {args.broadcasts} "
          f"broadcasts, {reports} deliveries reported delivered; message_usage holds {rows} rows")
    print(f"  month spent (estimated): {costs.money(spent)} {settings['CURRENCY']}")
    print(f"  POST (announcements.submit with the budget), median: "
          f"{statistics.median(posts):7.1f} ms")
    print(f"  status reports, {BATCH} a write: {reports / with_trigger:8.0f}/s with the usage "
          f"trigger, {reports / without_trigger:8.0f}/s without "
          f"({(with_trigger - without_trigger) / reports * 1e6:+.1f} µs a report)")
    print(f"  costs.month_spent       median {median_ms(lambda: costs.month_spent(conn, settings), 200):7.3f} ms")
    print(f"  budget.verdict          median "
          f"{median_ms(lambda: budget.verdict(conn, settings, False, ()), 20):7.1f} ms "
          "(two categories: grouped by language)")
    one = dict(settings, TEMPLATE_CATEGORIES=dict.fromkeys(settings["TEMPLATE_CATEGORIES"],
                                                           "marketing"))
    print(f"  budget.verdict          median "
          f"{median_ms(lambda: budget.verdict(conn, one, False, ()), 20):7.1f} ms "
          "(one category: a count)")
    month = month_report.this_month(settings)
    print(f"  month_report.report     median "
          f"{median_ms(lambda: month_report.report(conn, settings, month), 100):7.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
