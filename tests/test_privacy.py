"""A citizen's rights: export and erasure, through the app and a real database file."""

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from bot import create_app
from bot.store import broadcasts, privacy, retention
from bot.store.db import write
from tests.conftest import broadcast, citizens_of, database, scalar
from tests.test_broadcast_sender import run_sender


@pytest.fixture
def citizen_of():
    """A citizen writing to a given app (one made with settings of the test's own)."""
    return lambda app: citizens_of(app.test_client())()


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
    assert [(e["action"], e["keyword"]) for e in data["consent_events"]] == [("subscribe", "start")]
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
        ("subscribe", "start"), ("unsubscribe", "erasure")]
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


# --- privacy export: "nothing stored", and the German letter for the citizen ------------------

def test_export_of_a_number_with_nothing_stored_says_so_plainly(app, citizen):
    citizen().send("Start")  # someone else is stored; the typed number is not
    result = app.test_cli_runner().invoke(args=["privacy", "export", "0151 99999999"])
    assert result.exit_code == 0  # a complete answer, not an error
    data = json.loads(result.stdout)  # stdout stays plain JSON for machines
    assert data["nothing_stored"] is True and data["subscribed"] is False
    assert "Nothing is stored about +4915199999999" in result.stderr
    assert "Zu dieser Nummer ist nichts gespeichert" in result.stderr
    assert "typing error" in result.stderr


def test_export_of_a_former_subscriber_is_not_nothing(app, citizen):
    erika = citizen()
    erika.send("Start")
    erika.send("Stop")  # the consent records stay, so something is stored
    result = app.test_cli_runner().invoke(args=["privacy", "export", erika.number])
    assert json.loads(result.stdout)["nothing_stored"] is False
    assert result.stderr == ""


