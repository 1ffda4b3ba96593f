"""Configuration: defaults, then the environment (and ``.env``), then a test mapping.

Every name here is documented in the README's configuration table; names given by an issue are
a public contract and never change.
"""

import os
from dataclasses import dataclass

from dotenv import load_dotenv

from . import twilio_gateway


class ConfigError(Exception):
    """The configuration cannot work; the message tells the operator what to change."""


# name → (default, type). Types: str, int, float, bool.
SETTINGS = {
    "TWILIO_ACCOUNT_SID": ("", str),
    "TWILIO_AUTH_TOKEN": ("", str),
    "TWILIO_WHATSAPP_FROM": ("", str),
    "TWILIO_API_URL": ("", str),
    "PUBLIC_URL": ("", str),
    "ADMIN_TOKEN": ("", str),
    "DATABASE_PATH": ("", str),
    "DATA_KEY": ("", str),
    "SECRET_KEY": ("", str),
    "AUTHORITY_NAME": ("Ihrer Verwaltung", str),
    "CONTACT_INFO": ("die Telefonnummer oder Website Ihrer Verwaltung", str),
    "LANGUAGE": ("de", str),
    "LANGUAGES": ("", str),
    "TEXTS_FILE": ("", str),
    "KEYWORDS_START": ("", str),
    "KEYWORDS_STOP": ("", str),
    "KEYWORDS_HELP": ("", str),
    "NOTICE_WINDOW_HOURS": (24.0, float),
    "BROADCAST_CONTENT_SID": ("", str),
    "SEND_RATE_LIMIT": (80.0, float),
    "SEND_CONCURRENCY": (0, int),
    "SEND_BATCH_SIZE": (200, int),
    "SEND_TIMEOUT_SECONDS": (15.0, float),
    "SEND_MAX_ATTEMPTS": (8, int),
    "MESSAGING_LIMIT_24H": (0, int),
    "LIMIT_PAUSE_MINUTES": (60.0, float),
    "SENDER_POLL_SECONDS": (0.5, float),
    "TIMEZONE": ("Europe/Berlin", str),
    "CHANNEL_DESCRIPTION": ("", str),
    "PRIVACY_TEXT_FILE": ("", str),
    "SIGNIN_MAX_FAILURES": (5, int),
    "SIGNIN_LOCK_MINUTES": (15.0, float),
    "CONSOLE_SESSION_HOURS": (12.0, float),
    "PROXY_COUNT": (0, int),
    "RETENTION_INBOUND_DAYS": (30.0, float),
    "RETENTION_DELIVERY_DAYS": (30.0, float),
    "RETENTION_CONSENT_YEARS": (3.0, float),
    "CLEANUP_INTERVAL_HOURS": (24.0, float),
}

# Retention must end: zero or less would mean "keep forever" or "delete at once", and neither
# is a retention period a data-protection officer can sign.
_POSITIVE = ("RETENTION_INBOUND_DAYS", "RETENTION_DELIVERY_DAYS", "RETENTION_CONSENT_YEARS",
             "CLEANUP_INTERVAL_HOURS")

_TRUE = {"1", "true", "yes", "on", "ja"}
_FALSE = {"0", "false", "no", "off", "nein", ""}


def _coerce(name, raw, kind):
    if kind is str:
        return str(raw).strip()
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    try:
        return kind(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from exc


# The API can post to every subscriber: in production (Twilio credentials set) its token must
# be beyond guessing. Demo mode's generated token has 32 characters too.
ADMIN_TOKEN_MIN_LENGTH = 32


def _check_admin_token(values):
    token = values["ADMIN_TOKEN"]
    production = values["TWILIO_ACCOUNT_SID"] and values["TWILIO_AUTH_TOKEN"]
    if production and token and len(token) < ADMIN_TOKEN_MIN_LENGTH:
        raise ConfigError(
            f"ADMIN_TOKEN is too short: in production it needs at least "
            f"{ADMIN_TOKEN_MIN_LENGTH} characters, this one has {len(token)}. Make one with "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))' and put it into "
            ".env as ADMIN_TOKEN=…")


def load(instance_path, test_config=None):
    """Return the settings as a dict for ``app.config``."""
    if test_config is None:
        load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    values = {}
    for name, (default, kind) in SETTINGS.items():
        raw = os.environ.get(name, default) if test_config is None else default
        if test_config is not None and name in test_config:
            raw = test_config[name]
        values[name] = _coerce(name, raw, kind)
    if test_config:
        for key, value in test_config.items():
            values.setdefault(key, value)
    if not values["DATABASE_PATH"]:
        values["DATABASE_PATH"] = os.path.join(instance_path, "infokanal.db")
    if values["SEND_RATE_LIMIT"] <= 0:
        raise ConfigError("SEND_RATE_LIMIT must be above 0")
    if values["SIGNIN_MAX_FAILURES"] < 1:
        raise ConfigError("SIGNIN_MAX_FAILURES must be at least 1")
    if values["PROXY_COUNT"] < 0:
        raise ConfigError("PROXY_COUNT must be 0 or more")
    for name in _POSITIVE:
        if values[name] <= 0:
            raise ConfigError(f"{name} must be above 0")
    if values["PUBLIC_URL"]:
        values["PUBLIC_URL"] = values["PUBLIC_URL"].rstrip("/")
    _check_admin_token(values)
    # One of the two alone is a typo or a half-finished setup, not a wish for demo mode:
    # falling back to demo would send nothing while the operator believes it is live.
    credentials = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
    missing = [name for name in credentials if not values[name]]
    if len(missing) == 1:
        present = next(name for name in credentials if name not in missing)
        raise ConfigError(f"{present} is set but {missing[0]} is not: set both for "
                          "production, or neither for demo mode")
    sender = values["TWILIO_WHATSAPP_FROM"]
    if sender and not twilio_gateway.is_sender_address(sender):
        raise ConfigError(f"TWILIO_WHATSAPP_FROM {twilio_gateway.SENDER_ADDRESS_FORM}")
    return values


@dataclass(frozen=True)
class Mode:
    demo: bool

    @classmethod
    def of(cls, config):
        return cls(demo=not (config["TWILIO_ACCOUNT_SID"] and config["TWILIO_AUTH_TOKEN"]))
