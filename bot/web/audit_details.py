"""An audit entry's details as the audit page shows them: short German phrases ("mit Bild:
nein", "Grund: falsches Passwort"), one per key the trail stores, in a fixed order.

The trail itself keeps its English keys and values (``audit export`` gives them to machines,
and its hashes cover them); only the page translates. A key added to the trail later, and not
yet named here, still shows: its name made readable and its value in words ("ja", a list with
commas), never Python's ``True`` or ``['a', 'b']``.
"""

import re
from dataclasses import dataclass

from flask import current_app

from . import labels
from .public import local_time


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    # Times and numbers with units: never broken across lines.
    nowrap: bool = False
    # A hash or a file name: shown as code, and the only kind that may break anywhere.
    code: bool = False


YES, NO = "ja", "nein"
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$")

_REASONS = {
    "wrong password": "falsches Passwort",
    "unknown account": "unbekannter Name",
    "locked": "Anmeldung gesperrt (zu viele Fehlversuche)",
    "outdated by a newer revision of the warning": "überholt durch eine neuere Fassung der "
                                                   "Warnung",
}
_WARNING_KINDS = {"alert": "Warnung", "update": "Aktualisierung", "all_clear": "Entwarnung"}


def _yes_no(value):
    return YES if value else NO


def _count(value):
    return f"{value:,}".replace(",", ".") if isinstance(value, int) else _plain(value)


def _status(value):
    return labels.status(value)


def _role(value):
    return labels.role(value)


def _reason(value):
    return _REASONS.get(value, _plain(value))


def _topics(value):
    topics = current_app.extensions["infokanal"].texts.topics
    topic_names = {topic.slug: topic.name for topic in topics}
    return ", ".join(topic_names.get(slug, slug) for slug in _as_list(value))


def _languages(value):
    names = current_app.extensions["infokanal"].texts.language_names
    return ", ".join(names.get(code, code) for code in _as_list(value))


def _size(value):
    if not isinstance(value, int):
        return _plain(value)
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= factor:
            return f"{value / factor:.1f} {unit}".replace(".", ",")
    return f"{value} Byte"


def _short_hash(value):
    return f"{value[:12]}…" if isinstance(value, str) and len(value) > 12 else _plain(value)


def _warning_kind(value):
    return _WARNING_KINDS.get(value, _plain(value))