def test_export_as_text_tells_the_citizen_in_german_that_nothing_is_stored(app):
    result = app.test_cli_runner().invoke(
        args=["privacy", "export", "--format", "text", "+49 151 99999999"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Auskunft nach Art. 15 DSGVO\n")
    assert "Telefonnummer: +49 1519 9999999" in result.stdout  # as phonenumbers groups it
    assert "Zu dieser Nummer ist nichts gespeichert." in result.stdout
    assert "Angemeldet" not in result.stdout and "{" not in result.stdout


def test_export_as_text_is_a_readable_german_letter(config, citizen_of):
    app = create_app(dict(config, TOPICS="baustellen=Baustellen und Sperrungen,kultur=Kultur",
                          LANGUAGES="de,en", TIMEZONE="Europe/Berlin",
                          RETENTION_DELIVERY_DAYS="30", RETENTION_CONSENT_YEARS="3",
                          BACKUP_KEEP_DAYS="14", DATA_PROTECTION_OFFICER="Frau Muster, "
                          "datenschutz@landkreis.de"))
    erika = citizen_of(app)
    erika.send("Start Baustellen")
    erika.send("English")
    erika.send("Wo ist das Bürgerbüro?")
    with write(database(app)) as conn:
        broadcasts.create(conn, "Die B 74 ist gesperrt.\nUmleitung über Ritterhude.",
                          topics=["baustellen"])
    result = app.test_cli_runner().invoke(args=["privacy", "export", erika.number,
                                                "--format", "text"])
    assert result.exit_code == 0, result.output
    letter = result.stdout
    assert letter.startswith("Auskunft nach Art. 15 DSGVO\nInfokanal von Landkreis Musterstadt")
    assert re.search(r"^Angemeldet seit: \d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr$", letter, re.M)
    assert "Themen: Baustellen und Sperrungen\n" in letter
    assert "Sprache: English\n" in letter
    assert re.search(r"^- \d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr: angemeldet für das Thema "
                     r"Baustellen und Sperrungen mit „Start“$", letter, re.M), letter
    assert re.search(r"\(noch nicht gesendet\): Die B 74 ist gesperrt\. Umleitung über "
                     r"Ritterhude\.$", letter, re.M)
    assert "Letzter automatischer Hinweis an Sie:" in letter
    # What the letter lists ("mit „Start“") is what it says is stored: our keyword only.
    assert ("Der Inhalt Ihrer Nachrichten an den Kanal wird nicht gespeichert; bei einer "
            "Anmeldung oder Abmeldung wird nur das erkannte Stichwort gespeichert, etwa „Start“ "
            "oder „Stop“.") in letter
    assert "höchstens 30 Tage nach dem Versand" in letter
    assert "3 Jahre nach dem letzten Eintrag" in letter and "Sicherungskopien: 14 Tage" in letter
    assert "Datenschutzbeauftragte/r: Frau Muster, datenschutz@landkreis.de" in letter
    # Plain words for people: no field names, no JSON, no UTC stamps.
    for machine in ("{", "consent_events", "subscribe\n", "T0", "Z\n", "None", "main"):
        assert machine not in letter, machine
    assert result.stderr == ""


def test_export_default_stays_json_and_the_format_is_checked(app, citizen):
    erika = citizen()
    erika.send("Start")
    default = app.test_cli_runner().invoke(args=["privacy", "export", erika.number])
    explicit = app.test_cli_runner().invoke(args=["privacy", "export", "--format", "json",
                                                  erika.number])
    assert json.loads(default.stdout).keys() == json.loads(explicit.stdout).keys()
    assert json.loads(default.stdout)["subscribed"] is True
    wrong = app.test_cli_runner().invoke(args=["privacy", "export", "--format", "pdf",
                                               erika.number])
    assert wrong.exit_code == 2 and "'json', 'text'" in wrong.output


def test_export_as_text_after_an_erasure_names_the_withdrawal_in_words(app, citizen):
    erika = citizen()
    erika.send("Start")
    runner = app.test_cli_runner()
    assert runner.invoke(args=["privacy", "erase", erika.number]).exit_code == 0
    letter = runner.invoke(args=["privacy", "export", erika.number, "--format", "text"]).stdout
    assert "Sie sind nicht angemeldet." in letter
    assert re.search(r"Uhr: angemeldet mit „Start“\n- .* Uhr: abgemeldet durch Löschung auf "
                     r"Ihren Antrag\n", letter), letter
    assert "erasure" not in letter and "nichts gespeichert" not in letter


def test_an_answer_waiting_for_the_worker_is_in_the_export_and_goes_with_the_erasure(config):
    """On Meta the answer to a citizen waits in the database, with the number encrypted, until
    the worker sends it: it is part of what is stored about the number, and is erased."""
    from tests import test_meta_webhook as meta

    app = create_app(meta.meta_settings(config))
    number = "+4915100000077"
    answer = meta.post(app.test_client(), meta.payload([meta.text(number, "Start")]))
    assert answer.status_code == 200
    data = privacy.export(database(app).conn, vault(app), number)
    assert len(data["replies_waiting"]) == 1 and data["replies_waiting"][0]["body"]
    report = privacy.erase(database(app).conn, vault(app), number)
    assert report.replies_removed == 1
    assert scalar(app, "SELECT count(*) FROM replies") == 0
    assert privacy.export(database(app).conn, vault(app), number)["replies_waiting"] == []


def test_on_meta_the_privacy_page_and_the_letter_name_meta_as_the_carrier(config):
    """A county on Meta's API has no contract with Twilio: its privacy texts must not say the
    messages go through Twilio."""
    from tests import test_meta_webhook as meta

    app = create_app(meta.meta_settings(config))
    page = app.test_client().get("/datenschutz").get_data(as_text=True)
    assert "Twilio" not in page and "Meta Platforms Ireland" in page
    letter = app.test_cli_runner().invoke(
        args=["privacy", "export", "--format", "text", "+4915100000078"])
    assert letter.exit_code == 0, letter.output
    assert "Twilio" not in letter.output and "WhatsApp (Meta)" in letter.output
    twilio = create_app(config).test_client().get("/datenschutz").get_data(as_text=True)
    assert "Twilio Ireland" in twilio


def test_when_we_last_sent_a_message_is_in_the_export_and_in_the_letter(app, citizen):
    erika = citizen()
    erika.send("Start")
    assert privacy.export(database(app).conn, vault(app), erika.number)["last_message_at"] is None
    broadcast(app)
    before = datetime.now(timezone.utc)
    run_sender(app)  # through the fake Twilio: the database keeps when it took the message
    data = privacy.export(database(app).conn, vault(app), erika.number)
    last = datetime.fromisoformat(data["last_message_at"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=5) <= last <= datetime.now(timezone.utc)
    result = app.test_cli_runner().invoke(args=["privacy", "export", erika.number,
                                                "--format", "text"])
    assert result.exit_code == 0, result.output
    assert re.search(r"^Letzte Nachricht von uns an Sie: \d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr "
                     r"\(gespeichert, weil WhatsApp begrenzt", result.stdout, re.M), result.stdout
    assert "Der Zeitpunkt der letzten Nachricht an Sie: bis Sie sich abmelden" in result.stdout


def test_after_an_erasure_only_the_time_stays_and_the_cleanup_removes_it_a_day_on(app, citizen):
    erika = citizen()
    erika.send("Start")
    broadcast(app)
    run_sender(app)
    privacy.erase(database(app).conn, vault(app), erika.number)
    assert privacy.export(database(app).conn, vault(app), erika.number)["last_message_at"] is None
    # WhatsApp still counts her for the rest of the day: the time alone, nothing of who.
    assert [column[1] for column in database(app).conn.execute(
        "PRAGMA table_info(departed_reach)")] == ["at"]
    assert scalar(app, "SELECT count(*) FROM departed_reach") == 1
    now = datetime.now(timezone.utc)
    assert retention.cleanup(database(app), app.config, now=now)["departed_reach"] == 0
    later = now + timedelta(hours=24, minutes=1)
    assert retention.cleanup(database(app), app.config, now=later)["departed_reach"] == 1
    assert scalar(app, "SELECT count(*) FROM departed_reach") == 0
