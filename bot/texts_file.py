"""Reading the operator's ``TEXTS_FILE``: texts per language, keywords, language names.

A leaf module (``texts`` builds the deployment's texts from what this returns). Every way a
file cannot be meant is a ``TextsFileError`` naming what is wrong.
"""

import json

from .wording import TEXTS, TOPIC_TEXTS

BUILT_IN = tuple(TEXTS)
ACTIONS = ("start", "stop", "help", "topics", "news")


class TextsFileError(Exception):
    """The operator's texts, keywords, topics or languages cannot be used."""


# Texts added after operators wrote their files: a language of the operator's own may lack them.
OPTIONAL_KEYS = {"notice_leave", "poll_thanks", "poll_closed"}
# ... and of these, a language that lacks them says the main language's (or German's) words.
BORROWED_KEYS = ("news_intro", "news_none", "correction_head")
OPTIONAL_KEYS |= set(BORROWED_KEYS)


def _text_keys(topics):
    keys = set(TEXTS["de"]) - OPTIONAL_KEYS
    return keys | set(TOPIC_TEXTS["de"]) if topics else keys


def read_texts_file(path, languages, topics):
    """The operator's TEXTS_FILE → (main language's texts, {language: block}, keywords).

    Flat entries ({"welcome": …}) are the main language's, as they always were; an entry
    named after a language ({"en": {"welcome": …}}) gives or replaces texts of that language
    only, and may carry that language's "keywords" and "language_name".
    """
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as exc:
        raise TextsFileError(f"TEXTS_FILE {path} cannot be read: {exc}") from exc
    if not isinstance(data, dict):
        raise TextsFileError(f"TEXTS_FILE {path} must hold a JSON object")
    text_keys = set(TEXTS["de"]) | set(TOPIC_TEXTS["de"])
    known_languages = set(BUILT_IN) | set(languages)
    unknown = set(data) - text_keys - {"keywords"} - known_languages
    if unknown:
        raise TextsFileError(f"TEXTS_FILE has unknown entries: {sorted(unknown)} (texts: "
                             f"{sorted(_text_keys(topics))}; languages: "
                             f"{sorted(known_languages)}, as LANGUAGES lists them)")
    flat = {k: v for k, v in data.items() if k in text_keys}
    per_language = {}
    for language in sorted(known_languages & set(data)):
        block = data[language]
        if not isinstance(block, dict):
            raise TextsFileError(f"TEXTS_FILE entry {language!r} must be an object of texts")
        unknown = set(block) - text_keys - {"keywords", "language_name"}
        if unknown:
            raise TextsFileError(
                f"TEXTS_FILE entry {language!r} has unknown texts: {sorted(unknown)}")
        per_language[language] = block
    for where, texts in [("", flat)] + [(f"{lang}.", b) for lang, b in per_language.items()]:
        for key, value in texts.items():
            if key != "keywords" and not isinstance(value, str):
                raise TextsFileError(f"TEXTS_FILE text {where}{key} must be a string")
    keywords = data.get("keywords", {})
    for block in [keywords] + [b.get("keywords", {}) for b in per_language.values()]:
        if not isinstance(block, dict) or not all(
                action in ACTIONS and isinstance(words, list)
                and all(isinstance(w, str) for w in words) for action, words in block.items()):
            raise TextsFileError('TEXTS_FILE "keywords" must map start/stop/help/topics/news '
                                 'to lists of words')
    return flat, per_language, keywords


def texts_for(language, main, flat, per_language, topics):
    block = per_language.get(language, {})
    texts = dict(TEXTS.get(language, {}))
    if topics:
        texts.update(TOPIC_TEXTS.get(language, {}))
    texts.update({k: v for k, v in block.items() if k not in ("keywords", "language_name")})
    if language == main:
        twice = sorted(set(flat) & set(block))
        if twice:
            # Which one was meant is a guess; say so instead of picking one silently.
            raise TextsFileError(f"TEXTS_FILE gives {twice} both at the top level and under "
                                 f"{language!r}; keep one")
        texts.update(flat)
    for key in BORROWED_KEYS:
        if key not in texts:
            texts[key] = (flat.get(key) if language != main else None) or \
                per_language.get(main, {}).get(key) or TEXTS.get(main, TEXTS["de"])[key]
    missing = sorted(_text_keys(topics) - set(texts))
    if missing:
        raise TextsFileError(f"language {language!r} has no texts for {missing}: give them "
                             f"in TEXTS_FILE under {language!r}")
    return texts
