"""The API's description: an OpenAPI 3.1 document of every endpoint under ``/api``, served at
``GET /api/openapi.json`` without the token (it is documentation, and holds no data).

This is the one place that describes the API. An endpoint or a field added to the API is added
here too: tests compare the document's paths with the app's routes, and run schemathesis against
the real server, which fails on any answer (status, content type, field) the document does not
describe. Response objects therefore say ``additionalProperties: false``.

It is long because it is one document: splitting a description of one API across modules would
only make it harder to see that it is whole.
"""

from ..domain import plan, polls
from ..domain.announcements import FREEFORM_TEXT_LIMIT, TEMPLATE_TEXT_LIMIT
from ..images import MAX_BYTES
from ..uploads import MAX_BYTES as UPLOAD_MAX_BYTES
from ..store.broadcasts import AWAITING, COUNT_KEYS, DISCARDED, DRAFT, SQLITE_INT_MAX, STATUSES

VERSION = "1"

NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "description": "ISO-8601, in UTC (`…Z`)."}
COUNT = {"type": "integer", "minimum": 0}
MONEY = {"type": "number", "minimum": 0, "description": "In CURRENCY, estimated."}
OVER_BUDGET = {"type": "boolean", "description": (
    "It went (or waits to go) beyond the monthly budget (MONTHLY_BUDGET): the month's "
    "estimated spending plus its own estimate was more. Never held back through the API; in "
    "the console it waits for an admin, unless urgent or a relayed warning.")}
ESTIMATED_COST = {
    "type": ["object", "null"],
    "description": ("recipients × PRICE_PER_MESSAGE, in PRICE_CURRENCY: an estimate (the "
                    "platform charges per delivered template message). null when no price is "
                    "configured."),
    "properties": {"amount": {"type": "number", "minimum": 0},
                   "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    "required": ["amount", "currency"],
    "additionalProperties": False,
}
NULLABLE_MONEY = {"type": ["number", "null"], "minimum": 0}
PUBLIC = {"type": "boolean", "description": (
    "Shown on the public page and in the feed once it went out (default true).")}


def _closed(properties, required=None, **extra):
    """An object with exactly these properties."""
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False, **extra}


def _json(schema):
    return {"application/json": {"schema": schema}}


def _answer(description, schema):
    return {"description": description, "content": _json(schema)}


def _error(description):
    return {"description": description, "content": _json({"$ref": "#/components/schemas/Error"})}


