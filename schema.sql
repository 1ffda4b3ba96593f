-- Infokanal schema, as the migrations that build it. Each section headed "-- migration: NAME"
-- is applied once, in order, and recorded in the table _sqlite_migrations; the changes SQL
-- alone cannot make are Python migrations in bot/store/migrations.py, which also says where
-- they come in the order. A released section never changes: a change is a new section.
-- No phone number is stored in clear: `phone_hash` is an HMAC of the E.164 number (for finding
-- a citizen again), `phone_enc` its Fernet encryption (for sending), see bot/vault.py.

-- migration: 0001_initial
-- The schema of the releases before migrations existed. Every statement is safe on a database
-- one of them wrote (IF NOT EXISTS), which is how such a database joins the migrations.

-- The lookup key for phone_hash, wrapped (encrypted) under DATA_KEY.
CREATE TABLE IF NOT EXISTS app_keys (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Active subscribers only: a Stop deletes the row.
CREATE TABLE IF NOT EXISTS subscribers (
    id INTEGER PRIMARY KEY,
    phone_hash TEXT NOT NULL UNIQUE,
    phone_enc TEXT NOT NULL,
    subscribed_at TEXT NOT NULL
);

-- Proof of consent and of its withdrawal, kept under the hash only.
CREATE TABLE IF NOT EXISTS consent_events (
    id INTEGER PRIMARY KEY,
    phone_hash TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('subscribe', 'unsubscribe')),
    keyword TEXT NOT NULL,
    message_sid TEXT,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS consent_events_phone_hash ON consent_events (phone_hash);
CREATE INDEX IF NOT EXISTS consent_events_at ON consent_events (at);

-- Webhook deduplication: a replayed message id fails the primary key.
-- WITHOUT ROWID and no index on received_at: one B-tree to write per webhook; the daily
-- retention cleanup can afford a scan.
CREATE TABLE IF NOT EXISTS inbound_messages (
    message_sid TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
) WITHOUT ROWID;

-- When the auto-notice last went to a sender (by hash), for the once-per-window throttle.
CREATE TABLE IF NOT EXISTS notice_throttle (
    phone_hash TEXT PRIMARY KEY,
    sent_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS broadcasts (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    media_url TEXT,
    status TEXT NOT NULL CHECK (status IN
        ('scheduled', 'queued', 'sending', 'paused', 'done', 'cancelled')),
    urgent INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    send_at TEXT,
    expires_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    recipients INTEGER NOT NULL DEFAULT 0,
    -- why it is paused, and when the sender may resume it by itself (NULL: only by hand)
    pause_reason TEXT,
    resume_at TEXT,
    -- sends retried after an unknown outcome (5xx, timeout, crash): possible duplicates
    retries_unknown INTEGER NOT NULL DEFAULT 0,
    created_by TEXT
);
CREATE INDEX IF NOT EXISTS broadcasts_status ON broadcasts (status);

-- One row per recipient of a broadcast. `state` is the sender's side of the story; what Twilio
-- reports later lives in message_status, keyed by the sid.
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    broadcast_id INTEGER NOT NULL REFERENCES broadcasts (id),
    subscriber_id INTEGER,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN
        ('queued', 'sending', 'sent', 'failed', 'skipped')),
    sid TEXT,
    error_code TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries (broadcast_id, state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_sid ON deliveries (sid);
CREATE INDEX IF NOT EXISTS deliveries_subscriber ON deliveries (subscriber_id);

-- The platform's status callbacks, highest status kept. Written by the web app independently
-- of the sender, because a callback can arrive before the sender has recorded the sid.
CREATE TABLE IF NOT EXISTS message_status (
    sid TEXT PRIMARY KEY,
    rank INTEGER NOT NULL,
    status TEXT NOT NULL,
    error_code TEXT,
    updated_at TEXT NOT NULL
);

-- Demo mode: what would have gone to Twilio. Numbers only as hash and masked form.
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    to_hash TEXT NOT NULL,
    to_masked TEXT NOT NULL,
    body TEXT NOT NULL,
    media_url TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('reply', 'broadcast')),
    broadcast_id INTEGER,
    sid TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_to_hash ON outbox (to_hash);

-- Press officers who sign in to the console (/admin). Created by the operator with
-- `flask --app wsgi users add NAME`; passwords only as Werkzeug hashes.
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Console sign-ins still open. A session cookie counts only while its row exists, so sign-out
-- (which deletes the row) ends it on the server, not only in the browser. Keyed by a hash of
-- the random id in the cookie.
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    ends_at TEXT NOT NULL
) WITHOUT ROWID;

