"""The German words the console and the public page show for codes and statuses.

Kept in one place so that the press office's vocabulary stays consistent and a
translation touches one file. Citizen-facing WhatsApp texts live in ``texts.py``. It is long
for that reason: every status, code and refusal the press office may meet is worded here.
"""

import re
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app, has_app_context

from .. import platforms
from .. import vocabulary as v

STATUS = {
    "draft": "Entwurf",
    "awaiting_approval": "wartet auf Freigabe",
    "discarded": "verworfen",
    "scheduled": "geplant",
    "queued": "wartet",
    "sending": "wird gesendet",
    "paused": "pausiert",
    "done": "gesendet",
    "cancelled": "abgebrochen",
}

# How far a broadcast's messages got. "sent", "delivered" and "read" are shown cumulatively
# (a broadcast's "reached": a read message counts as delivered and sent too), so that the
# numbers never say "nothing sent, yet read"; failed and skipped are apart.
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

# What an account may do (store.users.ROLES), as the console names it.
ROLES = {
    "editor": "Redaktion",
    "publisher": "Veröffentlichen",
    "admin": "Administration",
}
ROLE_HINTS = {
    "editor": "schreibt, prüft und legt zur Freigabe vor; sendet nie selbst",
    "publisher": "sendet, sagt ab, gibt frei",
    "admin": "wie „Veröffentlichen“, dazu Konten und Protokoll",
}

# The audit trail's actions, for the console's page of it.
AUDIT_ACTIONS = {
    "signin": "Angemeldet",
    "signin_failed": "Anmeldung fehlgeschlagen",
    "signout": "Abgemeldet",
    "broadcast_created": "Meldung erstellt",
    "broadcast_edited": "Meldung geändert",
    "broadcast_approval_requested": "Freigabe angefragt",
    "broadcast_approved": "Meldung freigegeben",
    "broadcast_rejected": "Freigabe abgelehnt",
    "broadcast_withdrawn": "Freigabe-Anfrage zurückgezogen",
    "broadcast_sent": "Meldung gesendet",
    "broadcast_test_sent": "Probeversand",
    "broadcast_cancelled": "Meldung abgebrochen",
    "broadcast_resumed": "Meldung fortgesetzt",
    "broadcast_discarded": "Entwurf verworfen",
    "broadcast_archive_removed": "Aus dem Archiv entfernt",
    "broadcast_archive_restored": "Wieder im Archiv",
    "broadcast_corrected": "Berichtigung erstellt",
    "warning_relayed": "Amtliche Warnung weitergegeben",
    "user_added": "Konto angelegt",
    "user_removed": "Konto gelöscht",
    "user_role_changed": "Rolle geändert",
    "user_password_changed": "Passwort geändert",
    "keys_rotated": "Schlüssel gewechselt",
    "privacy_export": "Datenauskunft erteilt",
    "privacy_erase": "Daten einer Nummer gelöscht",
    "backup": "Sicherung geschrieben",
}
AUDIT_ACTORS = {"api": "API (Token)", "cli": "Befehl auf dem Server", "nina": "NINA (Warnungen)",
                "unknown": "unbekannt"}

# Where a relayed official warning comes from, and how severe its source says it is.
PROVIDERS = {
    "mowas": "MoWaS (Bevölkerungsschutz)",
    "katwarn": "KATWARN",
    "biwapp": "BIWAPP",
    "dwd": "Deutscher Wetterdienst",
    "lhp": "Hochwasserzentralen (LHP)",
    "police": "Polizei",
}
SEVERITIES = {"Minor": "gering", "Moderate": "mittel", "Severe": "hoch", "Extreme": "extrem"}

_NOT_ON_WHATSAPP = "Nummer nicht bei WhatsApp / ungültig"

