"""Configuration: defaults, then the environment (and ``.env``), then a test mapping.

Every name here is documented in the operator's guide's configuration table
(docs/operations/configuration.md); names given by an issue are a public contract and never
change.

It is long because it is the one place that reads and checks every setting: spread over the
features that use them, what an operator's value must look like would be hard to find.
"""

import os
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from dotenv import load_dotenv

from . import nina, phone, platforms
from .platforms import meta as meta_platform
from .platforms import twilio as twilio_platform
from .texts import Topic, languages_of


class ConfigError(Exception):
    """The configuration cannot work; the message tells the operator what to change."""


# name → (default, type). Types: str, int, float, bool.
SETTINGS = {
    "WHATSAPP_PLATFORM": (platforms.DEFAULT, str),
    "TWILIO_ACCOUNT_SID": ("", str),
    "TWILIO_AUTH_TOKEN": ("", str),
    "TWILIO_WHATSAPP_FROM": ("", str),
    "TWILIO_API_URL": ("", str),
    "TWILIO_RECEIPTS": (twilio_platform.RECEIPTS_DEFAULT, str),
    "PUBLIC_URL": ("", str),
    "ADMIN_TOKEN": ("", str),
    "METRICS_TOKEN": ("", str),
    "DATABASE_PATH": ("", str),
    "DATA_KEY": ("", str),
    "SECRET_KEY": ("", str),
    "AUTHORITY_NAME": ("", str),
    "CONTACT_INFO": ("", str),
    "DATA_PROTECTION_OFFICER": ("", str),
    "LANGUAGE": ("", str),
    "LANGUAGES": ("", str),
    "TOPICS": ("", str),
    "TEXTS_FILE": ("", str),
    "KEYWORDS_START": ("", str),
    "KEYWORDS_STOP": ("", str),
    "KEYWORDS_HELP": ("", str),
    "NOTICE_WINDOW_HOURS": (24.0, float),
    "BROADCAST_CONTENT_SID": ("", str),
    "BROADCAST_PARAGRAPH_TEMPLATES": ("", str),
    "BROADCAST_MEDIA_CONTENT_SID": ("", str),
    "TEMPLATE_FIXED_CHARACTERS": (100, int),
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
    "STATUS_SHORT_PATH": (True, bool),
    "RETENTION_INBOUND_DAYS": (30.0, float),
    "RETENTION_DELIVERY_DAYS": (30.0, float),
    "RETENTION_CONSENT_YEARS": (3.0, float),
    "RETENTION_AUDIT_YEARS": (3.0, float),
    "CLEANUP_INTERVAL_HOURS": (24.0, float),
    "BACKUP_KEEP_DAYS": (14.0, float),
    "WARNINGS_ARS": ("", str),
    "WARNINGS_API_URL": (nina.DEFAULT_API_URL, str),
    "WARNINGS_POLL_SECONDS": (60.0, float),
    "WARNINGS_TIMEOUT_SECONDS": (10.0, float),
    "WARNINGS_MIN_SEVERITY": ("Severe", str),
    "WARNINGS_MODE": ("send", str),
    "WARNINGS_PROVIDERS": ("", str),
    "WARNINGS_MAX_PER_POLL": (5, int),
    "APPROVAL_REQUIRED": ("", str),
    "TEST_RECIPIENTS": ("", str),
    "PRICE_PER_MESSAGE": ("", str),
    "PRICE_CURRENCY": ("", str),
    "CURRENCY": ("", str),
    "TEMPLATE_CATEGORY": ("", str),
    "PRICE_MARKETING": ("", str),
    "PRICE_UTILITY": ("", str),
    "PRICE_SERVICE": ("", str),
    "PLATFORM_FEE": ("", str),
    "MONTHLY_BUDGET": ("", str),
    "SEND_RATE_LIMIT_MEDIA": (0.0, float),
    "META_ACCESS_TOKEN": ("", str),
    "META_PHONE_NUMBER_ID": ("", str),
    "META_APP_SECRET": ("", str),
    "META_VERIFY_TOKEN": ("", str),
    "META_API_URL": (meta_platform.DEFAULT_API_URL, str),
    "META_API_VERSION": (meta_platform.DEFAULT_API_VERSION, str),
    "META_TEMPLATE": ("", str),
    "META_TEMPLATE_LANGUAGE": (meta_platform.DEFAULT_TEMPLATE_LANGUAGE, str),
    "META_PARAGRAPH_TEMPLATES": ("", str),
    "META_MEDIA_TEMPLATE": ("", str),
    "META_DISPLAY_PHONE_NUMBER": ("", str),
    "POLL_CONTENT_SID": ("", str),
    "META_POLL_TEMPLATE": ("", str),
    "REPLICA_URL": ("", str),
    "REPLICA_S3_ENDPOINT": ("", str),
    "REPLICA_WAIT_SECONDS": (2.0, float),
    "REPLICA_LEASE_SECONDS": (30.0, float),
}

# What each platform needs for production; none of them set is demo mode (``Mode.of``).
CREDENTIALS = {
    "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN"),
    "meta": ("META_ACCESS_TOKEN", "META_PHONE_NUMBER_ID", "META_APP_SECRET",
             "META_VERIFY_TOKEN"),
}
# The setting that holds the county's own WhatsApp number, per platform.
SENDER_SETTING = {"twilio": "TWILIO_WHATSAPP_FROM", "meta": "META_DISPLAY_PHONE_NUMBER"}