-- Failed sign-ins, one row each, keyed by account name or by a keyed hash of the client
-- address. In the database (not in memory) so that every gunicorn worker sees the same count.
CREATE TABLE IF NOT EXISTS signin_failures (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signin_failures_key_at ON signin_failures (key, at);

-- Small facts the service keeps about itself, e.g. when the retention cleanup last ran.
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- migration: 0002_error_kinds
-- What went wrong, in our own vocabulary (bot/vocabulary.py), next to the platform's code:
-- storage and the sender decide by the kind, the API still counts by the code. Rows written
-- before get their kind from the Python migration that follows.
ALTER TABLE deliveries ADD COLUMN error_kind TEXT;
ALTER TABLE message_status ADD COLUMN error_kind TEXT;
DROP INDEX IF EXISTS message_status_opted_out;
-- Opt-outs reported by callbacks, found again cheaply by the sender.
CREATE INDEX message_status_opted_out ON message_status (sid) WHERE error_kind = 'opted_out';

-- migration: 0004_delivery_receipts
-- The furthest status the platform reported for a delivery whose message id was forgotten
-- (retention, erasure): the counts read it when there is no message_status row to join. For a
-- failure, the callback's error code and kind go into the delivery's error_code/error_kind.
ALTER TABLE deliveries ADD COLUMN receipt TEXT;

-- migration: 0006_subscriber_departures
-- How many subscriptions have ended so far (Stop, a platform opt-out, an erasure), counted by
-- the database itself whatever deleted the row. The sender reads the recipients of a whole
-- batch at once and, right before each message, only this number: when it moved, it reads
-- again who is still subscribed, so a Stop still wins over a message already claimed.
CREATE TABLE subscriber_departures (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL
);
INSERT INTO subscriber_departures (id, count) VALUES (1, 0);
CREATE TRIGGER subscribers_departed AFTER DELETE ON subscribers
BEGIN
    UPDATE subscriber_departures SET count = count + 1 WHERE id = 1;
END;

-- migration: 0007_counted_deliveries
-- The furthest status the platform reported now lives on the delivery itself (receipt and its
-- rank), written by the status callbacks; message_status keeps only reports for message ids
-- no delivery has yet (a callback faster than the sender's write). And every broadcast's
-- counts are kept up to date in delivery_counts, a row per count: the count's "bucket"
-- (queued, sent, delivered, read, failed, skipped), with the error code and kind of a failure
-- and the reason of a skip. Reading a broadcast's counts reads a handful of rows instead of
-- every delivery, however many there are: on a storm night the console asks once a second.
ALTER TABLE deliveries ADD COLUMN receipt_rank INTEGER;
ALTER TABLE deliveries ADD COLUMN receipt_at TEXT;
-- Which count a delivery is in: the sender's state while queued, failed or skipped; once sent,
-- the furthest status reported for it.
ALTER TABLE deliveries ADD COLUMN bucket TEXT GENERATED ALWAYS AS (
    CASE WHEN state IN ('queued', 'sending') THEN 'queued'
         WHEN state IN ('failed', 'skipped') THEN state
         ELSE coalesce(receipt, 'sent') END) VIRTUAL;
ALTER TABLE deliveries ADD COLUMN bucket_code TEXT GENERATED ALWAYS AS (
    CASE WHEN state IN ('failed', 'skipped') OR (state = 'sent' AND receipt = 'failed')
         THEN coalesce(error_code, '') ELSE '' END) VIRTUAL;
ALTER TABLE deliveries ADD COLUMN bucket_kind TEXT GENERATED ALWAYS AS (
    CASE WHEN state = 'failed' OR (state = 'sent' AND receipt = 'failed')
         THEN coalesce(error_kind, '') ELSE '' END) VIRTUAL;
CREATE TABLE delivery_counts (
    broadcast_id INTEGER NOT NULL,
    bucket TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    n INTEGER NOT NULL,
    PRIMARY KEY (broadcast_id, bucket, code, kind)
) WITHOUT ROWID;

-- migration: 0009_keep_delivery_counts
-- A delivery that moves from one count to another moves its broadcast's numbers with it, in
-- the same transaction, whatever moved it. New deliveries are counted by the INSERT … SELECT
-- that makes them (store/broadcasts.py).
CREATE TRIGGER deliveries_recount AFTER UPDATE OF state, receipt, error_code, error_kind
ON deliveries
WHEN (old.bucket, old.bucket_code, old.bucket_kind)
     IS NOT (new.bucket, new.bucket_code, new.bucket_kind)
BEGIN
    UPDATE delivery_counts SET n = n - 1
        WHERE (broadcast_id, bucket, code, kind)
            = (old.broadcast_id, old.bucket, old.bucket_code, old.bucket_kind);
    INSERT INTO delivery_counts (broadcast_id, bucket, code, kind, n)
        VALUES (new.broadcast_id, new.bucket, new.bucket_code, new.bucket_kind, 1)
        ON CONFLICT (broadcast_id, bucket, code, kind) DO UPDATE SET n = n + 1;
END;

-- migration: 0010_broadcast_drafts
-- A broadcast may be a draft, written by the warnings relay for the press office to edit and
-- send, or to discard. SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt the way SQLite's documentation does it: new table, copy, drop the old one, rename.
-- bot/store/migrations.py runs this section with foreign keys off (dropping the old table
-- would otherwise fail for the deliveries that refer to it) and checks them before it commits.
CREATE TABLE broadcasts_with_drafts (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    media_url TEXT,
    status TEXT NOT NULL CHECK (status IN
        ('draft', 'scheduled', 'queued', 'sending', 'paused', 'done', 'cancelled', 'discarded')),
    urgent INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    send_at TEXT,
    expires_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    recipients INTEGER NOT NULL DEFAULT 0,
    -- why it is paused, and when the sender may resume it by itself (NULL: only by hand)
    pause_reason TEXT,
    resume_at TEXT,
    -- sends retried after an unknown outcome (5xx, timeout, crash): possible duplicates
    retries_unknown INTEGER NOT NULL DEFAULT 0,
    created_by TEXT
);
INSERT INTO broadcasts_with_drafts (id, text, media_url, status, urgent, created_at, send_at,
    expires_at, started_at, finished_at, recipients, pause_reason, resume_at, retries_unknown,
    created_by)
SELECT id, text, media_url, status, urgent, created_at, send_at, expires_at, started_at,
    finished_at, recipients, pause_reason, resume_at, retries_unknown, created_by
FROM broadcasts;
DROP TABLE broadcasts;
-- The references of deliveries to "broadcasts" stay as they are and now name the new table.
PRAGMA legacy_alter_table = ON;
ALTER TABLE broadcasts_with_drafts RENAME TO broadcasts;
PRAGMA legacy_alter_table = OFF;
CREATE INDEX broadcasts_status ON broadcasts (status);

-- migration: 0011_relayed_warnings
-- What the warnings relay passed on from the federal warning feed (NINA), so that nothing goes
-- out twice, also across restarts and upgrades. One row per revision of a warning that the
-- relay acted on (a broadcast, a draft, or knowingly nothing), and one per all-clear. No
-- personal data: warnings are public, and no row names a citizen.
CREATE TABLE relayed_warnings (
    id INTEGER PRIMARY KEY,
    -- the feed's id of the warning, and which revision of it (the feed's version and hash)
    warning_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    hash TEXT NOT NULL,
    -- the warning id the chain began with: updates and cancels may come under ids of their own
    thread TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('alert', 'update', 'all_clear')),
    provider TEXT NOT NULL,
    severity TEXT NOT NULL,
    headline TEXT NOT NULL,
    -- the broadcast (sent or draft); NULL when there was nothing to tell citizens
    broadcast_id INTEGER REFERENCES broadcasts (id),
    created_at TEXT NOT NULL,
    -- the last poll that found warning_id on the dashboard
    last_seen TEXT NOT NULL
);
-- Each revision is acted on once, and each chain ends with one all-clear at most: a second try
-- (a restart in the middle of a poll, a bug) fails here instead of reaching citizens again.
CREATE UNIQUE INDEX relayed_warnings_revision ON relayed_warnings (warning_id, version, hash)
    WHERE kind != 'all_clear';
