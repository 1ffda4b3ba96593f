"""What a citizen reads, built in: German and English texts, keywords and language names.

A leaf module of data only (``texts`` loads and uses it). Plain, short sentences that fit a
phone screen without scrolling. Quotation marks are typographic, as on the public pages: German
„Stop“, English “Stop”. Operators replace any of them with ``TEXTS_FILE``; other
languages come entirely from that file.
"""

# The channel's keywords when the operator configures none (``KEYWORDS_*``, the texts file):
# the main language's. A German deployment has always also understood the English words here.
DEFAULT_KEYWORDS = {
    "start": ["Start", "Anmelden"],
    "stop": ["Stop", "Stopp", "Abmelden", "Unsubscribe"],
    "help": ["Hilfe", "Help", "Info"],
}

# Each language's own words. A word that is a language's own picks that language for the
# reply to someone the channel does not know yet ("Subscribe" → English); a word several
# languages own ("Stop") answers in the main language, or in the citizen's own.
KEYWORDS = {
    "de": {"start": ["Start", "Anmelden"], "stop": ["Stop", "Stopp", "Abmelden"],
           "help": ["Hilfe", "Info"], "topics": ["Themen"]},
    "en": {"start": ["Subscribe"], "stop": ["Stop", "Unsubscribe"], "help": ["Help"],
           "topics": ["Topics"]},
}

# Said around a keyword, these leave it a keyword ("Start bitte", "Abmelden, danke!"): an
# older citizen may well write politely. Only when nothing else remains; German and English
# alike, since a German channel also understands the English keywords.
POLITE_WORDS = [
    "bitte", "bitte schön", "bitteschön", "danke", "danke schön", "dankeschön", "vielen dank",
    "hallo", "gerne", "gern", "guten tag", "guten morgen", "guten abend", "moin", "servus",
    "grüß gott", "hi", "hey", "please", "pls", "thanks", "thank you", "hello",
]

# Sent alone, a language's name switches a subscriber's replies and broadcasts to it.
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}

TEXTS = {
    "de": {
        "welcome": (
            "Willkommen beim Infokanal von {authority}! Sie bekommen ab jetzt wichtige "
            "Meldungen: Warnungen, Sperrungen, Termine. Ihre Nummer wird verschlüsselt "
            "gespeichert; die Verwaltung sieht nicht, wer angemeldet ist. "
            "Abmelden: schreiben Sie „Stop“."
        ),
        "already_subscribed": (
            "Sie sind schon angemeldet. Abmelden: schreiben Sie „Stop“."
        ),
        "goodbye": (
            "Sie sind abgemeldet und bekommen keine Meldungen mehr. "
            "Wieder anmelden: schreiben Sie „Start“."
        ),
        "not_subscribed": (
            "Sie sind nicht angemeldet. Anmelden: schreiben Sie „Start“."
        ),
        "help": (
            "Infokanal von {authority}: Meldungen in eine Richtung, keine Antworten auf "
            "Anfragen. „Start“ = anmelden, „Stop“ = abmelden. {contact_line}"
        ),
        "notice": (
            "Dieser Kanal beantwortet keine persönlichen Anfragen. {contact_line}"
        ),
        "notice_join": " Für Meldungen schreiben Sie „Start“.",
        "notice_leave": "Abmelden: schreiben Sie „Stop“.",  # to a subscriber, after the notice
        "contact_line": "Für Ihr Anliegen nutzen Sie bitte: {contact}.",
        "language_set": "Sie bekommen die Meldungen jetzt auf Deutsch.",
        # Where the operator configured no topics, to "Themen" or "Start Baustellen".
        "no_topics": "Themen gibt es hier nicht: Wer angemeldet ist, bekommt alle Meldungen.",
        # Official warnings relayed from the federal warning system (NINA).
        "warning_update": "Aktualisierung:",
        "warning_all_clear": "Entwarnung:",
        "warning_all_clear_text": "Die Warnung ist aufgehoben.",
        "warning_more": "Mehr Informationen:",
        # After a citizen's first tap on a poll's answer; and once after a tap on a closed one.
        "poll_thanks": "Danke, Ihre Antwort ist gezählt.",
        "poll_closed": "Die Umfrage ist beendet.",
    },
    "en": {
        "welcome": (
            "Welcome to the {authority} info channel! You will now receive important "
            "announcements. Your number is stored encrypted; the authority does not see "
            "who has subscribed. To leave, send “Stop”."
        ),
        "already_subscribed": "You are already subscribed. To leave, send “Stop”.",
        "goodbye": (
            "You are unsubscribed and will get no more messages. "
            "To join again, send “Subscribe”."
        ),
        "not_subscribed": "You are not subscribed. To join, send “Subscribe”.",
        "help": (
            "{authority} info channel: one-way announcements, no replies to requests. "
            "“Subscribe” to join, “Stop” to leave. {contact_line}"
        ),
        "notice": "This channel does not answer personal requests. {contact_line}",
        "notice_join": " To get announcements, send “Subscribe”.",
        "notice_leave": "To leave, send “Stop”.",
        "contact_line": "For your request, please use: {contact}.",
        "language_set": "You will now get the announcements in English.",
        "no_topics": "This channel has no topics: every subscriber gets all announcements.",
        "warning_update": "Update:",
        "warning_all_clear": "All clear:",
        "warning_all_clear_text": "The warning has been lifted.",
        "warning_more": "More information:",
        "poll_thanks": "Thank you, your answer has been counted.",
        "poll_closed": "The poll has ended.",
    },
}