# Why a message failed, by error kind (see vocabulary); "{code}" is the platform's code.
FAILURES = {
    v.NOT_ON_WHATSAPP: _NOT_ON_WHATSAPP,
    v.INVALID_NUMBER: _NOT_ON_WHATSAPP,
    v.TEMPLATE_NEEDED: "Vorlage fehlt (außerhalb 24-Stunden-Fenster)",
    v.TEMPLATE_REFUSED: "Von WhatsApp abgelehnt: Vorlage passt nicht zum Text",
    v.OPTED_OUT: "Bei WhatsApp abgemeldet oder blockiert",
    v.MESSAGING_LIMIT: "Tageslimit von WhatsApp erreicht",
    v.CREDENTIALS: "Zugangsdaten von {service} ungültig",
    v.THROTTLED: "Zu viele Anfragen an {service}",
    v.UNKNOWN: "Nach mehreren Versuchen aufgegeben",
    # The platform's cap per citizen held the message back, and still did a day later.
    v.CITIZEN_CAP: ("Von WhatsApp zurückgehalten, weil die Person zu viele Werbe-Nachrichten "
                    "bekommt; auch spätere Versuche kamen nicht durch"),
    # The citizen's own choice at WhatsApp: nothing for the office to fix, and they stay
    # subscribed.
    v.MARKETING_DECLINED: "Hat Werbe-Nachrichten dieses Absenders in WhatsApp abgelehnt",
    # Too many messages to this one person in a short time: the sender tries again seconds
    # later, so this shows only if the platform reported it as the message's final failure.
    v.PAIR_LIMIT: "Von WhatsApp abgelehnt: zu viele Nachrichten kurz hintereinander an diese "
                  "Person",
}

# Why a delivery was not sent at all (our own reasons, see vocabulary).
SKIPS = {
    v.SKIP_UNSUBSCRIBED: "Vor dem Versand abgemeldet",
    v.SKIP_CANCELLED: "Meldung abgebrochen",
    v.SKIP_EXPIRED: "Meldung abgelaufen, bevor sie gesendet wurde",
}


# Why the sender paused a broadcast (broadcasts.pause_reason, in the vocabulary's English)
# → what the press office should know: what happened, and whether it goes on by itself.
_PAUSE_REASONS = [
    (re.compile(rf"^{v.PAUSE_DATA_KEY}$"),
     "Der Datenschlüssel (DATA_KEY) passt nicht zu den gespeicherten Nummern. Die IT muss "
     "den richtigen Schlüssel einsetzen; danach kann die Meldung fortgesetzt werden."),
    (re.compile(rf"^{v.PAUSE_CREDENTIALS} \((\w+)\)$"),
     "{service} hat die Zugangsdaten oder die Absendernummer abgelehnt (Code {0}). Die IT muss "
     "die Einstellungen prüfen; danach kann die Meldung fortgesetzt werden."),
    (re.compile(rf"^{v.PAUSE_TEXT_TOO_LONG} \((\S+) is (\d+) characters, at most (\d+)\)$"),
     lambda field, length, limit, service: (
         f"{_field(field)} ist {number(int(length))} Zeichen lang; als freigegebene "
         f"WhatsApp-Vorlage sind jetzt höchstens {number(int(limit))} erlaubt. Nichts wurde "
         "gesendet. Bitte kürzen Sie den Text und speichern Sie die Änderung; dann geht die "
         "Meldung wieder hinaus.")),
    (re.compile(rf"^{v.PAUSE_MESSAGING_LIMIT} \((\w+)\)$"),
     "Das Tageslimit von WhatsApp für diese Nummer ist erreicht (Code {0}). Der Versand geht "
     "später von selbst weiter."),
]


def service():
    """The messaging service this deployment sends through, by the name the office knows."""
    name = current_app.config.get("WHATSAPP_PLATFORM") if has_app_context() else None
    return platforms.display_name(name)


def _field(field):
    """Which text of a broadcast (``text``, ``translations.<code>``), for the press office."""
    if field.startswith("translations."):
        return f"Die Übersetzung ({field.removeprefix('translations.')})"
    return "Der Text"


def held_too_long(broadcast):
    """Whether the broadcast was held at its time for a text too long: the press office
    changes it as a planned one (the store lets only one that has not started be changed)."""
    return broadcast["status"] == "paused" and (
        broadcast["pause_reason"] or "").startswith(v.PAUSE_TEXT_TOO_LONG)