# What the texts say where the operator has not named the authority or its contact yet. A bare
# place name reads correctly in every sentence that takes it ("Infokanal von Musterstadt",
# "Verantwortlich ist Musterstadt", "Meldungen von Musterstadt"), where a phrase such as
# "Ihre Verwaltung" would need a different case in each; the demo banner and the console say to
# set both.
DEFAULT_AUTHORITY = "Musterstadt"
DEFAULT_CONTACT = "die Telefonnummer oder Website der Verwaltung"

# APPROVAL_REQUIRED: off; "1" (on) for broadcasts composed in the console, urgent ones exempt;
# "all", urgent ones too.
APPROVAL_OFF, APPROVAL_ON, APPROVAL_ALL = "off", "on", "all"

WARNINGS_MODES = ("send", "draft")

# Retention must end: zero or less would mean "keep forever" or "delete at once", and neither
# is a retention period a data-protection officer can sign.
_POSITIVE = ("RETENTION_INBOUND_DAYS", "RETENTION_DELIVERY_DAYS", "RETENTION_CONSENT_YEARS",
             "RETENTION_AUDIT_YEARS", "CLEANUP_INTERVAL_HOURS", "WARNINGS_POLL_SECONDS",
             "WARNINGS_TIMEOUT_SECONDS", "BACKUP_KEEP_DAYS")

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
        number = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{name} must be {number}, not {raw!r}") from exc


# The API can post to every subscriber: in production (Twilio credentials set) its token must
# be beyond guessing. Demo mode's generated token has 32 characters too.
ADMIN_TOKEN_MIN_LENGTH = 32


def _check_admin_token(values):
    token = values["ADMIN_TOKEN"]
    production = not Mode.of(values).demo
    if production and token and len(token) < ADMIN_TOKEN_MIN_LENGTH:
        raise ConfigError(
            f"ADMIN_TOKEN is too short: in production it needs at least "
            f"{ADMIN_TOKEN_MIN_LENGTH} characters, this one has {len(token)}. Make one with "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))' and put it into "
            ".env as ADMIN_TOKEN=…")


# Values an operator copied from .env.example (or from the README's examples) without putting in
# their own: citizens would read a made-up county, and the public page would link nowhere. The
# example file now says CHANGE-ME; older copies of it held the other values.
_PLACEHOLDER_WORDS = re.compile(r"change-?me|musterstadt|example-landkreis", re.IGNORECASE)
# An ellipsis stands for a value left out ("+49...", "HX..."). Numbers, addresses, identifiers and
# keys never hold one, so there any ellipsis is an example; in the free texts below a real value
# may well end in one ("Mo–Fr 8–16 Uhr ..."), so there only an ellipsis that is the whole value,
# cuts off a number right after it ("+49…", "0800...") or stands in a web address ("www.….de")
# is one.
_ELLIPSIS = re.compile(r"\.\.\.|…")
_ELLIPSIS_IN_FREE_TEXT = re.compile(r"^(?:\.\.\.|…)$|[+\d](?:\.\.\.|…)|\.…|…\.")
_FREE_TEXT = {"AUTHORITY_NAME", "CONTACT_INFO", "DATA_PROTECTION_OFFICER"}
# The README's example address, which its steps ask to replace.
_PLACEHOLDER_HOSTS = re.compile(r"^https?://info\.landkreis\.de(:\d+)?(/|$)", re.IGNORECASE)
# The settings that name the county, its contact and its WhatsApp identity, where an example
# value can pass for a real one. Free texts elsewhere (CHANNEL_DESCRIPTION) may well hold "…".
_IDENTITY = ("AUTHORITY_NAME", "CONTACT_INFO")
_CHECKED_FOR_PLACEHOLDERS = (
    "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM", "PUBLIC_URL",
    "ADMIN_TOKEN", "METRICS_TOKEN", "DATA_KEY", "SECRET_KEY", *_IDENTITY,
    "DATA_PROTECTION_OFFICER", "TEST_RECIPIENTS", "BROADCAST_CONTENT_SID",
    "BROADCAST_PARAGRAPH_TEMPLATES", *CREDENTIALS["meta"], "META_API_URL", "META_TEMPLATE",
    "META_PARAGRAPH_TEMPLATES", "META_DISPLAY_PHONE_NUMBER", "POLL_CONTENT_SID",
    "META_POLL_TEMPLATE", "BROADCAST_MEDIA_CONTENT_SID", "META_MEDIA_TEMPLATE")
# The per-language settings, read from the environment apart from SETTINGS (``_per_language``).
_LANGUAGE_PREFIXES = ("BROADCAST_CONTENT_SID_", "BROADCAST_PARAGRAPH_TEMPLATES_",
                      "META_TEMPLATE_", "META_PARAGRAPH_TEMPLATES_", "POLL_CONTENT_SID_",
                      "META_POLL_TEMPLATE_", "BROADCAST_MEDIA_CONTENT_SID_",
                      "META_MEDIA_TEMPLATE_")
# The example staff phone of .env.example, in whatever list it was left.
_EXAMPLE_VALUES = {"TEST_RECIPIENTS": "+4915100000000"}


def is_placeholder(name, value):
    """Whether a setting still holds an example value rather than the operator's own."""
    value = str(value or "").strip()
    if not value:
        return False
    if name == "PUBLIC_URL" and _PLACEHOLDER_HOSTS.match(value):
        return True
    example = _EXAMPLE_VALUES.get(name)
    ellipsis = _ELLIPSIS_IN_FREE_TEXT if name in _FREE_TEXT else _ELLIPSIS
    return bool(_PLACEHOLDER_WORDS.search(value) or ellipsis.search(value)
                or (example and example in value))


