"""One citizen message, handled once: keyword, deduplication, subscription, topics, language,
reply.

The webhooks and demo mode's citizen simulator all come through here, so the simulator shows
exactly what a citizen on WhatsApp would get, and, when nothing is sent back, why: ``handle``
for one text (a webhook that answers with the reply itself), ``handle_events`` for everything
one webhook request carried (messages of every kind and status reports), all of it in one
transaction. It is long because each keyword's answer (``_Reply``) stands here beside the rules
that choose it; reactions, the news and the texts themselves live in modules of their own.
"""

from dataclasses import dataclass

from .. import phone
from .. import vocabulary as v
from .. import wording
from ..store import (counters, inbound, outbox, reactions, replies, statuses, subscribers,
                     usage)
from ..store.db import write
from . import news, polls


@dataclass(frozen=True)
class Channel:
    """What handling a message needs of the deployment, assembled once at start."""

    vault: object
    texts: object
    notice_window_seconds: float
    demo: bool  # replies also land in the local outbox
    # The platform's webhook cannot carry the answer: each is queued for the worker to send
    # (``replies``), in the transaction that handled the message.
    replies_by_api: bool = False
    timezone: str = "Europe/Berlin"  # the dates in the answer to "Neu"


# Why a message got no reply: the only two cases. Every keyword is answered; a message that
# is none gets the notice at most once per window.
REPLAYED = "replayed"                  # the platform sent this message before; answered then
NOTICE_ALREADY_SENT = "notice_already_sent"  # the notice went to this number within the window
# A reaction, or a tap on a button whose text is no keyword: nothing the citizen asked, so
# neither an answer nor the notice.
NOT_A_REQUEST = "not_a_request"


@dataclass(frozen=True)
class Outcome:
    """What handling one message came to: the reply, or None and the reason (see above)."""

    reply: str = None
    silence: str = None
    window_seconds: float = 0  # for NOTICE_ALREADY_SENT: the window it was sent within


def handle(database, channel, e164, body, message_id, kind=v.INBOUND_TEXT, payload=None,
           replied_to=None):
    """Handle a citizen's message once (a text, or ``kind``: a tap on a button, a reaction to
    the message ``replied_to``); the Outcome says what to answer, or why nothing."""
    message = _prepare(channel, e164, body, message_id, kind, payload, replied_to)
    with write(database) as conn:
        return _handle(conn, channel, message)


def handle_events(database, channel, events, invalid=0):
    """Handle everything one webhook request carried (``platforms.base.Events``) in one write
    transaction: each message once, each status report recorded. All or none is stored: the
    platform sends the whole request again when it was not acknowledged. ``invalid``: how many
    of the request's messages the caller left out as unusable, counted in the same transaction.

    Returns an Outcome per message, in order. Raises ``phone.InvalidAddress`` for a sender
    that is no phone number, before anything is written.
    """
    prepared = [_prepare(channel, phone.e164(message.sender), message.body,
                         message.message_id, message.kind, message.payload, message.replied_to)
                for message in events.messages]
    with write(database) as conn:
        if invalid:
            counters.add(conn, counters.webhook("messages", "invalid"), invalid)
        if events.statuses:
            statuses.record_many(conn, events.statuses)
        return [_handle(conn, channel, message) for message in prepared]


@dataclass(frozen=True)
class _Message:
    """One message, with everything worked out that needs no write lock."""

    e164: str
    phone_hash: str
    phone_enc: bytes  # None where nothing will need the number
    command: object   # texts.Command; None for a reaction
    keyword: str
    message_id: str
    kind: str
    vote: tuple = None      # (broadcast id, answer index) of a tap on a poll's button
    body: str = ""
    replied_to: str = None  # the platform's id of the message this one quotes or reacts to
    emoji: str = None       # a reaction's; empty when it was taken back


def _prepare(channel, e164, body, message_id, kind, payload=None, replied_to=None):
    # A tap on a poll's answer is a vote, whatever the button says; a reaction is never a
    # request, whatever its emoji; another button's text may be a keyword.
    vote = polls.parse_payload(payload) if kind == v.INBOUND_BUTTON else None
    command = None if kind == v.INBOUND_REACTION or vote else channel.texts.parse(body)
    # Our keyword and topic, never the citizen's words: consent records are kept for years
    # ("Anmelden Gewerbe" is kept as "anmelden", "Start Baustellen!" as "start baustellen").
    keyword = None
    if command is not None and command.action:
        keyword = (f"{command.keyword} {command.topic.slug}" if command.topic
                   else command.keyword)
    answerable = command is not None and (kind != v.INBOUND_BUTTON or command.action)
    needs_number = (answerable or vote) and (
        vote is None and command.action == "start" or channel.replies_by_api)
    # Encrypt before taking the write lock: every other webhook waits while it is held.
    phone_enc = channel.vault.encrypt(e164) if needs_number else None
    reaction = kind == v.INBOUND_REACTION
    return _Message(e164, channel.vault.hash(e164), phone_enc, command, keyword, message_id,
                    kind, vote, body, replied_to, body if reaction else None)


