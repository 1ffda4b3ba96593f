"""Phone numbers: E.164, the one spelling we hash and encrypt, and masked for logs.

A leaf module. Every number that comes in is normalised here first, so the same citizen is
always the same subscriber however the number was written.
"""

import re

import phonenumbers

# Anything that looks like a phone number, for masking log lines: a run of 8+ digits, spaces
# allowed (``+49 151 …``, ``4915…`` as in WaId), with ``+`` or its URL escape ``%2B`` in front;
# or a number written with a leading ``+``/``%2B``/``0`` and dashes, slashes or dots between
# groups (``0151-1234-5678``). Dates and times (``2026-11-24 03:42``) have no leading zero or
# plus and are left alone; so are ids with letters in front (message ids).
_NUMBER_IN_TEXT = re.compile(
    r"(?:(?<![\w+%])|(?=%2[Bb]))(?:"
    r"(?:\+|%2[Bb])?[0-9][0-9 ]{6,18}[0-9]"
    r"|(?:\+|%2[Bb]|0)[0-9]{1,6}(?:[-./][0-9]{1,8}){1,4}"
    r")(?![\w])")
_SEPARATORS = re.compile(r"[ ./-]")


class InvalidAddress(Exception):
    """Not a phone number that can be used."""


def e164(number):
    """An international number (``+4915112345678``) as E.164; raise InvalidAddress otherwise."""
    try:
        parsed = phonenumbers.parse(number or "", None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(f"is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidAddress("is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def e164_from_input(text, default_region="DE"):
    """Parse a number an operator typed (``+49 151 …``, ``0151 …``) into E.164."""
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidAddress("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(number):
    """``+4915112344567`` → ``+49151•••4567``: enough to tell numbers apart in a log, no more.

    At least four digits always stay hidden: a short number (a landline, a small country's
    mobile) shows fewer digits at either end, not the same six and four.
    """
    number = number or ""
    digits = len(number.lstrip("+"))
    if digits < 7:
        return "•••"
    tail = 4 if digits >= 12 else 2
    head = min(5, digits - tail - 4)
    plus = "+" if number.startswith("+") else ""
    return f"{plus}{number.lstrip('+')[:head]}•••{number[-tail:]}"


def mask_text(text):
    """Mask every phone-number-like run in free text (log messages, exception strings)."""
    return _NUMBER_IN_TEXT.sub(_mask_match, text)


def _mask_match(match):
    found = match.group(0)
    plus = found.startswith(("+", "%2B", "%2b"))
    digits = _SEPARATORS.sub("", found.replace("%2B", "").replace("%2b", "").lstrip("+"))
    if len(digits) < 7:
        return found  # too short for a phone number: a version, a small count
    return mask(("+" if plus else "") + digits)
