"""WhatsApp's rule for an approved template's body, shared by both fake platforms.

A template's body is its own words with ``{{1}}`` … ``{{n}}``, fixed at approval; the message
fills in the variables. WhatsApp refuses a message whose body as sent (``rendered``) holds more
than ``BODY_LIMIT`` characters, whatever each variable holds (Twilio: 63021, Meta: 132005), and
approves no body that begins or ends with a variable, nor one naming variables the template
does not take (``check_body``).

The bodies a fake gives a template it was told nothing about are the ones the operator docs
recommend (docs/operations/sending.md, "Templates"): the county's words around the text, each
variable a paragraph of its own (``default_body``), and for a poll the question, then its
answers, in fixed words (``poll_body``).
"""

import functools
import re

BODY_LIMIT = 1024
PLACEHOLDER = re.compile(r"\{\{(\d+)\}\}")
# 60 characters of the template's own around the variables of a text template.
HEAD, TAIL = "Infokanal Landkreis Musterstadt:\n\n", "\n\nAbmelden: „Stop“ senden."


def placeholder(number):
    return f"{{{{{number}}}}}"


@functools.cache  # asked for each message a benchmark's fake takes
def default_body(variables):
    """A text template taking ``variables`` of them: each a paragraph between the county's
    words (for more than one, the paragraph templates of the docs)."""
    return HEAD + "\n\n".join(placeholder(number) for number in range(1, variables + 1)) + TAIL


def poll_body(buttons):
    """A poll's quick-reply template: the question ``{{1}}``, then each answer (``{{2}}`` …)
    in fixed words, since WhatsApp approves no variable in a button's title."""
    return ("Frage des Landkreises: {{1}}\n\nAntworten: " + ", ".join(
        f"{number} = {placeholder(number + 1)}" for number in range(1, buttons + 1))
        + ". Bitte tippen Sie auf die Nummer Ihrer Antwort.")


def check_body(body, allowed, required=None):
    """A body WhatsApp approves for a template whose body may name the variables ``allowed``
    (numbers): all of ``required`` (default: all allowed) in it, no other, and neither first
    nor last; else ValueError, as such a template never gets approved."""
    if not isinstance(body, str):
        raise ValueError(f"a template's body is a string, not {body!r}")
    named = {int(number) for number in PLACEHOLDER.findall(body)}
    required = set(allowed if required is None else required)
    if not required <= named <= set(allowed):
        raise ValueError(f"a body with variables {sorted(named)} for a template of "
                         f"{sorted(allowed)}")
    stripped = body.strip()
    if stripped.startswith("{{") or stripped.endswith("}}"):
        raise ValueError("WhatsApp approves no body that begins or ends with a variable")


def rendered(body, variables):
    """The body as the citizen reads it: each ``{{n}}`` filled in from ``variables``
    ({"1": text, …}; one not given stays as it is)."""
    return PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), body)


def too_long(body, variables):
    """Why WhatsApp refuses this body as sent (a plain reason), or None."""
    length = len(rendered(body, variables))
    if length > BODY_LIMIT:
        return f"the body as sent has {length} characters, at most {BODY_LIMIT}"
    return None
