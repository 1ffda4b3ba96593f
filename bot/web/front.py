"""The web process's front: an ASGI app that takes the platform's status callbacks itself and
hands every other request to the Flask app. On Meta, a post that carries nothing but status
reports is taken here likewise, all of its reports in one commit; one with citizens' messages
goes to Flask (``meta_webhook``).

Why a front at all: on a storm night the platform posts three status callbacks for every
message, and each one through gunicorn's threads and Flask cost about 0.7 ms of CPU, more than
the two cores had to spare. Here a callback is read, its signature checked, and its status
queued on the event loop; one write transaction every 50 ms (``StatusWriter``)
stores everything that came meanwhile, and only then is each of them answered, so a 200 always
means it is on disk. Most callbacks do not even come through gunicorn's ASGI call: the
connection takes them itself (``connection.FrontProtocol``), with the same check
(``Front.status_update``) and the same writer.

Every other request is read to its end on the event loop, within a size limit and a deadline,
and only then run by Flask in a small thread pool, whose answer is sent from the event loop
again. A slow or idle client therefore never holds a thread: it holds a socket. And before a
single byte of a body is read, the request must be one that can be authorized (``gate``: the
API token, a console session, the platform's signature field): no one reads megabytes into
this process without signing in. Bodies being read count against the worker's budget of body
bytes, must keep a minimum rate, and can be evicted at the connection limit
(``gunicorn_worker``).

The module is long because it is both halves of that: the ASGI app, and the bridge to the
WSGI app behind it (``environ_for``, ``run_wsgi``), which only this app uses.
"""

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from urllib.parse import quote, unquote_plus

from .. import uploads
from ..platforms import meta
from ..platforms import twilio as gateway
from . import meta_webhook, security, twilio_events
from .gate import Answer, Gate, SessionToCheck, serves
from .status_writer import StatusWriter

STATUS_PATH = "/twilio/status"
# What a request body may be (Flask's MAX_CONTENT_LENGTH is the same) and how long it may take
# to arrive; a client slower than that is answered 408 and let go.
BODY_LIMIT = 256 * 1024
BODY_SECONDS = 10.0
# What a body may be where no credential is checked before it is read (``gate``): the
# platform's webhooks (a message is at most 1,600 characters, a few kilobytes as a form) and
# the sign-in form.
OPEN_BODY_LIMIT = 64 * 1024
# Where a request may carry a picture, video or PDF (the API's upload, the console's compose
# form): up to what WhatsApp accepts (16 MB), and time for it to arrive (16 MB in three
# minutes is some 90 KB a second, the rate a 5 MB picture needed in one).
UPLOAD_PATHS = ("/api/media", "/admin/compose")
UPLOAD_SECONDS = 180.0
# Meta batches many messages and status reports into one post, up to 3 MB (its webhooks
# reference): refused larger, each post would come again and again, and its receipts never.
# Still only with the signature field present (``gate``), and within the worker's budget of
# body bytes.
META_PATH = meta.WEBHOOK_PATH
META_BODY_LIMIT = meta_webhook.BODY_LIMIT
# Twilio's Event Streams sink batches events likewise (``twilio_events``), with the same
# condition: the signature field first.
EVENTS_PATH = gateway.EVENTS_PATH
EVENTS_BODY_LIMIT = twilio_events.BODY_LIMIT
FORM = b"application/x-www-form-urlencoded"
TOO_LARGE_UPLOAD = (b'{"error": "the file is too large: at most 16 MB for a video or a PDF, 5 MB '
                    b'for a picture"}\n')


SIGNATURE = gateway.SIGNATURE_FIELD
META_SIGNATURE = meta.SIGNATURE_FIELD
# The answer to a status callback whose write failed: the platform may try again.
NOT_STORED = (503, b"status not stored, try again\n")
# The ASGI scope's key for the HTTP/1 connection (``connection.FrontProtocol``) a request
# came on: it reads the body only when asked, and counts it against the worker's limits.
CONNECTION = "infokanal.connection"
# RFC 9112 section 3.2: an HTTP/1.1 request without a Host field, or with more than one.
NO_HOST = Answer(400, b"bad request: an HTTP/1.1 request needs exactly one Host field\n")
SIGNED_TWICE = (400, f"bad request: {gateway.TWICE}\n".encode())
# The worker's budget of body bytes is spent (``gunicorn_worker.BODY_BUDGET``).
BUSY = Answer(503, b"busy: too many requests being received, try again\n",
              headers=[(b"retry-after", b"5")])