# Only where the operator configured topics (TOPICS). Filled in when sent: {topic} (a topic's
# name), {mine} (what the citizen gets now), {list} (every topic with its keyword), and
# {start}/{stop}/{topics} (this language's keywords).
TOPIC_TEXTS = {
    "de": {
        "welcome_topic": (
            "Willkommen beim Infokanal von {authority}! Sie bekommen Meldungen zu: {topic}. "
            "Alle Themen: „{topics}“. Abmelden: „{stop}“."
        ),
        "topic_added": "Sie bekommen jetzt auch Meldungen zu: {topic}. Ihre Themen: {mine}.",
        "topic_already": "Sie bekommen schon Meldungen zu: {topic}.",
        "topic_already_all": "Sie bekommen schon alle Meldungen, auch zu: {topic}.",
        "now_everything": "Sie bekommen jetzt alle Meldungen, zu jedem Thema.",
        "topic_removed": (
            "Sie bekommen keine Meldungen mehr zu: {topic}. Weiter bekommen Sie: {mine}."
        ),
        "topic_not_mine": "Meldungen zu {topic} bekommen Sie nicht. Sie bekommen: {mine}.",
        "topic_unknown": "Dieses Thema gibt es nicht. Themen: {list}",
        "topics_list": "Themen: {list}. Sie bekommen: {mine}.",
        "topics_list_stranger": "Themen: {list}. Alle Meldungen: „{start}“.",
        "goodbye_topics": (
            "Sie sind abgemeldet und bekommen keine Meldungen mehr. Wieder anmelden: "
            "„{start}“, nur für ein Thema: „{start} Thema“ (Themen: „{topics}“)."
        ),
        "everything": "alle Meldungen",
        "topic_keyword": "{name} („{start} {slug}“)",
    },
    "en": {
        "welcome_topic": (
            "Welcome to the {authority} info channel! You get announcements on: {topic}. "
            "All topics: “{topics}”. To leave, send “{stop}”."
        ),
        "topic_added": "You now also get announcements on: {topic}. Your topics: {mine}.",
        "topic_already": "You already get announcements on: {topic}.",
        "topic_already_all": "You already get all announcements, {topic} too.",
        "now_everything": "You now get all announcements, on every topic.",
        "topic_removed": "You no longer get announcements on: {topic}. You still get: {mine}.",
        "topic_not_mine": "You do not get announcements on {topic}. You get: {mine}.",
        "topic_unknown": "There is no such topic. Topics: {list}",
        "topics_list": "Topics: {list}. You get: {mine}.",
        "topics_list_stranger": "Topics: {list}. Everything: “{start}”.",
        "goodbye_topics": (
            "You are unsubscribed and will get no more messages. To join again, send "
            "“{start}”, for one topic only “{start} topic” (topics: “{topics}”)."
        ),
        "everything": "all announcements",
        "topic_keyword": "{name} (“{start} {slug}”)",
    },
}
