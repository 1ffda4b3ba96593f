"""CSRF tokens: every state-changing form of the console carries one bound to the session."""

import hmac
import secrets

from flask import render_template, request, session

# Machines authenticate these with a bearer token or a platform signature, never with a
# cookie, so a forged cross-site form cannot act through them.
EXEMPT_BLUEPRINTS = {"api", "webhook", "meta_webhook"}
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def csrf_token():
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _check_csrf():
    if request.method in _SAFE_METHODS or request.endpoint is None:
        return None
    if request.blueprint in EXEMPT_BLUEPRINTS:
        return None
    expected = session.get("csrf", "")
    given = request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return render_template("error.html", title="Formular abgelaufen",
                               message="Das Formular ist abgelaufen oder kam nicht von dieser "
                                       "Seite. Bitte laden Sie die Seite neu und versuchen Sie "
                                       "es noch einmal."), 400
    return None


def init_app(app):
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
