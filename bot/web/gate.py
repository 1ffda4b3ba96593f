"""Whether a request can be authorized at all, decided from its path and headers before its
body is read.

The web front (``front.Front``) reads a request's body on the event loop before Flask runs;
without this gate anyone could make it read and hold megabytes (a picture upload) that Flask
then refused for want of a token or a session. What needs no body is decided here, by the same
rules and with the same answers as Flask's own checks: the API token (``api``), the console
session (``auth``), the platform's signature field on webhooks, Twilio's and Meta's (its full
check needs the body, so only its presence is decided here). Anything else passes; Flask still checks everything.
"""

import json
from urllib.parse import urlencode

from werkzeug.exceptions import NotFound
from werkzeug.http import parse_cookie

from .. import platforms
from ..platforms import meta
from ..platforms import twilio as gateway
from . import api, auth
from .database import get_db

SIGN_IN = "/admin/login"
# Each platform's webhooks, by the start of their paths.
WEBHOOK_PREFIXES = {"twilio": "/twilio/", "meta": "/meta/"}
# Neither needs a session: signing in opens one; signing out of one that has ended is done.
SESSIONLESS = (SIGN_IN, "/admin/logout")
AUTHORIZATION = b"authorization"
COOKIE = b"cookie"


class Answer:
    """A refusal: status, extra header fields (lower-case bytes names), body, content type."""

    __slots__ = ("status", "headers", "body", "content_type")

    def __init__(self, status, body, content_type=b"text/plain; charset=utf-8", headers=()):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = list(headers)


class SessionToCheck:
    """A console request whose cookie is validly signed: whether its session is still open
    is for the database to say (``Gate.session_open``, off the event loop)."""

    __slots__ = ("data",)

    def __init__(self, data):
        self.data = data


def _json(message):
    # As Flask's jsonify writes it outside debug mode.
    return (json.dumps({"error": message}, separators=(",", ":")) + "\n").encode()


API_REFUSAL = Answer(401, _json(api.UNAUTHORIZED), b"application/json",
                     [(b"www-authenticate", b"Bearer")])
FORBIDDEN = Answer(403, (gateway.FORBIDDEN + "\n").encode())
SIGNED_TWICE = Answer(400, f"bad request: {gateway.TWICE}\n".encode())
# A path that is no route here, as Flask answers it on a machine path (``security``).
NOT_FOUND = Answer(404, _json(NotFound.description), b"application/json")
# Meta's webhook, as its Flask view (``meta_webhook``) answers.
META_UNSIGNED = Answer(401, f"unauthorized: {meta.SIGNATURE_HEADER} is missing\n".encode())
META_SIGNED_TWICE = Answer(400, f"bad request: {meta.TWICE}\n".encode())


def platforms_served(app):
    """The platforms whose webhooks this app takes: on a deployment only the configured one's
    (the other's, left over or forged, must reach no citizen's record); the demo takes both,
    for the simulator and trials of either."""
    if app.extensions["infokanal"].demo:
        return frozenset(platforms.NAMES)
    return frozenset({app.config["WHATSAPP_PLATFORM"]})


def serves(served, path):
    """Whether ``path`` is no other platform's webhook than those ``served``."""
    return all(name in served or not path.startswith(prefix)
               for name, prefix in WEBHOOK_PREFIXES.items())


class Gate:
    """The rules, for one app (its token, its session key, demo mode or not)."""

    def __init__(self, app):
        self.app = app
        self.token = app.config["ADMIN_TOKEN"]
        self.demo = app.extensions["infokanal"].demo
        self.served = platforms_served(app)
        self.cookie_name = app.config["SESSION_COOKIE_NAME"].encode()
        self.serializer = app.session_interface.get_signing_serializer(app)
        self.session_seconds = int(app.permanent_session_lifetime.total_seconds())

    def check(self, path, headers):
        """None when the request may go on (its body be read), an ``Answer`` that refuses
        it, or a ``SessionToCheck``. ``headers``: ASGI's, lower-case bytes names."""
        if path == "/api" or path.startswith("/api/"):
            authorization = _joined(headers, AUTHORIZATION, b",")
            if api.token_valid(authorization.decode("latin-1"), self.token):
                return None
            return API_REFUSAL
        if not serves(self.served, path):
            return NOT_FOUND
        if path.startswith("/twilio/"):
            if self.demo:
                return None
            signatures = sum(name == gateway.SIGNATURE_FIELD for name, _ in headers)
            if signatures == 1:
                return None
            return FORBIDDEN if signatures == 0 else SIGNED_TWICE
        if path.startswith("/meta/"):
            # Only a post has a body to keep out; the handshake (GET) needs none.
            if self.demo:
                return None
            signatures = sum(name == meta.SIGNATURE_FIELD for name, _ in headers)
            if signatures == 1:
                return None
            return META_UNSIGNED if signatures == 0 else META_SIGNED_TWICE
        if path.startswith("/admin/") and path not in SESSIONLESS:
            data = self._session(headers)
            if data is None or data.get("user_id") is None:
                return self.not_signed_in(path)
            return SessionToCheck(data)
        return None

    @staticmethod
    def checks_credentials(path):
        """Whether a request to ``path`` gets past ``check`` only with a token or a session;
        on other paths (the platform's webhooks, signing in) anyone may send a body."""
        return (path == "/api" or path.startswith("/api/")
                or path.startswith("/admin/") and path not in SESSIONLESS)

    def _session(self, headers):
        """The console cookie's data when its signature and age hold, else None (as Flask's
        session interface reads it)."""
        if self.serializer is None:
            return None
        cookies = _joined(headers, COOKIE, b"; ")
        if self.cookie_name not in cookies:
            return None
        value = parse_cookie(cookies.decode("latin-1")).get(self.cookie_name.decode())
        if not value:
            return None
        try:
            data = self.serializer.loads(value, max_age=self.session_seconds)
        except Exception:  # noqa: BLE001 - itsdangerous' BadData, or a payload that is no JSON
            return None
        return data if isinstance(data, dict) else None

    def session_open(self, data):
        """Whether the session is still open (the database: run it in Flask's thread pool)."""
        with self.app.app_context():
            return auth.signed_in_user(get_db().conn, data) is not None

    @staticmethod
    def not_signed_in(path):
        """The console's answer to a request without a session (``auth.login_required``)."""
        if path.endswith(".json"):
            return Answer(401, _json(auth.NOT_SIGNED_IN), b"application/json")
        location = f"{SIGN_IN}?{urlencode({'next': path})}"
        return Answer(302, "Bitte melden Sie sich an.\n".encode(),
                      headers=[(b"location", location.encode("latin-1"))])


def _joined(headers, name, separator):
    """A field's values, joined as a WSGI environ joins them."""
    return separator.join(value for field, value in headers if field == name)
