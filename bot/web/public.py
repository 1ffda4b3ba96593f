"""The citizens' pages: how to join (``/``), the privacy notice, the archive and its feed (an
Atom document for feed readers, ``/feed.xml``, and a page for people, ``/feed``).

No sign-in, no cookies needed, no script needed, nothing loaded from another site.
"""

import io
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import segno
from flask import (Blueprint, Response, abort, current_app, render_template, request,
                   send_from_directory, url_for)

from .. import wording
from ..config import ConfigError
from ..platforms import twilio as twilio_platform
from ..store import archive
from ..store.db import now_iso
from . import feed as atom
from .database import get_db

bp = Blueprint("public", __name__)

FEED_LENGTH = 50  # the newest broadcasts the feed and its page show

# What the public page promises when CHANNEL_DESCRIPTION is unset: only what is true of every
# county's channel (how often it sends, and about what else, is for the county to say there).
DEFAULT_DESCRIPTION = (
    "Wichtige Meldungen von {authority} direkt auf Ihr Smartphone: Warnungen, Sperrungen, "
    "Termine."
)

# Who carries the messages, by platform (WHATSAPP_PLATFORM): the privacy page's {carriers}.
CARRIERS = {
    "twilio": "Die Nachrichten laufen über den Dienstleister Twilio (Twilio Ireland Ltd., mit "
              "Twilio Inc. in den USA), der sie in unserem Auftrag an WhatsApp übergibt, und "
              "über WhatsApp (Meta Platforms Ireland Ltd.).",
    "meta": "Die Nachrichten laufen über WhatsApp (Meta Platforms Ireland Ltd., mit Meta "
            "Platforms Inc. in den USA), das sie in unserem Auftrag zustellt.",
}

DEFAULT_PRIVACY = """\
## Wer ist verantwortlich?

Verantwortlich für den WhatsApp-Infokanal ist {authority}. Kontakt: {contact}.

Fragen zum Datenschutz beantwortet die oder der Datenschutzbeauftragte: {dpo}.

## Welche Daten verarbeiten wir, und wozu?

Wenn Sie „Start“ schreiben, speichern wir Ihre Telefonnummer verschlüsselt, damit wir Ihnen \
Meldungen senden können. Wir halten fest, wann Sie sich an- und abgemeldet haben, damit wir \
Ihre Einwilligung nachweisen können; dieser Nachweis enthält Ihre Nummer nicht im Klartext. Zu \
jeder Meldung speichern wir, ob sie angekommen ist. Den Wortlaut Ihrer Nachrichten an uns \
speichern wir nicht, mit zwei Ausnahmen (siehe unten): Ihre Reaktion mit einem Emoji und Ihre \
Antwort auf eine Umfrage. Niemand in unserer Verwaltung sieht Ihre Nummer, und andere \
Abonnentinnen und Abonnenten sehen sie auch nicht.

Wenn Sie auf eine Meldung mit einem Emoji reagieren oder bei einer Umfrage eine Antwort \
wählen, speichern wir das Emoji oder die gewählte Antwort und den Zeitpunkt. Damit zählen \
wir, wie viele so reagiert oder geantwortet haben; wer es war, sieht niemand. Damit eine neue \
Reaktion oder Antwort die alte ersetzt, ist sie mit einem Prüfwert verknüpft, der aus Ihrer \
Nummer und einem geheimen Schlüssel berechnet wird, nie mit der Nummer selbst. Diese \
Verknüpfung endet, wenn Sie „Stop“ schreiben oder die Löschung verlangen, spätestens \
{delivery_days} Tage nach dem Versand der Meldung. Danach bleibt nur die Zahl, ohne Bezug zu \
Ihnen.

## Auf welcher Rechtsgrundlage?

Wir senden Ihnen Meldungen, weil Sie eingewilligt haben (Art. 6 Abs. 1 Buchst. a DSGVO). \
Den Nachweis Ihrer Einwilligung und Ihrer Abmeldung bewahren wir auf, weil wir ihn führen \
müssen (Art. 6 Abs. 1 Buchst. c in Verbindung mit Art. 7 Abs. 1 DSGVO).

## Wie lange speichern wir?

Ihre Nummer speichern wir, bis Sie „Stop“ schreiben; dann löschen wir sie sofort. Ob eine \
Meldung Sie erreicht hat, ist {delivery_days} Tage nach dem Versand nicht mehr mit Ihnen \
verknüpft. Den Nachweis Ihrer An- und Abmeldung löschen wir {consent_years} Jahre nach Ihrer \
Abmeldung. Die Kennungen Ihrer Nachrichten an uns (ohne Inhalt) löschen wir nach \
{inbound_days} Tagen.

## Wer hilft uns dabei?

{carriers} Dabei können Daten in die USA übermittelt werden. Die Übermittlung stützt sich \
auf den Angemessenheitsbeschluss der EU-Kommission zum EU-US Data Privacy Framework und auf \
Standardvertragsklauseln. Für die Nutzung von WhatsApp selbst gelten die \
Datenschutzhinweise von WhatsApp.

## Wie melde ich mich ab?

Schreiben Sie jederzeit „Stop“ an unsere WhatsApp-Nummer. Damit widerrufen Sie Ihre \
Einwilligung (Art. 7 Abs. 3 DSGVO), und Ihre Nummer wird sofort aus der Liste der \
Abonnentinnen und Abonnenten gelöscht.

## Ihre Rechte

Sie haben das Recht auf Auskunft (Art. 15 DSGVO), Berichtigung (Art. 16), Löschung (Art. 17) \
und Einschränkung der Verarbeitung (Art. 18). Nennen Sie uns dafür Ihre Telefonnummer: ohne \
sie können wir Ihre Daten nicht finden. Wenden Sie sich an: {contact}. Sie können sich auch \
bei der zuständigen Datenschutz-Aufsichtsbehörde beschweren (Art. 77 DSGVO).
"""