def _placeholder_names(values):
    names = [name for name in _CHECKED_FOR_PLACEHOLDERS if is_placeholder(name, values.get(name))]
    names += sorted(name for name, value in values.items()
                    if name.startswith(_LANGUAGE_PREFIXES) and name not in SETTINGS
                    and is_placeholder(name, value))
    return names


def _check_production_identity(values):
    """In production, the operator's environment must name the county and hold no example
    value: refused at start, one line naming the setting, before any citizen reads it."""
    examples = _placeholder_names(values)
    if examples:
        raise ConfigError(
            f"{examples[0]} still holds an example value (from .env.example or the README): "
            f"put in your own (in .env) before going live.")
    sender = SENDER_SETTING[values["WHATSAPP_PLATFORM"]]
    if not values[sender]:
        # Without it every message goes out from no one (Twilio), or the public page links to
        # no number (both): it would say the number is not set up yet.
        form = (twilio_platform.SENDER_ADDRESS_FORM if sender == "TWILIO_WHATSAPP_FROM"
                else _DISPLAY_NUMBER_FORM)
        raise ConfigError(f"{sender} is not set: in production it is the county's "
                          f"WhatsApp number ({form}, .env).")
    if values["WHATSAPP_PLATFORM"] == "meta" and not values["META_TEMPLATE"]:
        # Meta takes free-form text only within 24 hours of the citizen's last message: a
        # broadcast or a warning reaches the others only as an approved template.
        raise ConfigError("META_TEMPLATE is not set: on Meta, broadcasts to citizens who have "
                          "not written in the last 24 hours need an approved template (its "
                          "name, .env).")
    for name in _IDENTITY:
        if not values[name]:
            what = ("your authority's name, e.g. AUTHORITY_NAME=Landkreis Osterholz"
                    if name == "AUTHORITY_NAME" else
                    "where citizens get personal answers, e.g. CONTACT_INFO=Bürgertelefon "
                    "… oder www.….de/kontakt")
            raise ConfigError(f"{name} is not set: in production the texts need {what} (.env).")


def instance_path(test_config=None):
    """The folder of this county's own secrets and default database: ``INSTANCE_PATH`` from
    the environment (one per county where several share a checkout, so that no session key or
    database is shared), else None for Flask's ``instance/`` in the checkout."""
    if test_config is not None:
        return test_config.get("INSTANCE_PATH") or None
    value = os.environ.get("INSTANCE_PATH", "").strip()
    return os.path.abspath(value) if value else None


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
    values["WHATSAPP_PLATFORM"] = values["WHATSAPP_PLATFORM"].strip().lower() or platforms.DEFAULT
    if values["WHATSAPP_PLATFORM"] not in platforms.NAMES:
        raise ConfigError(f"WHATSAPP_PLATFORM must be one of {', '.join(platforms.NAMES)}, not "
                          f"{values['WHATSAPP_PLATFORM']!r}")
    values["TWILIO_RECEIPTS"] = values["TWILIO_RECEIPTS"].strip().lower() or \
        twilio_platform.RECEIPTS_DEFAULT
    if values["TWILIO_RECEIPTS"] not in twilio_platform.RECEIPTS:
        raise ConfigError(f"TWILIO_RECEIPTS must be {' or '.join(twilio_platform.RECEIPTS)}, "
                          f"not {values['TWILIO_RECEIPTS']!r}")
    if values["SEND_RATE_LIMIT"] <= 0:
        raise ConfigError("SEND_RATE_LIMIT must be above 0")
    if values["SEND_RATE_LIMIT_MEDIA"] < 0:
        raise ConfigError("SEND_RATE_LIMIT_MEDIA must be above 0 (or unset: SEND_RATE_LIMIT)")
    # A picture goes at the text's rate unless the platform caps it lower (Twilio: 80/s).
    values["SEND_RATE_LIMIT_MEDIA"] = values["SEND_RATE_LIMIT_MEDIA"] or values["SEND_RATE_LIMIT"]
    if values["SIGNIN_MAX_FAILURES"] < 1:
        raise ConfigError("SIGNIN_MAX_FAILURES must be at least 1")
    if values["PROXY_COUNT"] < 0:
        raise ConfigError("PROXY_COUNT must be 0 or more")
    for name in _POSITIVE:
        if values[name] <= 0:
            raise ConfigError(f"{name} must be above 0")
    if values["PUBLIC_URL"]:
        values["PUBLIC_URL"] = values["PUBLIC_URL"].rstrip("/")
    _check_credentials(values)
    _check_admin_token(values)
    if test_config is None:
        # What an operator put into the environment; a test's own mapping names its county
        # as it likes.
        if Mode.of(values).demo:
            # The demo runs with a copied .env as without one: an example value counts as
            # unset (the texts say Musterstadt, and the banner and the console remind).
            for name in _placeholder_names(values):
                values[name] = SETTINGS[name][0]
        else:
            _check_production_identity(_with_language_settings(values))
    # Which of the names the texts need the operator has not set (the console says so).
    values["IDENTITY_UNSET"] = [name for name in _IDENTITY if not values[name]]
    values["AUTHORITY_NAME"] = values["AUTHORITY_NAME"] or DEFAULT_AUTHORITY
    values["CONTACT_INFO"] = values["CONTACT_INFO"] or DEFAULT_CONTACT
    values["TOPIC_LIST"] = parse_topics(values["TOPICS"])
    languages = [code.strip() for code in values["LANGUAGES"].split(",") if code.strip()]
    for code in languages:
        if not _LANGUAGE_CODE.match(code):
            raise ConfigError(f"LANGUAGES holds {code!r}, which is not a language code "
                              "(two or three lower-case letters, e.g. de, en, uk, tr, ar, or "
                              "with a variant: de-LS for Leichte Sprache)")
    values["MAIN_LANGUAGE"], values["LANGUAGE_LIST"] = languages_of(values)
    # The approved template of each further language; the main one's is BROADCAST_CONTENT_SID
    # (Twilio) or META_TEMPLATE (Meta).
    values["CONTENT_SIDS"] = _per_language("BROADCAST_CONTENT_SID", languages, test_config)
    values["PARAGRAPH_SIDS"] = _paragraph_templates(_TWILIO_TEMPLATES, values, languages,
                                                    test_config)
    values["META_TEMPLATE_NAMES"] = _per_language("META_TEMPLATE", languages, test_config)
    values["META_PARAGRAPH_NAMES"] = _paragraph_templates(_META_TEMPLATES, values, languages,
                                                          test_config)
    values["POLL_CONTENT_SIDS"] = _poll_templates(_TWILIO_TEMPLATES, "POLL_CONTENT_SID",
                                                  values, languages, test_config)
    values["META_POLL_TEMPLATES"] = _poll_templates(_META_TEMPLATES, "META_POLL_TEMPLATE",
                                                    values, languages, test_config)
    values["MEDIA_CONTENT_SIDS"] = _media_templates(_TWILIO_TEMPLATES,
                                                    "BROADCAST_MEDIA_CONTENT_SID", values,
                                                    languages, test_config)
    values["META_MEDIA_TEMPLATES"] = _media_templates(_META_TEMPLATES, "META_MEDIA_TEMPLATE",
                                                      values, languages, test_config)
    sender = values["TWILIO_WHATSAPP_FROM"]
    if sender and not twilio_platform.is_sender_address(sender):
        raise ConfigError(f"TWILIO_WHATSAPP_FROM {twilio_platform.SENDER_ADDRESS_FORM}")
    _check_meta(values)
    _check_warnings(values)
    _check_template_words(values)
    _check_replica(values)
    values["APPROVAL_REQUIRED"] = approval_mode(values["APPROVAL_REQUIRED"])
    values["TEST_RECIPIENT_LIST"] = test_recipients(values["TEST_RECIPIENTS"])
    _check_prices(values, languages, test_config)
    return values


