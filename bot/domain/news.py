"""The answer to "Neu" ("Aktuell", "News"): the newest public announcements a citizen would have
got, in their language, in one message.

A reply inside the window the citizen's message opened, so it is a free-form text: all of it
must fit one WhatsApp body (``announcements.FREEFORM_TEXT_LIMIT``). Each announcement gets an
even share of the room (a short one leaves the rest to the others) and is cut after a whole
word where it does not fit; the newest comes first.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

from ..store import archive
from .announcements import FREEFORM_TEXT_LIMIT
from .warnings import shorten

HOW_MANY = 3
SEPARATOR = "\n\n"
# Dates as the language writes them; a language of the operator's own reads them as ISO does.
_DATE_FORMS = {"de": "%d.%m.%Y, %H:%M", "en": "%d %b %Y, %H:%M"}
_ISO_FORM = "%Y-%m-%d %H:%M"
# Leichte Sprache writes a date in words and a time without a leading zero ("7. Dezember 2026,
# 9:05 Uhr", not "07.12.2026, 09:05"), as the rules of Netzwerk Leichte Sprache ask. The month
# names are our own: strftime's %B follows the server's locale.
_MONTHS = ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
           "Oktober", "November", "Dezember")


def answer(conn, texts, language, subscriber, tz_name, limit=FREEFORM_TEXT_LIMIT):
    """The text for a citizen (``subscriber`` None for someone not subscribed: everything that
    is public) who reads ``language``."""
    topics = None if subscriber is None or subscriber.all_topics else subscriber.topics
    found = archive.latest_for(conn, topics, HOW_MANY)
    if not found:
        return texts.get("news_none", language)
    code = texts.language_of(language)
    own = None if code == texts.main else code
    items = [(_when(entry["published_at"], code, tz_name),
              " ".join(((own and entry["translations"].get(own)) or entry["text"]).split()))
             for entry in found]
    intro = texts.get("news_intro", language)
    return fit(limit, intro, items)


def fit(limit, intro, items):
    """``intro`` and each (date, text) item, separated by blank lines, in ``limit`` characters:
    the room left is shared out evenly, the shortest items first so that what they leave
    goes to the longer ones."""
    heads = [f"{when}: " for when, _ in items]
    room = limit - len(intro) - len(SEPARATOR) * len(items) - sum(map(len, heads))
    shares = {}
    for position in sorted(range(len(items)), key=lambda i: len(items[i][1])):
        left = len(items) - len(shares)
        shares[position] = min(len(items[position][1]), max(room // left, 1))
        room -= shares[position]
    parts = [intro] + [head + shorten(text, shares[i])
                       for i, (head, (_, text)) in enumerate(zip(heads, items))]
    return SEPARATOR.join(parts)[:limit]


def _when(iso, language, tz_name):
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(tz_name))
    if language == "de-LS":
        return (f"{moment.day}. {_MONTHS[moment.month - 1]} {moment.year}, "
                f"{moment.hour}:{moment.minute:02d} Uhr")
    return moment.strftime(_DATE_FORMS.get(language, _ISO_FORM))