@dataclass(frozen=True)
class Channel:
    """What the public pages say about this deployment, worked out once at start."""

    authority: str
    description: str
    number_digits: str
    privacy: list  # [(kind, text)], kind "h2" or "p"

    topics: list = ()        # [(name, link)] to join one topic
    topics_word: str = ""    # the keyword that lists the topics
    languages: list = ()     # [(code, language name, its keyword to join)] where several

    @property
    def join_link(self):
        return self.link("Start")

    def link(self, text):
        """A wa.me link that opens WhatsApp with ``text`` to send to the channel."""
        if not self.number_digits:
            return None
        return f"https://wa.me/{self.number_digits}?text={quote(text)}"


def init_app(app):
    config = app.config
    authority = config["AUTHORITY_NAME"]
    description = (config["CHANNEL_DESCRIPTION"] or DEFAULT_DESCRIPTION).format_map(
        _Placeholders(authority=authority, contact=config["CONTACT_INFO"]))
    privacy_source = DEFAULT_PRIVACY
    if config["PRIVACY_TEXT_FILE"]:
        try:
            with open(config["PRIVACY_TEXT_FILE"], encoding="utf-8") as fh:
                privacy_source = fh.read()
        except OSError as exc:
            raise ConfigError(f"PRIVACY_TEXT_FILE cannot be read: {exc}") from exc
    privacy_source = privacy_source.format_map(_Placeholders(
        authority=authority, contact=config["CONTACT_INFO"],
        dpo=config["DATA_PROTECTION_OFFICER"] or config["CONTACT_INFO"],
        consent_years=_number(config["RETENTION_CONSENT_YEARS"]),
        delivery_days=_number(config["RETENTION_DELIVERY_DAYS"]),
        inbound_days=_number(config["RETENTION_INBOUND_DAYS"]),
        carriers=CARRIERS[config["WHATSAPP_PLATFORM"]]))
    texts = app.extensions["infokanal"].texts
    start = texts.keyword("start")
    if config["WHATSAPP_PLATFORM"] == "meta":
        # Meta's API knows the number only by its id: the operator names it (E.164, checked).
        digits = config["META_DISPLAY_PHONE_NUMBER"].removeprefix("+")
    else:
        digits = twilio_platform.sender_digits(config["TWILIO_WHATSAPP_FROM"])
    probe = Channel(authority, "", digits, [])
    app.extensions["infokanal_channel"] = Channel(
        authority=authority, description=description, number_digits=digits,
        topics=[(t.name, probe.link(f"{start} {t.name}")) for t in texts.topics],
        topics_word=texts.keyword("topics"),
        languages=[(code, texts.language_names[code], texts.keyword("start", code))
                   for code in texts.languages] if len(texts.languages) > 1 else [],
        privacy=paragraphs(privacy_source))
    app.add_template_filter(local_time)
    app.add_template_filter(wording.html_lang, "html_lang")


