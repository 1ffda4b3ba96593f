"""The warnings relay's rules, polled in the test's own process against the fake feed: what
becomes a broadcast, a draft, an update or an all-clear, and what never goes out twice."""

import asyncio

import pytest

from bot.delivery.chores import WarningRelay
from tests.conftest import ADMIN_TOKEN, rows, scalar
from tests.fake_nina import ARS, fake_nina, info_block, nina_api  # noqa: F401

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def config(config, nina_api):
    return dict(config, WARNINGS_ARS=ARS, WARNINGS_API_URL=nina_api.url,
                WARNINGS_POLL_SECONDS=0.2, WARNINGS_TIMEOUT_SECONDS=0.5)


def poll(app, times=1, **overrides):
    """Poll ``times`` with one relay (a worker's run); the results, True for complete."""
    relay = WarningRelay.from_settings(dict(app.config, **overrides))

    async def run():
        try:
            return [await relay.poll() for _ in range(times)]
        finally:
            await relay.close()

    return asyncio.run(run())


def relayed(client):
    """The relayed broadcasts, oldest first, as the API shows them."""
    listed = client.get("/api/broadcasts", headers=AUTH).json["broadcasts"]
    return [b for b in reversed(listed) if b["source"] is not None]


def subscribe(citizen, n):
    for _ in range(n):
        assert citizen().send("Start").status_code == 200


def test_a_severe_warning_becomes_one_urgent_broadcast_and_is_never_taken_again(
        app, client, citizen, nina_api):
    subscribe(citizen, 3)
    warning_id = nina_api.add(severity="Severe")
    assert poll(app, times=3) == [True, True, True]
    [broadcast] = relayed(client)
    assert broadcast["status"] == "queued" and broadcast["urgent"] is True
    assert broadcast["recipients"] == 3 and broadcast["counts"]["queued"] == 3
    assert broadcast["source"] == {"kind": "nina", "id": warning_id, "version": 1,
                                   "provider": "mowas", "severity": "Severe",
                                   "held_back": False}
    assert broadcast["text"].startswith("Großbrand in Osterholz-Scharmbeck\n\n")
    assert nina_api.detail_requests[warning_id] == 1, "read once, not at every poll"
    poll(app, times=2)  # a restarted worker knows it from the database
    assert len(relayed(client)) == 1 and nina_api.detail_requests[warning_id] == 1
    assert scalar(app, "SELECT created_by FROM broadcasts WHERE id = ?", broadcast["id"]) == "nina"
    # The audit trail says who relayed it, and what: the warning, not the citizens.
    [(actor, action, target, details)] = rows(
        app, "SELECT actor, action, target, details FROM audit_log WHERE action != 'signin'")
    assert (actor, action, target) == ("nina", "warning_relayed", f"broadcast:{broadcast['id']}")
    assert f'"warning":"{warning_id}"' in details and '"recipients":3' in details


def test_a_warning_below_the_threshold_is_a_draft_with_no_deliveries(app, client, citizen,
                                                                      nina_api):
    subscribe(citizen, 2)
    nina_api.add(severity="Moderate", headline="Glätte auf der A 27")
    poll(app, times=2)
    [draft] = relayed(client)
    assert draft["status"] == "draft" and draft["recipients"] == 0
    assert draft["source"]["severity"] == "Moderate"
    assert scalar(app, "SELECT count(*) FROM deliveries") == 0


def test_the_threshold_is_a_setting(app, client, nina_api):
    nina_api.add(severity="Moderate")
    poll(app, WARNINGS_MIN_SEVERITY="Moderate")
    assert [b["status"] for b in relayed(client)] == ["queued"]


