"""The answer to a citizen's access request (Art. 15 DSGVO), in plain German.

``privacy export --format text`` prints it for the operator to send on: what is stored about
the number, in words a citizen reads without help (dates in local time, topic and language
names, what became of each message), and how long each part is kept. It is built from the same
dict as the JSON export, so both always say the same.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers

# What a consent record's keyword means when no citizen typed it.
_NOT_TYPED = {
    "erasure": "durch Löschung auf Ihren Antrag",
    "platform-opt-out": "weil WhatsApp meldete, dass Sie keine Nachrichten mehr möchten",
}

# What became of a message to the citizen: the platform's last report, else the sender's state.
_RECEIPT = {"read": "gelesen", "delivered": "zugestellt", "sent": "gesendet",
            "failed": "nicht zugestellt"}
_STATE = {"queued": "noch nicht gesendet", "sending": "wird gesendet", "sent": "gesendet",
          "failed": "nicht zugestellt", "skipped": "nicht gesendet"}


def german_report(data, *, authority, contact, dpo, timezone, topic_names, language_names,
                  main_language, keep, service="twilio"):
    """The export ``data`` (``store.privacy.export``) as a German letter.

    ``contact``: where citizens turn (CONTACT_INFO); ``dpo``: the data protection officer or "".
    ``topic_names``: {slug: name}; ``language_names``: {code: name}; ``keep``: the retention
    periods, {"delivery_days", "consent_years", "notice_hours", "backup_days"};
    ``service``: the platform the messages go through (WHATSAPP_PLATFORM).
    """
    zone = ZoneInfo(timezone)

    def when(iso):
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(zone)
        return moment.strftime("%d.%m.%Y, %H:%M Uhr")

    def day(iso):
        # Reactions and votes keep only their day (see store.reactions).
        return datetime.fromisoformat(iso[:10]).strftime("%d.%m.%Y")

    lines = ["Auskunft nach Art. 15 DSGVO",
             f"Infokanal von {authority} auf WhatsApp",
             "",
             f"Telefonnummer: {_readable(data['number'])}",
             f"Stand: {when(data['exported_at'])}",
             ""]
    if data.get("nothing_stored"):
        lines += ["Zu dieser Nummer ist nichts gespeichert.", ""]
        lines += _outside(contact, dpo, service)
        return "\n".join(lines) + "\n"

    if data["subscribed"]:
        lines.append(f"Angemeldet seit: {when(data['subscribed_since'])}")
        if data["topics"] == "all":
            lines.append("Themen: alle Meldungen")
        else:
            lines.append("Themen: " + ", ".join(topic_names.get(slug, slug)
                                                for slug in data["topics"]))
        code = main_language if data["language"] == "main" else data["language"]
        lines.append(f"Sprache: {language_names.get(code, code)}")
    else:
        lines.append("Sie sind nicht angemeldet.")
    lines.append("")

    if data["consent_events"]:
        lines.append("Ihre Anmeldungen und Abmeldungen (Nachweis Ihrer Einwilligung):")
        for event in data["consent_events"]:
            verb = "angemeldet" if event["action"] == "subscribe" else "abgemeldet"
            topic = (f" für das Thema {topic_names.get(event['topic'], event['topic'])}"
                     if event.get("topic") else "")
            keyword = event["keyword"]
            how = _NOT_TYPED.get(keyword, f"mit „{_spoken(keyword, event.get('topic'))}“"
                                 if keyword else "")
            lines.append(f"- {when(event['at'])}: {verb}{topic} {how}".rstrip())
        lines.append("")

    if data["deliveries"]:
        lines.append(f"Meldungen an Sie, die noch mit Ihrer Nummer verknüpft sind "
                     f"({len(data['deliveries'])}):")
        for delivery in data["deliveries"]:
            status = (_RECEIPT.get(delivery["delivery_status"])
                      or _STATE.get(delivery["state"], delivery["state"]))
            text = " ".join(delivery["broadcast_text"].split())
            lines.append(f"- {when(delivery['broadcast_at'])} ({status}): {text}")
        lines.append("")

    if data.get("reactions"):
        lines.append(f"Ihre Reaktionen mit einem Emoji auf Meldungen ({len(data['reactions'])}; "
                     "gezählt, ohne dass jemand sieht, wer reagiert hat):")
        lines += [f"- {day(reaction['reacted_at'])}: {reaction['emoji']} auf Meldung Nr. "
                  f"{reaction['broadcast_id']}" for reaction in data["reactions"]]
        lines.append("")

    answered = [vote for vote in data.get("poll_votes") or [] if vote["answer"] is not None]
    if answered:
        lines.append(f"Ihre Antworten auf Umfragen ({len(answered)}; gezählt, ohne dass jemand "
                     "sieht, wer wie geantwortet hat):")
        lines += [f"- {day(vote['voted_at'])}: „{vote['answer']}“ auf Umfrage Nr. "
                  f"{vote['broadcast_id']}" for vote in answered]
        lines.append("")

    if data.get("last_message_at"):
        lines += [f"Letzte Nachricht von uns an Sie: {when(data['last_message_at'])} "
                  f"(gespeichert, weil WhatsApp begrenzt, wie viele verschiedene Menschen wir "
                  f"in 24 Stunden anschreiben dürfen)", ""]
    if data["last_auto_notice_at"]:
        lines += [f"Letzter automatischer Hinweis an Sie: {when(data['last_auto_notice_at'])} "
                  f"(der Hinweis, dass dieser Kanal keine Anfragen beantwortet)", ""]
    if data.get("replies_waiting"):
        lines += [f"Antworten an Sie, die gerade versandt werden: "
                  f"{len(data['replies_waiting'])}", ""]
    if data["demo_outbox"]:
        lines += [f"Nachrichten im Probebetrieb (Demo): {len(data['demo_outbox'])}", ""]

    lines += [
        "Wie Ihre Nummer gespeichert ist:",
        "Ihre Nummer ist nur verschlüsselt gespeichert. Die Angaben oben sind mit einem "
        "Prüfwert Ihrer Nummer verknüpft, nicht mit der Nummer selbst. Der Inhalt Ihrer "
        "Nachrichten an den Kanal wird nicht gespeichert; bei einer Anmeldung oder Abmeldung "
        "wird nur das erkannte Stichwort gespeichert, etwa „Start“ oder „Stop“.",
        "",
        "Wie lange es gespeichert bleibt:",
        "- Ihre Nummer, Themen und Sprache: bis Sie sich abmelden („Stop“) oder die Löschung "
        "verlangen.",
        f"- Die Verknüpfung der Meldungen mit Ihrer Nummer: bis zur Abmeldung, höchstens "
        f"{keep['delivery_days']:g} Tage nach dem Versand.",
        f"- Der Nachweis Ihrer Anmeldungen und Abmeldungen: {keep['consent_years']:g} Jahre "
        f"nach dem letzten Eintrag, auch nach einer Löschung (nur mit dem Prüfwert, ohne "
        f"Nummer).",
        "- Der Zeitpunkt der letzten Nachricht an Sie: bis Sie sich abmelden; danach bleibt "
        "er noch 24 Stunden, ohne Bezug zu Ihrer Nummer.",
        f"- Der Zeitpunkt des letzten automatischen Hinweises: {keep['notice_hours']:g} Stunden.",
        f"- Sicherungskopien: {keep['backup_days']:g} Tage.",
        "",
    ]
    lines += _outside(contact, dpo, service)
    return "\n".join(lines) + "\n"


def _spoken(keyword, topic):
    """A stored keyword ("start baustellen", folded, with the topic's slug) as the citizen
    would write it: "Start". The topic is named on its own in the line."""
    if topic and keyword.endswith(f" {topic}"):
        keyword = keyword[:-len(topic) - 1]
    return keyword[:1].upper() + keyword[1:]


# Who else keeps logs of the messages, by platform (WHATSAPP_PLATFORM).
OUTSIDE = {
    "twilio": "Außerhalb dieses Dienstes speichern der Versanddienstleister Twilio und WhatsApp "
              "eigene Protokolle der Nachrichten.",
    "meta": "Außerhalb dieses Dienstes speichert WhatsApp (Meta) eigene Protokolle der "
            "Nachrichten.",
}


def _outside(contact, dpo, service):
    lines = [OUTSIDE.get(service, OUTSIDE["twilio"]),
             f"Fragen und Anträge (etwa auf Löschung): {contact}"]
    if dpo:
        lines.append(f"Datenschutzbeauftragte/r: {dpo}")
    return lines


def _readable(e164):
    return phonenumbers.format_number(phonenumbers.parse(e164),
                                      phonenumbers.PhoneNumberFormat.INTERNATIONAL)
