"""The federal warning system's API (NINA, BBK): the only module that knows its URLs and JSON.

A leaf, like ``twilio_gateway`` is for Twilio: it reads a region's dashboard and a warning's
detail and hands back our own small dataclasses, its texts already plain (no HTML tags, no
entities, tidy line breaks). Whatever the feed answers that is not what we expect becomes a
``FeedError`` with a plain reason, never a half-read warning. It is long because the seam is
one module: the rest of the code must not learn the feed's words to read part of them.
"""

import asyncio
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote

import aiohttp

DEFAULT_API_URL = "https://warnung.bund.de/api31"
# Where citizens can read a warning in full when its source names no page of its own.
PAGE_URL = "https://warnung.bund.de/meldungen/{id}"

# CAP's severities, least severe first; anything else (CAP's "Unknown") ranks below them all.
SEVERITIES = ("Minor", "Moderate", "Severe", "Extreme")

# Our names for the systems behind the feed → how the dashboard names them, and the prefix of
# their warning ids (used when a dashboard entry names no provider).
PROVIDERS = {
    "mowas": ("MOWAS", "mow."),
    "katwarn": ("KATWARN", "kat."),
    "biwapp": ("BIWAPP", "biw."),
    "dwd": ("DWD", "dwd"),
    "lhp": ("LHP", "lhp."),
    "police": ("POLICE", "pol."),
}
_PROVIDER_ALIASES = {"POLIZEI": "police"}

CANCEL = "Cancel"
UPDATE = "Update"
ALERT = "Alert"

# A dashboard or warning larger than this is not what the API sends; reading it whole would
# only cost the worker memory.
MAX_ANSWER_BYTES = 5 * 1024 * 1024


class FeedError(Exception):
    """The feed did not answer as expected; the message says how, in plain words."""


def severity_rank(severity):
    """0 for an unknown severity, 1 (Minor) … 4 (Extreme)."""
    try:
        return SEVERITIES.index(severity) + 1
    except ValueError:
        return 0


def is_regional_key(ars):
    """A county's regional key: 12 digits, the last 7 zero (the feed is per county)."""
    return bool(re.fullmatch(r"\d{5}0{7}", ars or ""))


@dataclass(frozen=True)
class Entry:
    """One line of a region's dashboard: enough to tell whether it is new or changed."""

    id: str
    version: int
    hash: str
    provider: str   # one of PROVIDERS, or the feed's own word, lower case
    severity: str
    msg_type: str
    headline: str
    sent: str


@dataclass(frozen=True)
class Detail:
    """A warning in full, with the one ``info`` block that is read (see ``pick_info``)."""

    id: str
    status: str          # CAP: Actual, Exercise, System, Test, Draft
    msg_type: str        # Alert, Update, Cancel
    references: tuple    # ids of the warnings this one updates or cancels
    language: str
    severity: str
    headline: str
    description: str
    instruction: str
    web: str             # the source's page about it, or ""
    page_url: str        # NINA's page about it

    @property
    def more_url(self):
        """Where to read more: the source's own page, else NINA's."""
        return self.web or self.page_url


# -- plain text ------------------------------------------------------------------------------

_BLOCKS = {"br", "p", "div", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5",
           "h6", "blockquote", "pre", "hr"}
_SKIPPED = {"script", "style"}
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z][^<>]*>|&(?:#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z]{2,8});")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b\ufeff]")


class _TextOf(HTMLParser):
    """Text of an HTML fragment: block tags become line breaks, entities characters."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("- ")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def _unmarked(text):
    parser = _TextOf()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def plain_text(value):
    """The source's text as a citizen should read it in WhatsApp.

    Tags go, entities become characters (also ones escaped twice, as some sources send them),
    Windows and HTML line breaks become one line break, blank lines and runs of spaces
    collapse. Anything that is not text (a number, null) is no text.
    """
    if not isinstance(value, str):
        return ""
    text = _unmarked(value)
    if _MARKUP.search(text):
        text = _unmarked(text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    text = _CONTROL.sub("", text.replace("\t", " "))
    lines = (re.sub(r" {2,}", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _link(value):
    """The source's ``web`` as a link a phone can open, or "" when it is none."""
    text = plain_text(value)
    if not text or any(c.isspace() for c in text) or len(text) > 300:
        return ""
    if re.match(r"https?://[^/\s]+", text, re.IGNORECASE):
        return text
    if re.match(r"www\.[^/\s]+\.[a-z]{2,}", text, re.IGNORECASE):
        return "https://" + text
    return ""


# -- reading the JSON ------------------------------------------------------------------------

def _provider(name, warning_id):
    word = str(name or "").strip().upper()
    for ours, (theirs, _) in PROVIDERS.items():
        if word == theirs:
            return ours
    if word in _PROVIDER_ALIASES:
        return _PROVIDER_ALIASES[word]
    for ours, (_, prefix) in PROVIDERS.items():
        if warning_id.startswith(prefix):
            return ours
    return word.lower() or "unknown"


def parse_dashboard(data):
    """A region's dashboard → [Entry]. Raises FeedError unless every entry can be read: an
    entry skipped would look like a warning that ended."""
    if not isinstance(data, list):
        raise FeedError("the dashboard is not a JSON list")
    entries = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise FeedError("a dashboard entry has no id")
        payload = item.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("data", {}), dict):
            raise FeedError(f"dashboard entry {item['id']} has no payload")
        details = payload.get("data") or {}
        version = payload.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, (int, str)):
            raise FeedError(f"dashboard entry {item['id']} has no readable version")
        try:
            version = int(version)
        except ValueError:
            raise FeedError(f"dashboard entry {item['id']} has no readable version") from None
        entries.append(Entry(
            id=item["id"], version=version,
            hash=str(payload.get("hash") or item.get("sent") or ""),
            provider=_provider(details.get("provider"), item["id"]),
            severity=str(details.get("severity") or ""),
            msg_type=str(details.get("msgType") or ALERT),
            headline=plain_text(details.get("headline")),
            sent=str(item.get("sent") or "")))
    return entries