CREATE UNIQUE INDEX relayed_warnings_all_clear ON relayed_warnings (thread)
    WHERE kind = 'all_clear';
CREATE INDEX relayed_warnings_thread ON relayed_warnings (thread);
CREATE INDEX relayed_warnings_broadcast ON relayed_warnings (broadcast_id);

-- migration: 0012_topics_and_languages
-- What a citizen chose. all_topics = 1: everything, also topics added later (every subscriber
-- before topics existed); otherwise the topics in subscriber_topics. language: the one their
-- replies and broadcasts come in, NULL for the main language.
ALTER TABLE subscribers ADD COLUMN all_topics INTEGER NOT NULL DEFAULT 1;
ALTER TABLE subscribers ADD COLUMN language TEXT;
CREATE TABLE subscriber_topics (
    subscriber_id INTEGER NOT NULL,
    topic TEXT NOT NULL,
    PRIMARY KEY (subscriber_id, topic)
) WITHOUT ROWID;
CREATE INDEX subscriber_topics_topic ON subscriber_topics (topic, subscriber_id);
CREATE TRIGGER subscribers_topics_gone AFTER DELETE ON subscribers
BEGIN
    DELETE FROM subscriber_topics WHERE subscriber_id = old.id;
END;
-- Leaving a topic narrows what someone gets, as leaving the channel does: the sender looks
-- again at who of its batch still gets the broadcast (see 0006).
CREATE TRIGGER subscriber_topics_left AFTER DELETE ON subscriber_topics
BEGIN
    UPDATE subscriber_departures SET count = count + 1 WHERE id = 1;
