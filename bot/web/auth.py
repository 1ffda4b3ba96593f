"""Signing press officers in and out of the console: the session cookie, the sign-in throttle.

The API keeps its bearer token for machines; everything under ``/admin`` needs a session that
this module opened, and that is still open on the server (sign-out closes it; the rows live
in ``store.sessions``). Forms carry CSRF tokens (``csrf``).

The throttle locks a client address, and an account name, after ``SIGNIN_MAX_FAILURES``
failures within ``SIGNIN_LOCK_MINUTES``. A browser that has signed in to an account before
(a signed "known device" cookie) is spared that account's name lock, not its address lock.

Sign-in, failed sign-in and sign-out go into the audit trail, by account name. A name that is no
account's is not written down: what was typed there may be a password, or anything else. Failed
sign-ins are counted per name and address, one entry per lock window (``failed_signins``).
"""

import hashlib
import hmac
from datetime import datetime, timedelta
from functools import wraps

from flask import (Blueprint, current_app, flash, g, jsonify, redirect, render_template,
                   request, session, url_for)
from itsdangerous import BadData, URLSafeTimedSerializer

from ..store import audit, failed_signins, sessions, users
from ..store.db import write
from .csrf import csrf_token
from .database import get_db

bp = Blueprint("auth", __name__, url_prefix="/admin")


def init_app(app):
    app.config.update(
        SESSION_COOKIE_NAME="infokanal_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["PUBLIC_URL"].startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=app.config["CONSOLE_SESSION_HOURS"]),
    )


# --- sessions --------------------------------------------------------------------------------

def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user = signed_in_user(get_db().conn, session)
        if user is None:
            for name in ("user_id", "stamp", "sid"):
                session.pop(name, None)
            if request.path.endswith(".json"):
                return jsonify(error=NOT_SIGNED_IN), 401
            return redirect(url_for("auth.login", next=request.path))
        g.user, g.role = user[0], user[2]
        return view(*args, **kwargs)

    return wrapper


NOT_SIGNED_IN = "not signed in"


def signed_in_user(conn, data):
    """The account a session's data (the cookie's) is signed in to, or None: the account
    exists with the same password stamp, and the session is still open on the server. The web
    front asks too, before it reads the body of a console request."""
    user = users.load(conn, data.get("user_id", -1))
    if user is None or not isinstance(data.get("stamp"), str) \
            or not hmac.compare_digest(user[1], data["stamp"]) \
            or not sessions.is_open(conn, data.get("sid"), data.get("user_id")):
        return None
    return user


