"""WhatsApp's rule for the values of a template's variables, and a text made to keep it.

WhatsApp refuses a template message whose variable holds a line break or a tab, more than four
spaces in a row, or nothing, or more than 1,024 characters (on Twilio and on Meta's API alike).
A text's paragraphs therefore travel as separate single-line variables of a template whose own
body holds the blank lines between them; a line break inside a paragraph becomes a space.

The values are never longer than the text they come from: a blank line (two characters at
least) becomes at most two (". " after a word, else a space), any other run of white space
one. So a text of at most ``VARIABLE_LIMIT`` characters gives variables of at most that many,
whichever templates are configured. A leaf: it knows no platform's field names.
"""

import unicodedata

VARIABLE_LIMIT = 1024
# A paragraph that ends on one of these already ends a sentence: the next follows after a space.
_CLOSERS = ")]}\"'»«“”„’‘"


class Unsendable(ValueError):
    """No value WhatsApp takes can be made of this text (nothing but white space, or too long)."""


def paragraphs(text):
    """The text's paragraphs (separated by lines holding nothing but white space), each on one
    line with every run of white space as one space; empty ones are left out."""
    found, lines = [], []
    for line in text.splitlines():
        words = line.split()
        if words:
            lines.append(" ".join(words))
        elif lines:
            found.append(" ".join(lines))
            lines = []
    if lines:
        found.append(" ".join(lines))
    return found


def joined(parts):
    """Paragraphs run on in one line: a full stop after one that ends on a word (a headline),
    so that it still reads as its own sentence; a space after any other."""
    out = ""
    for part in parts:
        if out:
            out += ". " if _ends_on_a_word(out) else " "
        out += part
    return out


def _ends_on_a_word(text):
    last = text[-1]
    return unicodedata.category(last)[0] in "LN" or last in _CLOSERS


def one_line(text):
    """The whole text as a single variable."""
    return joined(paragraphs(text))


def variables(text, counts=(1,)):
    """The values for the template that fits the text best, among templates taking ``counts``
    variables (1 is always among them): one paragraph each, the paragraphs beyond the largest
    template run on in its last variable. Raises Unsendable for what WhatsApp would refuse."""
    parts = paragraphs(text)
    if not parts:
        raise Unsendable("the text is empty")
    size = max(count for count in set(counts) | {1} if count <= len(parts))
    values = parts[:size - 1] + [joined(parts[size - 1:])]
    longest = max(len(value) for value in values)
    if longest > VARIABLE_LIMIT:
        raise Unsendable(f"a template variable of {longest} characters (at most "
                         f"{VARIABLE_LIMIT})")
    return values



# What an emoji reaction holds: one emoji, which may be several code points (a skin tone, a
# flag of two regional indicators, people joined by zero-width joiners, a keycap).
REACTION_LIMIT = 32
_JOINERS = frozenset("\u200d\ufe0e\ufe0f\u20e3")
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_TAGS = range(0xE0020, 0xE0080)  # the tag letters of subdivision flags


def emoji_only(text):
    """Whether ``text`` (surrounding white space aside) is nothing but emoji, short enough to
    be a reaction: what WhatsApp sends when someone reacts, as opposed to a written message."""
    text = (text or "").strip()
    if not text or len(text) > REACTION_LIMIT:
        return False
    symbols = 0
    for char in text:
        if unicodedata.category(char) == "So":
            symbols += 1
        elif not (char in _JOINERS or ord(char) in _SKIN_TONES or ord(char) in _TAGS):
            return False
    return symbols > 0
