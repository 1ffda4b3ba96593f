"""The messaging platforms: one module each (``twilio``, ``meta``), with the same narrow face.

Only the modules of this package know a platform's fields, headers, addresses and codes. Each
offers what the rest of the code needs, in the words of ``base`` and ``vocabulary``:
- the webhook: its signature's check, and what it carries parsed into ``base.Events``;
- ``classify_code(code)`` → an error kind of ``vocabulary``;
- ``transport_from(config, max_connections)`` → an object with ``async send(message)``
  answering a message id or raising ``base.SendError``, and ``async close()``;
- ``send_now(messages, config)`` for the few messages sent outside the send loop.

``WHATSAPP_PLATFORM`` names the one a deployment uses (``get``).
"""

import importlib

NAMES = ("twilio", "meta")
DEFAULT = "twilio"


def display_name(name):
    """The service ``name`` as people know it ("Twilio", "Meta")."""
    return get(name or DEFAULT).DISPLAY_NAME


def get(name):
    """The module of the platform ``name`` (one of ``NAMES``)."""
    if name not in NAMES:
        raise ValueError(f"unknown platform {name!r}: one of {', '.join(NAMES)}")
    return importlib.import_module(f"{__name__}.{name}")
