"""The federal warning system's API (NINA, BBK): the only module that knows its URLs and JSON.

A leaf, like ``platforms.twilio`` is for Twilio: it reads a region's dashboard and a warning's
detail and hands back our own small dataclasses, its texts already plain (no HTML tags, no
entities, tidy line breaks). Whatever the feed answers that is not what we expect becomes a
``FeedError`` with a plain reason, never a half-read warning. It is long because the seam is
one module: the rest of the code must not learn the feed's words to read part of them.
"""

import asyncio
import html
import json
import re
import unicodedata
from dataclasses import dataclass
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
MAX_REFERENCES = 100
MAX_INFOS = 20


class FeedError(Exception):
    """The feed did not answer as expected; the message says how, in plain words."""


class BadWarning(FeedError):
    """The feed answered, but this one warning cannot be used (its detail has no headline,
    is not shaped like a warning): it is skipped, the rest of the poll goes on."""


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
    # Why this entry cannot be relayed ("" when it can): it is on the dashboard (so no
    # all-clear for it), but nothing is done about it.
    problem: str = ""


@dataclass(frozen=True)
class Info:
    """One ``info`` block's texts: the warning in one language."""

    tag: str             # the block's language, as the feed labels it, folded (de-de, de-ls)
    headline: str
    description: str
    instruction: str
    web: str


@dataclass(frozen=True)
class Detail:
    """A warning in full, with the one ``info`` block that is read (see ``pick_info``), and the
    blocks in other languages (``in_language``)."""

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
    others: tuple = ()   # Info of each other block that has a headline

    @property
    def more_url(self):
        """Where to read more: the source's own page, else NINA's."""
        return self.web or self.page_url

    def in_language(self, code):
        """The other block in the language ``code`` (one of ours: "en", "de-LS"), or None
        when the warning has none besides the one read."""
        tags = [info.tag for info in self.others]
        found = _matching(tags, code)
        return None if found is None else self.others[found]


# -- plain text ------------------------------------------------------------------------------

# A field longer than this is not a warning a citizen can read in WhatsApp (at most 1,600
# characters go out); cleaning more would only cost the worker time.
MAX_FIELD_CHARS = 20_000
# A headline is a line; the dashboard's are read at every poll.
MAX_HEADLINE_CHARS = 1_000
# Sources escape their markup once, sometimes twice; each round undoes one escaping.
_ROUNDS = 4

_BLOCKS = {"br", "p", "div", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5",
           "h6", "blockquote", "pre", "hr"}
_SKIPPED = {"script", "style"}
# HTML's reading of "<": a tag begins with "<" or "</" and a letter; its name runs to a space,
# "/" or ">" (so "<a<a<a" is one tag, as a browser reads it).
_TAG = re.compile(r"<(/?)([a-zA-Z][^\s/>]*)")
# A tag's attributes up to its ">": a quoted value may hold ">". One way to match each
# character, so the scan never backtracks; it ends at ">" or at the end of the text.
_ATTRIBUTES = re.compile(r"""(?:=\s*"[^"]*"|=\s*'[^']*'|[^>])*""")
_SKIP_END = {name: re.compile(rf"</{name}[\s/>]", re.IGNORECASE) for name in _SKIPPED}
# What is still markup after a round: a tag, a comment, an entity, or a tag cut off at the
# end ("<br/"); a lone "<b y" may be text ("a <b"), and stays.
_MARKUP = re.compile(r"</?[a-zA-Z][^<>]*>|</?[a-zA-Z][^<>\s]*$|<!"
                     r"|&(?:#\d+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]{1,31});?")
_LINE_BREAKS = {"\r": "\n", "\x0b": "\n", "\x0c": "\n", "\x85": "\n", "\u2028": "\n",
                "\u2029": "\n", "\t": " ", "\xa0": " "}
# Candidates for removal: anything but printable ASCII and the line break.
_NOT_PLAIN = re.compile(r"[^\n -~]")


def _unmarked(text, unescape=True):
    """One round of reading ``text`` as HTML: tags go (block tags become line breaks, a list
    item "- "), comments and the content of scripts and styles go, entities become characters.

    A scan from "<" to "<" with ``str.find``: each character is looked at a bounded number
    of times, whatever the input (the standard library's HTMLParser is quadratic on some).
    A tag, comment or script that the text ends inside of goes with the rest of the text, as
    a browser reads it: a truncated "<br/" at the end is not text.
    """
    parts = []
    position, end = 0, len(text)
    while position < end:
        start = text.find("<", position)
        if start < 0:
            start = end
        chunk = text[position:start]
        parts.append(html.unescape(chunk) if unescape else chunk)
        if start == end:
            break
        position = _after_markup(text, start, parts)
    return "".join(parts)


