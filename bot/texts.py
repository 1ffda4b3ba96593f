"""Everything a citizen reads, and the keywords they may type, in every language the channel
speaks.

A leaf module (the built-in words are in ``wording``). Operators override any text or keyword
list with a JSON file (``TEXTS_FILE``) or the ``KEYWORDS_*`` variables, and give whole other
languages through the file. ``load_texts`` checks all of it at start: a file that cannot be
meant stops the start with the reason. Long because reading what a citizen typed (keywords,
topics, politeness) and checking what an operator wrote belong with the texts they concern.
"""

import re
import string
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property

from .texts_file import BUILT_IN, TextsFileError, read_texts_file, texts_for
from .wording import DEFAULT_KEYWORDS, KEYWORDS, LANGUAGE_NAMES, POLITE_WORDS, TEXTS

# Kept under its old name: the operator documentation and the tests speak of it.
DEFAULT_TEXTS = TEXTS

_TRAILING = re.compile(r"[\s.!?,;:)\-–—…]+$")
_LEADING = re.compile(r"^[\s.!?,;:(\-–—…]+")
_INVISIBLE = {"Cf"}  # format characters: RTL marks, zero-width joiners
# Placeholders filled at start; the others a text may hold are filled when it is sent.
_AT_START = {"authority", "contact", "contact_line"}
_WHEN_SENT = {"topic", "mine", "list", "start", "stop", "topics", "name", "slug"}
# The beginning of a correction has a send-time placeholder of its own, {quote}: the corrected
# message's first words. It must be there, and none of the others may be.
_CORRECTION_HEAD = "correction_head"
ACTIONS = ("start", "stop", "help", "topics", "news")
# Longer than this, a message is no keyword said politely; bounds the matching's work too.
_POLITE_LENGTH = 80
# Without topics, "Start <words>" and "Stop <words>" are still Start and Stop when the words
# could name a topic (a few letters-only words, no question): "Start Baustellen" joins.
_TOPIC_LIKE = re.compile(r"^[^\W\d_]+(?:[ \-][^\W\d_]+){0,2}$")


def normalize(body):
    """Fold a message for keyword matching: case, spaces, trailing punctuation, RTL marks."""
    cleaned = "".join(c for c in body if unicodedata.category(c) not in _INVISIBLE)
    cleaned = " ".join(unicodedata.normalize("NFKC", cleaned).split())
    return _TRAILING.sub("", cleaned).casefold()


def _polite_pattern():
    words = sorted({normalize(w) for w in POLITE_WORDS}, key=len, reverse=True)
    alternatives = "|".join(r"\s+".join(map(re.escape, w.split())) for w in words)
    # Polite words, and anything that is no letter or digit (punctuation, emoji), at either end.
    return (re.compile(rf"^\W*(?:(?:{alternatives})(?!\w)\W*)*"),
            re.compile(rf"\W*(?:(?<!\w)(?:{alternatives})\W*)*$"))


_POLITE_HEAD, _POLITE_TAIL = _polite_pattern()


def without_politeness(word):
    """A folded message without the polite words and symbols around it: "bitte start!" →
    "start". Whether what remains is a keyword is the caller's to decide."""
    if len(word) > _POLITE_LENGTH:
        return word
    return _POLITE_TAIL.sub("", _POLITE_HEAD.sub("", word, count=1), count=1)


@dataclass(frozen=True)
class Topic:
    slug: str
    name: str


@dataclass(frozen=True)
class Command:
    """What a citizen's message asks for. ``action`` is None for anything else; ``language``
    is the keyword's language when the keyword says one; ``topic`` a Topic when the message
    named one, ``rest`` the words after the keyword when they named none."""

    action: str = None
    language: str = None
    topic: Topic = None
    rest: str = ""
    keyword: str = ""  # the recognised keyword, folded: what consent records keep