def test_an_update_under_an_id_of_its_own_continues_the_warning_without_an_all_clear(
        app, client, nina_api):
    first = nina_api.add(severity="Extreme", headline="Deichbruch bei Ritterhude")
    poll(app)
    nina_api.remove(first)
    reference = "DE-NI-OHZ," + first.removeprefix("mow.") + ",2026-11-24T03:00:00+01:00"
    nina_api.add(severity="Extreme", headline="Deichbruch bei Ritterhude",
                 description="Das Wasser steht jetzt auch in Platjenwerbe.", msg_type="Update",
                 references=reference)
    poll(app, times=4)
    texts = [b["text"] for b in relayed(client)]
    assert len(texts) == 2
    assert texts[1].startswith("Aktualisierung: Deichbruch bei Ritterhude\n\nDas Wasser steht")
    assert not any(t.startswith("Entwarnung") for t in texts)


def test_a_warning_gone_from_two_complete_polls_ends_with_one_all_clear(app, client, nina_api):
    gone = nina_api.add(severity="Severe", headline="Gasaustritt in Lilienthal")
    poll(app)
    nina_api.remove(gone)
    assert poll(app) == [True]
    assert len(relayed(client)) == 1, "one poll without it could be a glitch of the feed"
    # While a detail cannot be read, the dashboard may be missing what that detail continues.
    unreadable = nina_api.add(severity="Minor", headline="Unlesbar")
    nina_api.detail_failures[unreadable] = 500
    assert poll(app, times=3) == [False, False, False]
    assert len(relayed(client)) == 1
    del nina_api.detail_failures[unreadable]
    poll(app, times=4)
    texts = [b["text"] for b in relayed(client)]
    assert texts.count("Entwarnung: Gasaustritt in Lilienthal\n\nDie Warnung ist aufgehoben.") == 1
    assert len(texts) == 3  # the warning, the draft of the unreadable one, the all-clear
    all_clear = relayed(client)[-1]
    assert all_clear["status"] == "queued" and all_clear["source"]["id"] == gone


def test_a_revision_of_a_warning_citizens_never_got_replaces_its_draft(app, client, nina_api):
    warning_id = nina_api.add(severity="Minor", headline="Stromausfall in Grasberg")
    poll(app)
    nina_api.update(warning_id, description="Betroffen sind jetzt auch Wörpedorf und Eickedorf.")
    poll(app)
    old, new = relayed(client)
    assert old["status"] == "discarded" and new["status"] == "draft"
    assert rows(app, "SELECT actor, action, target FROM audit_log ORDER BY id") == [
        ("nina", "warning_relayed", f"broadcast:{old['id']}"),
        ("nina", "broadcast_discarded", f"broadcast:{old['id']}"),
        ("nina", "warning_relayed", f"broadcast:{new['id']}")]
    assert new["text"].startswith("Stromausfall in Grasberg\n\nBetroffen sind jetzt auch"), \
        "no 'Aktualisierung' for something citizens never got"
    nina_api.cancel(warning_id)
    poll(app, times=3)
    assert [b["status"] for b in relayed(client)] == ["discarded", "discarded"], \
        "nothing to lift for citizens, and the outdated draft is gone"


def test_an_update_that_says_nothing_new_is_not_sent(app, client, nina_api):
    warning_id = nina_api.add(severity="Severe")
    poll(app)
    nina_api.update(warning_id)  # a new version with the same texts
    poll(app, times=2)
    assert len(relayed(client)) == 1
    assert scalar(app, "SELECT count(*) FROM relayed_warnings WHERE warning_id = ?",
                  warning_id) == 2


def test_an_update_below_the_threshold_is_a_draft_even_of_a_warning_that_went_out(
        app, client, nina_api):
    warning_id = nina_api.add(severity="Severe")
    poll(app)
    nina_api.update(warning_id, severity="Minor", description="Das Feuer ist unter Kontrolle.")
    poll(app)
    sent, update = relayed(client)
    assert (sent["status"], update["status"]) == ("queued", "draft")
    assert update["text"].startswith("Aktualisierung: ")
    nina_api.cancel(warning_id)
    poll(app)
    assert relayed(client)[-1]["status"] == "queued", \
        "the all-clear of a severe warning that citizens got goes out by itself"
    assert relayed(client)[-1]["text"].startswith("Entwarnung: ")
    assert relayed(client)[1]["status"] == "discarded", "the update's draft is outdated"


