"""Phone numbers: from Twilio's ``whatsapp:+49…`` addresses to E.164, and masked for logs.

A leaf module. E.164 is the one spelling we hash and encrypt, so the same citizen is always the
same subscriber whether Twilio writes ``whatsapp:+49 151…`` or ``whatsapp:+49151…``.
"""

import re

import phonenumbers

_ADDRESS = re.compile(r"^whatsapp:(\+[0-9]{6,15})$")
# Any run that looks like a phone number (international or national), for masking log lines.
_NUMBER_IN_TEXT = re.compile(r"(?<![\w+])\+?[0-9][0-9 ]{6,18}[0-9](?![\w])")


class InvalidAddress(Exception):
    """The sender address is not a WhatsApp address with an international number."""


def e164_from_address(address):
    """``whatsapp:+4915112345678`` → ``+4915112345678``; raise InvalidAddress otherwise."""
    match = _ADDRESS.match((address or "").strip())
    if not match:
        raise InvalidAddress("From must look like whatsapp:+<country code><number>")
    try:
        parsed = phonenumbers.parse(match.group(1), None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidAddress(f"From is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidAddress("From is not a possible phone number")
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


def whatsapp_address(e164):
    return f"whatsapp:{e164}"


def mask(e164):
    """``+4915112344567`` → ``+49151•••4567``: enough to tell numbers apart in a log, no more."""
    digits = e164 or ""
    if len(digits) <= 8:
        return "•••"
    return f"{digits[:6]}•••{digits[-4:]}"


def mask_text(text):
    """Mask every phone-number-like run in free text (log messages, exception strings)."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask(m.group(0).replace(" ", "")), text)
