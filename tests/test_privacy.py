"""A citizen's rights: export and erasure, through the app and a real database file."""


import pytest

from bot.store import broadcasts, privacy
from tests.conftest import broadcast, database, scalar


def vault(app):
    return app.extensions["infokanal"].vault


def test_export_holds_subscription_consent_deliveries_and_notice(app, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Wo ist das Bürgerbüro?")
    broadcast_id = broadcast(app)
    data = privacy.export(database(app).conn, vault(app), erika.number)
    assert data["number"] == erika.number
    assert data["subscribed"] is True and data["subscribed_since"]
    assert [(e["action"], e["keyword"]) for e in data["consent_events"]] == [("subscribe", "Start")]
    assert data["consent_events"][0]["message_sid"].startswith("SM")
    assert [(d["broadcast_id"], d["state"]) for d in data["deliveries"]] == [
        (broadcast_id, "queued")]
    assert data["last_auto_notice_at"]


def test_export_of_an_unknown_number_is_empty(app):
    data = privacy.export(database(app).conn, vault(app), "+4915199999999")
    assert data["subscribed"] is False
    assert data["consent_events"] == data["deliveries"] == data["demo_outbox"] == []
    assert data["last_auto_notice_at"] is None


def test_erase_removes_everything_but_the_consent_proof(app, citizen):
    erika, other = citizen(), citizen()
    erika.send("Start")
    other.send("Start")
    erika.send("Eine Frage")
    broadcast_id = broadcast(app)
    report = privacy.erase(database(app).conn, vault(app), erika.number)
    assert report.was_subscribed and report.deliveries_unlinked == 1
    assert report.notice_throttle_removed == 1 and report.consent_records_kept == 2

    data = privacy.export(database(app).conn, vault(app), erika.number)
    assert data["subscribed"] is False and data["deliveries"] == []
    assert data["last_auto_notice_at"] is None
    assert [(e["action"], e["keyword"]) for e in data["consent_events"]] == [
        ("subscribe", "Start"), ("unsubscribe", "erasure")]
    # The broadcast still counts two recipients; the other citizen is untouched.
    assert broadcasts.get(database(app).conn, broadcast_id)["recipients"] == 2
    assert scalar(app, "SELECT count(*) FROM deliveries WHERE broadcast_id = ?", broadcast_id) == 2
    assert privacy.export(database(app).conn, vault(app), other.number)["subscribed"] is True


def test_erase_twice_records_the_withdrawal_once(app, citizen):
    erika = citizen()
    erika.send("Start")
    privacy.erase(database(app).conn, vault(app), erika.number)
    second = privacy.erase(database(app).conn, vault(app), erika.number)
    assert not second.was_subscribed and second.consent_records_kept == 2


def test_erase_demo_outbox(config, citizen):
    from bot import create_app

    demo = create_app(dict(config, TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN=""))
    client = demo.test_client()
    number = "+4915100000042"
    client.post("/twilio/messages", data={"MessageSid": "SMdemo1", "From": f"whatsapp:{number}",
                                          "Body": "Start"})
    assert len(privacy.export(database(demo).conn, vault(demo), number)["demo_outbox"]) == 1
    report = privacy.erase(database(demo).conn, vault(demo), number)
    assert report.outbox_removed == 1
    assert privacy.export(database(demo).conn, vault(demo), number)["demo_outbox"] == []


@pytest.mark.parametrize("command", ["export", "erase"])
@pytest.mark.parametrize("number", ["hallo", "+49", "0151 1234567890123456", "+"])
def test_privacy_commands_refuse_a_bad_number_and_change_nothing(app, citizen, command, number):
    citizen().send("Start")
    before = scalar(app, "SELECT count(*) FROM consent_events")
    result = app.test_cli_runner().invoke(args=["privacy", command, number])
    assert result.exit_code != 0
    assert "phone number" in result.output
    assert scalar(app, "SELECT count(*) FROM consent_events") == before
    assert scalar(app, "SELECT count(*) FROM subscribers") == 1


def test_privacy_commands_accept_national_spelling_in_several_words(app, citizen):
    erika = citizen()
    erika.send("Start")
    national = "0" + erika.number[3:6] + " " + erika.number[6:]
    result = app.test_cli_runner().invoke(args=["privacy", "erase", *national.split()])
    assert result.exit_code == 0, result.output
    assert "Kept: 2 consent records" in result.output and "Art. 7(1)" in result.output
    assert scalar(app, "SELECT count(*) FROM subscribers") == 0


def test_stored_numbers_are_fernet_tokens_that_open_under_data_key_only(app, citizen):
    from cryptography.fernet import Fernet, InvalidToken

    from bot.vault import new_key

    erika = citizen()
    erika.send("Start")
    token, phone_hash = database(app).conn.execute(
        "SELECT phone_enc, phone_hash FROM subscribers").fetchone()
    assert erika.number not in token and erika.number.lstrip("+") not in phone_hash
    assert Fernet(app.config["DATA_KEY"].encode()).decrypt(token.encode()).decode() \
        == erika.number
    with pytest.raises(InvalidToken):
        Fernet(new_key().encode()).decrypt(token.encode())
    import hashlib

    assert phone_hash != hashlib.sha256(erika.number.encode()).hexdigest(), \
        "the hash is keyed: a guessed number cannot be checked against it without the key"