def _handle(conn, channel, message):
    """One message inside the caller's write transaction."""
    if not inbound.record_inbound(conn, message.message_id):
        return Outcome(silence=REPLAYED)
    if message.kind == v.INBOUND_REACTION:
        # Counted for its broadcast when it names one that went to this citizen; never answered.
        reactions.react(conn, message.phone_hash, message.replied_to, message.emoji)
        return Outcome(silence=NOT_A_REQUEST)
    if message.vote is not None:
        # A tap on a poll's answer: counted, thanked once, never the notice.
        reply = polls.tap(conn, channel.texts, message.phone_hash, *message.vote)
        _answer(conn, channel, message, reply)
        return Outcome(reply, silence=None if reply else NOT_A_REQUEST)
    command = message.command
    if command is None or message.kind == v.INBOUND_BUTTON and not command.action:
        return Outcome(silence=NOT_A_REQUEST)
    if not command.action and message.kind == v.INBOUND_TEXT and polls.typed_answer(
            conn, message.phone_hash, message.replied_to, message.body):
        return Outcome(silence=NOT_A_REQUEST)
    replier = _Reply(conn, channel, command, message.phone_hash, message.keyword,
                     message.message_id)
    reply = replier.text(message.phone_enc)
    _answer(conn, channel, message, reply)
    if replier.silence == NOTICE_ALREADY_SENT:
        return Outcome(silence=NOTICE_ALREADY_SENT,
                       window_seconds=channel.notice_window_seconds)
    return Outcome(reply)


def _answer(conn, channel, message, reply):
    """Send ``reply`` (if any) the way the platform takes answers."""
    if reply and channel.demo:
        outbox.add(conn, message.e164, message.phone_hash, reply, "reply")
    if reply and channel.replies_by_api:
        replies.queue(conn, message.phone_hash, message.phone_enc, reply)
    elif reply:
        # Answered in the webhook's response (TwiML): it goes with this transaction's answer.
        usage.reply_sent(conn)