END;
CREATE TRIGGER subscribers_narrowed AFTER UPDATE OF all_topics ON subscribers
WHEN old.all_topics = 1 AND new.all_topics = 0
BEGIN
    UPDATE subscriber_departures SET count = count + 1 WHERE id = 1;
END;
-- Which topic a Start or Stop was for (NULL: the whole channel).
ALTER TABLE consent_events ADD COLUMN topic TEXT;
-- A broadcast's topics (JSON list of slugs; NULL: for subscribers of everything) and its
-- texts in further languages (JSON {code: text}).
ALTER TABLE broadcasts ADD COLUMN topics TEXT;
ALTER TABLE broadcasts ADD COLUMN translations TEXT;

-- migration: 0013_metrics
-- Counters behind the operator's metrics (GET /metrics): in the database, so that every web
-- worker answers the same, and read in one small query instead of counting deliveries. Totals
-- count from this migration on. Python code adds to them with store.counters.add (webhook
-- requests); the triggers below count what becomes of messages on every path that moves a
-- delivery (the send loop, cancel, expiry, status callbacks), however those are written.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value NUMERIC NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO counters (name) VALUES ('messages_sent'), ('messages_delivered'), ('messages_read'),
    ('messages_failed'), ('messages_skipped'), ('status_lag_seconds_sum'), ('status_lag_count');

-- When the platform accepted the message (Unix time), written by the sender with the message
-- id: the status callbacks' lag is measured from here.
ALTER TABLE deliveries ADD COLUMN sent_at REAL;

-- The sender's side: a delivery became sent, failed (refused before the platform took it) or
-- skipped. One that WhatsApp's messaging limit sent back to the queue and that went out again
-- counts as sent twice: the platform accepted it twice.
CREATE TRIGGER deliveries_count_outcome AFTER UPDATE OF state ON deliveries
WHEN NEW.state IN ('sent', 'failed', 'skipped') AND NEW.state IS NOT OLD.state
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'messages_' || NEW.state;
END;

-- The platform's side, from status callbacks (the receipt on the delivery): a message reported
-- delivered (read implies it), read, or failed, once each; a report that would move a message
-- backwards is not stored (store.statuses), so it is not counted either.
CREATE TRIGGER deliveries_count_receipt AFTER UPDATE OF receipt ON deliveries
WHEN NEW.receipt IS NOT OLD.receipt AND NEW.receipt IN ('delivered', 'read', 'failed')
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'messages_delivered'
        AND NEW.receipt IN ('delivered', 'read')
        AND coalesce(OLD.receipt, '') NOT IN ('delivered', 'read');
    UPDATE counters SET value = value + 1 WHERE name = 'messages_read' AND NEW.receipt = 'read';
    UPDATE counters SET value = value + 1 WHERE name = 'messages_failed'
        AND NEW.receipt = 'failed';
END;

-- The lag from the send to the first status reported for it. A report that came before the
-- sender recorded the send (it happens: both run at once) counts with no lag.
CREATE TRIGGER deliveries_count_lag AFTER UPDATE OF receipt ON deliveries
WHEN OLD.receipt IS NULL AND NEW.receipt IS NOT NULL
BEGIN
    UPDATE counters SET value = value + coalesce(max(0.0, (julianday('now') - 2440587.5)
        * 86400.0 - NEW.sent_at), 0.0) WHERE name = 'status_lag_seconds_sum';
    UPDATE counters SET value = value + 1 WHERE name = 'status_lag_count';
END;

-- migration: 0014_user_roles
-- What an account may do in the console: editor (write, never send), publisher (also send,
-- cancel, approve), admin (also accounts and the audit trail). Accounts made before roles
-- existed could do everything, so they become admin; a row written without a role gets the
-- least one.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'editor'
    CHECK (role IN ('editor', 'publisher', 'admin'));
UPDATE users SET role = 'admin';