CATEGORIES = ("marketing", "utility")   # what Meta files a broadcast's template under
SERVICE = "service"                     # a reply inside the citizen's 24-hour window
# Meta files a template that informs everyone unasked as marketing: the dearer one, so an
# estimate without the setting errs towards more, never less.
DEFAULT_CATEGORY = "marketing"
_PRICES = {"marketing": "PRICE_MARKETING", "utility": "PRICE_UTILITY"}


def _check_prices(values, languages, test_config):
    """Prices, fee, budget and currency → Decimals (None where unset), and the template
    category per language: ``TEMPLATE_CATEGORIES`` ({None (the main language) or code:
    category}) and ``PRICES`` ({category or "service": Decimal or None})."""
    for name in ("PRICE_PER_MESSAGE", "PRICE_MARKETING", "PRICE_UTILITY", "PRICE_SERVICE",
                 "PLATFORM_FEE"):
        values[name] = price(values[name], name)
    values["MONTHLY_BUDGET"] = price(values["MONTHLY_BUDGET"], "MONTHLY_BUDGET",
                                     most=Decimal(10) ** 9)
    # PRICE_PER_MESSAGE, the older single price, prices a broadcast's category where that
    # category has no price of its own.
    values["PRICES"] = {category: values[setting] if values[setting] is not None
                        else values["PRICE_PER_MESSAGE"] for category, setting in _PRICES.items()}
    values["PRICES"][SERVICE] = values["PRICE_SERVICE"] or Decimal(0)
    values["PLATFORM_FEE"] = values["PLATFORM_FEE"] or Decimal(0)
    categories = {None: values["TEMPLATE_CATEGORY"]}
    categories.update(_per_language("TEMPLATE_CATEGORY", languages, test_config))
    for code, raw in categories.items():
        category = str(raw or "").strip().lower() or (
            DEFAULT_CATEGORY if code is None else None)
        if category is not None and category not in CATEGORIES:
            name = "TEMPLATE_CATEGORY" + (f"_{setting_suffix(code)}" if code else "")
            raise ConfigError(f"{name} must be marketing or utility, not {raw!r}")
        categories[code] = category
    # A further language without its own category has the main one's.
    values["TEMPLATE_CATEGORIES"] = {code: categories.get(code) or categories[None]
                                     for code in [None] + languages}
    values["TEMPLATE_CATEGORY"] = categories[None]
    # CURRENCY is the name; PRICE_CURRENCY, the older one, still counts when CURRENCY is unset.
    raw = values["CURRENCY"] or values["PRICE_CURRENCY"]
    currency = raw.strip().upper() or "EUR"
    if not re.fullmatch(r"[A-Z]{3}", currency):
        name = "CURRENCY" if values["CURRENCY"] else "PRICE_CURRENCY"
        raise ConfigError(f"{name} must be a three-letter currency code such as EUR, "
                          f"not {raw!r}")
    values["CURRENCY"] = values["PRICE_CURRENCY"] = currency


# More paragraphs than this run on in the last variable: a 1,024-character text has no use for
# more, and WhatsApp rejects templates with many variables and little text of their own.
MOST_PARAGRAPHS = 10