# key → (label, how its value reads, kind): the keys the trail writes today, in the order the
# page lists them (what happened before how).
_TIME, _CODE, _TEXT = "time", "code", "text"
KNOWN = {
    "reason": ("Grund", _reason, _TEXT),
    "attempts": ("Versuche", _count, _TEXT),
    "locked": ("davon während der Sperre", _count, _TEXT),
    "many_addresses": ("von vielen Adressen", _yes_no, _TEXT),
    "first": ("erster Versuch", None, _TIME),
    "last": ("letzter Versuch", None, _TIME),
    "status": ("Status", _status, _TEXT),
    "was": ("Status vorher", _status, _TEXT),
    "corrects": ("berichtigt Meldung Nr.", str, _TEXT),
    "recipients": ("Empfänger", _count, _TEXT),
    "sent": ("gesendet", _count, _TEXT),
    "failed": ("fehlgeschlagen", _count, _TEXT),
    "requested_by": ("angefragt von", lambda value: labels.audit_actor(value), _TEXT),
    "urgent": ("dringend", _yes_no, _TEXT),
    "public": ("öffentlich", _yes_no, _TEXT),
    "media": ("mit Bild", _yes_no, _TEXT),
    "send_at": ("geplant für", None, _TIME),
    "expires_at": ("gültig bis", None, _TIME),
    "topics": ("Themen", _topics, _TEXT),
    "languages": ("Übersetzungen", _languages, _TEXT),
    "role": ("Rolle", _role, _TEXT),
    "from": ("Rolle vorher", _role, _TEXT),
    "to": ("Rolle jetzt", _role, _TEXT),
    "warning": ("Warnung", None, _CODE),
    "version": ("Fassung", _count, _TEXT),
    "kind": ("Art", _warning_kind, _TEXT),
    "provider": ("Quelle", lambda value: labels.provider(value), _TEXT),
    "severity": ("Schwere", lambda value: labels.severity(value), _TEXT),
    "held_back": ("zurückgehalten (zu viele auf einmal)", _yes_no, _TEXT),
    "max_per_poll": ("höchstens je Abruf", _count, _TEXT),
    "over_budget": ("über dem Monatsbudget", _yes_no, _TEXT),
    "month_spent": ("im Monat bisher (geschätzt)", None, _TEXT),
    "month_committed": ("im Monat schon gesendet oder geplant, noch nicht zugestellt "
                        "(geschätzt)", None, _TEXT),
    "cost": ("Kosten dieser Meldung (geschätzt)", None, _TEXT),
    "budget": ("Monatsbudget", None, _TEXT),
    "file": ("Datei", None, _CODE),
    "bytes": ("Größe", _size, _TEXT),
    "removed": ("ältere Kopien gelöscht", _count, _TEXT),
    "was_subscribed": ("war angemeldet", _yes_no, _TEXT),
    "deliveries_unlinked": ("Zustellungen von der Nummer getrennt", _count, _TEXT),
    "notice_records_removed": ("Hinweis-Einträge gelöscht", _count, _TEXT),
    "outbox_removed": ("wartende Nachrichten gelöscht", _count, _TEXT),
    "poll_votes_anonymised": ("Umfrage-Stimmen von der Nummer getrennt", _count, _TEXT),
    "consent_records_kept": ("Einwilligungsnachweise behalten", _count, _TEXT),
    "reactions_unlinked": ("Reaktionen von der Nummer getrennt", _count, _TEXT),
    "rotated": ("neu verschlüsselt", _count, _TEXT),
    "current": ("schon mit dem neuen Schlüssel", _count, _TEXT),
    "unreadable": ("mit keinem Schlüssel lesbar", _count, _TEXT),
    "keys": ("Schlüssel", _count, _TEXT),
    "lookup_rewrapped": ("Suchschlüssel neu verschlüsselt", _yes_no, _TEXT),
    "sessions_ended": ("andere Sitzungen beendet", _count, _TEXT),
    "text_sha256": ("Prüfwert des Textes", _short_hash, _CODE),
}
_ORDER = {key: position for position, key in enumerate(KNOWN)}


def _as_list(value):
    return value if isinstance(value, (list, tuple)) else [value]


def _plain(value):
    """Any JSON value in words: what a key unknown to this module still shows."""
    if isinstance(value, bool):
        return _yes_no(value)
    if value is None or value == "":
        return "–"
    if isinstance(value, int):
        return _count(value)
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return local_time(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(_plain(item) for item in value) or "–"
    if isinstance(value, dict):
        return "; ".join(f"{_readable_key(key)}: {_plain(item)}" for key, item in value.items())
    return str(value)


def _readable_key(key):
    return str(key).replace("_", " ").strip() or "?"


def facts(details):
    """The entry's details (the stored JSON) as a list of Facts, known keys first in their
    order, unknown ones after them by name."""
    if not isinstance(details, dict):
        return [] if details in (None, "", {}) else [Fact("Angaben", _plain(details))]
    shown = []
    for key in sorted(details, key=lambda key: (_ORDER.get(key, len(_ORDER)), str(key))):
        value = details[key]
        if key not in KNOWN:
            is_time = isinstance(value, str) and bool(_TIMESTAMP.match(value))
            shown.append(Fact(_readable_key(key), _plain(value), nowrap=is_time))
            continue
        label, words, kind = KNOWN[key]
        if kind == _TIME:
            text = local_time(value) if isinstance(value, str) and _TIMESTAMP.match(value) \
                else _plain(value)
            shown.append(Fact(label, text, nowrap=True))
        else:
            try:
                text = (words or _plain)(value)
            except (TypeError, ValueError, AttributeError):
                text = _plain(value)
            shown.append(Fact(label, text, code=kind == _CODE))
    return shown
