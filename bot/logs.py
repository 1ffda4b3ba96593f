"""Logging with phone numbers masked in every line, tracebacks included."""

import logging

from .phone import mask_text

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class MaskingFormatter(logging.Formatter):
    def format(self, record):
        return mask_text(super().format(record))


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