def _after_markup(text, start, parts):
    """Where reading goes on after the "<" at ``start``; what the markup means is appended
    to ``parts``."""
    if text.startswith("<!--", start):
        close = text.find("-->", start + 4)
        return len(text) if close < 0 else close + 3
    if text.startswith(("<!", "<?"), start):
        close = text.find(">", start + 2)
        return len(text) if close < 0 else close + 1
    tag = _TAG.match(text, start)
    if tag is None:
        parts.append("<")  # "a < b" is text
        return start + 1
    after = _ATTRIBUTES.match(text, tag.end()).end()
    if after >= len(text):
        return len(text)
    closing, name = tag.group(1), tag.group(2).lower()
    if name in _BLOCKS:
        parts.append("\n- " if name == "li" and not closing else "\n")
    if name in _SKIPPED and not closing:
        skipped_to = _SKIP_END[name].search(text, after + 1)
        return len(text) if skipped_to is None else skipped_to.start()
    return after + 1


def _visible(match):
    character = match.group()
    if character in _LINE_BREAKS:
        return _LINE_BREAKS[character]
    # Controls, format characters (bidi overrides and isolates, zero-width characters, the
    # byte order mark) and lone surrogates: invisible or harmful in a message, never text.
    return "" if unicodedata.category(character) in ("Cc", "Cf", "Cs") else character


def plain_text(value, limit=MAX_FIELD_CHARS):
    """The source's text as a citizen should read it in WhatsApp.

    At most ``limit`` characters of it are read. Tags go, entities become characters (also
    ones escaped twice or more, as some sources send them), Windows and HTML line breaks
    become one line break, invisible and control characters go, blank lines and runs of
    spaces collapse. Anything that is not text (a number, null) is no text.
    """
    if not isinstance(value, str):
        return ""
    # What goes beyond the bound is cut off; the relay shortens the text further (at a word,
    # with "…") to what a message holds.
    text = _unmarked(value[:limit])
    for _ in range(_ROUNDS - 1):
        if not _MARKUP.search(text):
            break
        text = _unmarked(text)
    else:
        if _MARKUP.search(text):
            # Escaped more often than any source does: what is left of tags still goes.
            text = _unmarked(text, unescape=False)
    text = _NOT_PLAIN.sub(_visible, text.replace("\r\n", "\n"))
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


def _word(value, limit=200):
    """A short field of the feed (an id, a hash, a severity, a time) as plain text that the
    database and the log can take: no controls or lone surrogates, at most ``limit`` long."""
    return _NOT_PLAIN.sub(_visible, str(value)).strip()[:limit]


# SQLite's integers: a version beyond them cannot be kept, so that warning cannot be relayed.
_INTEGERS = range(-2**63, 2**63)


def _version(payload):
    """The entry's version, or None when it is not an integer SQLite can keep."""
    version = payload.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        return None
    try:
        version = int(version)
    except ValueError:  # also a number of more digits than Python reads
        return None
    return version if version in _INTEGERS else None


def parse_dashboard(data):
    """A region's dashboard → [Entry]. Raises FeedError unless every entry has an id: an entry
    left out would look like a warning that ended. An entry with an id that cannot be read
    otherwise comes with its ``problem``, so that one bad entry never stops the rest."""
    if not isinstance(data, list):
        raise FeedError("the dashboard is not a JSON list")
    entries = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise FeedError("a dashboard entry has no id")
        warning_id = _word(item["id"], limit=1000)
        problem = ""
        if warning_id != item["id"] or len(warning_id) > 300:
            problem = "its id is not plain text of at most 300 characters"
        payload = item.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("data", {}), dict):
            payload, problem = {}, problem or "it has no payload"
        details = payload.get("data") or {}
        version = _version(payload)
        if version is None:
            version = 0
            problem = problem or (f"its version {_word(payload.get('version'), 40)!r} is not "
                                  "a whole number the database can keep")
        entries.append(Entry(
            id=warning_id, version=version,
            hash=_word(payload.get("hash") or item.get("sent") or ""),
            provider=_provider(_word(details.get("provider") or ""), warning_id),
            severity=_word(details.get("severity") or ""),
            msg_type=_word(details.get("msgType") or ALERT),
            headline=plain_text(details.get("headline"), MAX_HEADLINE_CHARS),
            sent=_word(item.get("sent") or ""), problem=problem))
    return entries


def _tag(info):
    """An info block's language, folded: the feed writes "DE", "de-DE", "en-US", "de-LS"."""
    return _word(info.get("language") or "").casefold().replace("_", "-")


