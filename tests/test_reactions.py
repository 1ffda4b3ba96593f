"""Citizens' emoji reactions to broadcasts: counted per emoji and broadcast, changed, taken back,
never answered, anonymous (the keyed hash only while it links to anything), through the app,
the real sender against the fake Twilio, and a real database file."""

from datetime import datetime, timedelta, timezone

import pytest

from bot import vocabulary as v
from bot.platforms import twilio
from bot.store import privacy, reactions, retention
from bot.whatsapp_text import emoji_only
from tests.conftest import ADMIN_TOKEN, broadcast, database, new_sid, reply_text, rows, scalar
from tests.test_broadcast_sender import run_sender

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def twilio_form(body, **extra):
    return {"MessageSid": new_sid(), "From": "whatsapp:+4915100000001", "Body": body, **extra}


@pytest.mark.parametrize("fields, kind, replied_to", [
    ({"MessageType": "reaction", "OriginalRepliedMessageSid": "SMabc"}, v.INBOUND_REACTION,
     "SMabc"),
    ({"MessageType": "reaction"}, v.INBOUND_REACTION, None),  # names nothing: not counted
    ({"OriginalRepliedMessageSid": "SMabc"}, v.INBOUND_REACTION, "SMabc"),  # emoji-only
    ({}, v.INBOUND_TEXT, None),  # an emoji alone, naming nothing: a text
])
def test_twilio_passes_a_reaction_on_in_the_shapes_it_may_take(fields, kind, replied_to):
    message = twilio.parse_inbound(twilio_form(" 👍🏽 ", **fields))
    assert (message.kind, message.replied_to) == (kind, replied_to)
    if kind == v.INBOUND_REACTION:
        assert message.body == "👍🏽"


def test_a_written_reply_to_a_broadcast_is_a_text_not_a_reaction():
    message = twilio.parse_inbound(twilio_form("Danke 👍", OriginalRepliedMessageSid="SMabc"))
    assert message.kind == v.INBOUND_TEXT
    # A reaction taken back on Twilio would come without its emoji.
    taken_back = twilio.parse_inbound(twilio_form("", MessageType="reaction",
                                                  OriginalRepliedMessageSid="SMabc"))
    assert (taken_back.kind, taken_back.body) == (v.INBOUND_REACTION, "")


@pytest.mark.parametrize("text, expected", [
    ("👍", True), ("❤️", True), ("👨‍👩‍👧", True), ("🇩🇪", True), ("👍🏿", True), ("😮😮", True),
    ("ok", False), ("👍 ok", False), ("", False), ("   ", False), ("👍" * 40, False),
])
def test_emoji_only(text, expected):
    assert emoji_only(text) is expected


def sent_broadcast(app, citizen, twilio_api, people=2, text="Die B74 ist gesperrt"):
    """``people`` subscribers and a broadcast the real sender sent them (to the fake Twilio);
    returns (citizens, broadcast id, {number: the message id each one got})."""
    citizens = [citizen() for _ in range(people)]
    for person in citizens:
        person.send("Start")
    broadcast_id = broadcast(app, text)
    run_sender(app)
    sids = {m["To"].removeprefix("whatsapp:"): m["sid"] for m in twilio_api.messages
            if m.get("Body") == text}
    assert len(sids) == people
    return citizens, broadcast_id, sids


def counted(client, broadcast_id):
    response = client.get(f"/api/broadcasts/{broadcast_id}", headers=AUTH)
    assert response.status_code == 200
    return response.get_json()["reactions"]


def react(person, sid, emoji, **fields):
    response = person.send(emoji, MessageType="reaction", OriginalRepliedMessageSid=sid,
                           **fields)
    assert response.status_code == 200
    return reply_text(response.text)


def test_reactions_are_counted_changed_and_taken_back_and_never_answered(
        app, client, citizen, twilio_api):
    (erika, max_), broadcast_id, sids = sent_broadcast(app, citizen, twilio_api)
    assert counted(client, broadcast_id) == {}
    assert react(erika, sids[erika.number], "👍") is None
    assert react(max_, sids[max_.number], "👍") is None
    assert counted(client, broadcast_id) == {"👍": 2}
    # Changed: one per citizen and broadcast, the new emoji replaces the old one.
    assert react(erika, sids[erika.number], "❤️") is None
    assert counted(client, broadcast_id) == {"👍": 1, "❤️": 1}
    # The same reaction again (Twilio retries with the same message id; or a new one).
    assert react(erika, sids[erika.number], "❤️") is None
    assert counted(client, broadcast_id) == {"👍": 1, "❤️": 1}
    # Taken back: the platform sends it without the emoji.
    assert react(erika, sids[erika.number], "") is None
    assert counted(client, broadcast_id) == {"👍": 1}
    # The emoji-only shape counts as well.
    response = erika.send("😮", OriginalRepliedMessageSid=sids[erika.number])
    assert reply_text(response.text) is None
    assert counted(client, broadcast_id) == {"👍": 1, "😮": 1}
    # No notice was claimed by any of it: the first text still gets it.
    assert reply_text(erika.send("Wann ist die Straße wieder frei?").text)
    assert scalar(app, "SELECT count(*) FROM reactions WHERE phone_hash IS NULL") == 0
    # No number in the table: the keyed hash only.
    assert all(erika.number not in str(row) and max_.number.lstrip("+") not in str(row)
               for row in rows(app, "SELECT * FROM reactions"))