def pause_reason(reason):
    if not reason:
        return "Kein Grund angegeben."
    for pattern, german in _PAUSE_REASONS:
        match = pattern.match(reason)
        if match:
            if callable(german):
                return german(*match.groups(), service=service())
            return german.format(*match.groups(), service=service())
    # A reason added to the sender later still shows, rather than nothing.
    return f"Ein technisches Problem beim Versand ({reason}). Bitte wenden Sie sich an die IT."


def status(code):
    return STATUS.get(code, code)


def role(code):
    return ROLES.get(code, code or "keine")


def audit_action(code):
    return AUDIT_ACTIONS.get(code, code)


def audit_actor(name):
    return AUDIT_ACTORS.get(name, name)


def plural(number, one, many):
    """The word for ``number`` of something: "1 Meldung", "2 Meldungen"."""
    return one if number == 1 else many


def number(value):
    """A whole number as German text writes it: 1600 → "1.600", 1234567 → "1.234.567"."""
    return f"{value:,}".replace(",", ".")


def shown(broadcast, key):
    """The count the console shows under ``key``: sent, delivered and read cumulatively
    (``reached``), the others as counted."""
    reached = broadcast.get("reached") or {}
    return reached[key] if key in reached else broadcast["counts"][key]


def money(amount, currency):
    """27.36, "EUR" → "27,36 €"; other currencies by their code. Rounded half up as in an
    invoice (0.015 → "0,02 €"): the amounts come as floats, whose 0.015 is a hair below."""
    cents = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = f"{cents:,.2f}".replace(",", "\0").replace(".", ",").replace("\0", ".")
    return f"{text} €" if currency == "EUR" else f"{text} {currency}"


def cost_line(estimate, messages):
    """"ca. 27,36 € für 608 Nachrichten", or "" without a configured price."""
    if estimate is None:
        return ""
    return (f"ca. {money(estimate['amount'], estimate['currency'])} für {number(messages)} "
            f"{plural(messages, 'Nachricht', 'Nachrichten')}")


def subscribers(count):
    """Whom a broadcast goes to, after "an": "eine Abonnentin oder einen Abonnenten",
    "1.600 Abonnentinnen und Abonnenten". One is written out: "1 Abonnentin oder Abonnenten"
    is correct German but reads as a plural."""
    if count == 1:
        return "eine Abonnentin oder einen Abonnenten"
    return f"{number(count)} Abonnentinnen und Abonnenten"


def provider(name):
    return PROVIDERS.get(name, name)


def severity(name):
    return SEVERITIES.get(name, "unbekannt")


def failure(kind, code):
    """Plain German for why a message failed; a kind without a label names the code."""
    label = FAILURES.get(kind)
    if label is not None:
        return label.format(service=service())
    if code in (None, "unknown"):
        return "Unbekannter Fehler"
    return f"Sonstiger Fehler (Code {code})"


def grouped_failures(failures):
    """{(kind, code): n} → [(German reason, n, [codes])], biggest first; failures with the same
    meaning (several codes for "not on WhatsApp") become one line."""
    return _grouped((failure(kind, code), code or "unknown", number)
                    for (kind, code), number in failures.items())


def grouped_skips(skips):
    """{reason: n} → [(German reason, n, [reasons])], biggest first."""
    return _grouped((SKIPS.get(reason, f"Sonstiger Grund ({reason})"), reason, number)
                    for reason, number in skips.items())


def _grouped(items):
    groups = {}
    for label, code, number in items:
        total, codes = groups.get(label, (0, []))
        groups[label] = (total + number, codes + [str(code)])
    return sorted(((label, total, sorted(codes)) for label, (total, codes) in groups.items()),
                  key=lambda item: (-item[1], item[0]))