@dataclass(frozen=True)
class _Templates:
    """How one platform's per-paragraph templates are named in the settings."""

    setting: str          # e.g. BROADCAST_PARAGRAPH_TEMPLATES (and _<LANG>)
    single: str           # the single-variable template of the main language
    singles_key: str      # the loaded {code: name} of the further languages' single templates
    name_pattern: object  # what one template's name or id looks like
    example: str          # how the error message writes one


# Twilio's content SIDs (HX…); Meta's template names (lower-case letters, digits, underscores).
_TWILIO_TEMPLATES = _Templates("BROADCAST_PARAGRAPH_TEMPLATES", "BROADCAST_CONTENT_SID",
                               "CONTENT_SIDS", re.compile(r"[A-Za-z0-9]+"),
                               "<its content SID>, separated by commas, e.g. 2=HX…,3=HX…,4=HX…")
_META_TEMPLATES = _Templates("META_PARAGRAPH_TEMPLATES", "META_TEMPLATE", "META_TEMPLATE_NAMES",
                             re.compile(r"[a-z0-9_]{1,512}"),
                             "<its template name>, separated by commas, e.g. "
                             "2=infokanal_2,3=infokanal_3")


def _per_language(prefix, languages, test_config):
    """``<prefix>_<LANG>`` of each further language → {code: value}, where set."""
    found = {}
    for code in languages:
        name = f"{prefix}_{setting_suffix(code)}"
        raw = (test_config or {}).get(name) if test_config is not None else os.environ.get(name)
        if raw and str(raw).strip():
            found[code] = str(raw).strip()
    return found


def _set_per_language(setting, values, languages, test_config):
    """``setting`` and its ``_<LANG>`` variants that are set: (None or code, name, value). The
    main one comes loaded in ``values``; a language's from the environment (or the test
    configuration), since SETTINGS cannot list every language's name."""
    for code in [None] + languages:
        name = setting + (f"_{setting_suffix(code)}" if code else "")
        if code is None:
            raw = values[name]
        else:
            raw = (test_config or {}).get(name) if test_config is not None \
                else os.environ.get(name)
        raw = str(raw or "").strip()
        if raw:
            yield code, name, raw


def _paragraph_templates(kind, values, languages, test_config):
    """BROADCAST_PARAGRAPH_TEMPLATES or META_PARAGRAPH_TEMPLATES (and ``_<LANG>``),
    ``2=…,3=…`` → {None (the main language) or code: {variables: template}}. Each belongs to a
    single-variable template of the same language: the text falls back to that one when no
    other fits."""
    found = {}
    for code, name, raw in _set_per_language(kind.setting, values, languages, test_config):
        single = values[kind.singles_key].get(code) if code else values[kind.single]
        if not single:
            needed = f"{kind.single}_{setting_suffix(code)}" if code else kind.single
            raise ConfigError(f"{name} is set but {needed} is not: the single-variable "
                              "template is needed too, for texts of one paragraph")
        templates = {}
        for item in raw.split(","):
            count, _, template = (part.strip() for part in item.partition("="))
            if not (count.isdigit() and 2 <= int(count) <= MOST_PARAGRAPHS) or not template \
                    or not kind.name_pattern.fullmatch(template) or int(count) in templates:
                raise ConfigError(
                    f"{name} holds {item.strip()!r}: write each template as <number of "
                    f"paragraphs>={kind.example} (numbers from 2 to {MOST_PARAGRAPHS}, "
                    f"each once)")
            templates[int(count)] = template
        found[code] = templates
    return found


# How many answers a poll may have (one quick-reply template for each number).
POLL_ANSWERS = (2, 3)


def _poll_templates(kind, setting, values, languages, test_config):
    """POLL_CONTENT_SID or META_POLL_TEMPLATE (and ``_<LANG>``), ``2=…,3=…`` → {None (the
    main language) or code: {number of answers: template}}: the approved quick-reply template
    with as many buttons for each number of answers a poll may have."""
    found = {}
    for code, name, raw in _set_per_language(setting, values, languages, test_config):
        templates = {}
        for item in raw.split(","):
            count, _, template = (part.strip() for part in item.partition("="))
            if not (count.isdigit() and int(count) in POLL_ANSWERS) or not template \
                    or not kind.name_pattern.fullmatch(template) or int(count) in templates:
                raise ConfigError(
                    f"{name} holds {item.strip()!r}: write each approved quick-reply "
                    "template as <number of answers>=<its content SID or name>, for 2 and 3 "
                    "answers, each once (e.g. 2=HX…,3=HX… or 2=umfrage_2,3=umfrage_3)")
            templates[int(count)] = template
        found[code] = templates
    return found


MEDIA_KINDS = ("image", "video", "document")


