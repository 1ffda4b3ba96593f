"""Everything a citizen reads, and the keywords they may type.

A leaf module: it imports nothing of ours. Operators override any text or keyword list with a
JSON file (``TEXTS_FILE``) or the ``KEYWORDS_*`` variables; the defaults are plain, short German
that fits a phone screen without scrolling.
"""

import json
import re
import unicodedata
from dataclasses import dataclass, field

DEFAULT_KEYWORDS = {
    "start": ["Start", "Anmelden"],
    "stop": ["Stop", "Stopp", "Abmelden", "Unsubscribe"],
    "help": ["Hilfe", "Help", "Info"],
}
# Added when English is in use (LANGUAGE=en, or LANGUAGES contains "en"): the English texts
# tell citizens to send "Subscribe". With German as the main language, a citizen who uses one of
# the English words is answered in English.
ENGLISH_KEYWORDS = {"start": ["Subscribe"], "stop": [], "help": []}
ENGLISH_WORDS = {"subscribe", "unsubscribe", "help"}

DEFAULT_TEXTS = {
    "de": {
        "welcome": (
            "Willkommen beim Infokanal von {authority}! Sie bekommen ab jetzt wichtige "
            "Meldungen: Warnungen, Sperrungen, Termine. Ihre Nummer bleibt anonym. "
            "Abmelden: schreiben Sie \"Stop\"."
        ),
        "already_subscribed": (
            "Sie sind schon angemeldet. Abmelden: schreiben Sie \"Stop\"."
        ),
        "goodbye": (
            "Sie sind abgemeldet und bekommen keine Meldungen mehr. "
            "Wieder anmelden: schreiben Sie \"Start\"."
        ),
        "not_subscribed": (
            "Sie sind nicht angemeldet. Anmelden: schreiben Sie \"Start\"."
        ),
        "help": (
            "Infokanal von {authority}: Meldungen in eine Richtung, keine Antworten auf "
            "Anfragen. \"Start\" = anmelden, \"Stop\" = abmelden. {contact_line}"
        ),
        "notice": (
            "Dieser Kanal beantwortet keine persönlichen Anfragen. {contact_line}"
        ),
        "notice_join": " Für Meldungen schreiben Sie \"Start\".",
        "contact_line": "Für Ihr Anliegen nutzen Sie bitte: {contact}.",
    },
    "en": {
        "welcome": (
            "Welcome to the {authority} info channel! You will now receive important "
            "announcements. Your number stays anonymous. To leave, send \"Stop\"."
        ),
        "already_subscribed": "You are already subscribed. To leave, send \"Stop\".",
        "goodbye": (
            "You are unsubscribed and will get no more messages. "
            "To join again, send \"Subscribe\"."
        ),
        "not_subscribed": "You are not subscribed. To join, send \"Subscribe\".",
        "help": (
            "{authority} info channel: one-way announcements, no replies to requests. "
            "\"Subscribe\" to join, \"Stop\" to leave. {contact_line}"
        ),
        "notice": "This channel does not answer personal requests. {contact_line}",
        "notice_join": " To get announcements, send \"Subscribe\".",
        "contact_line": "For your request, please use: {contact}.",
    },
}

_TRAILING = re.compile(r"[\s.!?,;:)\-–—…]+$")
_INVISIBLE = {"Cf"}  # format characters: RTL marks, zero-width joiners


class TextsFileError(Exception):
    """The operator's texts file cannot be used."""


def normalize(body):
    """Fold a message for keyword matching: case, spaces, trailing punctuation, RTL marks."""
    cleaned = "".join(c for c in body if unicodedata.category(c) not in _INVISIBLE)
    cleaned = unicodedata.normalize("NFKC", cleaned).strip()
    return _TRAILING.sub("", cleaned).casefold()


@dataclass
class Texts:
    """Keywords and replies for one deployment, with the operator's placeholders filled in."""

    keywords: dict
    messages: dict
    english_keywords: set = field(default_factory=set)
    english_messages: dict = field(default_factory=dict)

    def classify(self, body):
        """Return (action, language) for an inbound body; action is None for anything else."""
        word = normalize(body or "")
        if not word:
            return None, "default"
        for action, words in self.keywords.items():
            if word in words:
                lang = "en" if word in self.english_keywords else "default"
                return action, lang
        return None, "default"

    def get(self, key, language="default"):
        if language == "en" and self.english_messages:
            return self.english_messages[key]
        return self.messages[key]


def _fill(messages, authority, contact):
    contact_line = messages["contact_line"].format(contact=contact) if contact else ""
    out = {}
    for key, text in messages.items():
        out[key] = text.format(authority=authority, contact=contact,
                               contact_line=contact_line).strip()
    out["notice_join"] = " " + out["notice_join"]
    return out


def _split_words(value):
    return [w.strip() for w in value.split(",") if w.strip()]


def load_texts(config):
    """Build the deployment's Texts from configuration (see README, "Texte und Stichwörter")."""
    language = config.get("LANGUAGE", "de")
    if language not in DEFAULT_TEXTS:
        raise TextsFileError(f"LANGUAGE must be one of {sorted(DEFAULT_TEXTS)}, not {language!r}")
    languages = _split_words(config.get("LANGUAGES") or language)
    overrides = {}
    path = config.get("TEXTS_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                overrides = json.load(fh)
        except (OSError, ValueError) as exc:
            raise TextsFileError(f"TEXTS_FILE {path} cannot be read: {exc}") from exc
        unknown = set(overrides) - set(DEFAULT_TEXTS["de"]) - {"keywords"}
        if unknown:
            raise TextsFileError(f"TEXTS_FILE has unknown entries: {sorted(unknown)}")

    keywords = {k: list(v) for k, v in DEFAULT_KEYWORDS.items()}
    keywords.update({k: list(v) for k, v in overrides.get("keywords", {}).items()
                     if k in keywords})
    for action in keywords:
        env_value = config.get(f"KEYWORDS_{action.upper()}")
        if env_value:
            keywords[action] = _split_words(env_value)
    english = set()
    if "en" in languages or language == "en":
        for action, words in ENGLISH_KEYWORDS.items():
            keywords[action] = keywords[action] + words
        if language != "en":
            english = set(ENGLISH_WORDS)

    seen = {}
    folded = {}
    for action, words in keywords.items():
        folded[action] = set()
        for word in words:
            key = normalize(word)
            if key in seen and seen[key] != action:
                raise TextsFileError(f"keyword {word!r} is used for both {seen[key]} and {action}")
            seen[key] = action
            folded[action].add(key)

    authority = config.get("AUTHORITY_NAME", "")
    contact = config.get("CONTACT_INFO", "")
    base = dict(DEFAULT_TEXTS[language])
    base.update({k: v for k, v in overrides.items() if k != "keywords"})
    english_messages = {}
    if english:
        english_messages = _fill(DEFAULT_TEXTS["en"], authority, contact)
    return Texts(folded, _fill(base, authority, contact), english, english_messages)