SCHEMAS = {
    "Error": _closed({"error": {"type": "string", "description": "The reason, in plain words."}},
                     description="Every error answer under /api."),
    "MonthCosts": _closed({
        "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$",
                  "description": "The calendar month, in TIMEZONE."},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "broadcasts": {"type": "array", "items": _closed({
            "id": {"type": "integer"},
            "started_at": NULLABLE_TIME,
            "urgent": {"type": "boolean"},
            "over_budget": {"type": "boolean"},
            "delivered": {"type": "object", "additionalProperties": COUNT, "description": (
                "Messages delivered in the month, by the category of the template they went "
                "with (marketing, utility).")},
            "messages": COUNT,
            "cost": MONEY}),
            "description": "One per broadcast with messages delivered in the month."},
        "replies": _closed({"messages": COUNT, "cost": MONEY}, description=(
            "Answers to citizens sent in the month, at PRICE_SERVICE.")),
        "delivered": {"type": "object", "additionalProperties": COUNT, "description": (
            "Messages by category: marketing, utility; service for the answers.")},
        "unpriced": {**COUNT, "description": (
            "Messages of a category without a price: counted as 0 in the costs.")},
        "total": MONEY,
        "budget": {**MONEY, "type": ["number", "null"], "description": (
            "MONTHLY_BUDGET; null without one.")},
        "remaining": {"type": ["number", "null"], "description": (
            "budget - total (negative: over it); null without a budget.")},
    }, description=(
        "The month in numbers, estimated from what was delivered: (price of the category + "
        "PLATFORM_FEE) per message. Counts only.")),
    "Stats": _closed({
        "subscribers": {**COUNT, "description": "Active subscribers."},
        "topics": {"type": "object", "additionalProperties": COUNT, "description": (
            "Per topic slug (TOPICS): subscribers who get it; those of everything count for "
            "each.")},
        "languages": {"type": "object", "additionalProperties": COUNT,
                      "description": "Subscribers per language code."},
    }),
    "Topic": _closed({
        "slug": {"type": "string"}, "name": {"type": "string"},
        "subscribers": {**COUNT, "description": "Who gets it, subscribers of everything too."},
    }),
    "TopicList": _closed({"topics": {"type": "array",
                                     "items": {"$ref": "#/components/schemas/Topic"}}}),
    "Source": {
        "type": ["object", "null"],
        "description": "The official warning a relayed broadcast passes on; null for the "
                       "press office's own.",
        "properties": {"kind": {"const": "nina"}, "id": {"type": "string"},
                       "version": {"type": "integer"}, "provider": {"type": "string"},
                       "severity": {"type": "string"},
                       "held_back": {"type": "boolean", "description":
                                     "A draft only because more warnings than "
                                     "WARNINGS_MAX_PER_POLL would have gone out from one poll "
                                     "of the feed."}},
        "required": ["kind", "id", "version", "provider", "severity", "held_back"],
        "additionalProperties": False,
    },
    "DraftChange": {
        "type": "object", "additionalProperties": False,
        "properties": {"text": {"type": "string", "minLength": 1,
                                "maxLength": FREEFORM_TEXT_LIMIT, "pattern": r"\S"},
                       "urgent": {"type": "boolean"}},
    },
    "BroadcastRequest": {
        "type": "object",
        "required": ["text"],
        "properties": {
            "text": {
                "type": "string", "minLength": 1, "maxLength": FREEFORM_TEXT_LIMIT,
                "pattern": r"\S",
                "description": (f"The message; surrounding spaces are removed. At most "
                                f"{TEMPLATE_TEXT_LIMIT} characters less the template's own "
                                "words (TEMPLATE_FIXED_CHARACTERS, default 100) when "
                                "broadcasts go out as a template (BROADCAST_CONTENT_SID), "
                                f"{FREEFORM_TEXT_LIMIT} free-form. No NUL character. As a template, paragraphs "
                                "(separated by a blank line) go out one per variable of the "
                                "paragraph templates (BROADCAST_PARAGRAPH_TEMPLATES), or run "
                                "on in one line; a line break inside one becomes a space.")},
            "media_url": {
                "type": ["string", "null"], "format": "uri", "maxLength": 2000,
                "description": ("An http(s) URL of a picture, or of a video or PDF uploaded "
                                "with POST /api/media (sent as what it is). With the text "
                                "template it goes as the approved template with a media "
                                "header of its kind (BROADCAST_MEDIA_CONTENT_SID, "
                                "META_MEDIA_TEMPLATE): a kind without one is a 400 naming "
                                "the setting; on Twilio only uploaded files.")},
            "send_at": {
                "type": ["string", "null"], "format": "date-time",
                "description": ("ISO-8601, between the years 2000 and 2100; later than now "
                                "schedules the broadcast. Without a zone: TIMEZONE.")},
            "expires_at": {
                "type": ["string", "null"], "format": "date-time",
                "description": ("ISO-8601, in the future and after send_at: whatever is not "
                                "sent by then is skipped.")},
            "urgent": {"type": "boolean", "default": False,
                       "description": ("Send ahead of any regular broadcast still sending, "
                                       "to every subscriber whatever their topics.")},
            "public": {**PUBLIC, "default": True},
            "topics": {"type": ["array", "null"], "items": {"type": "string"},
                       "description": ("Topic slugs (TOPICS): their subscribers and those of "
                                       "everything get it. None: those of everything.")},
            "translations": {
                "type": ["object", "null"],
                "additionalProperties": {"type": "string", "minLength": 1,
                                         "maxLength": FREEFORM_TEXT_LIMIT},
                "description": ("The text in further languages (LANGUAGES), by code (e.g. "
                                "en, de-LS for Leichte Sprache): each subscriber gets their "
                                "language's, else text.")},
            "answers": {
                "type": ["array", "null"], "minItems": polls.FEWEST_ANSWERS,
                "maxItems": polls.MOST_ANSWERS,
                "items": {"type": "string", "minLength": 1, "maxLength": polls.ANSWER_LIMIT},
                "description": (
                    "Makes the broadcast a poll: two or three different answers of at most "
                    f"{polls.ANSWER_LIMIT} characters, sent as WhatsApp quick-reply buttons "
                    "(the same answers in every language). A poll carries no picture and a "
                    f"text (and translations) of at most {polls.TEXT_LIMIT} characters; in "
                    "production it needs the approved quick-reply template for as many "
                    "answers (POLL_CONTENT_SID on Twilio, META_POLL_TEMPLATE on Meta), else "
                    "400. A tap counts once per citizen, the latest one; results in poll.")},
        },
    },
    "Poll": {
        "type": ["object", "null"],
        "description": "A poll's results; null for a broadcast that asks nothing. Counts only.",
        "properties": {
            "answers": {"type": "array", "items": _closed({
                "text": {"type": "string"}, "votes": COUNT,
                "percent": {"type": "integer", "minimum": 0, "maximum": 100,
                            "description": "Of all votes, rounded; 0 without votes."}})},
            "votes": {**COUNT, "description": "Citizens who answered (each once)."},
            "closed_at": {**NULLABLE_TIME, "description": (
                "When the press office closed it (ISO-8601, UTC); null while open.")},
        },
        "required": ["answers", "votes", "closed_at"],
        "additionalProperties": False,
    },
    "BroadcastCreated": _closed({
        "id": {"type": "integer"},
        "status": {"enum": ["scheduled", "queued"]},
        "recipients": {**COUNT, "description": "Active subscribers it goes to (scheduled: now)."},
        "urgent": {"type": "boolean"},
        "send_at": NULLABLE_TIME,
        "expires_at": NULLABLE_TIME,
        "topics": {"type": "array", "items": {"type": "string"}},
        "translations": {"type": "object", "additionalProperties": {"type": "string"}},
        "answers": {"type": "array", "items": {"type": "string"},
                    "description": "A poll's answers; empty for a broadcast that asks nothing."},
        "public": PUBLIC,
        "estimated_cost": ESTIMATED_COST,
        "over_budget": OVER_BUDGET,
        "warnings": {"type": "array", "items": {"type": "string"},
                     "description": "The plan's warnings (plan.warnings)."},
        "plan": {"$ref": "#/components/schemas/Plan"},
    }),
    "Plan": _closed({
        "recipients": {**COUNT, "description": "Active subscribers it goes to, now."},
        "by_language": {"type": "object", "additionalProperties": COUNT,
                        "description": "Recipients per language code (their own language)."},
        "by_topic": {"type": "object", "additionalProperties": COUNT, "description": (
            "Per topic of the broadcast: who gets that topic (subscribers of everything "
            "count for each); {} without topics.")},
        "seconds_to_last": {"type": "number", "minimum": 0, "description": (
            "From the start to the last recipient: what is queued ahead (answers to citizens, "
            "urgent broadcasts, then older ones; urgent: only urgent ones), then this one, at "
            "SEND_RATE_LIMIT (a picture: SEND_RATE_LIMIT_MEDIA).")},
        "starts_at": {"type": "string", "description": "Now, or send_at (ISO-8601, UTC)."},
        "finishes_at": {"type": "string", "description": "starts_at + seconds_to_last."},
        "rate": {"type": "number", "minimum": 0,
                 "description": "Messages per second this broadcast goes out at."},
        "queue_ahead": {**COUNT, "description": "Messages of others sent from its start to "
                                               "its last one."},
        "reachable_now": {**COUNT, "description": (
            "Recipients WhatsApp's messaging limit (MESSAGING_LIMIT_24H) lets us reach at the "
            "start: those we reached in the last 24 hours, and as many new ones as fit.")},
        "reachable_at": {**NULLABLE_TIME, "description": (
            "When the rest can go (enough citizens have been 24 hours without a message from "
            "us); null when all are reachable now. The sender tries again by itself.")},
        "messaging_limit": {"type": ["integer", "null"],
                            "description": "MESSAGING_LIMIT_24H; null: not set (no limit)."},
        "cost": _closed({
            "category": {"enum": ["marketing", "utility", "mixed"], "description": (
                "The template category (TEMPLATE_CATEGORY, per language "
                "TEMPLATE_CATEGORY_<LANG>); mixed when the recipients' languages differ: "
                "see by_category.")},
            "per_message": {**NULLABLE_MONEY, "description": (
                "Price of the category + PLATFORM_FEE; null when mixed or without a price.")},
            "platform_fee": {"type": "number", "minimum": 0},
            "total": {**NULLABLE_MONEY, "description": (
                "An estimate: every recipient × their category's price; null without a price.")},
            "currency": {"type": "string"},
            "by_category": {"type": "object", "additionalProperties": _closed({
                "recipients": COUNT, "per_message": NULLABLE_MONEY, "total": NULLABLE_MONEY})},
        }),
        "month": _closed({
            "spent": {**NULLABLE_MONEY, "description": (
                "The calendar month the broadcast goes out in (a scheduled one: its start's) "
                "so far, estimated from what was delivered; 0 for a month to come.")},
            "committed": {**NULLABLE_MONEY, "description": (
                "What is on its way in that month but not delivered yet, estimated: "
                "broadcasts going out now (queued, sending, paused; this month only) and "
                "those scheduled to start in it, each to its audience now.")},
            "budget": {**NULLABLE_MONEY, "description": "MONTHLY_BUDGET; null: none."},
            "after": {**NULLABLE_MONEY, "description": "spent + committed + cost.total."},
            "calendar_month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$",
                               "description": "Which month (YYYY-MM, in TIMEZONE)."},
        }),
        "warnings": {"type": "array", "items": {"type": "string"}, "description": (
            "Each a sentence for the press office, in German: not everyone reachable today, "
            "longer than 10 minutes to the last citizen, a picture slowing the sending, over "
            "the month's budget, no price to check the budget with.")},
        "warning_codes": {"type": "array", "items": {"enum": list(plan.CODES)},
                          "description": "The warnings' codes, in the same order."},
    }),
    "Counts": _closed({key: COUNT for key in COUNT_KEYS}, description=(
        "The recipients, each counted once at the furthest point reached: sent means accepted "
        "by the platform and not (yet) reported delivered, read or failed; delivered: not (yet) "
        "reported read; skipped: stopped before its turn, cancelled or expired. They add up to "
        "recipients. For how many messages got how far, read `reached`.")),
    "Reached": _closed({
        "sent": {**COUNT, "description": (
            "Accepted by the platform: including those since delivered and read, not those "
            "that failed (counted in counts.failed, before or after the platform took them).")},
        "delivered": {**COUNT, "description": "Reported delivered: including those since read."},
        "read": {**COUNT, "description": (
            "Reported read (only where the recipient has read receipts switched on).")},
    }, description=(
        "How many messages got how far, each counted at every stage it passed, so sent ≥ "
        "delivered ≥ read: what the console shows. Sums of `counts`: sent = counts.sent + "
        "counts.delivered + counts.read, delivered = counts.delivered + counts.read.")),
    "Broadcast": _closed({
        "id": {"type": "integer"},
        "text": {"type": "string"},
        "media_url": NULLABLE_STRING,
        "status": {"enum": [DRAFT, AWAITING, *STATUSES, DISCARDED], "description": (
            "awaiting_approval: composed in the console, waiting for a publisher's approval "
            "(APPROVAL_REQUIRED).")},
        "urgent": {"type": "boolean"},
        "public": PUBLIC,
        "topics": {"type": "array", "items": {"type": "string"}},
        "translations": {"type": "object", "additionalProperties": {"type": "string"}},
        "source": {"$ref": "#/components/schemas/Source"},
        "created_at": {"type": "string", "description": "ISO-8601, in UTC."},
        "send_at": NULLABLE_TIME,
        "expires_at": NULLABLE_TIME,
        "started_at": NULLABLE_TIME,
        "finished_at": NULLABLE_TIME,
        "recipients": COUNT,
        "counts": {"$ref": "#/components/schemas/Counts"},
        "reached": {"$ref": "#/components/schemas/Reached"},
        "errors": {"type": "object", "additionalProperties": COUNT,
                   "description": "Failed deliveries by the platform's error code."},
        "hints": {"type": "array", "items": {"type": "string"},
                  "description": "Plain advice for failures the operator can fix."},
        "pause_reason": NULLABLE_STRING,
        "resume_at": NULLABLE_TIME,
        "retries_unknown": {**COUNT, "description": (
            "Sends retried after an unknown outcome: each may have arrived twice.")},
        "retries_citizen_cap": {**COUNT, "description": (
            "Sends the platform held back for its cap per citizen (too many marketing "
            "messages to that person lately), tried again hours later: never a duplicate, "
            "never counted as failed unless still held back a day after the start.")},
        "estimated_cost": ESTIMATED_COST,
        "over_budget": OVER_BUDGET,
        "edited": {"type": "boolean", "description": (
            "Changed by someone other than its author: e.g. a relayed warning's draft whose "
            "text is no longer the authority's own.")},
        "reactions": {"type": "object", "additionalProperties": {**COUNT, "minimum": 1},
                      "description": (
            "Citizens' emoji reactions to it on WhatsApp, {emoji: how many}, the most "
            "frequent first: one per citizen (a changed reaction counts once, with its new "
            "emoji; one taken back not at all), anonymous. An object rather than a list, "
            "so that a count is read by its emoji; {} when there are none.")},
        "corrects": {"type": ["integer", "null"], "description": (
            "For a correction (\"Berichtigung\"): the broadcast it corrects; else null.")},
        "corrections": {"type": "array", "items": {"type": "integer"}, "description": (
            "The ids of its corrections, oldest first.")},
        "poll": {"$ref": "#/components/schemas/Poll"},
    }),
    "Correction": _closed({
        "text": {"type": "string", "minLength": 1, "description": (
            "What is right. The message begins with \"Berichtigung:\" (in each reader's "
            "language: the text correction_head) and the corrected broadcast's first words, "
            "then this text; together within the limit of a broadcast (1,024 characters less "
            "the template's own words with a template, 1,600 free-form).")},
        "translations": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "string", "minLength": 1,
                                     "maxLength": FREEFORM_TEXT_LIMIT},
            "description": (
                "The correction in further languages (LANGUAGES), by code, as a broadcast's "
                "translations. A subscriber of such a language gets it, beginning with the "
                "first words of the original as they got it (its translation, else its text); "
                "the others get text. Within the same limit as text.")}},
        required=["text"]),
    "CorrectionRefused": _closed({
        "error": {"type": "string", "description": "The reason, in plain words."},
        "existing": {"type": "integer", "description": (
            "When the same correction (the same text, of the same broadcast) was written "
            "less than ten minutes ago: its id. Nothing was sent again.")}},
        required=["error"]),
    "CorrectionCreated": _closed({
        "id": {"type": "integer"},
        "status": {"enum": ["queued"]},
        "recipients": {**COUNT, "description": (
            "Those the corrected broadcast reached (sent, delivered or read) who are still "
            "subscribed: nobody else.")},
        "corrects": {"type": "integer"},
        "text": {"type": "string", "description": "The message as it goes out."},
        "translations": {"type": "object", "additionalProperties": {"type": "string"},
                         "description": "The message as it goes out in further languages."},
        "urgent": {"type": "boolean", "description": "As the corrected broadcast."},
        "public": PUBLIC,
        "topics": {"type": "array", "items": {"type": "string"}},
        "estimated_cost": ESTIMATED_COST,
        "over_budget": OVER_BUDGET,
    }),
    "BroadcastList": _closed({"broadcasts": {
        "type": "array", "items": {"$ref": "#/components/schemas/Broadcast"}}}),
    "MediaUpload": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": (
            f"A JPEG or PNG picture of at most {MAX_BYTES} bytes (5 MB); or an MP4 video "
            "(H.264 video, at most one AAC audio track) or a PDF (at most 500 pages) of at "
            f"most {UPLOAD_MAX_BYTES} bytes (16 MB). Its kind is told by its content, not "
            "its name; a PDF keeps the name it was uploaded as.")}},
    },
    "Media": _closed({"url": {"type": "string", "format": "uri", "description": (
        "PUBLIC_URL/media/<name>: public, for media_url (the platform fetches it).")}}),
}

