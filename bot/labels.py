"""The German words the console and the public page show for codes and statuses.

A leaf module. Kept in one place so that the press office's vocabulary stays consistent and a
translation touches one file. Citizen-facing WhatsApp texts live in ``texts.py``.
"""

import re

STATUS = {
    "scheduled": "geplant",
    "queued": "wartet",
    "sending": "wird gesendet",
    "paused": "pausiert",
    "done": "gesendet",
    "cancelled": "abgebrochen",
}

COUNTS = {
    "queued": "in der Warteschlange",
    "sent": "gesendet",
    "delivered": "zugestellt",
    "read": "gelesen",
    "failed": "fehlgeschlagen",
    "skipped": "übersprungen",
}

# The same counts as column headings of the broadcast list.
COUNT_HEADINGS = {
    "queued": "Warteschlange",
    "sent": "Gesendet",
    "delivered": "Zugestellt",
    "read": "Gelesen",
    "failed": "Fehlgeschlagen",
    "skipped": "Übersprungen",
}

_NOT_ON_WHATSAPP = "Nummer nicht bei WhatsApp / ungültig"

# Twilio error codes and our own skip reasons (see sender.py) → plain German.
REASONS = {
    "63003": _NOT_ON_WHATSAPP,
    "21211": _NOT_ON_WHATSAPP,
    "63024": _NOT_ON_WHATSAPP,
    "63016": "Vorlage fehlt (außerhalb 24-Stunden-Fenster)",
    "21610": "Empfänger hat sich abgemeldet",
    "63018": "Tageslimit von WhatsApp erreicht",
    "20003": "Zugangsdaten von Twilio ungültig",
    "20429": "Zu viele Anfragen an Twilio",
    "unsubscribed": "Vor dem Versand abgemeldet",
    "cancelled": "Meldung abgebrochen",
    "expired": "Meldung abgelaufen, bevor sie gesendet wurde",
    "retries-exhausted": "Nach mehreren Versuchen aufgegeben",
    "unknown": "Unbekannter Fehler",
}


# Why the sender paused a broadcast (broadcasts.pause_reason, written in English by sender.py)
# → what the press office should know: what happened, and whether it goes on by itself.
_PAUSE_REASONS = [
    (re.compile(r"^data key$"),
     "Der Datenschlüssel (DATA_KEY) passt nicht zu den gespeicherten Nummern. Die IT muss "
     "den richtigen Schlüssel einsetzen; danach kann die Meldung fortgesetzt werden."),
    (re.compile(r"^credentials \((\w+)\)$"),
     "Twilio hat die Zugangsdaten oder die Absendernummer abgelehnt (Code {0}). Die IT muss "
     "die Einstellungen prüfen; danach kann die Meldung fortgesetzt werden."),
    (re.compile(r"^messaging limit \((\w+)\)$"),
     "Das Tageslimit von WhatsApp für diese Nummer ist erreicht (Code {0}). Der Versand geht "
     "später von selbst weiter."),
]


def pause_reason(reason):
    if not reason:
        return "Kein Grund angegeben."
    for pattern, german in _PAUSE_REASONS:
        match = pattern.match(reason)
        if match:
            return german.format(*match.groups())
    # A reason added to the sender later still shows, rather than nothing.
    return f"Ein technisches Problem beim Versand ({reason}). Bitte wenden Sie sich an die IT."


def status(code):
    return STATUS.get(code, code)


def reason(code):
    return REASONS.get(str(code), f"Sonstiger Fehler (Code {code})")


def grouped_reasons(counts_by_code):
    """{code: n} → [(German reason, n, [codes])], biggest first; codes with the same meaning
    (three ways of saying "not on WhatsApp") become one line."""
    groups = {}
    for code, number in counts_by_code.items():
        label = reason(code)
        total, codes = groups.get(label, (0, []))
        groups[label] = (total + number, codes + [str(code)])
    return sorted(((label, total, sorted(codes)) for label, (total, codes) in groups.items()),
                  key=lambda item: (-item[1], item[0]))


# broadcasts.validate speaks English to API clients; the console translates the messages it
# knows and shows the rest as they are rather than hiding the reason.
_INVALID = [
    (re.compile(r"^text is missing or empty"), "Bitte geben Sie einen Text ein."),
    (re.compile(r"^text is (\d+) characters; a .* holds at most (\d+)"),
     "Der Text hat {0} Zeichen; erlaubt sind höchstens {1}."),
    (re.compile(r"^text contains a NUL"), "Der Text enthält ein unzulässiges Steuerzeichen."),
    (re.compile(r"^media_url must be"),
     "Die Bild-Adresse muss mit http:// oder https:// beginnen."),
    (re.compile(r"^media_url cannot be sent with the text template"),
     "Mit der WhatsApp-Vorlage kann kein Bild gesendet werden; senden Sie den Text allein."),
    (re.compile(r"^send_at is in the past"), "Der geplante Zeitpunkt liegt in der Vergangenheit."),
    (re.compile(r"^send_at"), "Der geplante Zeitpunkt ist kein gültiges Datum."),
    (re.compile(r"^expires_at"), "Das Ablaufdatum ist ungültig oder liegt vor dem Versand."),
]


def invalid_broadcast(message):
    for pattern, german in _INVALID:
        match = pattern.match(message)
        if match:
            return german.format(*match.groups())
    return f"Die Meldung kann so nicht gesendet werden ({message})."
