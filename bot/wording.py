"""What a citizen reads, built in: German, English and German in Leichte Sprache (``de-LS``):
texts, keywords and language names.

A leaf module of data only (``texts`` loads and uses it), long because it holds every text
in three languages. Plain, short sentences that fit a
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
           "help": ["Hilfe", "Info"], "topics": ["Themen"], "news": ["Neu", "Aktuell"]},
    "en": {"start": ["Subscribe"], "stop": ["Stop", "Unsubscribe"], "help": ["Help"],
           "topics": ["Topics"], "news": ["News"]},
    # Leichte Sprache joins with words of its own, so that a stranger's Start says which
    # German they read; the other words are German's.
    "de-LS": {"start": ["Start Leichte Sprache", "Anmelden Leichte Sprache"],
              "stop": ["Stopp", "Stop", "Abmelden"], "help": ["Hilfe"], "topics": ["Themen"],
              "news": ["Neu", "Aktuell"]},
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
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English", "de-LS": "Leichte Sprache"}
# Written one statement per line: texts said together go on lines of their own too.
ONE_STATEMENT_PER_LINE = ("de-LS",)


def html_lang(code):
    """A page's ``lang`` for one of our languages. BCP 47 has no subtag for Leichte Sprache
    ("de-LS" would be German as spoken in Lesotho): a screen reader reads it as German."""
    return "de" if code == "de-LS" else code

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
        # The answer to "Neu": the latest public announcements, or that there are none yet.
        "news_intro": "Die neuesten Meldungen:",
        "news_none": "Es gibt noch keine Meldungen.",
        # What a correction of a broadcast begins with; {quote}: the original's first words.
        "correction_head": "Berichtigung: „{quote}“ –",
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
        "news_intro": "The latest announcements:",
        "news_none": "There are no announcements yet.",
        "correction_head": "Correction: “{quote}” –",
        "poll_thanks": "Thank you, your answer has been counted.",
        "poll_closed": "The poll has ended.",
    },
    # Leichte Sprache, after the rules of Netzwerk Leichte Sprache: one statement a sentence,
    # each sentence on a line of its own, active voice, no genitive, no subjunctive, no
    # abbreviations, long words split by a hyphen, numbers in digits, the same word for the
    # same thing every time ("Nachricht", never also "Meldung").
    "de-LS": {
        "welcome": (
            "Willkommen!\n"
            "{authority} schickt Ihnen jetzt wichtige Nachrichten.\n"
            "Zum Beispiel: Warnungen, gesperrte Straßen und Termine.\n"
            "Wir speichern Ihre Nummer sicher.\n"
            "Unsere Mit-Arbeiter sehen Ihre Nummer nicht.\n"
            "Sie wollen keine Nachrichten mehr?\n"
            "Dann schreiben Sie: „Stopp“."
        ),
        "already_subscribed": (
            "Sie haben sich schon angemeldet.\n"
            "Sie wollen keine Nachrichten mehr?\n"
            "Dann schreiben Sie: „Stopp“."
        ),
        "goodbye": (
            "Wir haben Sie abgemeldet.\n"
            "Sie bekommen keine Nachrichten mehr.\n"
            "Sie wollen wieder Nachrichten?\n"
            "Dann schreiben Sie: „Start Leichte Sprache“."
        ),
        "not_subscribed": (
            "Sie haben sich noch nicht angemeldet.\n"
            "Sie wollen Nachrichten bekommen?\n"
            "Dann schreiben Sie: „Start Leichte Sprache“."
        ),
        "help": (
            "{authority} schickt hier wichtige Nachrichten.\n"
            "Wir beantworten hier keine Fragen.\n"
            "Sie wollen Nachrichten bekommen?\n"
            "Dann schreiben Sie: „Start Leichte Sprache“.\n"
            "Sie wollen keine Nachrichten mehr?\n"
            "Dann schreiben Sie: „Stopp“.\n"
            "{contact_line}"
        ),
        "notice": "Wir beantworten hier keine Fragen.\n{contact_line}",
        "notice_join": (
            "Sie wollen Nachrichten bekommen?\n"
            "Dann schreiben Sie: „Start Leichte Sprache“."
        ),
        "notice_leave": "Sie wollen keine Nachrichten mehr?\nDann schreiben Sie: „Stopp“.",
        "contact_line": "Sie haben eine Frage?\nDann melden Sie sich hier:\n{contact}.",
        "language_set": "Sie bekommen die Nachrichten jetzt in Leichter Sprache.",
        "no_topics": (
            "Hier können Sie keine Themen aussuchen.\n"
            "Alle angemeldeten Menschen bekommen alle Nachrichten."
        ),
        "warning_update": "Neue Information:",
        "warning_all_clear": "Die Gefahr ist vorbei:",
        "warning_all_clear_text": "Die Warnung gilt nicht mehr.",
        "warning_more": "Mehr Informationen:",
        "news_intro": "Die neuesten Nachrichten:",
        "news_none": "Es gibt noch keine Nachrichten.",
        "correction_head": "Achtung, Fehler in der Nachricht „{quote}“. Richtig ist:",
        "poll_thanks": "Danke.\nWir haben Ihre Antwort gezählt.",
        "poll_closed": "Die Umfrage ist vorbei.",
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
    "de-LS": {
        "welcome_topic": (
            "Willkommen!\n"
            "{authority} schickt Ihnen jetzt Nachrichten zu 1 Thema.\n"
            "Das Thema heißt: {topic}.\n"
            "Sie wollen alle Themen sehen?\n"
            "Dann schreiben Sie: „{topics}“.\n"
            "Sie wollen keine Nachrichten mehr?\n"
            "Dann schreiben Sie: „{stop}“."
        ),
        "topic_added": (
            "Sie bekommen jetzt auch Nachrichten zu diesem Thema: {topic}.\n"
            "Das sind Ihre Themen: {mine}."
        ),
        "topic_already": "Sie bekommen schon Nachrichten zu diesem Thema: {topic}.",
        "topic_already_all": (
            "Sie bekommen schon alle Nachrichten.\n"
            "Darum bekommen Sie auch Nachrichten zu diesem Thema: {topic}."
        ),
        "now_everything": (
            "Sie bekommen jetzt alle Nachrichten.\n"
            "Sie bekommen Nachrichten zu jedem Thema."
        ),
        "topic_removed": (
            "Sie bekommen keine Nachrichten mehr zu diesem Thema: {topic}.\n"
            "Sie bekommen weiter Nachrichten zu: {mine}."
        ),
        "topic_not_mine": (
            "Sie bekommen keine Nachrichten zu diesem Thema: {topic}.\n"
            "Sie bekommen Nachrichten zu: {mine}."
        ),
        "topic_unknown": (
            "Dieses Thema gibt es nicht.\n"
            "Diese Themen gibt es:\n"
            "{list}\n"
            "Sie wollen Nachrichten zu 1 Thema?\n"
            "Dann schreiben Sie die Wörter hinter dem Thema."
        ),
        "topics_list": "Diese Themen gibt es:\n{list}\nDas sind Ihre Themen: {mine}.",
        "topics_list_stranger": (
            "Diese Themen gibt es:\n"
            "{list}\n"
            "Sie wollen Nachrichten zu 1 Thema?\n"
            "Dann schreiben Sie die Wörter hinter dem Thema.\n"
            "Sie wollen alle Nachrichten?\n"
            "Dann schreiben Sie: „{start}“."
        ),
        "goodbye_topics": (
            "Wir haben Sie abgemeldet.\n"
            "Sie bekommen keine Nachrichten mehr.\n"
            "Sie wollen wieder alle Nachrichten?\n"
            "Dann schreiben Sie: „{start}“.\n"
            "Sie wollen nur Nachrichten zu 1 Thema?\n"
            "Dann schreiben Sie: „{start}“ und das Thema.\n"
            "Sie wollen alle Themen sehen?\n"
            "Dann schreiben Sie: „{topics}“."
        ),
        "everything": "alle Themen",  # in "Das sind Ihre Themen: {mine}."
        "topic_keyword": "{name}: „{start} {slug}“",
    },
}
