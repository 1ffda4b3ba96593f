"""Our own small words for what the messaging platform reports: error kinds and statuses.

A leaf module. Each platform module (``platforms.twilio``, ``platforms.meta``) maps its
platform's error codes and status names into these; storage, the sender, the console and the API speak only these. A platform
error code still travels with a kind, as an opaque string, because the API counts failures by
it and the press office may quote it to the platform's support.
"""

# What went wrong with one message, or with the channel.
NOT_ON_WHATSAPP = "not_on_whatsapp"   # the number has no WhatsApp account
INVALID_NUMBER = "invalid_number"     # not a number that can receive anything
TEMPLATE_NEEDED = "template_needed"   # free-form text outside the 24-hour window
TEMPLATE_REFUSED = "template_refused" # the template's variables are not what WhatsApp takes
OPTED_OUT = "opted_out"               # the citizen opted out at the platform: honour as a Stop
MESSAGING_LIMIT = "messaging_limit"   # WhatsApp's limit of people per 24 hours: pause, resume
CREDENTIALS = "credentials"           # account, token or sender refused: nothing will work
THROTTLED = "throttled"               # too many requests: never processed, retry after a pause
UNKNOWN = "unknown"                   # maybe processed (5xx, timeout, dropped): retry, count
REJECTED = "rejected"                 # refused for another reason that is about this message
CITIZEN_CAP = "citizen_cap"           # the platform's cap per citizen (marketing): retry later
MARKETING_DECLINED = "marketing_declined"  # the citizen turned off such messages: their choice
PAIR_LIMIT = "pair_limit"             # too many messages to this one citizen just now: that one
                                      # message later, never a hold of everything

ERROR_KINDS = (NOT_ON_WHATSAPP, INVALID_NUMBER, TEMPLATE_NEEDED, TEMPLATE_REFUSED, OPTED_OUT,
               MESSAGING_LIMIT, CREDENTIALS, THROTTLED, UNKNOWN, REJECTED, CITIZEN_CAP,
               MARKETING_DECLINED, PAIR_LIMIT)

# What a citizen's inbound message is: a text (handled as a keyword or drawing the notice), a
# tap on a button, a reaction with an emoji (neither ever draws the notice), anything else
# (a picture, a voice message, a location: the notice, as for a text that is no keyword).
INBOUND_TEXT, INBOUND_BUTTON, INBOUND_REACTION, INBOUND_OTHER = (
    "text", "button", "reaction", "other")
INBOUND_KINDS = (INBOUND_TEXT, INBOUND_BUTTON, INBOUND_REACTION, INBOUND_OTHER)

# Our own reasons for a delivery that was not sent (stored like error codes, never a
# platform's): the citizen left, the broadcast was cancelled or expired, retries ran out.
SKIP_UNSUBSCRIBED = "unsubscribed"
SKIP_CANCELLED = "cancelled"
SKIP_EXPIRED = "expired"
RETRIES_EXHAUSTED = "retries-exhausted"

# What the platform reported after a send, ranked: a callback can only move a message forward
# (they arrive in any order), and failed is final.
SENT, DELIVERED, READ, FAILED = "sent", "delivered", "read", "failed"
RECEIPT_STATUSES = (SENT, DELIVERED, READ, FAILED)
RANK = {SENT: 2, DELIVERED: 3, READ: 4, FAILED: 9}

# Why the sender paused a broadcast (``broadcasts.pause_reason`` begins with one of these).
PAUSE_DATA_KEY = "data key"
PAUSE_CREDENTIALS = "credentials"
PAUSE_MESSAGING_LIMIT = "messaging limit"
# A planned broadcast whose text or a translation, written under a larger limit, is longer than
# the template's room now: held when it became due, before anything went out.
PAUSE_TEXT_TOO_LONG = "text too long"

# What the operator can do about failures of a kind, in plain English (the API's "hints", the
# sender's log).
HINTS = {
    TEMPLATE_NEEDED: (
        "WhatsApp delivers free-form messages only to citizens who wrote to the number "
        "in the last 24 hours. Set BROADCAST_CONTENT_SID to an approved WhatsApp template "
        "(operator's guide, \"Templates\") so that broadcasts reach every subscriber."),
    TEMPLATE_REFUSED: (
        "WhatsApp refused the template's variables. Check that BROADCAST_PARAGRAPH_TEMPLATES "
        "names each template with the number of variables its approved body has ({{1}} to "
        "{{n}}), that BROADCAST_CONTENT_SID's body has a single one, {{1}}, and for a "
        "broadcast with a file that each of BROADCAST_MEDIA_CONTENT_SID or META_MEDIA_TEMPLATE "
        "names a template approved for that kind of header, and that TEMPLATE_FIXED_CHARACTERS "
        "is at least the count of the templates' own words: WhatsApp takes a template's body "
        "as sent up to 1,024 characters (operator's guide, \"Templates\")."),
}


def hints_for(failures):
    """Advice for a broadcast's failures, ``{(kind, code): count}``; empty when there is none.

    Each hint begins with the platform codes it is about, so that the operator can look them up.
    """
    codes_by_kind = {}
    for kind, code in failures:
        if kind in HINTS:
            codes_by_kind.setdefault(kind, set()).add(code or kind)
    return [f"{', '.join(sorted(codes))}: {HINTS[kind]}"
            for kind, codes in sorted(codes_by_kind.items())]


def too_long_reason(field, length, limit):
    """The reason stored with a broadcast held for a text over the limit (``field``: text or
    translations.<code>), in plain words for the API."""
    return f"{PAUSE_TEXT_TOO_LONG} ({field} is {length} characters, at most {limit})"


def pause_reason(word, code=None):
    """``messaging limit (<code>)``: the reason stored with a paused broadcast."""
    return f"{word} ({code})" if code else word