-- migration: 0015_broadcast_approval
-- A broadcast may wait for a second publisher's approval (awaiting_approval, with who asked and
-- when), and may be kept off the public page and feed (public = 0), from the start or later.
-- The status list is a CHECK constraint, so the table is rebuilt as in 0010 (with foreign keys
-- off, checked before the commit; see bot/store/migrations.py).
CREATE TABLE broadcasts_with_approval (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    media_url TEXT,
    status TEXT NOT NULL CHECK (status IN
        ('draft', 'awaiting_approval', 'scheduled', 'queued', 'sending', 'paused', 'done',
         'cancelled', 'discarded')),
    urgent INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    send_at TEXT,
    expires_at TEXT,
    started_at TEXT,
    finished_at TEXT,
    recipients INTEGER NOT NULL DEFAULT 0,
    -- why it is paused, and when the sender may resume it by itself (NULL: only by hand)
    pause_reason TEXT,
    resume_at TEXT,
    -- sends retried after an unknown outcome (5xx, timeout, crash): possible duplicates
    retries_unknown INTEGER NOT NULL DEFAULT 0,
    created_by TEXT,
    topics TEXT,
    translations TEXT,
    -- shown on the public page and in the feed once it went out
    public INTEGER NOT NULL DEFAULT 1,
    -- the account that asked for approval, when; and the one that gave it, when
    requested_by TEXT,
    requested_at TEXT,
    approved_by TEXT,
    approved_at TEXT
);
INSERT INTO broadcasts_with_approval (id, text, media_url, status, urgent, created_at, send_at,
    expires_at, started_at, finished_at, recipients, pause_reason, resume_at, retries_unknown,
    created_by, topics, translations)
SELECT id, text, media_url, status, urgent, created_at, send_at, expires_at, started_at,
    finished_at, recipients, pause_reason, resume_at, retries_unknown, created_by, topics,
    translations
FROM broadcasts;
DROP TABLE broadcasts;
PRAGMA legacy_alter_table = ON;
ALTER TABLE broadcasts_with_approval RENAME TO broadcasts;
PRAGMA legacy_alter_table = OFF;
CREATE INDEX broadcasts_status ON broadcasts (status);

-- migration: 0016_audit_trail
-- Who did what, append-only: sign-ins, broadcasts created, approved, sent, cancelled, accounts
-- changed, operator commands, relayed warnings. actor: an account name, "api" (the token), "cli"
-- (an operator command) or "nina" (the warnings relay). Never a phone number or a password.
-- Each entry's hash covers its content and the previous entry's hash (bot/store/audit.py), so
-- an entry changed or removed afterwards breaks the chain from there on.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    details TEXT NOT NULL DEFAULT '{}',
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
-- The application never changes an entry; it removes old ones only in the retention cleanup,
-- which announces that in meta (audit_pruning) inside its own transaction and moves the
-- chain's anchor (audit_anchor) with them.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM meta WHERE name = 'audit_pruning')
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only');
END;

