"""Logging with phone numbers masked in every line, tracebacks included."""

import logging
import re
from urllib.parse import unquote_plus

from .phone import mask_text

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# gunicorn's access lines: no client address, user name or user agent (personal data we do not
# need), and the request line is masked by AccessFormatter.
ACCESS_FORMAT = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Query parameters that may carry a credential; their values never reach a log.
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:[\w.-]*(?:token|key|secret|password|signature|auth)"
                           r"[\w.-]*)=)[^&;\s\"]*")


class MaskingFormatter(logging.Formatter):
    def format(self, record):
        return mask_text(super().format(record))


class AccessFormatter(logging.Formatter):
    """For request lines: decode URL escapes before masking, so ``%2B49…`` is caught too."""

    def format(self, record):
        line = _SECRET_PARAM.sub(r"\1[redacted]", super().format(record))
        decoded = unquote_plus(line, errors="replace")
        # Decoding must not let a request write its own log lines (%0A) or terminal codes.
        decoded = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", decoded)
        return mask_text(decoded)


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