class BodyTooLarge(Exception):
    pass


class Refused(Exception):
    """A status callback answered at once with ``status`` and ``text``, nothing stored."""

    def __init__(self, status, text):
        super().__init__(status, text)
        self.status = status
        self.text = text


class Front:
    """The ASGI app gunicorn's worker runs (see ``bot.web.gunicorn_worker``)."""

    def __init__(self, flask_app, threads=4):
        self.flask = flask_app
        config = flask_app.config
        self.demo = flask_app.extensions["infokanal"].demo
        self.auth_token = config["TWILIO_AUTH_TOKEN"]
        self.app_secret = config["META_APP_SECRET"]
        self.public_url = config["PUBLIC_URL"]
        self.fixed_headers = [(name.lower().encode(), value.encode()) for name, value in
                              security.headers(self.public_url).items()]
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="flask")
        self.writer = StatusWriter(config["DATABASE_PATH"])
        self.gate = Gate(flask_app)
        # Whether each platform's webhook is one here: the other's, on a deployment, is
        # Flask's to answer as a path it does not know.
        self.takes_status = serves(self.gate.served, STATUS_PATH)
        self.takes_meta = serves(self.gate.served, META_PATH)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        # Nothing here speaks WebSocket: returning without accepting refuses one.

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.writer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.writer.stop()
                self.pool.shutdown(wait=False)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope, receive, send):
        connection = scope.get(CONNECTION)
        try:
            await self._serve(scope, receive, send, connection)
        finally:
            if connection is not None:
                connection.body_answered()

    async def _serve(self, scope, receive, send, connection):
        headers, path = scope["headers"], scope["path"]
        hosts = sum(name == b"host" for name, _ in headers)
        if hosts > 1 or not hosts and scope["http_version"] == "1.1":
            return await self._refuse(send, connection, NO_HOST)
        upload = path in UPLOAD_PATHS
        limit, seconds = ((uploads.UPLOAD_BODY_LIMIT, UPLOAD_SECONDS) if upload
                          else (BODY_LIMIT, BODY_SECONDS))
        authorized = self.gate.checks_credentials(path)
        if path == META_PATH:
            limit = META_BODY_LIMIT
        elif path == EVENTS_PATH:
            limit = EVENTS_BODY_LIMIT
        elif not authorized:
            limit = min(limit, OPEN_BODY_LIMIT)
        size = announced(headers, limit)
        if size:
            # Before its body: can this request be authorized at all?
            verdict = self.gate.check(path, headers)
            if isinstance(verdict, SessionToCheck):
                loop = asyncio.get_running_loop()
                signed_in = await loop.run_in_executor(self.pool, self.gate.session_open,
                                                       verdict.data)
                verdict = None if signed_in else self.gate.not_signed_in(path)
            if verdict is not None:
                return await self._refuse(send, connection, verdict)
            if size > limit:
                return await self._too_large(send, connection, path)
            if connection is not None and not connection.open_body(size, authorized):
                return await self._refuse(send, connection, BUSY)
        try:
            async with asyncio.timeout(seconds) as deadline:
                if connection is not None:
                    connection.deadline = deadline
                body = await read_body(receive, limit)
        except BodyTooLarge:
            return await self._too_large(send, connection, path)
        except TimeoutError:
            return await self._answer(send, 408, b"request body too slow\n")
        finally:
            if connection is not None:
                connection.body_done()
        if body is None:
            return  # the client went away
        if scope["method"] == "POST" and path == STATUS_PATH and self.takes_status:
            return await self._status(scope, body, send)
        if scope["method"] == "POST" and path == META_PATH and self.takes_meta:
            try:
                updates = self.meta_statuses(scope["headers"], body)
            except Refused as refused:
                return await self._answer(send, refused.status, refused.text)
            if updates is not None:
                return await self._store(send, updates)
            # Citizens wrote: their handling is Flask's (``meta_webhook``).
        loop = asyncio.get_running_loop()
        status, headers, content = await loop.run_in_executor(
            self.pool, run_wsgi, self.flask, environ_for(scope, body))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _too_large(self, send, connection, path):
        if path.startswith("/admin"):  # a press officer's browser
            answer = Answer(413, ("Zu groß: ein Bild höchstens 5 MB, ein Video oder PDF "
                                  "höchstens 16 MB.\n" if path in UPLOAD_PATHS
                                  else "Zu groß.\n").encode())
        elif path in UPLOAD_PATHS:
            answer = Answer(413, TOO_LARGE_UPLOAD, b"application/json")
        else:
            answer = Answer(413, b'{"error": "request too large"}\n', b"application/json")
        await self._refuse(send, connection, answer)

    async def _refuse(self, send, connection, answer):
        """An answer given before the body was read (or all of it): the connection closes
        after it, having read on a moment, without keeping any of it, so that a client still
        sending gets to read the answer (``FrontProtocol.linger``)."""
        if connection is not None:
            connection.linger()
        await send({"type": "http.response.start", "status": answer.status, "headers": [
            (b"content-type", answer.content_type),
            (b"content-length", str(len(answer.body)).encode()), *answer.headers,
            (b"connection", b"close"), *self.fixed_headers]})
        await send({"type": "http.response.body", "body": answer.body})

    async def _status(self, scope, body, send):
        if sum(name == SIGNATURE for name, _ in scope["headers"]) > 1:
            return await self._answer(send, *SIGNED_TWICE)
        headers = dict(scope["headers"])
        try:
            update = self.status_update(self._signed_url(scope, headers), headers, body)
        except Refused as refused:
            return await self._answer(send, refused.status, refused.text)
        if update is not None:
            try:
                await self.writer.submit(update)
            except Exception:  # noqa: BLE001 - logged by the writer; not acknowledged
                return await self._answer(send, *NOT_STORED)
        await self._answer(send, 200, b"")

    async def _store(self, send, updates):
        """Commit the status reports of one request together, then answer it."""
        if updates:
            try:
                await self.writer.submit_group(updates)
            except Exception:  # noqa: BLE001 - logged by the writer; not acknowledged
                return await self._answer(send, *NOT_STORED)
        await self._answer(send, 200, b"")

    def meta_statuses(self, headers, body):
        """The status reports of a post to Meta's webhook that carries nothing else (a list,
        maybe empty), None when it carries citizens' messages (Flask's to handle), or
        ``Refused`` with the answer to give. ``headers``: ASGI's, lower-case bytes names."""
        if not self.demo:
            signatures = [value for name, value in headers if name == META_SIGNATURE]
            if len(signatures) > 1:
                raise Refused(400, f"bad request: {meta.TWICE}\n".encode())
            if not signatures:
                raise Refused(401, f"unauthorized: {meta.SIGNATURE_HEADER} is missing\n"
                              .encode())
            if not meta.verify(self.app_secret, body, signatures[0].decode("latin-1")):
                raise Refused(403, (meta.FORBIDDEN + "\n").encode())
        try:
            events = meta.parse(body, self.flask.config["META_PHONE_NUMBER_ID"])
        except meta.InvalidWebhook as exc:
            raise Refused(400, f"bad request: {exc}\n".encode()) from None
        if events.messages:
            return None
        # A report that cannot be stored is left out, as Flask's view leaves it out.
        return meta_webhook.handleable(events)[0].statuses

    def run_meta_view(self, headers, body):
        """A post to Meta's webhook that the connection read itself (``connection``), run by
        Flask: (status, body). In Flask's thread pool."""
        scope = {"method": "POST", "path": META_PATH, "query_string": b"", "headers": headers,
                 "http_version": "1.1", "scheme": "http"}
        status, _, content = run_wsgi(self.flask, environ_for(scope, body))
        return status, content

    def status_update(self, url, headers, body):
        """The status a callback to ``url`` reports (None when there is nothing to store),
        or ``Refused`` with the answer to give. ``headers``: lower-case bytes names."""
        form = _form(body) if headers.get(b"content-type", b"").split(b";")[0] == FORM else {}
        if not self.demo:
            signature = headers.get(SIGNATURE, b"")
            if not gateway.verify(self.auth_token, url, form, signature.decode("latin-1")):
                raise Refused(403, (gateway.FORBIDDEN + "\n").encode())
        try:
            return gateway.parse_status(form)
        except gateway.InvalidWebhook as exc:
            raise Refused(400, f"bad request: {exc}\n".encode()) from None

    def _signed_url(self, scope, headers):
        """The URL the platform signed, as the Flask side reads it (``webhook.signed_url``)."""
        query = scope["query_string"].decode("latin-1")
        path = scope.get("raw_path") or quote(scope["path"]).encode()
        if self.public_url:
            base = self.public_url
        else:
            host = headers.get(b"host", b"").decode("latin-1")
            base = f"{scope['scheme']}://{host}"
        return base + path.decode("latin-1").split("?")[0] + (f"?{query}" if query else "")

    async def _answer(self, send, status, body, content_type=b"text/plain; charset=utf-8"):
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", content_type), (b"content-length", str(len(body)).encode()),
            *self.fixed_headers]})
        await send({"type": "http.response.body", "body": body})