def _media_templates(kind, setting, values, languages, test_config):
    """BROADCAST_MEDIA_CONTENT_SID or META_MEDIA_TEMPLATE (and ``_<LANG>``),
    ``image=…,video=…,document=…`` → {None (the main language) or code: {media kind:
    template}}: the approved templates with a media header of that kind (WhatsApp approves a
    template for one kind of header) and the text as their body's one variable. Each belongs
    to the text template of the same language, which broadcasts without a file use."""
    found = {}
    for code, name, raw in _set_per_language(setting, values, languages, test_config):
        single = values[kind.singles_key].get(code) if code else values[kind.single]
        if not single:
            needed = f"{kind.single}_{setting_suffix(code)}" if code else kind.single
            raise ConfigError(f"{name} is set but {needed} is not: a media template is used "
                              "only where broadcasts go out as templates; set the text "
                              "template too")
        templates = {}
        for item in raw.split(","):
            media_kind, _, template = (part.strip() for part in item.partition("="))
            if media_kind not in MEDIA_KINDS or not template \
                    or not kind.name_pattern.fullmatch(template) or media_kind in templates:
                raise ConfigError(
                    f"{name} holds {item.strip()!r}: write each approved template with a "
                    "media header as <kind>=<its content SID or name>, the kind image, video "
                    "or document, each once (e.g. image=HX…,video=HX…,document=HX… or "
                    "image=infokanal_bild,video=infokanal_video)")
            templates[media_kind] = template
        if setting == "BROADCAST_MEDIA_CONTENT_SID" and not values["PUBLIC_URL"]:
            # Twilio's media template names the file by a variable after a fixed address,
            # which is ours: PUBLIC_URL/media/{{2}}.
            raise ConfigError(f"{name} is set but PUBLIC_URL is not: the media template's "
                              "address is PUBLIC_URL/media/{{2}}")
        found[code] = templates
    return found


def _with_language_settings(values):
    """The settings plus the per-language template names, which are read from the
    environment apart from SETTINGS."""
    extra = {name: value for name, value in os.environ.items()
             if name.startswith(_LANGUAGE_PREFIXES) and name not in SETTINGS}
    return {**extra, **values}


def approval_mode(value):
    """APPROVAL_REQUIRED → off, on or all."""
    text = str(value or "").strip().lower()
    if text in _FALSE:
        return APPROVAL_OFF
    if text in _TRUE:
        return APPROVAL_ON
    if text == "all":
        return APPROVAL_ALL
    raise ConfigError(f"APPROVAL_REQUIRED must be 0 (off), 1 (urgent broadcasts exempt) or all, "
                      f"not {value!r}")


def test_recipients(value):
    """TEST_RECIPIENTS (the platform's addresses of staff phones, comma-separated) → E.164
    numbers, each once."""
    numbers = []
    for part in (p.strip() for p in str(value or "").split(",")):
        if not part:
            continue
        try:
            number = twilio_platform.number_of(part)
        except twilio_platform.InvalidAddress:
            # The value is staff's phone number: the reason, not the value, goes to the log.
            raise ConfigError(f"TEST_RECIPIENTS entry {len(numbers) + 1} "
                              f"{twilio_platform.RECIPIENT_ADDRESS_FORM}") from None
        if number not in numbers:
            numbers.append(number)
    return numbers


# A point followed by exactly three digits and no comma ("5.000", "12.500"): thousands the
# German way, or a decimal point? For a budget it is almost certainly the former.
_THOUSANDS = re.compile(r"^[0-9]+(\.[0-9]{3})+$")


def price(value, name="PRICE_PER_MESSAGE", most=Decimal(100)):
    """A price setting (``PRICE_PER_MESSAGE``, ``PRICE_MARKETING``, …, ``MONTHLY_BUDGET``)
    → a Decimal (comma or point), or None when not set."""
    text = str(value or "").strip()
    if name == "MONTHLY_BUDGET" and _THOUSANDS.match(text):
        # "5.000" is how German writes five thousand; read as a decimal point it would be five
        # euros, and every broadcast would wait for an admin. Ambiguous, so refused.
        raise ConfigError(f"{name} {value!r} is ambiguous: a point is a decimal point here, "
                          "not a thousands separator; write 5000 or 5000,00 (no thousands "
                          "separator)")
    text = text.replace(",", ".")
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a decimal number such as 0.0456, "
                          f"not {value!r}") from None
    if not amount.is_finite() or amount < 0 or amount > most:
        per = " (per message)" if most == 100 else ""
        raise ConfigError(f"{name} must be between 0 and {most}{per}")
    return amount


# A language, and optionally one variant of it: "de-LS" is German in Leichte Sprache.
_LANGUAGE_CODE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z]{2,8})?$")


def setting_suffix(code):
    """How a language's own settings end: ``_EN`` for en, ``_DE_LS`` for de-LS (a hyphen
    cannot stand in an environment variable's name)."""
    return code.upper().replace("-", "_")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def parse_topics(value):
    """``TOPICS`` (``slug=Name,slug=Name``) → [texts.Topic]; ConfigError with the reason."""
    topics, slugs = [], set()
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        slug, equals, name = (x.strip() for x in part.partition("="))
        if not equals or not name:
            raise ConfigError(f"TOPICS entry {part!r} must look like slug=Name, e.g. "
                              "baustellen=Baustellen und Sperrungen")
        if not _SLUG.match(slug):
            raise ConfigError(f"TOPICS slug {slug!r} may hold only a-z, 0-9 and '-' "
                              "(at most 40, starting with a letter or digit)")
        if slug in slugs:
            raise ConfigError(f"TOPICS names the slug {slug!r} twice")
        if len(name) > 60:
            raise ConfigError(f"TOPICS name {name!r} is longer than 60 characters")
        slugs.add(slug)
        topics.append(Topic(slug, name))
    return topics