-- migration: 0017_media
-- Pictures the press office uploaded, re-encoded without their metadata (EXIF, GPS, camera),
-- served publicly under /media/<name> so that the platform can fetch them. The name is a hash
-- of the stored bytes, so the same picture is stored once and a URL never changes meaning. An
-- ordinary (rowid) table: its rows are large, which WITHOUT ROWID tables handle badly.
CREATE TABLE media (
    name TEXT PRIMARY KEY,
    content_type TEXT NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png')),
    data BLOB NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

-- migration: 0018_audit_aggregation
-- Failed console sign-ins, counted per account name (or "unknown") and client address (a
-- keyed hash) while their window is open: SIGNIN_LOCK_MINUTES from the first failure. The
-- audit trail gets one entry per window, with the counts, when the window ends (or a sign-in
-- from that address ends it); the row then goes. Attempts while sign-in is locked only count
-- here, so a flood of guesses adds a few rows an hour to the trail, not one per guess.
CREATE TABLE signin_failure_windows (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL,
    address TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0,
    UNIQUE (actor, address, started_at)
);
CREATE INDEX signin_failure_windows_open ON signin_failure_windows (actor, address, ends_at);
CREATE INDEX signin_failure_windows_ends ON signin_failure_windows (ends_at);

-- migration: 0019_approval_binding
-- Who changed a draft that someone else wrote, and when: a relayed official warning edited by
-- the press office keeps its source badge, so the console must say that its text is no longer
-- the authority's own. NULL: nobody but its author changed it.
ALTER TABLE broadcasts ADD COLUMN edited_by TEXT;
ALTER TABLE broadcasts ADD COLUMN edited_at TEXT;

-- migration: 0020_relay_cap
-- A relayed warning's broadcast that would have gone out by itself but is a draft because
-- one poll of the feed may send only so many (WARNINGS_MAX_PER_POLL): the console says so.
ALTER TABLE relayed_warnings ADD COLUMN held_back INTEGER NOT NULL DEFAULT 0;

-- migration: 0021_replies
-- Answers to citizens waiting to be sent by the worker, on a platform that takes no answer in
-- the webhook's response (Meta's Cloud API has no TwiML): queued in the same transaction that
-- handled the citizen's message, before the webhook is answered, and sent ahead of broadcasts.
-- The number is kept encrypted, as a subscriber's is, and the row goes once it is sent or has
-- failed for good (what is left of it is the counters).
CREATE TABLE replies (
    id INTEGER PRIMARY KEY,
    phone_hash TEXT NOT NULL,
    phone_enc TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX replies_due ON replies (state, next_attempt_at, id);

-- migration: 0022_citizen_cap_retries
-- Sends the platform held back because the citizen had their share of such messages from
-- businesses lately (its cap per citizen): tried again hours later, never a possible
-- duplicate and never the citizen's fault, so counted apart from retries_unknown.
ALTER TABLE broadcasts ADD COLUMN retries_citizen_cap INTEGER NOT NULL DEFAULT 0;

-- migration: 0023_recent_reach
-- When each citizen last got a message from us (Unix time, as deliveries.sent_at): WhatsApp's
-- messaging limit counts the different people a business reached in a rolling 24 hours, and a
-- broadcast's plan counts them before it goes, in one pass over the subscribers (at 100,000
-- of them within a fraction of a second, however many broadcasts went out that day). Kept by
-- the database itself whatever moves a delivery: a message the platform took counts; one the
-- messaging limit sent back to the queue did not reach anyone, so the citizen's time goes back
-- to their last message that did.
ALTER TABLE subscribers ADD COLUMN reached_at REAL;
UPDATE subscribers SET reached_at = (SELECT max(sent_at) FROM deliveries
    WHERE deliveries.subscriber_id = subscribers.id AND state = 'sent');
CREATE TRIGGER deliveries_reached AFTER UPDATE OF state ON deliveries
WHEN new.state = 'sent' AND old.state != 'sent' AND new.subscriber_id IS NOT NULL
BEGIN
    UPDATE subscribers SET reached_at = max(coalesce(reached_at, 0), new.sent_at)
        WHERE id = new.subscriber_id;
END;
CREATE TRIGGER deliveries_not_reached AFTER UPDATE OF state ON deliveries
WHEN old.state = 'sent' AND new.state != 'sent' AND new.subscriber_id IS NOT NULL
BEGIN
    UPDATE subscribers SET reached_at = (SELECT max(sent_at) FROM deliveries
        WHERE subscriber_id = new.subscriber_id AND state = 'sent') WHERE id = new.subscriber_id;
END;
-- Citizens who left still count for the rest of their 24 hours: the time alone, nothing of who
-- (a citizen who comes back is a new subscriber, and may count twice: the plan errs towards
-- too few, never too many). What is older than a day goes with the next departure.
CREATE TABLE departed_reach (at REAL NOT NULL);
CREATE INDEX departed_reach_at ON departed_reach (at);
INSERT INTO departed_reach (at) SELECT sent_at FROM deliveries
    WHERE state = 'sent' AND subscriber_id IS NULL
    AND sent_at >= CAST(strftime('%s', 'now') AS REAL) - 86400;
CREATE TRIGGER subscribers_reached_left AFTER DELETE ON subscribers
WHEN old.reached_at IS NOT NULL
BEGIN
    DELETE FROM departed_reach WHERE at < CAST(strftime('%s', 'now') AS REAL) - 86400;
    INSERT INTO departed_reach (at) SELECT old.reached_at
        WHERE old.reached_at >= CAST(strftime('%s', 'now') AS REAL) - 86400;
END;

