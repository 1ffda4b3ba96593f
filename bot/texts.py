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
        # Official warnings relayed from the federal warning system (NINA).
        "warning_update": "Aktualisierung:",
        "warning_all_clear": "Entwarnung:",
        "warning_all_clear_text": "Die Warnung ist aufgehoben.",
        "warning_more": "Mehr Informationen:",
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
        "warning_update": "Update:",
        "warning_all_clear": "All clear:",
        "warning_all_clear_text": "The warning has been lifted.",
        "warning_more": "More information:",
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
    out = {}
    try:
        contact_line = messages["contact_line"].format(contact=contact) if contact else ""
        for key, text in messages.items():
            out[key] = text.format(authority=authority, contact=contact,
                                   contact_line=contact_line).strip()
    except (KeyError, IndexError, ValueError) as exc:
        # An operator's typo in a placeholder must stop the start with a clear message.
        raise TextsFileError(
            f"a text has a placeholder other than {{authority}}, {{contact}} or "
            f"{{contact_line}}, or a stray brace ({exc!r}); write literal braces as {{{{ }}}}"
        ) from None
    out["notice_join"] = " " + out["notice_join"]
    return out


def _split_words(value):
    return [w.strip() for w in value.split(",") if w.strip()]


def _read_texts_file(path):
    """The operator's TEXTS_FILE → (texts of the main language, {language: texts}, keywords).

    Flat entries ({"welcome": …}) are the main language's, as they always were; an entry named
    after a language ({"en": {"welcome": …}}) replaces texts of that language only.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise TextsFileError(f"TEXTS_FILE {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise TextsFileError(f"TEXTS_FILE {path} must hold a JSON object")
    text_keys = set(DEFAULT_TEXTS["de"])
    unknown = set(data) - text_keys - {"keywords"} - set(DEFAULT_TEXTS)
    if unknown:
        raise TextsFileError(f"TEXTS_FILE has unknown entries: {sorted(unknown)} (texts: "
                             f"{sorted(text_keys)}; languages: {sorted(DEFAULT_TEXTS)})")
    flat = {k: v for k, v in data.items() if k in text_keys}
    per_language = {}
    for language in DEFAULT_TEXTS:
        if language not in data:
            continue
        block = data[language]
        if not isinstance(block, dict):
            raise TextsFileError(f"TEXTS_FILE entry {language!r} must be an object of texts")
        unknown = set(block) - text_keys
        if unknown:
            raise TextsFileError(
                f"TEXTS_FILE entry {language!r} has unknown texts: {sorted(unknown)}")
        per_language[language] = block
    for where, texts in [("", flat)] + [(f"{lang}.", b) for lang, b in per_language.items()]:
        for key, value in texts.items():
            if not isinstance(value, str):
                raise TextsFileError(f"TEXTS_FILE text {where}{key} must be a string")
    keywords = data.get("keywords", {})
    if not isinstance(keywords, dict) or not all(
            isinstance(words, list) and all(isinstance(w, str) for w in words)
            for words in keywords.values()):
        raise TextsFileError('TEXTS_FILE "keywords" must map start/stop/help to lists of words')
    return flat, per_language, keywords


def _texts_for(language, main_language, flat, per_language):
    texts = dict(DEFAULT_TEXTS[language])
    block = per_language.get(language, {})
    texts.update(block)
    if language == main_language:
        twice = sorted(set(flat) & set(block))
        if twice:
            # Which one was meant is a guess; say so instead of picking one silently.
            raise TextsFileError(f"TEXTS_FILE gives {twice} both at the top level and under "
                                 f"{language!r}; keep one")
        texts.update(flat)
    return texts


def load_texts(config):
    """Build the deployment's Texts from configuration (see README, "Texts and keywords")."""
    language = config.get("LANGUAGE", "de")
    if language not in DEFAULT_TEXTS:
        raise TextsFileError(f"LANGUAGE must be one of {sorted(DEFAULT_TEXTS)}, not {language!r}")
    languages = _split_words(config.get("LANGUAGES") or language)
    flat, per_language, keyword_overrides = {}, {}, {}
    path = config.get("TEXTS_FILE")
    if path:
        flat, per_language, keyword_overrides = _read_texts_file(path)

    keywords = {k: list(v) for k, v in DEFAULT_KEYWORDS.items()}
    keywords.update({k: list(v) for k, v in keyword_overrides.items() if k in keywords})
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
    messages = _fill(_texts_for(language, language, flat, per_language), authority, contact)
    english_messages = {}
    if english:
        english_messages = _fill(_texts_for("en", language, flat, per_language), authority,
                                 contact)
    return Texts(folded, messages, english, english_messages)
