"""The console's audit page on a trail of a million entries, under the Procfile's web command.

    python bench/audit_page.py [--entries 1000000]

Fills a real SQLite file with ``--entries`` audit entries whose chain hashes are right (computed
here the way ``store.audit`` computes them, inserted in one transaction), starts the web
process, signs an admin in through the form, and times, with the server's answer of how many
entries each load checked:

- the first load after the fill (no checkpoint yet: it checks as many as one load may),
- a second load (the next portion),
- the full check on the page's button (the whole chain, once),
- a load after it (nothing new to check),
- a page from the middle of the trail (``?vor=``).

For comparison it also times, in this process, the full check that every load used to run.
"""

import argparse
import json
import re
import sys
import time
from datetime import datetime, timezone

import requests
from common import PUBLIC_URL, base_env, scratch_dir, start_web

from bot import vault
from bot.store import audit, db, users

ADMIN = "chefin"
PASSWORD = "ein-langes-Passwort-fuer-den-Benchmark"
START = 1_700_000_000  # seconds since 1970: the trail begins three years back, give or take
ACTIONS = [
    ("presse", "signin", "presse", {}),
    ("presse", "broadcast_created", None, {"status": "queued", "recipients": 41234}),
    ("chefin", "broadcast_approved", None, {}),
    ("unknown", "signin_failed", None, {"attempts": 212, "locked": 207, "reason": "locked"}),
    ("nina", "broadcast_created", None, {"status": "queued", "urgent": True}),
    ("presse", "signout", "presse", {}),
]


def fill(path, count):
    """``count`` entries chained onto whatever the trail already holds, in one transaction."""
    database = db.connect(path)
    conn = database.conn
    row = conn.execute("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    prev = row[0] if row else audit.GENESIS
    step = 3 * 365.25 * 86400 / count

    def entries():
        nonlocal prev
        for n in range(count):
            actor, action, target, details = ACTIONS[n % len(ACTIONS)]
            if action == "broadcast_created":
                target = f"broadcast:{n}"
                details = dict(details, text_sha256=audit.text_hash(f"Meldung {n}"))
            at = db.to_iso(datetime.fromtimestamp(START + n * step, timezone.utc))
            details_json = audit._details_json(details)
            digest = audit.entry_hash(prev, at, actor, action, target, details_json)
            yield at, actor, action, target, details_json, prev, digest
            prev = digest

    with db.write(database) as tx:
        tx.executemany("INSERT INTO audit_log (at, actor, action, target, details, prev_hash, "
                       "hash) VALUES (?, ?, ?, ?, ?, ?, ?)", entries())
    conn.close()


def csrf(html):
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def timed(session, method, url, **kwargs):
    start = time.perf_counter()
    response = session.request(method, url, timeout=600, **kwargs)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    checked = re.search(r'data-checked-now="(\d+)"', response.text)
    return elapsed, int(checked.group(1)) if checked else None, response


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()

    workdir = scratch_dir("infokanal-bench-audit-")
    env = base_env(workdir, PUBLIC_URL=PUBLIC_URL, WEB_CONCURRENCY=1,
                   SECRET_KEY="bench-secret-key-long-enough-for-sessions")
    path = env["DATABASE_PATH"]
    db.init_db(path, vault.parse_data_key(env["DATA_KEY"]))
    database = db.connect(path)
    with db.write(database) as conn:
        users.add(conn, ADMIN, PASSWORD, users.ADMIN)
    database.conn.close()

    start = time.perf_counter()
    fill(path, args.entries)
    print(f"filled {args.entries:,} entries in {time.perf_counter() - start:.1f} s")

    database = db.connect(path)
    start = time.perf_counter()
    result = audit.verify(database.conn)
    full_in_process = time.perf_counter() - start
    database.conn.close()
    assert result.ok, result.reason
    print(f"the full check that every load used to run: {full_in_process:.2f} s "
          f"({result.checked:,} entries)")

    web = start_web(env)
    try:
        session = requests.Session()
        session.post(web.url + "/admin/login", data={
            "csrf_token": csrf(session.get(web.url + "/admin/login", timeout=30).text),
            "name": ADMIN, "password": PASSWORD}, timeout=30, allow_redirects=False)
        figures = []
        for label in ("first load after the fill", "second load"):
            elapsed, checked, page = timed(session, "GET", web.url + "/admin/audit")
            figures.append((label, elapsed, checked))
        token = csrf(page.text)
        elapsed, _, _ = timed(session, "POST", web.url + "/admin/audit/verify",
                              data={"csrf_token": token}, allow_redirects=False)
        figures.append(("full check (button)", elapsed, None))
        elapsed, checked, _ = timed(session, "GET", web.url + "/admin/audit")
        figures.append(("load after the full check", elapsed, checked))
        middle = args.entries // 2
        elapsed, checked, page = timed(session, "GET", f"{web.url}/admin/audit?vor={middle}")
        assert f'data-entry="{middle - 1}"' in page.text
        figures.append((f"page ?vor={middle:,}", elapsed, checked))
    finally:
        web.stop()
    for label, elapsed, checked in figures:
        read = "" if checked is None else f"  (checked {checked:,} entries)"
        print(f"{label:28} {elapsed * 1000:8.0f} ms{read}")
    json.dump({label: round(elapsed, 4) for label, elapsed, _ in figures}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
