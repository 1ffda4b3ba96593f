"""``/admin/password``: a press officer changes their own password (a view on the console's
blueprint, for every role). The old password is asked for again and counts against the sign-in
throttle like a sign-in; the new one follows the rules of ``scripts/flask users password``.
Afterwards the account is signed out everywhere else, and this browser stays signed in.
"""

from flask import current_app, flash, g, redirect, render_template, request, session, url_for

from ..domain import accounts
from ..store import users
from . import auth
from .console import bp
from .database import get_db


def _page(error=None, status=200):
    return render_template("console/password.html", error=error,
                           min_length=users.MIN_PASSWORD_LENGTH), status


@bp.get("/password")
def password_page():
    return _page()


@bp.post("/password")
def change_password():
    current = request.form.get("current", "")[:1024]
    new = request.form.get("new", "")[:1024]
    again = request.form.get("again", "")[:1024]
    # What is wrong with the new password is said before the old one is checked: a typo there
    # costs no attempt against the sign-in lock.
    if not current:
        return _page("Bitte geben Sie Ihr bisheriges Passwort ein.", 400)
    if len(new) < users.MIN_PASSWORD_LENGTH:
        return _page(f"Das neue Passwort braucht mindestens {users.MIN_PASSWORD_LENGTH} "
                     "Zeichen.", 400)
    if new != again:
        return _page("Die beiden Eingaben des neuen Passworts stimmen nicht überein.", 400)
    try:
        right = auth.confirm_password(g.user, current)
    except auth.Locked as locked:
        return _page(str(locked), 429)
    if not right:
        return _page("Ihr bisheriges Passwort stimmt nicht.", 400)
    if new == current:
        return _page("Das neue Passwort ist Ihr bisheriges. Bitte wählen Sie ein anderes.", 400)
    session_id = accounts.change_own_password(get_db(), session["user_id"], g.user, new,
                                              current_app.config["CONSOLE_SESSION_HOURS"])
    auth.renew_session(session_id)
    flash("Ihr Passwort ist geändert. Auf allen anderen Geräten sind Sie jetzt abgemeldet.")
    return redirect(url_for("console.password_page"))