@dataclass
class Texts:
    main: str
    languages: list                      # codes, the main one first
    messages: dict                       # {code: {key: text}}
    keywords: dict                       # {folded word: (action, owning code or None)}
    names: dict                          # {folded language name: code}
    topics: list = field(default_factory=list)
    topic_words: dict = field(default_factory=dict)  # {folded slug or name: Topic}
    first_words: dict = field(default_factory=dict)  # {code: {action: word texts quote}}
    language_names: dict = field(default_factory=dict)  # {code: its name, as it calls itself}

    @property
    def english_messages(self):
        """English texts where English is spoken beside another main language."""
        return self.messages["en"] if "en" in self.messages and self.main != "en" else {}

    def language_of(self, language):
        """A language code from what callers have: None or "default" mean the main one."""
        if language in (None, "default") or language not in self.messages:
            return self.main
        return language

    def parse(self, body):
        word = normalize(body or "")
        if not word:
            return Command()
        command = self._read(word, "?" in body)
        if command.action is None or (command.rest and command.topic is None):
            bare = without_politeness(word)
            if bare and bare != word:
                polite = self._read(bare, "?" in body)
                # "Start bitte" is Start; "Hallo, Start der Bauarbeiten?" stays a message.
                if polite.action is not None and not (polite.rest and polite.topic is None):
                    return polite
        return command

    def _read(self, word, question):
        if word in self.keywords:
            action, language = self.keywords[word]
            return Command(action, language, keyword=word)
        if word in self.names:
            return Command("language", self.names[word])
        for keyword, (action, language) in self._longest_first:
            if action not in ("start", "stop") or not word.startswith(keyword):
                continue
            rest = word[len(keyword):]
            if rest[:1].isalnum():
                continue  # "Stopschild" is no Stop
            rest = _LEADING.sub("", rest)
            # An opt-out must never be missed: "Stopp, ich will das nicht mehr!" is a Stop
            # with or without topics.
            if (action == "start" and not self.topics
                    and (question or not _TOPIC_LIKE.match(rest))):
                return Command()  # "Start der Bauarbeiten?" is a question, not a Start
            return Command(action, language, self.topic_words.get(rest), rest, keyword)
        return Command()

    @cached_property
    def _longest_first(self):
        # Every message that is no plain keyword is tried against these: sorted once.
        return sorted(self.keywords.items(), key=lambda item: -len(item[0]))

    def classify(self, body):
        """(action, language) of a plain keyword: language is "default" for the main one."""
        command = self.parse(body)
        if command.action in (None, "language") or command.rest:
            return None, "default"
        language = command.language
        return command.action, "default" if language in (None, self.main) else language

    def get(self, key, language="default", **fields):
        """A text in a language, its send-time placeholders filled from ``fields``."""
        return self.messages[self.language_of(language)][key].format(**fields)

    def keyword(self, action, language="default"):
        """The word a text in this language tells citizens to send for ``action``."""
        return self.first_words[self.language_of(language)][action]


_HELD = re.compile("\x00([a-z_]+)\x00")


class _KeepWhenSent(dict):
    """Fills the start-time placeholders and holds the send-time ones for ``Texts.get``."""

    def __init__(self, *args, held=_WHEN_SENT, **kwargs):
        super().__init__(*args, **kwargs)
        self.held = held

    def __missing__(self, key):
        if key in self.held:
            return f"\x00{key}\x00"
        raise KeyError(key)


def _template(text, values):
    """The text with the start-time placeholders filled, ready for ``str.format`` at send
    time: literal braces stay escaped, the send-time placeholders come back as they were."""
    filled = string.Formatter().vformat(text, (), values).strip()
    return _HELD.sub(r"{\1}", filled.replace("{", "{{").replace("}", "}}"))


def _fill(messages, authority, contact):
    out = {}
    try:
        contact_line = messages["contact_line"].format(contact=contact) if contact else ""
        values = _KeepWhenSent(authority=authority, contact=contact, contact_line=contact_line)
        for key, text in messages.items():
            if key == _CORRECTION_HEAD:
                out[key] = _template(text, _KeepWhenSent(values, held={"quote"}))
                if "quote" not in {field for _, field, _, _ in
                                   string.Formatter().parse(out[key]) if field}:
                    raise TextsFileError(
                        "the text correction_head must hold {quote}, where a correction names "
                        f"the message it corrects by its first words, not {text!r}")
            else:
                out[key] = _template(text, values)
    except (KeyError, IndexError, ValueError) as exc:
        # An operator's typo in a placeholder must stop the start with a clear message.
        raise TextsFileError(
            f"a text has a placeholder other than {{authority}}, {{contact}} or "
            f"{{contact_line}} (or, in topic texts, {sorted(_WHEN_SENT)}; in correction_head, "
            f"{{quote}}), or a stray brace "
            f"({exc!r}); write literal braces as {{{{ }}}}") from None
    out["notice_join"] = " " + out["notice_join"]
    # Said on its own too (after "Start <words>"): empty where there is no contact to give.
    out["contact_line"] = contact_line.replace("{", "{{").replace("}", "}}")
    return out