# How sources mark Leichte Sprache after the language: "de-LS", "de-DE-LS", "de-x-ls".
_EASY_SUBTAGS = {"ls"}


def _easy(parts):
    return any(part in _EASY_SUBTAGS for part in parts[1:])


def _matching(tags, code):
    """The index of the tag that is in the language ``code``: the same tag, else the same
    language (``de-DE`` for ``de``, ``en-US`` for ``en``), never Leichte Sprache for plain
    German or the other way round; None when none is."""
    wanted = code.casefold().replace("_", "-")
    if wanted in tags:
        return tags.index(wanted)
    wanted_parts = wanted.split("-")
    for index, tag in enumerate(tags):
        parts = tag.split("-")
        if parts[0] == wanted_parts[0] and _easy(parts) == _easy(wanted_parts):
            return index
    return None


def pick_info(infos, language):
    """The info block to read: the main language's, else German, else the first that is not
    in Leichte Sprache (a warning's standard text), else the first."""
    tags = [_tag(info) for info in infos]
    for wanted in (language or "de", "de"):
        found = _matching(tags, wanted)
        if found is not None:
            return infos[found]
    return next((info for info, tag in zip(infos, tags) if not _easy(tag.split("-"))),
                infos[0])


def _language_of(info):
    return _tag(info).split("-")[0]


def _info(block):
    """A block's texts as citizens read them; None for a block without a headline."""
    headline = " ".join(plain_text(block.get("headline"), MAX_HEADLINE_CHARS).split("\n"))
    if not headline:
        return None
    return Info(tag=_tag(block), headline=headline,
                description=plain_text(block.get("description")),
                instruction=plain_text(block.get("instruction")), web=_link(block.get("web")))


def _references(value):
    """CAP's ``references``: "sender,identifier,sent" triples separated by spaces → ids."""
    if isinstance(value, list):
        value = " ".join(str(part) for part in value)
    if not isinstance(value, str):
        return ()
    ids = []
    # A warning updates or cancels one or a few others; a list beyond this is not CAP's.
    for triple in value.split()[:MAX_REFERENCES]:
        parts = triple.split(",")
        ids.append(_word(parts[1] if len(parts) >= 3 else parts[0]))
    return tuple(i for i in ids if i)


def parse_warning(data, warning_id, language="de"):
    """A warning's detail → Detail. Raises BadWarning when it has nothing to tell."""
    if not isinstance(data, dict):
        raise BadWarning(f"warning {warning_id} is not a JSON object")
    infos = data.get("info")
    if not isinstance(infos, list) or not infos or not all(isinstance(i, dict) for i in infos):
        raise BadWarning(f"warning {warning_id} has no info block")
    info = pick_info(infos, language)
    read = _info(info)
    if read is None:
        raise BadWarning(f"warning {warning_id} has no headline")
    # A warning carries a handful of languages; more blocks than this are not a warning's.
    others = tuple(found for block in infos[:MAX_INFOS] if block is not info
                   and (found := _info(block)) is not None)
    return Detail(
        id=warning_id, status=_word(data.get("status") or "Actual"),
        msg_type=_word(data.get("msgType") or ALERT),
        references=_references(data.get("references")),
        language=_language_of(info) or language,
        severity=_word(info.get("severity") or ""),
        headline=read.headline, description=read.description, instruction=read.instruction,
        web=read.web, page_url=PAGE_URL.format(id=quote(warning_id, safe="")), others=others)


def same_warning(feed_id, reference):
    """Whether a reference names this warning: the feed prefixes the ids of the systems
    behind it (``mow.``, ``dwdmap.``), which their own references leave out."""
    return feed_id == reference or feed_id.partition(".")[2] == reference


def _json(path, body):
    try:
        return json.loads(body.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise FeedError(f"{path} answered something that is not JSON") from None


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

    async def _read(self, path):
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
        return bytes(body)

    async def dashboard(self, ars):
        path = f"/dashboard/{ars}.json"
        body = await self._read(path)
        # Reading megabytes of JSON and cleaning their texts takes a while: not on the event
        # loop, which the sender shares.
        return await asyncio.to_thread(lambda: parse_dashboard(_json(path, body)))

    async def warning(self, warning_id, language="de"):
        path = f"/warnings/{quote(warning_id, safe='')}.json"
        body = await self._read(path)
        return await asyncio.to_thread(
            lambda: parse_warning(_json(path, body), warning_id, language))

    async def close(self):
        if self._session is not None:
            await self._session.close()
            self._session = None
