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

-- migration: 0006_metrics
-- Counters behind the operator's metrics (GET /metrics): in the database, so that every web
-- worker answers the same, and read in one small query instead of counting deliveries. Totals
-- count from this migration on. Python code adds to them with store.counters.add (webhook
-- requests); the triggers below count what becomes of messages, on every path that moves a
-- delivery or a status (the send loop, cancel, expiry, status callbacks), however those paths
-- are written.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value NUMERIC NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO counters (name) VALUES ('messages_sent'), ('messages_delivered'), ('messages_read'),
    ('messages_failed'), ('messages_skipped'), ('status_lag_seconds_sum'), ('status_lag_count');

-- When the platform accepted the message (Unix time), set when the sender records it as sent:
-- the status callbacks' lag is measured from here.
ALTER TABLE deliveries ADD COLUMN sent_at REAL;

-- The sender's side: a delivery became sent, failed (refused before the platform took it) or
-- skipped. One that WhatsApp's messaging limit sent back to the queue and that went out again
-- counts as sent twice: the platform accepted it twice.
CREATE TRIGGER deliveries_count_outcome AFTER UPDATE OF state ON deliveries
WHEN NEW.state IN ('sent', 'failed', 'skipped') AND NEW.state IS NOT OLD.state
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'messages_' || NEW.state;
END;

CREATE TRIGGER deliveries_sent_at AFTER UPDATE OF state ON deliveries
WHEN NEW.state = 'sent' AND OLD.state IS NOT 'sent'
BEGIN
    UPDATE deliveries SET sent_at = (julianday('now') - 2440587.5) * 86400.0 WHERE id = NEW.id;
END;

-- The platform's side, from status callbacks: a message reported delivered (read implies it),
-- read, or failed, once each. A callback that would move a message backwards is not stored
-- (store.statuses), so it is not counted either.
CREATE TRIGGER message_status_count_first AFTER INSERT ON message_status
BEGIN
    UPDATE counters SET value = value + 1
        WHERE name = 'messages_delivered' AND NEW.status IN ('delivered', 'read');
    UPDATE counters SET value = value + 1 WHERE name = 'messages_read' AND NEW.status = 'read';
    UPDATE counters SET value = value + 1 WHERE name = 'messages_failed' AND NEW.status = 'failed';
    -- The lag from the send to the first status reported for it. A callback that came before
    -- the sender recorded the send (it happens: both run at once) counts with no lag.
    UPDATE counters SET value = value + coalesce(max(0.0, (julianday('now') - 2440587.5)
        * 86400.0 - (SELECT max(sent_at) FROM deliveries WHERE sid = NEW.sid)), 0.0)
        WHERE name = 'status_lag_seconds_sum';
    UPDATE counters SET value = value + 1 WHERE name = 'status_lag_count';
END;

CREATE TRIGGER message_status_count_change AFTER UPDATE OF status ON message_status
WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'messages_delivered'
        AND NEW.status IN ('delivered', 'read') AND OLD.status NOT IN ('delivered', 'read');
    UPDATE counters SET value = value + 1 WHERE name = 'messages_read' AND NEW.status = 'read';
    UPDATE counters SET value = value + 1 WHERE name = 'messages_failed' AND NEW.status = 'failed';
END;