-- migration: 0024_message_usage
-- What the month's messages cost is estimated from what was delivered, by the category of the
-- template each went out with, so that a later change of TEMPLATE_CATEGORY or of the prices
-- does not rewrite the past. A broadcast keeps the category of its main language's template
-- as it was written (NULL: written before this migration, priced as the main category is
-- now), and, for further languages whose template is of another category, {code: category};
-- a delivery keeps a category only where it differs from its broadcast's (a citizen of such
-- a language), so that most rows carry nothing more.
ALTER TABLE broadcasts ADD COLUMN category TEXT;
ALTER TABLE broadcasts ADD COLUMN language_categories TEXT;
ALTER TABLE deliveries ADD COLUMN category TEXT;
-- The broadcast went (or waits to go) beyond MONTHLY_BUDGET: the console marks it, and one
-- waiting for approval with it waits for an admin (bot/domain/budget.py).
ALTER TABLE broadcasts ADD COLUMN over_budget INTEGER NOT NULL DEFAULT 0;
-- Messages delivered, per UTC hour (YYYY-MM-DDTHH, so that a calendar month in any time
-- zone with whole-hour offsets is a range of rows), per broadcast and category; answers to
-- citizens under broadcast_id 0 and category 'service'. Counts only: no number, no text.
-- Kept by the trigger below for broadcasts and by store.usage for answers, however long the
-- deliveries themselves are kept.
CREATE TABLE message_usage (
    hour TEXT NOT NULL,
    broadcast_id INTEGER NOT NULL,
    category TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (hour, broadcast_id, category)
) WITHOUT ROWID;
-- What was delivered before this migration counts too: a county that upgrades in the middle
-- of a month has spent what it spent. Each delivered (or read) message in the UTC hour of its
-- receipt (the time it was sent where the receipt's is missing; either may be ISO text or
-- Unix time), in the main category of today (''), since no category was kept then. Answers
-- to citizens were not counted before: they are missing from that month.
INSERT INTO message_usage (hour, broadcast_id, category, n)
    SELECT hour, broadcast_id, '', count(*) FROM (
        SELECT broadcast_id, coalesce(
            CASE WHEN receipt_at GLOB '[0-9][0-9][0-9][0-9]-*'
                 THEN strftime('%Y-%m-%dT%H', receipt_at)
                 ELSE strftime('%Y-%m-%dT%H', receipt_at, 'unixepoch') END,
            CASE WHEN sent_at GLOB '[0-9][0-9][0-9][0-9]-*' THEN strftime('%Y-%m-%dT%H', sent_at)
                 ELSE strftime('%Y-%m-%dT%H', sent_at, 'unixepoch') END) AS hour
        FROM deliveries WHERE receipt IN ('delivered', 'read'))
    WHERE hour IS NOT NULL
    GROUP BY hour, broadcast_id;
-- A message the platform reported delivered (or read, which implies it), once: what the
-- platform charges for. '' is the category of a broadcast written before the categories were
-- kept.
CREATE TRIGGER deliveries_count_usage AFTER UPDATE OF receipt ON deliveries
WHEN NEW.receipt IN ('delivered', 'read')
     AND coalesce(OLD.receipt, '') NOT IN ('delivered', 'read')
BEGIN
    INSERT INTO message_usage (hour, broadcast_id, category, n)
        VALUES (strftime('%Y-%m-%dT%H', 'now'), NEW.broadcast_id,
                coalesce(NEW.category,
                         (SELECT category FROM broadcasts WHERE id = NEW.broadcast_id), ''), 1)
        ON CONFLICT (hour, broadcast_id, category) DO UPDATE SET n = n + 1;
END;

-- migration: 0025_reactions_corrections
-- Citizens' emoji reactions to broadcasts: one per citizen and broadcast (a new emoji replaces
-- the old one, taking it back removes the row), under the citizen's keyed lookup hash, never the
-- number. The hash goes (NULL) when the citizen leaves or is erased, and when the broadcast's
-- deliveries are forgotten (bot/store/retention.py): the emoji stays, so the counts do not move,
-- but nothing leads back to who reacted. SQLite's unique index lets any number of such rows be.
CREATE TABLE reactions (
    id INTEGER PRIMARY KEY,
    broadcast_id INTEGER NOT NULL REFERENCES broadcasts (id),
    phone_hash TEXT,
    emoji TEXT NOT NULL,
    reacted_at TEXT NOT NULL
);
CREATE UNIQUE INDEX reactions_one_each ON reactions (broadcast_id, phone_hash);
CREATE INDEX reactions_phone_hash ON reactions (phone_hash) WHERE phone_hash IS NOT NULL;
-- Whoever leaves (Stop, an opt-out at the platform, an erasure) is no longer linked to their
-- reactions, as they are no longer linked to their deliveries; the counts stay.
CREATE TRIGGER subscribers_reactions_unlinked AFTER DELETE ON subscribers
BEGIN
    UPDATE reactions SET phone_hash = NULL WHERE phone_hash = old.phone_hash;
END;
-- A correction ("Berichtigung") is a broadcast of its own that names the one it corrects: it
-- goes to exactly those whom that one reached, and the archive shows the two together.
ALTER TABLE broadcasts ADD COLUMN corrects INTEGER REFERENCES broadcasts (id);
CREATE INDEX broadcasts_corrects ON broadcasts (corrects) WHERE corrects IS NOT NULL;

