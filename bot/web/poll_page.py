"""A poll on the console (views on the console's blueprint): its answers on the compose form,
and closing it from its broadcast's page. The results themselves come with the broadcast
(``broadcasts.get``) and are shown by ``console/_poll.html``.
"""

from flask import flash, g, redirect, url_for

from ..domain import polls
from ..store import polls as stored_polls
from ..store import users
from . import roles
from .console import bp, broadcast_or_404
from .database import get_db

# The compose form's answer fields: answer_1 … answer_3.
FIELDS = tuple(f"answer_{number}" for number in range(1, polls.MOST_ANSWERS + 1))


def answers_of(form):
    """The answers the compose form holds (empty fields left out): the API's ``answers``."""
    return [form.get(name, "")[:200] for name in FIELDS if form.get(name, "").strip()]


@bp.post("/broadcasts/<int:broadcast_id>/poll/close")
@roles.requires(users.PUBLISHER)
def close_poll(broadcast_id):
    broadcast_or_404(broadcast_id)
    try:
        polls.close(get_db(), broadcast_id, g.user)
    except stored_polls.NotAPoll:
        flash("Diese Meldung enthält keine Umfrage.")
    except stored_polls.AlreadyClosed:
        flash("Die Umfrage war schon beendet.")
    else:
        flash("Die Umfrage ist beendet. Spätere Antworten werden nicht mehr gezählt.")
    return redirect(url_for("console.detail", broadcast_id=broadcast_id))