def _language_of(info):
    return str(info.get("language") or "").split("-")[0].strip().lower()


def pick_info(infos, language):
    """The info block to read: the main language's, else German, else the first."""
    for wanted in (language, "de"):
        for info in infos:
            if _language_of(info) == wanted:
                return info
    return infos[0]


def _references(value):
    """CAP's ``references``: "sender,identifier,sent" triples separated by spaces → ids."""
    if isinstance(value, list):
        value = " ".join(str(part) for part in value)
    if not isinstance(value, str):
        return ()
    ids = []
    for triple in value.split():
        parts = triple.split(",")
        ids.append(parts[1] if len(parts) >= 3 else parts[0])
    return tuple(i for i in ids if i)


def parse_warning(data, warning_id, language="de"):
    """A warning's detail → Detail. Raises FeedError when it has nothing to tell."""
    if not isinstance(data, dict):
        raise FeedError(f"warning {warning_id} is not a JSON object")
    infos = data.get("info")
    if not isinstance(infos, list) or not infos or not all(isinstance(i, dict) for i in infos):
        raise FeedError(f"warning {warning_id} has no info block")
    info = pick_info(infos, language)
    headline = " ".join(plain_text(info.get("headline")).split("\n"))
    if not headline:
        raise FeedError(f"warning {warning_id} has no headline")
    return Detail(
        id=warning_id, status=str(data.get("status") or "Actual"),
        msg_type=str(data.get("msgType") or ALERT),
        references=_references(data.get("references")),
        language=_language_of(info) or language,
        severity=str(info.get("severity") or ""),
        headline=headline,
        description=plain_text(info.get("description")),
        instruction=plain_text(info.get("instruction")),
        web=_link(info.get("web")),
        page_url=PAGE_URL.format(id=quote(warning_id, safe="")))


def same_warning(feed_id, reference):
    """Whether a reference names this warning: the feed prefixes the ids of the systems
    behind it (``mow.``, ``dwdmap.``), which their own references leave out."""
    return feed_id == reference or feed_id.partition(".")[2] == reference


# -- the client ------------------------------------------------------------------------------

class Client:
    """Reads the feed over HTTP, one request at a time, each within ``timeout_seconds``."""

    def __init__(self, base_url=DEFAULT_API_URL, timeout_seconds=10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._session = None

    def _open(self):
        # Made in the running event loop, as aiohttp wants; one session keeps its
        # connection to the feed between polls.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
                headers={"Accept": "application/json", "User-Agent": "Infokanal warnings relay"})
        return self._session

    async def _json(self, path):
        url = self.base_url + path
        try:
            async with self._open().get(url, allow_redirects=True) as response:
                if response.status != 200:
                    raise FeedError(f"{path} answered HTTP {response.status}")
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body.extend(chunk)
                    if len(body) > MAX_ANSWER_BYTES:
                        raise FeedError(f"{path} answered more than {MAX_ANSWER_BYTES} bytes")
        except asyncio.TimeoutError:
            raise FeedError(f"{path} gave no answer within {self.timeout_seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise FeedError(f"{path} cannot be reached ({type(exc).__name__})") from None
        try:
            return json.loads(bytes(body).decode("utf-8-sig"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise FeedError(f"{path} answered something that is not JSON") from None

    async def dashboard(self, ars):
        return parse_dashboard(await self._json(f"/dashboard/{ars}.json"))

    async def warning(self, warning_id, language="de"):
        data = await self._json(f"/warnings/{quote(warning_id, safe='')}.json")
        return parse_warning(data, warning_id, language)

    async def close(self):
        if self._session is not None:
            await self._session.close()
            self._session = None