# The domain's validate speaks English to API clients; the console translates the messages it
# knows and shows the rest as they are rather than hiding the reason.
_INVALID = [
    (re.compile(r"^text is missing or empty"), "Bitte geben Sie einen Text ein."),
    (re.compile(r"^text is (\d+) characters; a .* holds at most (\d+)"),
     "Der Text hat {0} Zeichen; erlaubt sind höchstens {1}."),
    (re.compile(r"^text is (\d+) characters; sent as the approved template it may have at "
                r"most (\d+)"),
     "Der Text hat {0} Zeichen; als freigegebene WhatsApp-Vorlage sind höchstens {1} erlaubt."),
    (re.compile(r"^translations\.(\w+) is (\d+) characters; sent as the approved template it "
                r"may have at most (\d+)"),
     "Die Übersetzung ({0}) hat {1} Zeichen; als freigegebene WhatsApp-Vorlage sind höchstens "
     "{2} erlaubt. Bitte kürzen Sie sie."),
    (re.compile(r"^text contains a NUL"), "Der Text enthält ein unzulässiges Steuerzeichen."),
    (re.compile(r"^translations\.(\w+) is (\d+) characters; a .* holds at most (\d+)"),
     "Die Übersetzung ({0}) hat {1} Zeichen; erlaubt sind höchstens {2}."),
    (re.compile(r"^translations\.(\w+) contains a NUL"),
     "Die Übersetzung ({0}) enthält ein unzulässiges Steuerzeichen."),
    (re.compile(r"^unknown topic"), "Dieses Thema gibt es nicht (mehr)."),
    (re.compile(r"^a poll has two or three answers, not (\d+)"),
     "Eine Umfrage hat zwei oder drei Antworten, nicht {0}."),
    (re.compile(r"^answer (\d+) is (\d+) characters"),
     "Antwort {0} hat {1} Zeichen; ein Knopf fasst höchstens 20."),
    (re.compile(r"^answer (\d+) holds a control"),
     "Antwort {0} enthält ein unzulässiges Steuerzeichen."),
    (re.compile(r"^the answers must differ"), "Die Antworten müssen sich unterscheiden."),
    (re.compile(r"^a poll goes out without a picture"),
     "Eine Umfrage geht ohne Bild: Senden Sie das Bild als eigene Meldung."),
    (re.compile(r"^(?:text|translations\.\w+) is (\d+) characters; a poll's text holds at most "
                r"(\d+)"), "Der Text einer Umfrage hat {0} Zeichen; erlaubt sind höchstens {1}."),
    (re.compile(r"^a poll of (\d+) answers needs its approved quick-reply template: set (\w+)"),
     "Für eine Umfrage mit {0} Antworten fehlt die freigegebene WhatsApp-Vorlage mit Knöpfen "
     "({1}); bitte wenden Sie sich an den Betrieb."),
    (re.compile(r"^media_url is not a valid URL"),
     "Die Bild-Adresse ist keine gültige Internet-Adresse."),
    (re.compile(r"^media_url must be a file uploaded here"),
     "Mit der WhatsApp-Vorlage kann nur eine hier hochgeladene Datei gesendet werden."),
    (re.compile(r"^media_url must be"),
     "Die Bild-Adresse muss mit http:// oder https:// beginnen."),
    (re.compile(r"^media_url cannot be sent with the text template"),
     "Für diese Art Datei ist keine freigegebene WhatsApp-Vorlage eingerichtet; senden Sie "
     "den Text allein oder wenden Sie sich an den Betrieb."),
    (re.compile(r"^send_at is in the past"), "Der geplante Zeitpunkt liegt in der Vergangenheit."),
    (re.compile(r"^send_at"), "Der geplante Zeitpunkt ist kein gültiges Datum."),
    (re.compile(r"^expires_at has passed"),
     "Die Meldung ist abgelaufen („gültig bis“ ist vorbei) und kann nicht mehr gesendet werden."),
    (re.compile(r"^expires_at"),
     "„Gültig bis“ ist ungültig oder liegt nicht nach dem Versandzeitpunkt."),
]


def invalid_broadcast(message):
    for pattern, german in _INVALID:
        match = pattern.match(message)
        if match:
            return german.format(*(number(int(part)) if part.isdigit() else part
                                   for part in match.groups()))
    return f"Die Meldung kann so nicht gesendet werden ({message})."