def _check_warnings(values):
    """The warnings relay's settings, normalised; a relay that cannot work stops the start,
    rather than leave the county believing its warnings are passed on."""
    ars = values["WARNINGS_ARS"]
    if ars and not (len(ars) == 12 and ars.isascii() and ars.isdigit()):
        raise ConfigError(
            f"WARNINGS_ARS must be the county's 12-digit regional key (ARS), e.g. "
            f"033560000000 for Osterholz, not {ars!r}")
    if ars and not nina.is_regional_key(ars):
        raise ConfigError(
            f"WARNINGS_ARS {ars} names a municipality; the warnings feed is per county, so "
            f"its last 7 digits must be 0 (here: {ars[:5]}0000000)")
    values["WARNINGS_API_URL"] = (values["WARNINGS_API_URL"] or nina.DEFAULT_API_URL).rstrip("/")
    if not values["WARNINGS_API_URL"].startswith(("http://", "https://")):
        raise ConfigError("WARNINGS_API_URL must be an http(s) URL")
    severity = values["WARNINGS_MIN_SEVERITY"].capitalize()
    if severity not in nina.SEVERITIES:
        raise ConfigError(f"WARNINGS_MIN_SEVERITY must be one of {', '.join(nina.SEVERITIES)}, "
                          f"not {values['WARNINGS_MIN_SEVERITY']!r}")
    values["WARNINGS_MIN_SEVERITY"] = severity
    mode = values["WARNINGS_MODE"].lower()
    if mode not in WARNINGS_MODES:
        raise ConfigError(f"WARNINGS_MODE must be send or draft, not {values['WARNINGS_MODE']!r}")
    values["WARNINGS_MODE"] = mode
    values["WARNINGS_PROVIDERS"] = ",".join(providers(values["WARNINGS_PROVIDERS"]))
    if values["WARNINGS_MAX_PER_POLL"] < 1:
        raise ConfigError(
            f"WARNINGS_MAX_PER_POLL must be a whole number of at least 1 (how many official "
            f"warnings may go out by themselves from one poll of the feed), not "
            f"{values['WARNINGS_MAX_PER_POLL']}")


# WhatsApp takes a template's body as sent (its own words, the variables filled in) up to this.
TEMPLATE_BODY_LIMIT = 1024
# What a broadcast's text keeps at least, whatever the templates' own words take.
_LEAST_TEXT_ROOM = 124


def _check_template_words(values):
    """TEMPLATE_FIXED_CHARACTERS: what the approved broadcast templates' own words take of the
    1,024 characters WhatsApp allows their body as sent; the text gets the rest."""
    fixed = values["TEMPLATE_FIXED_CHARACTERS"]
    most = TEMPLATE_BODY_LIMIT - _LEAST_TEXT_ROOM
    if not 0 <= fixed <= most:
        raise ConfigError(
            f"TEMPLATE_FIXED_CHARACTERS must be a whole number from 0 to {most} (the characters "
            f"of the longest broadcast template's own words, without its variables), not {fixed}")


REPLICA_SCHEMES = ("file", "s3", "sftp")


def _check_replica(values):
    """REPLICA_URL names where Litestream keeps the database's copy; the other REPLICA_
    settings only matter with it."""
    url = values["REPLICA_URL"]
    if url:
        scheme, _, rest = url.partition("://")
        if scheme not in REPLICA_SCHEMES or not rest.strip("/"):
            raise ConfigError(f"REPLICA_URL must look like file:///path, s3://bucket/path or "
                              f"sftp://user@host/path, not {url!r}")
        if scheme == "file" and not rest.startswith("/"):
            raise ConfigError("REPLICA_URL file:// needs an absolute path (three slashes: "
                              "file:///srv/replica/infokanal)")
    endpoint = values["REPLICA_S3_ENDPOINT"]
    if endpoint and not re.match(r"https?://[^/\s]+", endpoint):
        raise ConfigError(f"REPLICA_S3_ENDPOINT must be an http(s) URL, not {endpoint!r}")
    if values["REPLICA_WAIT_SECONDS"] <= 0:
        raise ConfigError("REPLICA_WAIT_SECONDS must be above 0")
    # The sender renews the lease three times per period: shorter ones would be lost to one
    # slow request to the store.
    if values["REPLICA_LEASE_SECONDS"] < 5:
        raise ConfigError("REPLICA_LEASE_SECONDS must be at least 5")


def providers(setting):
    """WARNINGS_PROVIDERS → our provider names, in a fixed order; empty or "all": all."""
    words = [w.strip().lower() for w in str(setting or "").split(",") if w.strip()]
    if not words or words == ["all"]:
        return list(nina.PROVIDERS)
    unknown = sorted(set(words) - set(nina.PROVIDERS))
    if unknown:
        raise ConfigError(f"WARNINGS_PROVIDERS has unknown providers {unknown}; choose from "
                          f"{','.join(nina.PROVIDERS)} (or leave it empty for all)")
    return [name for name in nina.PROVIDERS if name in words]


def platform_of(config):
    """The platform named by loaded settings or by the raw environment (gunicorn's master)."""
    return str(config.get("WHATSAPP_PLATFORM") or "").strip().lower() or platforms.DEFAULT


def _check_credentials(values):
    """Some of a platform's credentials without the others is a typo or a half-finished setup,
    not a wish for demo mode: falling back to demo would send nothing while the operator
    believes it is live."""
    platform = values["WHATSAPP_PLATFORM"]
    credentials = CREDENTIALS[platform]
    present = [name for name in credentials if values[name]]
    missing = [name for name in credentials if not values[name]]
    if present and missing:
        every = "both" if len(credentials) == 2 else f"all of {', '.join(credentials)}"
        raise ConfigError(f"{present[0]} is set but {missing[0]} is not: set {every} for "
                          "production, or none for demo mode")
    if present:
        return
    # None of this platform's, some of the other's: the platform's name and the credentials
    # disagree. Demo mode here would take unsigned webhooks on a public address.
    other, set_there = _other_platforms_credentials(values) or (None, None)
    if other:
        chosen = f"{platform} (the default)" if platform == platforms.DEFAULT else platform
        raise ConfigError(f"{', '.join(set_there)} {'is' if len(set_there) == 1 else 'are'} "
                          f"set but WHATSAPP_PLATFORM is {chosen}: set "
                          f"WHATSAPP_PLATFORM={other}, or remove them")


