-- 050 Anshin Number: the database schema, the one source of truth.
SET client_min_messages = warning;
-- Limits from SPEC.md are enforced here (constraints and triggers), so they hold for every
-- app instance, the portal and the operator CLI alike.
-- Idempotent: safe to apply to an existing database (CREATE ... IF NOT EXISTS).

CREATE TABLE IF NOT EXISTS accounts (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Contact numbers an account receives its two-factor codes on (R-ACC-2).
CREATE TABLE IF NOT EXISTS contact_numbers (
    id         bigserial PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    number     text NOT NULL CHECK (number ~ '^0[0-9]{9,10}$'),
    label      text NOT NULL DEFAULT '',
    UNIQUE (account_id, number)
);

-- A subscriber's 050 number and its settings (one row per number; national format).
CREATE TABLE IF NOT EXISTS subscriber_numbers (
    number               text PRIMARY KEY CHECK (number ~ '^050[0-9]{8}$'),
    account_id           bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at           timestamptz NOT NULL DEFAULT now(),
    -- R-IN-1 非通知着信拒否 (default off)
    reject_anonymous     boolean NOT NULL DEFAULT false,
    -- R-IN-2 how a blocked caller is refused
    block_action         text NOT NULL DEFAULT 'announce' CHECK (block_action IN ('announce', 'busy')),
    -- R-IN-3 指定番号への接続
    forward_enabled      boolean NOT NULL DEFAULT false,
    forward_ring_seconds integer NOT NULL DEFAULT 20 CHECK (forward_ring_seconds BETWEEN 5 AND 60),
    forward_show_caller  text NOT NULL DEFAULT 'caller' CHECK (forward_show_caller IN ('caller', '050')),
    -- R-IN-4/5 voicemail center and its e-mail
    voicemail_enabled    boolean NOT NULL DEFAULT false,
    voicemail_pin_hash   text,
    notify_email         text CHECK (notify_email IS NULL OR notify_email ~ '^[^@\s]+@[^@\s]+$'),
    notify_only_recorded boolean NOT NULL DEFAULT false,
    attach_recording     boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS subscriber_numbers_account ON subscriber_numbers(account_id);

-- Up to 5 forwarding destinations per 050 number, at most one active (SPEC §6).
CREATE TABLE IF NOT EXISTS forward_destinations (
    id          bigserial PRIMARY KEY,
    number      text NOT NULL REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    destination text NOT NULL CHECK (destination ~ '^0[0-9]{9,10}$'),
    active      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (number, destination)
);
CREATE UNIQUE INDEX IF NOT EXISTS forward_destinations_one_active
    ON forward_destinations(number) WHERE active;

-- 指定番号着信拒否: up to 30 normalised numbers per 050 number (R-IN-2).
CREATE TABLE IF NOT EXISTS block_list (
    number     text NOT NULL REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    blocked    text NOT NULL CHECK (blocked ~ '^\+?[0-9]{2,20}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number, blocked)
);

-- Incoming-call history (R-IN-6). caller NULL = 非通知.
CREATE TABLE IF NOT EXISTS call_history (
    id          bigserial PRIMARY KEY,
    number      text NOT NULL REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    caller      text,
    caller_name text,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome     text NOT NULL DEFAULT 'received',
    channel_id  text
);
CREATE INDEX IF NOT EXISTS call_history_number_time ON call_history(number, received_at DESC);

-- Per-row limits, checked under a lock on the owning 050 number so that concurrent inserts
-- cannot both pass the count. SQLSTATE 'P0001' with a message the callers map to errors.
CREATE OR REPLACE FUNCTION anshin_enforce_limit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lim integer := TG_ARGV[0]::integer;
    n   integer;
BEGIN
    PERFORM 1 FROM subscriber_numbers WHERE number = NEW.number FOR UPDATE;
    EXECUTE format('SELECT count(*) FROM %I WHERE number = $1', TG_TABLE_NAME)
        INTO n USING NEW.number;
    IF n >= lim THEN
        RAISE EXCEPTION 'limit_exceeded:%:%', TG_TABLE_NAME, lim
            USING ERRCODE = 'P0001', HINT = 'anshin limit';
    END IF;
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS block_list_limit ON block_list;
CREATE TRIGGER block_list_limit BEFORE INSERT ON block_list
    FOR EACH ROW EXECUTE FUNCTION anshin_enforce_limit(30);

DROP TRIGGER IF EXISTS forward_destinations_limit ON forward_destinations;
CREATE TRIGGER forward_destinations_limit BEFORE INSERT ON forward_destinations
    FOR EACH ROW EXECUTE FUNCTION anshin_enforce_limit(5);

-- Calls seen by the app: which handler took them (operator view and tests).
CREATE TABLE IF NOT EXISTS call_log (
    id          bigserial PRIMARY KEY,
    channel_id  text NOT NULL,
    dialed      text NOT NULL,
    route       text NOT NULL,
    caller      text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    detail      text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS call_log_started ON call_log(started_at DESC);

-- ---------------------------------------------------------------------------------------------
-- Voicemail (R-IN-4, R-VM-*). The audio is stored in the database, so any app instance can
-- play it and nothing depends on files on one Asterisk box. At most 20 messages per number;
-- messages older than 168 h are deleted by the expiry job (rows and audio together).
CREATE TABLE IF NOT EXISTS voicemail_messages (
    id             bigserial PRIMARY KEY,
    number         text NOT NULL REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    caller         text,                       -- NULL = 非通知
    received_at    timestamptz NOT NULL DEFAULT now(),
    duration_ms    integer NOT NULL CHECK (duration_ms BETWEEN 0 AND 190000),
    heard          boolean NOT NULL DEFAULT false,
    audio          bytea NOT NULL,             -- WAV, 8 kHz 16-bit mono
    recording_name text UNIQUE                 -- Asterisk's recording name (idempotent saves)
);
CREATE INDEX IF NOT EXISTS voicemail_messages_playorder
    ON voicemail_messages(number, heard, received_at);
CREATE INDEX IF NOT EXISTS voicemail_messages_received ON voicemail_messages(received_at);

DROP TRIGGER IF EXISTS voicemail_messages_limit ON voicemail_messages;
CREATE TRIGGER voicemail_messages_limit BEFORE INSERT ON voicemail_messages
    FOR EACH ROW EXECUTE FUNCTION anshin_enforce_limit(20);

-- PIN attempts and lockout per mailbox, shared by both IVRs and every app instance (R-VM-2).
CREATE TABLE IF NOT EXISTS mailbox_lockouts (
    number          text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz
);

-- Transactional outbox for e-mail (R-IN-5): written in the same transaction as what it
-- reports; a sender loop delivers with retries, so a relay outage delays mail, never loses it.
CREATE TABLE IF NOT EXISTS mail_outbox (
    id              bigserial PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    to_addr         text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    attachment      bytea,
    attachment_name text,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text
);
CREATE INDEX IF NOT EXISTS mail_outbox_due ON mail_outbox(next_attempt_at) WHERE sent_at IS NULL;

-- Calls the app is asked to place (2FA voice codes, own-number verification, two-leg callback).
-- The portal inserts a row; any app instance takes it (FOR UPDATE SKIP LOCKED) when notified
-- on channel 'anshin_call_requests' or by polling; a request not taken in time fails visibly.
CREATE TABLE IF NOT EXISTS call_requests (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('twofa_voice', 'verify_own_number', 'callback')),
    account_id  bigint REFERENCES accounts(id) ON DELETE CASCADE,
    number      text REFERENCES subscriber_numbers(number) ON DELETE CASCADE, -- the 050 number
    leg1        text NOT NULL,              -- the number called first
    destination text,                       -- callback: the number called second
    code        text,                       -- 2FA code / verification code to speak or expect
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'taken', 'ringing', 'connected', 'completed',
                                  'failed', 'expired')),
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL DEFAULT now() + interval '30 seconds',
    taken_at    timestamptz,
    taken_by    text,
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS call_requests_pending ON call_requests(created_at) WHERE status = 'pending';

CREATE OR REPLACE FUNCTION anshin_notify_call_request() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('anshin_call_requests', NEW.id::text);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS call_requests_notify ON call_requests;
CREATE TRIGGER call_requests_notify AFTER INSERT ON call_requests
    FOR EACH ROW EXECUTE FUNCTION anshin_notify_call_request();