class _Reply:
    """Carries out one command and words the answer in the citizen's language."""

    def __init__(self, conn, channel, command, phone_hash, keyword, message_id):
        self.conn = conn
        self.channel = channel
        self.texts = channel.texts
        self.command = command
        self.phone_hash = phone_hash
        self.keyword = keyword
        self.message_id = message_id
        self.silence = None  # why there is no reply, where there is none
        self.subscriber = subscribers.find(conn, phone_hash)
        # The citizen's own language; for someone the channel does not know, the keyword's.
        own = self.subscriber.language if self.subscriber else None
        self.language = self.texts.language_of(own or command.language)

    def say(self, key, **fields):
        texts, language = self.texts, self.language
        words = {action: texts.keyword(action, language) for action in ("start", "stop")}
        words["topics"] = texts.keyword("topics", language)
        return texts.get(key, language, **words, **fields)

    def text(self, phone_enc):
        action = self.command.action
        if action == "start":
            return self._start(phone_enc)
        if action == "stop":
            return self._stop()
        if action == "help":
            return self.say("help")
        if action == "topics":
            return self._topics()
        if action == "language":
            return self._language()
        if action == "news":
            return news.answer(self.conn, self.texts, self.language, self.subscriber,
                               self.channel.timezone)
        return self._notice()

    # -- the commands ---------------------------------------------------------------------

    def _start(self, phone_enc):
        topic, sub = self.command.topic, self.subscriber
        if not self.texts.topics:
            # "Start Baustellen" where there are no topics: everything is what there is. The
            # words may also have been a personal matter ("Anmelden Gewerbe"): say where to go.
            reply = self._start_everything(phone_enc)
            if not self.command.rest:
                return reply
            return self._together(reply, self.say("no_topics"), self.say("contact_line"))
        if topic is None and self.command.rest:
            return self.say("topic_unknown", list=self._topic_list())  # changes nothing
        if sub is None:
            self._subscribe(phone_enc, topic)
            return self.say("welcome_topic", topic=topic.name) if topic else self.say("welcome")
        if topic is None:
            if sub.all_topics:
                return self.say("already_subscribed")
            subscribers.widen(self.conn, sub, self.phone_hash, self.keyword, self.message_id)
            return self.say("now_everything")
        if sub.all_topics:
            return self.say("topic_already_all", topic=topic.name)
        if topic.slug in sub.topics:
            return self.say("topic_already", topic=topic.name)
        subscribers.widen(self.conn, sub, self.phone_hash, self.keyword, self.message_id,
                          topic.slug)
        return self.say("topic_added", topic=topic.name,
                        mine=self._names(sub.topics | {topic.slug}))

    def _start_everything(self, phone_enc):
        sub = self.subscriber
        if sub is None:
            self._subscribe(phone_enc, None)
        elif sub.all_topics:
            return self.say("already_subscribed")
        else:
            # Joined for a topic while there were topics: now everything is all there is.
            subscribers.widen(self.conn, sub, self.phone_hash, self.keyword, self.message_id)
        return self.say("welcome")

    def _subscribe(self, phone_enc, topic):
        own = self.command.language
        subscribers.subscribe(self.conn, self.phone_hash, phone_enc, self.keyword,
                              self.message_id,
                              language=None if own in (None, self.texts.main) else own,
                              topic=topic.slug if topic else None)

    def _stop(self):
        topic, sub = self.command.topic, self.subscriber
        if sub is None:
            return self.say("not_subscribed")
        if topic is not None:
            if not sub.all_topics and topic.slug not in sub.topics:
                return self.say("topic_not_mine", topic=topic.name, mine=self._mine())
            left = subscribers.leave_topic(self.conn, sub, self.phone_hash, topic.slug,
                                           [t.slug for t in self.texts.topics], self.keyword,
                                           self.message_id)
            if left != subscribers.REMOVED:
                return self.say("topic_removed", topic=topic.name, mine=self._names(left))
            return self._goodbye()
        # "Stop" with anything after it that is no topic leaves the channel too: an opt-out
        # must never be missed.
        subscribers.unsubscribe(self.conn, self.phone_hash, self.keyword, self.message_id)
        return self._goodbye()

    def _goodbye(self):
        return self.say("goodbye_topics" if self.texts.topics else "goodbye")

    def _topics(self):
        if not self.texts.topics:
            none = self.say("no_topics")
            return self._together(none, self.say("notice_join")) if self.subscriber is None \
                else none
        if self.subscriber is None:
            return self.say("topics_list_stranger", list=self._topic_list())
        return self.say("topics_list", list=self._topic_list(), mine=self._mine())

    def _language(self):
        chosen = self.command.language
        self.language = chosen
        if self.subscriber is None:
            return self.say("not_subscribed")  # in the chosen language: how to join in it
        subscribers.set_language(self.conn, self.subscriber.id,
                                 None if chosen == self.texts.main else chosen)
        return self.say("language_set")

    def _notice(self):
        if not inbound.claim_notice(self.conn, self.phone_hash,
                                    self.channel.notice_window_seconds):
            self.silence = NOTICE_ALREADY_SENT
            return None
        notice = self.say("notice")
        if self.subscriber is None:
            return self._together(notice, self.say("notice_join"))
        if "notice_leave" in self.texts.messages[self.language]:  # optional in a file
            return self._together(notice, self.say("notice_leave"))  # how to get out
        return notice

    # -- words ------------------------------------------------------------------------------

    def _line_by_line(self):
        return self.language in wording.ONE_STATEMENT_PER_LINE

    def _together(self, *parts):
        """Texts said one after another: on one line, or, in a language written one statement
        per line (Leichte Sprache), each on its own."""
        return ("\n" if self._line_by_line() else " ").join(
            part.strip() for part in parts if part)

    def _topic_list(self):
        start = self.texts.keyword("start", self.language)
        return ("\n" if self._line_by_line() else ", ").join(self.texts.get("topic_keyword", self.language, name=t.name,
                                        slug=t.slug, start=start) for t in self.texts.topics)

    def _mine(self):
        return self.say("everything") if self.subscriber.all_topics else self._names(
            self.subscriber.topics)

    def _names(self, slugs):
        return ", ".join(t.name for t in self.texts.topics if t.slug in slugs)
