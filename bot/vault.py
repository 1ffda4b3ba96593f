"""Phone numbers at rest: encrypted with Fernet, found again by a keyed hash.

A leaf module. ``DATA_KEY`` holds one or more Fernet keys, newest first, separated by commas;
the newest encrypts, all decrypt (``MultiFernet``), which is what lets ``keys rotate`` run while
webhooks keep working. The lookup hash uses its own random key, stored in the database wrapped
(encrypted) under ``DATA_KEY``: it must never change, or every consent record kept under a hash
would lose its citizen, so rotating ``DATA_KEY`` re-wraps it instead of replacing it.
"""

import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class DataKeyError(Exception):
    """DATA_KEY is missing or not a Fernet key."""


def new_key():
    return Fernet.generate_key().decode("ascii")


def split_data_key(value):
    """The Fernet keys in DATA_KEY, newest (the one that encrypts) first."""
    keys = [k.strip() for k in (value or "").split(",") if k.strip()]
    if not keys:
        raise DataKeyError("DATA_KEY is empty")
    try:
        return [Fernet(k.encode("ascii")) for k in keys]
    except (ValueError, UnicodeEncodeError) as exc:
        raise DataKeyError(
            "DATA_KEY must be Fernet keys (32 random bytes, url-safe base64), comma-separated"
        ) from exc


def parse_data_key(value):
    return MultiFernet(split_data_key(value))


def opens(fernet, token):
    """True when this one key decrypts the token (it was written under it)."""
    try:
        fernet.decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


def new_lookup_key():
    return secrets.token_bytes(32)


class Vault:
    def __init__(self, fernet, lookup_key):
        self._fernet = fernet
        self._lookup_key = lookup_key

    def hash(self, e164):
        return hmac.new(self._lookup_key, e164.encode("ascii"), hashlib.sha256).hexdigest()

    def encrypt(self, e164):
        return self._fernet.encrypt(e164.encode("ascii")).decode("ascii")

    def decrypt(self, token):
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise DataKeyError("no key in DATA_KEY opens this number") from exc


def wrap_lookup_key(fernet, lookup_key):
    return fernet.encrypt(lookup_key).decode("ascii")


def unwrap_lookup_key(fernet, wrapped):
    try:
        return fernet.decrypt(wrapped.encode("ascii"))
    except InvalidToken as exc:
        raise DataKeyError(
            "DATA_KEY does not open this database: it was encrypted with another key"
        ) from exc