def _split_words(value):
    return [w.strip() for w in value.split(",") if w.strip()]


def languages_of(config):
    """(main, every code in order): LANGUAGE is the main one when set, else the first of
    LANGUAGES, else German."""
    listed = _split_words(config.get("LANGUAGES") or "")
    main = (config.get("LANGUAGE") or (listed[0] if listed else "de")).strip()
    return main, [main] + [code for code in dict.fromkeys(listed) if code != main]


def load_texts(config, topics=()):
    """Build the deployment's Texts from configuration (see the operator's guide,
    docs/operations/configuration.md, "Texts and keywords").

    ``topics``: the configured Topics (``config.topics``); their slugs and names work as
    words after Start and Stop.
    """
    main, languages = languages_of(config)
    flat, per_language, main_overrides = {}, {}, {}
    path = config.get("TEXTS_FILE")
    if path:
        flat, per_language, main_overrides = read_texts_file(path, languages, topics)
    for language in languages:
        if language not in BUILT_IN and language not in per_language:
            raise TextsFileError(
                f"language {language!r} is not built in ({', '.join(BUILT_IN)}): give all its "
                f"texts, its keywords and its language_name in TEXTS_FILE under {language!r}")

    authority = config.get("AUTHORITY_NAME", "")
    contact = config.get("CONTACT_INFO", "")
    messages = {code: _fill(texts_for(code, main, flat, per_language, topics), authority,
                            contact) for code in languages}
    own = {code: dict(KEYWORDS.get(code, {}), **per_language.get(code, {}).get("keywords", {}))
           for code in languages}
    # The main language's start/stop/help words are the channel's keywords as they always
    # were, replaced as a whole by the operator's (texts file, then environment).
    main_words = {action: list(words) for action, words in DEFAULT_KEYWORDS.items()}
    if main in KEYWORDS and main != "de":
        for action, words in KEYWORDS[main].items():
            main_words[action] = main_words.get(action, []) + list(words)
    main_words.update({k: list(v) for k, v in main_overrides.items()})
    for action in ("start", "stop", "help"):
        env_value = config.get(f"KEYWORDS_{action.upper()}")
        if env_value:
            main_words[action] = _split_words(env_value)
    for action in ("topics", "news"):
        main_words.setdefault(action, list(own[main].get(action, [])))

    keywords, owners = {}, {}
    for code in languages:
        for action, words in own[code].items():
            for word in words:
                owners.setdefault(normalize(word), set()).add(code)
    words_by_language = [(main, main_words)] + [(code, own[code]) for code in languages[1:]]
    for code, actions in words_by_language:
        for action, words in actions.items():
            for word in words:
                key = normalize(word)
                if not key:
                    continue
                if key in keywords and keywords[key][0] != action:
                    raise TextsFileError(
                        f"keyword {word!r} is used for both {keywords[key][0]} and {action}")
                owner = owners.get(key, set())
                language = main if main in owner or not owner else sorted(
                    owner, key=languages.index)[0]
                keywords.setdefault(key, (action, language if code == main else code))

    names, display = {}, {}
    for code in languages:
        name = per_language.get(code, {}).get("language_name") or LANGUAGE_NAMES.get(code)
        if not name:
            raise TextsFileError(f"language {code!r} needs a language_name in TEXTS_FILE")
        display[code] = name
        if len(languages) == 1:
            continue  # a language's name switches to it only where there is a choice
        key = normalize(name)
        if key in keywords:
            raise TextsFileError(f"the language name {name!r} is also a keyword")
        names[key] = code

    topic_words = {}
    for topic in topics:
        for spelling in (topic.slug, topic.name):
            key = normalize(spelling)
            if key in keywords or key in names:
                raise TextsFileError(f"topic {spelling!r} is also a keyword or language name")
            if topic_words.get(key, topic) != topic:
                raise TextsFileError(f"{spelling!r} names two topics")
            topic_words[key] = topic

    first = {}
    for code in languages:
        words = main_words if code == main else own[code]
        first[code] = {action: (words.get(action) or main_words.get(action) or [""])[0]
                       for action in ACTIONS}
    return Texts(main, languages, messages, keywords, names, list(topics), topic_words, first,
                 display)