def _safe_next(target):
    """Only our own console pages, as a plain path: never send a fresh session to another
    site, and nothing a Location header cannot carry (CR, LF and other control characters
    would fail the redirect after the sign-in has succeeded). Anything else: the list."""
    if target and target.startswith("/admin") and not target.startswith("//") \
            and "\\" not in target and target.isprintable():
        return target
    return url_for("console.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    next_page = request.values.get("next", "")
    if request.method == "GET":
        return render_template("login.html", next_page=next_page, name="")
    name = request.form.get("name", "").strip()[:64]
    password = request.form.get("password", "")[:1024]
    name_key, address_key = keys = _throttle_keys(name)
    known_devices = _known_devices()
    # Anyone who knows a press officer's account name could lock it by guessing, in the
    # middle of a crisis. A browser that has signed in to this account before is spared the
    # lock on the name; the lock on its address still holds.
    checked = (address_key,) if name_key in known_devices else keys
    database = get_db()
    # Checking the lock and counting this attempt happen in one write transaction (serialised
    # across threads and gunicorn workers), before the password is looked at: parallel guesses
    # cannot all pass the check before any of them has been counted.
    limit = current_app.config["SIGNIN_MAX_FAILURES"]
    with write(database) as conn:
        failed_signins.close_due(conn)
        locked_until = sessions.locked_until(conn, checked, limit, _window_seconds())
        attempt = None if locked_until else sessions.record_attempt(conn, keys,
                                                                      _window_seconds())
        if locked_until:
            _failed(conn, name, address_key, locked=True)
    if locked_until:
        return render_template("login.html", next_page=next_page, name=name,
                               error=locked_message(locked_until)), 429
    user_id = users.authenticate(database.conn, name, password) if name else None
    if user_id is None:
        # The attempt stays counted as a failure.
        with write(database) as conn:
            _failed(conn, name, address_key)
        return render_template("login.html", next_page=next_page, name=name,
                               error="Name oder Passwort stimmt nicht."), 401
    # Only this attempt is taken back. Earlier failures stay until the window ends: were a
    # success to clear them, anyone with an account of their own could reset the count of
    # their address between guesses at someone else's password.
    with write(database) as conn:
        sessions.take_back(conn, attempt)
        failed_signins.close_address(conn, address_key)
        session_id = sessions.open_session(conn, user_id,
                                           current_app.config["CONSOLE_SESSION_HOURS"])
        account = users.load(conn, user_id)
        audit.record(conn, account[0], "signin", account[0])
    stamp = account[1]
    # A new session on every sign-in, so a cookie planted before cannot be carried over.
    session.clear()
    session.permanent = True
    session["user_id"] = user_id
    session["stamp"] = stamp
    session["sid"] = session_id
    csrf_token()
    response = redirect(_safe_next(next_page))
    _remember_device(response, name_key, known_devices)
    return response


def locked_message(locked_until):
    minutes = max(1, int((locked_until - datetime.now(locked_until.tzinfo))
                         .total_seconds() // 60) + 1)
    return (f"Zu viele fehlgeschlagene Anmeldungen. Bitte versuchen Sie es in {minutes} "
            "Minuten noch einmal.")


class Locked(Exception):
    """Too many failed attempts: the German message says for how long."""


def confirm_password(name, password):
    """The signed-in account's password asked for again (before it is changed), counted as a
    sign-in is: a wrong one is a failed attempt against the same throttle and audit window,
    so that a session left open cannot be used to guess the password at leisure. True when
    right; raises Locked."""
    keys = _throttle_keys(name)
    database = get_db()
    with write(database) as conn:
        failed_signins.close_due(conn)
        locked_until = sessions.locked_until(conn, keys, current_app.config[
            "SIGNIN_MAX_FAILURES"], _window_seconds())
        if locked_until:
            _failed(conn, name, keys[1], locked=True)
        else:
            attempt = sessions.record_attempt(conn, keys, _window_seconds())
    if locked_until:
        raise Locked(locked_message(locked_until))
    right = users.authenticate(database.conn, name, password) is not None
    with write(database) as conn:
        if right:
            sessions.take_back(conn, attempt)
            failed_signins.close_address(conn, keys[1])
        else:
            _failed(conn, name, keys[1])
    return right


def renew_session(session_id):
    """The cookie for a session opened anew for the same account (its password changed)."""
    account = users.load(get_db().conn, session["user_id"])
    session["stamp"] = account[1]
    session["sid"] = session_id


def _failed(conn, name, address_key, locked=False):
    """A failed sign-in, counted for the audit trail: under the account's name when there is
    one. Nothing is appended to the trail here; its window's entry comes when it ends."""
    known = bool(name) and users.exists(conn, name)
    failed_signins.count(conn, name if known else failed_signins.UNKNOWN, address_key,
                         "wrong password" if known else "unknown account", _window_seconds(),
                         locked=locked)


@bp.post("/logout")
def logout():
    if session.get("sid"):
        with write(get_db()) as conn:
            sessions.close(conn, session["sid"])
            account = users.load(conn, session.get("user_id", -1))
            if account is not None:
                audit.record(conn, account[0], "signout", account[0])
    session.clear()
    flash("Sie sind abgemeldet.")
    return redirect(url_for("auth.login"))


# The cookie is signed but lives in the browser: a copy taken before sign-out would stay valid
# for its whole lifetime. So every sign-in also opens a session on the server, and the cookie
# counts only while that is open.


# --- known devices ---------------------------------------------------------------------------

KNOWN_DEVICE_COOKIE = "infokanal_device"
KNOWN_DEVICE_DAYS = 180
# Enough for a shared office computer; the oldest account drops out first.
KNOWN_DEVICE_ACCOUNTS = 8


def _device_serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="known-device")


def _known_devices():
    """The name keys of the accounts this browser has signed in to (signed cookie)."""
    value = request.cookies.get(KNOWN_DEVICE_COOKIE)
    if not value:
        return []
    try:
        keys = _device_serializer().loads(value, max_age=KNOWN_DEVICE_DAYS * 86400)
    except BadData:
        return []
    return [key for key in keys if isinstance(key, str)] if isinstance(keys, list) else []


def _remember_device(response, name_key, known):
    keys = [name_key] + [key for key in known if key != name_key]
    response.set_cookie(
        KNOWN_DEVICE_COOKIE, _device_serializer().dumps(keys[:KNOWN_DEVICE_ACCOUNTS]),
        max_age=KNOWN_DEVICE_DAYS * 86400, path=url_for("auth.login"), httponly=True,
        samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])


# --- throttle --------------------------------------------------------------------------------

def _throttle_keys(name):
    """One key for the account name, one for the client address, both as keyed hashes:
    failed sign-ins are no reason to keep people's IP addresses, and what was typed into the
    name field may be a password typed into the wrong field."""
    address = request.remote_addr or "unknown"
    return (f"name:{_keyed_hash('signin-name', name.casefold())}",
            f"ip:{_keyed_hash('signin-address', address)}")


def _keyed_hash(purpose, value):
    return hmac.new(current_app.config["SECRET_KEY"].encode(), f"{purpose}\0{value}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def _window_seconds():
    return current_app.config["SIGNIN_LOCK_MINUTES"] * 60
