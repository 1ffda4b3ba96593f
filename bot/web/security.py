"""Security headers on every response, and JSON (never a traceback) for failures under /api.

The policy allows scripts and styles from this site only: no inline script, no inline style,
so that injected markup cannot run. Pages may not be framed (clickjacking), and no page tells
another site which page a citizen came from.
"""

from urllib.parse import urlsplit, urlunsplit

from flask import jsonify, render_template, request
from werkzeug.exceptions import InternalServerError, NotFound

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HSTS_SECONDS = 365 * 24 * 3600


def headers(public_url):
    values = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    # Only when the public address is HTTPS: on plain HTTP (demo, tests) it would be ignored,
    # and behind a TLS terminator the app never sees the scheme itself.
    if public_url.startswith("https://"):
        values["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}"
    return values


def _under(path, *prefixes):
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


# What a person's browser shows for an error: a page of the site (with its landmarks, language
# and way back), in German, not the framework's bare English one.
_GERMAN = {
    404: ("Nicht gefunden", "Diese Seite gibt es nicht. Vielleicht hilft die Startseite weiter."),
    405: ("Nicht möglich", "So lässt sich diese Seite nicht aufrufen."),
    500: ("Störung", "Etwas ist schiefgegangen. Bitte versuchen Sie es später noch einmal."),
}


def html_error(error):
    title, message = _GERMAN.get(error.code, ("Fehler", "Die Anfrage konnte nicht "
                                                        "bearbeitet werden."))
    return render_template("error.html", title=title, message=message), error.code


def machine_path(path):
    """Paths whose clients are machines: the API (also ``/api`` itself) and the platforms'
    webhooks."""
    return _under(path, "/api", "/twilio", "/meta")


def relative_location(location):
    """A redirect as a path on this site. The app never sends anyone to another site, so an
    absolute URL in a redirect was built from the ``Host`` header (Werkzeug does that for
    ``//admin//compose`` and the like), which is the client's to choose. Several leading
    slashes would name another host again."""
    parts = urlsplit(location)
    if not parts.scheme and not parts.netloc and not location.startswith(("//", "/\\")):
        return location
    path = "/" + parts.path.lstrip("/\\")
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def init_app(app):
    fixed = headers(app.config["PUBLIC_URL"])

    @app.after_request
    def add_headers(response):
        for name, value in fixed.items():
            response.headers.setdefault(name, value)
        # Console pages and API answers are for the signed-in officer or the token holder
        # only: no browser cache, shared computer or proxy keeps a copy.
        if _under(request.path, "/admin", "/api", "/metrics"):
            response.headers["Cache-Control"] = "no-store"
        if response.location:
            response.location = relative_location(response.location)
        return response

    @app.errorhandler(NotFound)
    def not_found(error):
        # A path that matches no route never reaches a blueprint, so the API's own error
        # handler cannot be relied on for ``/api`` or ``/api/unknown``.
        if machine_path(request.path):
            return jsonify(error=error.description or error.name), 404
        return html_error(error)

    @app.errorhandler(InternalServerError)
    def internal_error(error):
        # Flask has logged the exception (numbers masked) before calling this; the client
        # learns only that it failed.
        if machine_path(request.path):
            return jsonify(error="internal server error"), 500
        return html_error(error)