def test_the_updates_of_a_warning_the_press_office_cancelled_wait_as_drafts(app, client,
                                                                            nina_api):
    warning_id = nina_api.add(severity="Extreme")
    poll(app)
    [broadcast] = relayed(client)
    assert client.post(f"/api/broadcasts/{broadcast['id']}/cancel", headers=AUTH
                       ).status_code == 200
    nina_api.update(warning_id, description="Die Lage ist unverändert ernst.")
    poll(app)
    assert [b["status"] for b in relayed(client)] == ["cancelled", "draft"]


def test_only_the_chosen_providers_are_relayed(app, client, nina_api):
    civil = nina_api.add(provider="mowas")
    weather = nina_api.add(provider="dwd", headline="Amtliche UNWETTERWARNUNG vor ORKANBÖEN")
    poll(app, WARNINGS_PROVIDERS="dwd,lhp")
    assert [b["source"]["id"] for b in relayed(client)] == [weather]
    assert nina_api.detail_requests[civil] == 0


def test_exercises_and_tests_are_not_for_the_public(app, client, nina_api):
    exercise = nina_api.add(status="Exercise", headline="Übung: Großbrand")
    poll(app, times=3)
    assert relayed(client) == [] and nina_api.detail_requests[exercise] == 1


def test_a_cancellation_of_a_warning_never_relayed_is_nothing(app, client, nina_api):
    nina_api.add(msg_type="Cancel", headline="Entwarnung: Bombenfund")
    poll(app, times=2)
    assert relayed(client) == []


def test_each_complete_poll_keeps_its_time_and_a_failed_one_does_not(app, nina_api):
    assert poll(app) == [True]
    [(first,)] = rows(app, "SELECT value FROM meta WHERE name = 'warnings_polled_at'")
    assert first.endswith("Z") and len(first) == 27
    nina_api.failure = 500
    assert poll(app) == [False]
    assert rows(app, "SELECT value FROM meta WHERE name = 'warnings_polled_at'") == [(first,)]
    nina_api.failure = None
    poll(app)
    assert scalar(app, "SELECT value FROM meta WHERE name = 'warnings_polled_at'") > first


@pytest.mark.parametrize("failure", [500, "timeout", "garbage", "shape"])
def test_a_feed_that_fails_sends_nothing_and_ends_no_warning(app, client, nina_api, failure):
    nina_api.hang_seconds = 2
    nina_api.add(severity="Severe")
    poll(app)
    nina_api.failure = failure
    assert poll(app, times=3) == [False, False, False]
    assert len(relayed(client)) == 1


def test_a_warning_whose_detail_fails_is_sent_whole_once_it_can_be_read(app, client, nina_api):
    warning_id = nina_api.add(severity="Severe", infos=[info_block("Bombenfund", "", "", "Severe")])
    nina_api.detail_failures[warning_id] = "garbage"
    assert poll(app, times=2) == [False, False]
    assert relayed(client) == []
    del nina_api.detail_failures[warning_id]
    poll(app, times=2)
    [broadcast] = relayed(client)
    assert broadcast["text"].startswith("Bombenfund\n\nMehr Informationen: https://warnung.bund.de/")


def test_the_database_refuses_to_relay_a_revision_twice_or_end_a_warning_twice(app):
    import sqlite3
    from dataclasses import replace

    from bot.store import warnings
    from bot.store.db import write
    from tests.conftest import database

    row = warnings.Relayed("mow.1", 1, "h", "mow.1", "alert", "mowas", "Severe", "x", None)
    with write(database(app)) as conn:
        warnings.record(conn, row, "2026-11-24T03:00:00.000000Z")
    with pytest.raises(sqlite3.IntegrityError):
        with write(database(app)) as conn:
            warnings.record(conn, row, "2026-11-24T03:00:01.000000Z")
    end = warnings.Relayed("mow.1", 1, "h", "mow.1", "all_clear", "mowas", "Severe", "x", None)
    with write(database(app)) as conn:
        warnings.record(conn, end, "2026-11-24T03:00:02.000000Z")
    with pytest.raises(sqlite3.IntegrityError):
        with write(database(app)) as conn:
            warnings.record(conn, replace(end, warning_id="mow.2", version=2, hash="g"),
                            "2026-11-24T03:00:03.000000Z")


