"""The console's test send ("Probeversand"): the text to the staff phones in ``TEST_RECIPIENTS``
only, from compose's confirmation or a broadcast's page (``domain.trial_sends``). In demo mode
they land in the local outbox; otherwise they go to the platform at once, from this request:
they are few, and the press officer waits to see them arrive.
"""

from flask import current_app, g

from .. import platforms
from ..domain import trial_sends
from ..phone import mask
from ..store import outbox
from ..store.db import write
from . import labels
from .database import get_db


def _deliver(messages):
    services = current_app.extensions["infokanal"]
    if services.demo:
        with write(get_db()) as conn:
            return [outbox.add(conn, message.to, services.vault.hash(message.to), message.body,
                               "broadcast", message.media_url) for message in messages]
    config = current_app.config
    return platforms.get(config["WHATSAPP_PLATFORM"]).send_now(
        messages, config, timeout_seconds=config["SEND_TIMEOUT_SECONDS"])


def send(fields, broadcast_id=None):
    """Send and say what happened, in German, for the page to show."""
    try:
        results = trial_sends.send(get_db(), fields, current_app.config, g.user, _deliver,
                                   broadcast_id)
    except trial_sends.NoTestRecipients:
        return ("Für einen Probeversand sind keine Testnummern eingestellt. Die IT kann sie "
                "unter TEST_RECIPIENTS eintragen.")
    failed = [f"{mask(number)} ({labels.failure(kind, None)})"
              for number, kind in results if kind is not None]
    sent = len(results) - len(failed)
    message = (f"Probeversand an {sent} {labels.plural(sent, 'Testnummer', 'Testnummern')} "
               "gesendet. Abonnentinnen und Abonnenten haben nichts bekommen.")
    if failed:
        message += f" Nicht angekommen bei: {', '.join(failed)}."
    return message