def _other_platforms_credentials(settings):
    """(platform, [its credentials that are set]) of another platform than the one named,
    when the named one has none of its own; else None. ``settings``: loaded or raw."""
    platform = platform_of(settings)
    if any(settings.get(name) for name in CREDENTIALS.get(platform, ())):
        return None
    for other, theirs in CREDENTIALS.items():
        set_there = [name for name in theirs if settings.get(name)]
        if other != platform and set_there:
            return other, set_there
    return None


_DISPLAY_NUMBER_FORM = "the county's number in international form, e.g. +4947911234567"


def _check_meta(values):
    """Meta's settings, normalised; a value the transport or the public page cannot use stops
    the start."""
    number = values["META_DISPLAY_PHONE_NUMBER"]
    if number:
        try:
            # phonenumbers reads past letters ("+49 4791 abc"): only a number is one here.
            if not re.fullmatch(r"\+[0-9 ()/.-]+", number):
                raise phone.InvalidAddress(number)
            values["META_DISPLAY_PHONE_NUMBER"] = phone.e164(number)
        except phone.InvalidAddress:
            # The county's own number: not private, but say the rule, not the value.
            raise ConfigError(f"META_DISPLAY_PHONE_NUMBER must be {_DISPLAY_NUMBER_FORM}") \
                from None
    values["META_API_URL"] = (values["META_API_URL"] or SETTINGS["META_API_URL"][0]).rstrip("/")
    if not values["META_API_URL"].startswith(("http://", "https://")):
        raise ConfigError(f"META_API_URL must be an http(s) URL, e.g. "
                          f"{meta_platform.DEFAULT_API_URL}")
    if not re.fullmatch(r"v\d+\.\d+", values["META_API_VERSION"]):
        raise ConfigError(f"META_API_VERSION must look like v23.0, not "
                          f"{values['META_API_VERSION']!r}")
    if values["META_PHONE_NUMBER_ID"] and not values["META_PHONE_NUMBER_ID"].isdigit():
        raise ConfigError("META_PHONE_NUMBER_ID must be the number's id from Meta's app "
                          "dashboard (digits only), not the phone number itself")
    template = values["META_TEMPLATE"]
    if template and not _META_TEMPLATES.name_pattern.fullmatch(template):
        raise ConfigError("META_TEMPLATE must be an approved template's name (lower-case "
                          "letters, digits and underscores)")


@dataclass(frozen=True)
class Mode:
    demo: bool

    @classmethod
    def of(cls, config):
        """The mode of loaded settings, or of the raw environment (gunicorn's master): demo
        unless all of the platform's credentials are set (``load`` refuses some without the
        others, so for loaded settings that is: none set)."""
        credentials = CREDENTIALS.get(platform_of(config), CREDENTIALS[platforms.DEFAULT])
        return cls(demo=not all(config.get(name) for name in credentials))


# In the instance folder; the app creates it in demo mode when ADMIN_TOKEN is not set.
DEMO_TOKEN_FILE = "demo-admin-token"
# Likewise the demo's DATA_KEY: a database it opens is the demo's (``scripts/flask demo-reset``).
DEMO_KEY_FILE = "demo-data-key"

DEMO_BANNER = (
    "\n" + "=" * 72 + "\n"
    "  DEMO MODE: no {platform} credentials configured.\n"
    "  Nothing is sent to WhatsApp; replies and broadcasts go to the local outbox\n"
    "  (database table 'outbox', logged with masked numbers). Signature checks are OFF.\n"
    "  Set {credentials} for production.\n"
    "{identity}"
    "{token}"
    + "=" * 72
)


def start_banner(settings):
    """What the web server and the worker log once when they start, or None (production).

    ``settings``: loaded settings or the raw environment; only the credentials and
    ADMIN_TOKEN are read, so gunicorn's master can ask before any worker has built an app.
    """
    if not Mode.of(settings).demo:
        return None
    if _other_platforms_credentials(settings):
        # Not the demo: the app refuses to start and says why (``_check_credentials``).
        return None
    token = "" if settings.get("ADMIN_TOKEN") else (
        f"  The API token for this demo is in instance/{DEMO_TOKEN_FILE}.\n")
    platform = platform_of(settings)
    names = CREDENTIALS.get(platform, CREDENTIALS[platforms.DEFAULT])
    return DEMO_BANNER.format(
        token=token, identity=identity_hint(settings),
        platform="Meta" if platform == "meta" else "Twilio",
        credentials=", ".join(names[:-1]) + " and " + names[-1])


def identity_hint(settings):
    """A banner line when the texts still use a placeholder name or contact."""
    unset = settings.get("IDENTITY_UNSET")
    if unset is None:  # the raw environment (gunicorn's master), not loaded settings
        unset = [name for name in _IDENTITY
                 if not str(settings.get(name) or "").strip()
                 or is_placeholder(name, settings.get(name))]
    if not unset:
        return ""
    return (f"  Set {' and '.join(unset)} (.env): until then the texts say "
            f"\"{DEFAULT_AUTHORITY}\" and \"{DEFAULT_CONTACT}\".\n")