def test_a_large_dashboard_is_read_whole(nina_api):
    from bot import nina

    for n in range(300):
        nina_api.add(severity="Minor", headline=f"Hinweis {n}", description="Lang. " * 100)

    async def read():
        client = nina.Client(nina_api.url, timeout_seconds=5)
        try:
            return await client.dashboard(ARS)
        finally:
            await client.close()

    entries = asyncio.run(read())
    assert [e.headline for e in entries] == [f"Hinweis {n}" for n in range(300)]


def skipped_lines(caplog, warning_id):
    return [r for r in caplog.records
            if r.getMessage().startswith(f"Official warning {warning_id} cannot be relayed")]


def test_one_warning_that_cannot_be_relayed_is_skipped_and_the_others_and_all_clears_go_on(
        app, client, nina_api, caplog):
    """A lone surrogate in a warning's text, or a version of 10**20, raised in the relay and
    gave up the whole poll, at every poll: nothing else, no all-clear, got through."""
    gone = nina_api.add(severity="Severe", headline="Gasaustritt in Lilienthal")
    poll(app)
    nina_api.remove(gone)
    nina_api.add(severity="Severe", headline="Sturm\ud800flut an der Weser",
                 description="Der Deich\udfff bei Ritterhude ist gefährdet.")
    absurd = nina_api.add(severity="Extreme", headline="Version jenseits von SQLite")
    nina_api.warnings[absurd]["version"] = 10**20
    later = nina_api.add(severity="Severe", headline="Bombenfund in Grasberg")
    assert poll(app, times=3) == [True, True, True]
    texts = [b["text"].split("\n\n")[0] for b in relayed(client)]
    assert texts == ["Gasaustritt in Lilienthal", "Sturmflut an der Weser",
                     "Bombenfund in Grasberg", "Entwarnung: Gasaustritt in Lilienthal"]
    assert "Der Deich bei Ritterhude ist gefährdet." in relayed(client)[1]["text"]
    assert relayed(client)[2]["source"]["id"] == later
    [line] = skipped_lines(caplog, absurd)
    assert "its version '100000000000000000000' is not a whole number" in line.getMessage()
    assert nina_api.detail_requests[absurd] == 0
    assert scalar(app, "SELECT count(*) FROM relayed_warnings WHERE warning_id = ?", absurd) == 0
    nina_api.remove(absurd)
    poll(app, times=3)
    assert len(relayed(client)) == 4, "never relayed, so nothing to lift"


def test_a_warning_that_fails_in_the_relay_leaves_nothing_half_written_and_is_logged_once(
        app, client, nina_api, caplog, monkeypatch):
    import sqlite3

    from bot.store import audit

    failing = nina_api.add(severity="Extreme", headline="Deichbruch bei Ritterhude")
    nina_api.add(severity="Severe", headline="Bombenfund in Grasberg")
    record = audit.record

    def record_unless_failing(conn, actor, action, target, details=None):
        # The last write of the warning's transaction fails, as on a full disk.
        if (details or {}).get("warning") == failing:
            raise sqlite3.OperationalError("database or disk is full")
        return record(conn, actor, action, target, details)

    monkeypatch.setattr(audit, "record", record_unless_failing)
    assert poll(app, times=3) == [True, True, True]
    assert [b["text"].split("\n\n")[0] for b in relayed(client)] == ["Bombenfund in Grasberg"]
    assert scalar(app, "SELECT count(*) FROM broadcasts") == 1, "its broadcast was rolled back"
    assert scalar(app, "SELECT count(*) FROM relayed_warnings WHERE warning_id = ?", failing) == 0
    [line] = skipped_lines(caplog, failing)
    assert "OperationalError: database or disk is full" in line.getMessage()
    assert line.exc_info is not None, "a failure of the relay shows where, once"
    monkeypatch.setattr(audit, "record", record)
    poll(app)
    assert [b["text"].split("\n\n")[0] for b in relayed(client)] == [
        "Bombenfund in Grasberg", "Deichbruch bei Ritterhude"], "tried again at the next poll"