UNAUTHORIZED = {
    "description": "No or a wrong bearer token.",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}},
    "content": _json({"$ref": "#/components/schemas/Error"}),
}
BROADCAST_ID = {
    "name": "broadcast_id", "in": "path", "required": True,
    "schema": {"type": "integer", "minimum": 0},
    "description": "A broadcast's id; an id that is no broadcast's answers 404.",
}


def _broadcast_change(summary, conflict, invalid=None):
    answers = {"post": {
        "operationId": summary.split()[0].lower() + "Broadcast",
        "summary": summary,
        "parameters": [BROADCAST_ID],
        "responses": {
            "200": _answer("The broadcast after the change.",
                           {"$ref": "#/components/schemas/Broadcast"}),
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": _error("No such broadcast."),
            "409": _error(conflict),
        },
    }}
    if invalid:
        answers["post"]["responses"]["400"] = _error(invalid)
    return answers


PATHS = {
    "/api/openapi.json": {"get": {
        "operationId": "getOpenApi",
        "summary": "This document.",
        "security": [],
        "responses": {"200": _answer("The OpenAPI document.", {"type": "object"})},
    }},
    "/api/docs": {"get": {
        "operationId": "getApiDocs",
        "summary": "This document as an interactive page (Swagger UI), for people.",
        "security": [],
        "responses": {"200": {"description": "An HTML page that loads this document.",
                              "content": {"text/html": {"schema": {"type": "string"}}}}},
    }},
    "/api/costs": {"get": {
        "operationId": "getMonthCosts",
        "summary": "The month in numbers: broadcasts, messages by category, answers, cost.",
        "parameters": [
            {"name": "month", "in": "query", "description": "YYYY-MM; default: this month.",
             "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}},
        ],
        "responses": {
            "200": _answer("Counts and estimated cost, against the budget.",
                           {"$ref": "#/components/schemas/MonthCosts"}),
            "400": _error("month is not YYYY-MM, or not a month (the reason says why)."),
            "401": {"$ref": "#/components/responses/Unauthorized"},
        },
    }},
    "/api/stats": {"get": {
        "operationId": "getStats",
        "summary": "How many people the channel reaches.",
        "responses": {
            "200": _answer("Counts only.", {"$ref": "#/components/schemas/Stats"}),
            "401": {"$ref": "#/components/responses/Unauthorized"},
        },
    }},
    "/api/broadcasts": {
        "get": {
            "operationId": "listBroadcasts",
            "summary": "All broadcasts, newest first.",
            "parameters": [
                {"name": "limit", "in": "query", "description": "At most 500.",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
                {"name": "offset", "in": "query",
                 "schema": {"type": "integer", "minimum": 0, "maximum": SQLITE_INT_MAX,
                            "default": 0}},
            ],
            "responses": {
                "200": _answer("A page of broadcasts.",
                               {"$ref": "#/components/schemas/BroadcastList"}),
                "400": _error("limit or offset is not a whole number, or too large."),
                "401": {"$ref": "#/components/responses/Unauthorized"},
            },
        },
        "post": {
            "operationId": "createBroadcast",
            "summary": "Queue (or schedule) a broadcast to every active subscriber.",
            "description": ("The broadcast and one delivery per subscriber are stored before "
                            "the answer: from then on it survives any crash. Bad input is "
                            "answered 400 and nothing is queued."),
            "requestBody": {"required": True, "content": _json(
                {"$ref": "#/components/schemas/BroadcastRequest"})},
            "responses": {
                "202": _answer("Queued (or scheduled); the sender delivers it.",
                               {"$ref": "#/components/schemas/BroadcastCreated"}),
                "400": _error("Not JSON, or not a broadcast (the reason says why)."),
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "413": _error("The request is larger than 256 KiB."),
            },
        },
    },
    "/api/broadcasts/plan": {"post": {
        "operationId": "planBroadcast",
        "summary": "What a broadcast would do: time, reach today, cost, the month's budget.",
        "description": ("Takes exactly the body of POST /api/broadcasts, checked the same way "
                        "(the same 400s), and creates nothing."),
        "requestBody": {"required": True, "content": _json(
            {"$ref": "#/components/schemas/BroadcastRequest"})},
        "responses": {
            "200": _answer("The plan.", {"$ref": "#/components/schemas/Plan"}),
            "400": _error("Not JSON, or not a broadcast (the reason says why)."),
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": _error("The request is larger than 256 KiB."),
        },
    }},
    "/api/media": {"post": {
        "operationId": "uploadMedia",
        "summary": "Upload a picture, a video or a PDF for broadcasts.",
        "description": ("Checked and written anew: a picture's EXIF, GPS and camera data, a "
                        "video's tags (place, time, device) and a PDF's author, producer, "
                        "creator and XMP are dropped. The answer's URL is served publicly "
                        "(a PDF with its name in Content-Disposition, a video inline, with a "
                        "poster frame at <name>-poster.jpg), so that the platform can fetch "
                        "it; give it as media_url."),
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": {"$ref": "#/components/schemas/MediaUpload"}}}},
        "responses": {
            "201": _answer("Stored.", {"$ref": "#/components/schemas/Media"}),
            "400": _error("No field file, or not a JPEG or PNG picture of at most 5 MB, an "
                          "MP4 (H.264/AAC) or a PDF of at most 16 MB that can be read "
                          "within bounded time and memory (a renamed program, a truncated "
                          "video, a PDF that unpacks far beyond its size): the reason."),
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "413": _error("The request is larger than a 16 MB file may make it; refused "
                          "before it is read."),
        },
    }},
    "/api/topics": {"get": {
        "operationId": "listTopics",
        "summary": "The topics citizens can choose, and how many get each.",
        "responses": {
            "200": _answer("Counts only.", {"$ref": "#/components/schemas/TopicList"}),
            "401": {"$ref": "#/components/responses/Unauthorized"},
        },
    }},
    "/api/broadcasts/{broadcast_id}": {
        "get": {
            "operationId": "getBroadcast",
            "summary": "One broadcast: status, counts, errors, hints.",
            "parameters": [BROADCAST_ID],
            "responses": {
                "200": _answer("The broadcast.", {"$ref": "#/components/schemas/Broadcast"}),
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "404": _error("No such broadcast."),
            },
        },
        "patch": {
            "operationId": "editDraft",
            "summary": "Change a draft's text or urgency (a relayed warning in draft mode).",
            "description": (
                "The token may change any draft; a draft it did not write is marked as "
                "edited (edited: true), in the console and in the audit trail. Approving a "
                "broadcast that waits for approval is a person's decision and only possible "
                "in the console, where the approval names the exact version approved."),
            "parameters": [BROADCAST_ID],
            "requestBody": {"required": True, "content": _json(
                {"$ref": "#/components/schemas/DraftChange"})},
            "responses": {
                "200": _answer("The draft after the change.",
                               {"$ref": "#/components/schemas/Broadcast"}),
                "400": _error("Not JSON, or not a text or urgency a broadcast may have."),
                "401": {"$ref": "#/components/responses/Unauthorized"},
                "404": _error("No such broadcast."),
                "409": _error("Not a draft."),
                "413": _error("The request is larger than 256 KiB."),
            },
        },
    },
    "/api/broadcasts/{broadcast_id}/send": {"post": {
        "operationId": "sendDraft",
        "summary": "Send a draft to every subscriber now.",
        "parameters": [BROADCAST_ID],
        "responses": {
            "202": _answer("Queued; the sender delivers it.",
                           {"$ref": "#/components/schemas/Broadcast"}),
            "400": _error("Its text no longer fits the mode in use."),
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": _error("No such broadcast."),
            "409": _error("Not a draft."),
        },
    }},
    "/api/broadcasts/{broadcast_id}/correct": {"post": {
        "operationId": "correctBroadcast",
        "summary": "Send a correction (\"Berichtigung\") of a broadcast that went out.",
        "description": (
            "A new broadcast, to exactly the citizens the corrected one reached (sent, "
            "delivered or read) and who are still subscribed: not to anyone who joined later "
            "or left since. As urgent and as public as the corrected one; the public page and "
            "the feed link the two, the audit trail names the corrected one. Sent at once: "
            "the token never waits for approval. With translations, a subscriber of a further "
            "language gets the correction in it. The same text for the same broadcast again "
            "within ten minutes (a retry after a lost answer) is refused with 409 and the "
            "first correction's id in existing: nobody gets it twice."),
        "parameters": [BROADCAST_ID],
        "requestBody": {"required": True, "content": _json(
            {"$ref": "#/components/schemas/Correction"})},
        "responses": {
            "202": _answer("Queued; the sender delivers it.",
                           {"$ref": "#/components/schemas/CorrectionCreated"}),
            "400": _error("Not JSON, no text, a text or translation too long, a language "
                          "the channel does not speak, or fields besides text and "
                          "translations."),
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": _error("No such broadcast."),
            "409": _answer("Not sent yet (a draft, waiting for approval, planned), still "
                           "going out, or it reached nobody who is still subscribed; or the "
                           "same correction was written less than ten minutes ago (existing "
                           "names it).", {"$ref": "#/components/schemas/CorrectionRefused"}),
            "413": _error("The request is larger than 256 KiB."),
        },
    }},
    "/api/broadcasts/{broadcast_id}/discard": _broadcast_change(
        "Discard a draft: it is never sent.", "Not a draft."),
    "/api/broadcasts/{broadcast_id}/cancel": _broadcast_change(
        "Cancel what has not been sent yet.", "Already done or cancelled."),
    "/api/broadcasts/{broadcast_id}/resume": _broadcast_change(
        "Resume a paused broadcast: credentials fixed, data key set, or a text shortened.",
        "Not paused.", invalid="Its text or a translation is longer than the limit allows now "
        "(as the pause reason `text too long` said): shorten it first."),
    "/api/broadcasts/{broadcast_id}/poll/close": {"post": {
        "operationId": "closePoll",
        "summary": "Close a broadcast's poll: later taps no longer count.",
        "description": ("A citizen who taps an answer afterwards is told once that the poll "
                        "has ended. Recorded in the audit trail."),
        "parameters": [BROADCAST_ID],
        "responses": {
            "200": _answer("The broadcast with its final results (poll).",
                           {"$ref": "#/components/schemas/Broadcast"}),
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": _error("No such broadcast, or it asks nothing (no poll)."),
            "409": _error("The poll is already closed."),
        },
    }},
}


def document():
    """The OpenAPI document, as a dict (served as JSON)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Infokanal API",
            "version": VERSION,
            "description": ("The press office's API of a WhatsApp information channel. Every "
                            "endpoint but this document needs `Authorization: Bearer "
                            "<ADMIN_TOKEN>`. No answer ever contains a phone number."),
        },
        "security": [{"bearerToken": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearerToken": {
                "type": "http", "scheme": "bearer", "description": "ADMIN_TOKEN."}},
            "schemas": SCHEMAS,
            "responses": {"Unauthorized": UNAUTHORIZED},
        },
    }
