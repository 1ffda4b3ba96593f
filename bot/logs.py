"""Logging with phone numbers masked in every line, tracebacks included."""

import copy
import logging
import re
from collections.abc import Mapping
from urllib.parse import unquote_plus

from .phone import mask_text

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# gunicorn's access lines: no client address, user name or user agent (personal data we do not
# need). Only the request line can carry what a client chose (numbers, credentials); it alone
# is masked, by AccessFormatter. The time, status, size and duration are gunicorn's own and
# are written as they are.
ACCESS_FORMAT = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Query parameters that may carry a credential, by name: their values never reach a log.
_SECRET_NAME = re.compile(
    r"(?i)token|key|secret|passw|signature|auth|session|cookie"
    r"|(?:^|[_.-])(?:pw|pwd|pass|sig|code|otp|pin)$")
_PARAMETER_SEPARATOR = re.compile(r"([&;])")
REDACTED = "[redacted]"
# A value that is itself an address with a query (``next=%2Fadmin%3Ftoken%3D…``) is masked as
# one, this many levels deep; deeper ones are redacted whole.
_NESTING = 3
# gunicorn's atoms that it writes itself, never taken from the request.
_OWN_ATOMS = {"t", "s", "b", "B", "M", "D", "T", "L", "p", "m", "H", "h", "l"}
_SECRET_HEADER = re.compile(r"(?i)^\{[^}]*(?:auth|cookie|signature|token|key)[^}]*\}[ie]$")


class MaskingFormatter(logging.Formatter):
    def format(self, record):
        return mask_text(super().format(record))


class AccessFormatter(logging.Formatter):
    """gunicorn's access lines with the parts a client wrote masked, and only those.

    gunicorn hands the line's parts as a mapping (its "atoms"); each one the request wrote
    (request line, path, query, referer, headers) is masked on its own, so that masking never
    reaches the time (``+0000``), status or size around it. A record with a plain message is
    taken as a request line.
    """

    def format(self, record):
        record = logging.makeLogRecord(record.__dict__)
        if isinstance(record.args, Mapping):
            atoms = copy.copy(record.args)  # gunicorn's mapping, with its default for a gap
            for name, value in record.args.items():
                if name in _OWN_ATOMS or not isinstance(value, str):
                    continue
                atoms[name] = REDACTED if _SECRET_HEADER.match(name) else mask_request(value)
            record.args = atoms
        else:
            record.msg, record.args = mask_request(record.getMessage()), None
        return super().format(record)


def mask_request(text):
    """A request line or address as a log may show it: credentials in the query redacted (also
    inside a parameter that holds an address of its own), URL escapes decoded so that an
    escaped phone number is masked too, and no control character left to forge a line."""
    method, space, rest = text.partition(" ")
    if space and method.isalpha() and method.isupper():
        target, space2, protocol = rest.rpartition(" ")
        if not space2:
            target, protocol = rest, ""
        text = f"{method} {_mask_target(target, 0)}{space2}{protocol}"
    elif "?" in text or "=" not in text:
        text = _mask_target(text, 0)
    else:  # a query string alone
        text = _mask_target("?" + text, 0)[1:]
    decoded = unquote_plus(text, errors="replace")
    # Decoding must not let a request write its own log lines (%0A) or terminal codes, nor
    # end the quoted request line early (%22).
    decoded = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", decoded).replace('"', "%22")
    return mask_text(decoded)


def _mask_target(target, depth):
    path, question, query = target.partition("?")
    if not question:
        return target
    parts = _PARAMETER_SEPARATOR.split(query)
    for index in range(0, len(parts), 2):
        name, equals, value = parts[index].partition("=")
        if not equals:
            continue
        if _SECRET_NAME.search(_unquote_fully(name)):
            value = REDACTED
        else:
            inner = _unquote_fully(value)
            if "=" in inner:
                # An address or form inside a value: the next page after signing in, say.
                if depth + 1 >= _NESTING:
                    value = REDACTED
                else:
                    masked = _mask_target(inner if "?" in inner else "?" + inner, depth + 1)
                    if masked.lstrip("?") != inner:
                        value = masked if "?" in inner else masked[1:]
        parts[index] = f"{name}={value}"
    return f"{path}?{''.join(parts)}"


def _unquote_fully(text):
    """Decoded until nothing changes (at most a few times): ``%253D`` is ``=`` too."""
    for _ in range(_NESTING + 1):
        decoded = unquote_plus(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    return text


def configure(level=logging.INFO):
    """Install one masking handler on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, MaskingFormatter):
            return
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


def gunicorn_config(access_log=None):
    """A ``logconfig_dict`` for gunicorn: its error log and our app logs masked, one handler.

    ``access_log``: None for no access log, ``-`` for stdout, or a file path.
    """
    handlers = {
        "error": {"class": "logging.StreamHandler", "formatter": "masked",
                  "stream": "ext://sys.stderr"},
    }
    if access_log == "-":
        handlers["access"] = {"class": "logging.StreamHandler", "formatter": "access",
                              "stream": "ext://sys.stdout"}
    elif access_log:
        handlers["access"] = {"class": "logging.FileHandler", "formatter": "access",
                              "filename": access_log}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "masked": {"()": MaskingFormatter, "fmt": FORMAT},
            "access": {"()": AccessFormatter, "fmt": "%(message)s"},
        },
        "handlers": handlers,
        # The root handler is masked too, so configure() in each worker adds no second one.
        "root": {"level": "INFO", "handlers": ["error"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error"], "propagate": False},
            # gunicorn turns its access log on whenever a logconfig_dict is given; without
            # ACCESS_LOG the level keeps it silent.
            "gunicorn.access": {"level": "INFO" if access_log else "WARNING",
                                "handlers": ["access"] if access_log else [],
                                "propagate": False},
        },
    }