def test_at_most_max_per_poll_go_out_by_themselves_the_most_severe_first(app, client, nina_api):
    """A feed of 300 severe warnings once sent 300 urgent broadcasts within 20 s, and 300
    all-clears when they went."""
    severe = [nina_api.add(severity="Severe", headline=f"Unwetter {n}") for n in range(6)]
    extreme = [nina_api.add(severity="Extreme", headline=f"Deichbruch {n}") for n in range(2)]
    minor = nina_api.add(severity="Minor", headline="Glätte")
    poll(app, WARNINGS_MAX_PER_POLL=3)
    by_id = {b["source"]["id"]: b for b in relayed(client)}
    went = [i for i, b in by_id.items() if b["status"] == "queued"]
    assert sorted(went) == sorted(extreme + severe[:1]), "the most severe, then the oldest"
    held = [i for i, b in by_id.items() if b["source"]["held_back"]]
    assert sorted(held) == sorted(severe[1:])
    assert all(by_id[i]["status"] == "draft" for i in held)
    assert (by_id[minor]["status"], by_id[minor]["source"]["held_back"]) == ("draft", False)
    audited = rows(app, "SELECT details FROM audit_log WHERE action = 'warning_relayed'")
    assert sum('"held_back":true' in d and '"max_per_poll":3' in d for (d,) in audited) == 5
    poll(app, WARNINGS_MAX_PER_POLL=3)
    assert len(relayed(client)) == 9, "what was held back waits for the press office"
    # They all end: only the three citizens got are lifted, two by themselves.
    for warning_id in severe + extreme + [minor]:
        nina_api.remove(warning_id)
    poll(app, times=3, WARNINGS_MAX_PER_POLL=2)
    ends = [b for b in relayed(client) if b["text"].startswith("Entwarnung: ")]
    assert sorted((b["source"]["severity"], b["status"], b["source"]["held_back"])
                  for b in ends) == [("Extreme", "queued", False), ("Extreme", "queued", False),
                                     ("Severe", "draft", True)]
    warned = {b["source"]["id"]: b["status"] for b in relayed(client) if b not in ends}
    assert all(warned[i] == "discarded" for i in held + [minor]), "drafts of what ended go"


def test_the_cap_counts_what_went_out_not_what_was_looked_at(app, client, nina_api):
    """Updates that say nothing new, exercises and drafts below the threshold use no slot."""
    nina_api.add(status="Exercise", severity="Extreme", headline="Übung")
    for n in range(3):
        nina_api.add(severity="Minor", headline=f"Hinweis {n}")
    severe = [nina_api.add(severity="Severe", headline=f"Unwetter {n}") for n in range(2)]
    poll(app, WARNINGS_MAX_PER_POLL=2)
    assert sorted(b["source"]["id"] for b in relayed(client) if b["status"] == "queued") == \
        sorted(severe)


def test_a_detail_that_is_no_warning_is_skipped_and_does_not_hold_up_all_clears(
        app, client, nina_api, caplog):
    """The feed answered, but not with a warning: reading it again at every poll is no outage,
    and it must not keep every other warning from ending."""
    gone = nina_api.add(severity="Severe", headline="Gasaustritt in Lilienthal")
    poll(app)
    nina_api.remove(gone)
    empty = nina_api.add(severity="Severe", headline="Ohne Inhalt")
    nina_api.detail_failures[empty] = "shape"
    assert poll(app, times=3) == [True, True, True]
    assert [b["text"].split("\n\n")[0] for b in relayed(client)] == [
        "Gasaustritt in Lilienthal", "Entwarnung: Gasaustritt in Lilienthal"]
    [line] = skipped_lines(caplog, empty)
    assert "has no info block" in line.getMessage() and line.exc_info is None
    del nina_api.detail_failures[empty]
    poll(app)
    assert relayed(client)[-1]["text"].startswith("Ohne Inhalt\n\n")