-- migration: 0026_polls
-- A broadcast that asks a question: its two or three answers (a JSON list of texts, in the
-- order of the buttons), and when the press office closed it (NULL: still open).
CREATE TABLE polls (
    broadcast_id INTEGER PRIMARY KEY REFERENCES broadcasts (id),
    answers TEXT NOT NULL,
    closed_at TEXT
);
-- One vote per citizen per poll, under the citizen's keyed lookup hash (never the number); a
-- later tap changes the answer. ``voter`` becomes NULL when the citizen's data is erased or the
-- broadcast's deliveries are forgotten (retention): the vote still counts, nobody's it is.
-- ``closed_told``: the citizen was told once that the poll is closed.
CREATE TABLE poll_votes (
    id INTEGER PRIMARY KEY,
    broadcast_id INTEGER NOT NULL REFERENCES polls (broadcast_id),
    voter TEXT,
    answer INTEGER,
    voted_at TEXT,
    closed_told INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX poll_votes_voter ON poll_votes (broadcast_id, voter);
CREATE INDEX poll_votes_by_voter ON poll_votes (voter);
-- The results are counted from this index alone, however many voted.
CREATE INDEX poll_votes_answers ON poll_votes (broadcast_id, answer);

-- migration: 0027_media_kinds
-- Besides pictures, a broadcast may carry one video (MP4: H.264 and AAC, written anew without
-- its metadata) or one PDF (rebuilt from its pages without author, producer and XMP). A
-- video keeps its first frame as a JPEG (poster) for the console's preview and its length; a
-- PDF the name it was uploaded as (filename, what the citizen's phone shows) and its page
-- count. Width and height are a picture's or a video's, none for a PDF. SQLite cannot change
-- a CHECK constraint in place, so the table is rebuilt (nothing refers to it).
CREATE TABLE media_kinds (
    name TEXT PRIMARY KEY,
    content_type TEXT NOT NULL CHECK (content_type IN
        ('image/jpeg', 'image/png', 'video/mp4', 'application/pdf')),
    data BLOB NOT NULL,
    width INTEGER,
    height INTEGER,
    created_at TEXT NOT NULL,
    filename TEXT,
    pages INTEGER,
    seconds REAL,
    poster BLOB
);
INSERT INTO media_kinds (name, content_type, data, width, height, created_at)
SELECT name, content_type, data, width, height, created_at FROM media;
DROP TABLE media;
ALTER TABLE media_kinds RENAME TO media;

-- migration: 0030_event_receipts
-- The events of Twilio's Event Streams sink already stored, by the event's id: the sink
-- delivers at least once (it retries a post for up to four hours until answered 2xx, and may
-- send one twice), so a replayed event must change nothing. Kept a few days, far beyond the
-- sink's retries (``retention``).
CREATE TABLE IF NOT EXISTS event_receipts (
    event_id TEXT PRIMARY KEY,
    received_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_receipts_received ON event_receipts (received_at);

-- migration: 0031_privacy_links
-- Whoever leaves (Stop, an opt-out at the platform, an erasure) is no longer linked to their
-- poll votes, as to their reactions: the votes stay counted, nobody's they are; a mere "the
-- poll is closed" notice row goes. Votes of those who already left are unlinked here.
CREATE TRIGGER subscribers_votes_unlinked AFTER DELETE ON subscribers
BEGIN
    DELETE FROM poll_votes WHERE voter = old.phone_hash AND answer IS NULL;
    UPDATE poll_votes SET voter = NULL WHERE voter = old.phone_hash;
END;
DELETE FROM poll_votes WHERE answer IS NULL AND voter IS NOT NULL
    AND voter NOT IN (SELECT phone_hash FROM subscribers);
UPDATE poll_votes SET voter = NULL WHERE voter IS NOT NULL
    AND voter NOT IN (SELECT phone_hash FROM subscribers);
-- A reaction or vote keeps only its day (UTC, "2026-12-07"): nothing needs more than the
-- privacy export's date, and a time to the second would find the reaction's own message id in
-- the deduplication log (inbound_messages, which holds ids and times only, no hash), which the
-- platform resolves to the number, long after the hash went.
UPDATE reactions SET reacted_at = substr(reacted_at, 1, 10);
UPDATE poll_votes SET voted_at = substr(voted_at, 1, 10) WHERE voted_at IS NOT NULL;
-- A broadcast may leave out the readers of some languages (``skipped_languages``, a JSON list
-- of codes, '' for those who read the main language): an update of an official warning whose
-- text changed in one language only goes to that language's readers, not again to the others
-- with the text they already have. NULL: nobody is left out.
ALTER TABLE broadcasts ADD COLUMN skipped_languages TEXT;