def test_a_reaction_to_someone_elses_message_or_to_no_broadcast_is_not_counted(
        app, client, citizen, twilio_api):
    (erika, max_), broadcast_id, sids = sent_broadcast(app, citizen, twilio_api)
    stranger = citizen()
    assert react(stranger, sids[erika.number], "👍") is None      # not theirs
    assert react(max_, sids[erika.number], "👍") is None          # someone else's
    assert react(erika, "SM" + "f" * 32, "👍") is None            # no message of ours
    assert react(erika, None, "👍") is None                       # names no message at all
    assert counted(client, broadcast_id) == {}
    # None of these drew the notice.
    assert reply_text(stranger.send("Hallo").text)
    assert reply_text(erika.send("Hallo").text)


def test_the_console_page_shows_the_reactions(app, client, citizen, twilio_api, console):
    (erika, max_, anna), broadcast_id, sids = sent_broadcast(app, citizen, twilio_api, 3)
    for person, emoji in ((erika, "👍"), (max_, "👍"), (anna, "❤️")):
        react(person, sids[person.number], emoji)
    page = client.get(f"/admin/broadcasts/{broadcast_id}").get_data(as_text=True)
    assert '<span class="reaction">👍 2</span><span aria-hidden="true"> · </span>' \
           '<span class="reaction">❤️ 1</span>' in page
    assert "3 Reaktionen mit einem Emoji, anonym gezählt" in page
    # A public broadcast shows them on the public page too, as a channel's post does.
    public = client.get("/").get_data(as_text=True)
    assert 'Reaktionen: <span>👍 2</span><span aria-hidden="true"> · </span><span>❤️ 1</span>' \
        in public


def test_export_lists_reactions_and_erasure_keeps_the_counts_without_the_hash(
        app, client, citizen, twilio_api):
    (erika, max_), broadcast_id, sids = sent_broadcast(app, citizen, twilio_api)
    react(erika, sids[erika.number], "👍")
    react(max_, sids[max_.number], "🙏")
    vault = app.extensions["infokanal"].vault
    data = privacy.export(database(app).conn, vault, erika.number)
    assert [(r["broadcast_id"], r["emoji"]) for r in data["reactions"]] == [(broadcast_id, "👍")]
    report = privacy.erase(database(app).conn, vault, erika.number)
    assert report.reactions_unlinked == 1
    assert counted(client, broadcast_id) == {"👍": 1, "🙏": 1}
    assert privacy.export(database(app).conn, vault, erika.number)["reactions"] == []
    assert scalar(app, "SELECT count(*) FROM reactions WHERE phone_hash = ?",
                  vault.hash(erika.number)) == 0
    # Whoever leaves with Stop is unlinked too; the count stays.
    max_.send("Stop")
    assert scalar(app, "SELECT count(*) FROM reactions WHERE phone_hash IS NOT NULL") == 0
    assert counted(client, broadcast_id) == {"👍": 1, "🙏": 1}


def test_the_retention_cleanup_unlinks_reactions_with_the_deliveries(
        app, client, citizen, twilio_api):
    (erika,), broadcast_id, sids = sent_broadcast(app, citizen, twilio_api, 1)
    react(erika, sids[erika.number], "👍")
    conn = database(app)
    settings = app.config
    # Not yet: the deliveries are kept RETENTION_DELIVERY_DAYS after the broadcast finished.
    assert retention.cleanup(conn, settings)["reactions_unlinked"] == 0
    later = datetime.now(timezone.utc) + timedelta(days=settings["RETENTION_DELIVERY_DAYS"] + 1)
    counts = retention.cleanup(conn, settings, now=later)
    assert counts["reactions_unlinked"] == 1 and counts["deliveries_unlinked"] == 1
    assert counted(client, broadcast_id) == {"👍": 1}
    assert scalar(app, "SELECT count(*) FROM reactions WHERE phone_hash IS NOT NULL") == 0
    # The message id is forgotten: a later reaction names nothing we know.
    react(erika, sids[erika.number], "❤️")
    assert counted(client, broadcast_id) == {"👍": 1}
    assert reactions.broadcast_of(conn.conn, sids[erika.number],
                                  app.extensions["infokanal"].vault.hash(erika.number)) is None


def test_the_letter_to_the_citizen_names_their_reactions(app, client, citizen, twilio_api,
                                                         runner):
    (erika,), broadcast_id, sids = sent_broadcast(app, citizen, twilio_api, 1)
    react(erika, sids[erika.number], "👍")
    result = runner.invoke(args=["privacy", "export", erika.number, "--format", "text"])
    assert result.exit_code == 0, result.output
    assert "Ihre Reaktionen mit einem Emoji auf Meldungen (1;" in result.output
    assert f"👍 auf Meldung Nr. {broadcast_id}" in result.output


def test_a_reaction_keeps_only_its_day_not_a_time_that_finds_its_message_id(
        app, citizen, twilio_api, runner):
    """The deduplication log keeps each inbound message's id with its time to the microsecond,
    and no hash: a reaction's time to the second, left after the erasure, would find its own
    message id there, which the platform resolves to the number."""
    (erika, max_), broadcast_id, sids = sent_broadcast(app, citizen, twilio_api)
    react(erika, sids[erika.number], "👍")
    react(max_, sids[max_.number], "🙏")
    privacy.erase(database(app).conn, app.extensions["infokanal"].vault, erika.number)
    today = datetime.now(timezone.utc).date().isoformat()
    assert rows(app, "SELECT reacted_at FROM reactions") == [(today,), (today,)]
    logged = {at for (at,) in rows(app, "SELECT received_at FROM inbound_messages")}
    assert not logged & {at for (at,) in rows(app, "SELECT reacted_at FROM reactions")}
    result = runner.invoke(args=["privacy", "export", max_.number, "--format", "text"])
    day = datetime.now(timezone.utc).strftime("%d.%m.%Y")
    assert f"- {day}: 🙏 auf Meldung Nr. {broadcast_id}" in result.output