def announced(headers, limit):
    """The body's size as its request announces it: Content-Length, or ``limit`` when it
    comes chunked (the most it may turn out to be); 0 for none. gunicorn has checked the
    fields (one framing, a valid number)."""
    for name, value in headers:
        if name == b"content-length":
            return int(value)
        if name == b"transfer-encoding":
            return limit
    return 0


async def read_body(receive, limit):
    """The whole request body, or None when the client disconnected first."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


class _SingleValues(dict):
    """A form whose names each came once, read by twilio's ``RequestValidator`` through the
    method it looks for first: for a plain dict it tried two others, failing, for every name."""

    def getall(self, name):
        return [self[name]]


def _form(body):
    """A form body as the validator and the seam read it: one value per name, or a list-aware
    mapping when a name repeats (the signature covers every value)."""
    pairs = form_pairs(body.decode("utf-8", "replace"))
    form = _SingleValues(pairs)
    if len(form) == len(pairs):
        return form
    from werkzeug.datastructures import MultiDict

    return MultiDict(pairs)


def form_pairs(text):
    """``parse_qsl(text, keep_blank_values=True)``, sooner for the platform's forms.

    Most of a status callback's values need no unquoting (ids, statuses, versions), but
    parse_qsl runs unquote's machinery for every name and value: 18 µs for a callback's form,
    against 10 here, where only what holds a ``%`` or a ``+`` goes to ``unquote_plus``, as
    parse_qsl would send it."""
    pairs = []
    for piece in text.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append((unquote_plus(name) if "%" in name or "+" in name else name,
                          unquote_plus(value) if "%" in value or "+" in value else value))
    return pairs


def environ_for(scope, body):
    """A WSGI environ (PEP 3333) for an ASGI HTTP request whose body has been read."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode("utf-8").decode("latin-1"),
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1] or 80),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": client[0],
        "REMOTE_PORT": str(client[1]),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT_LENGTH":
            continue  # the body was read whole: its real length stands
        key = f"HTTP_{name}"
        if key in environ:
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    return environ


def run_wsgi(app, environ):
    """Run the WSGI app to the end of its answer: (status, ASGI headers, body)."""
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split(" ", 1)[0])
        answer["headers"] = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                             for name, value in headers]
        return lambda data: answer.setdefault("written", []).append(data)

    result = app(environ, start_response)
    try:
        content = b"".join(answer.get("written", [])) + b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return answer["status"], answer["headers"], content