def _number(value):
    """3.0 → "3", 1.5 → "1,5": a period as a German text says it."""
    return f"{value:g}".replace(".", ",")


class _Placeholders(dict):
    """Leaves unknown {words} in operator texts as they are instead of failing at start."""

    def __missing__(self, key):
        return "{" + key + "}"


def paragraphs(text):
    """Plain text → [(kind, text)]: blank lines separate paragraphs, '## ' starts a heading."""
    blocks = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        block = " ".join(line.strip() for line in block.strip().splitlines())
        if not block:
            continue
        if block.startswith("## "):
            blocks.append(("h2", block[3:].strip()))
        else:
            blocks.append(("p", block))
    return blocks


def local_time(iso, with_time=True):
    """A stored UTC timestamp as German local time: ``24.12.2026, 18:00 Uhr``."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    moment = moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))
    return moment.strftime("%d.%m.%Y, %H:%M Uhr" if with_time else "%d.%m.%Y")


def local_input(iso):
    """A stored UTC timestamp as the value of a ``datetime-local`` field, in local time."""
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).strftime("%Y-%m-%dT%H:%M")


def channel():
    return current_app.extensions["infokanal_channel"]


def base_url():
    return current_app.config["PUBLIC_URL"] or request.url_root.rstrip("/")


def _qr():
    link = channel().join_link
    if link is None:
        abort(404)
    return segno.make(link, error="m")


@bp.get("/")
def index():
    before = request.args.get("vor", type=int)
    if before is not None and not 0 < before < 2**62:
        before = None
    entries = archive.published(get_db().conn, limit=20, before_id=before)
    return render_template("public/index.html", channel=channel(), entries=entries,
                           older=entries[-1]["id"] if len(entries) == 20 else None)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask every site for it, whatever the page says."""
    return _cached(send_from_directory(current_app.static_folder, "favicon.ico",
                                       mimetype="image/vnd.microsoft.icon"))


@bp.get("/datenschutz")
def privacy():
    return render_template("public/privacy.html", channel=channel())


@bp.get("/feed")
def feed_page():
    """The feed for people: what a feed is, its address for feed readers, what it holds now.
    Browsers show the Atom document itself as raw text, whatever stylesheet it names."""
    entries = archive.published(get_db().conn, limit=FEED_LENGTH)
    return render_template("public/feed.html", channel=channel(), entries=entries,
                           feed_url=base_url() + url_for("public.feed"))


@bp.get("/feed.xml")
def feed():
    entries = archive.published(get_db().conn, limit=FEED_LENGTH)
    body = atom.atom_feed(entries, base_url(), channel().authority, now_iso())
    return Response(body, mimetype="application/atom+xml")


@bp.get("/qr.svg")
def qr_svg():
    out = io.BytesIO()
    _qr().save(out, kind="svg", scale=8, border=4, xmldecl=False, svgns=True,
               title="QR-Code zum Infokanal")
    return _cached(Response(out.getvalue(), mimetype="image/svg+xml"))


@bp.get("/qr.png")
def qr_png():
    out = io.BytesIO()
    _qr().save(out, kind="png", scale=8, border=4)
    return _cached(Response(out.getvalue(), mimetype="image/png"))


def _cached(response):
    # The number changes only with the configuration; an hour keeps printing pages fast.
    response.cache_control.public = True
    response.cache_control.max_age = 3600
    return response
