-- 050 Anshin Number: the database schema, readable whole.
SET client_min_messages = warning;
-- Limits from SPEC.md are enforced here (constraints and triggers), so they hold for every
-- app instance, the portal and the operator CLI alike.
-- Databases get this schema through the migrations in callflow/migrations/ (`python -m
-- callflow.migrate upgrade`, docs/operations.md), not by applying this file: a change here
-- needs a new migration, and tests/integration/test_migrations.py fails until the migrations
-- give exactly this schema (pg_dump of both compared).

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
-- Never a 050 number: it would loop through the carrier (callflow/store/forwarding.py).
CREATE TABLE IF NOT EXISTS forward_destinations (
    id          bigserial PRIMARY KEY,
    number      text NOT NULL REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    destination text NOT NULL CHECK (destination ~ '^0[0-9]{9,10}$' AND destination !~ '^050'),
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

-- A voicemail slot held for a caller from the greeting until the message is saved (or not
-- recorded): stored messages + unexpired reservations never exceed 20, so a caller who hears
-- the beep can always be stored (callflow/store/voicemail.py). Keyed by the recording name.
-- A crashed process's reservations lapse at expires_at (or are consumed by the recovery job
-- when it imports their recording).
CREATE TABLE IF NOT EXISTS voicemail_reservations (
    recording_name text PRIMARY KEY,
    number         text NOT NULL REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS voicemail_reservations_number
    ON voicemail_reservations(number, expires_at);

-- Wrong PINs and the 15-minute lock (R-VM-2), shared by both IVRs and every app instance, kept
-- per entered 050 number whether or not it is a mailbox: an unknown number is counted, locked
-- and forgotten exactly like a real one, so the IVRs cannot be used to find which numbers
-- exist (no foreign key on purpose). Wrong PINs are forgotten 24 h after the last one; the
-- expiry job deletes rows that no longer count (callflow/store/mailbox.py).
CREATE TABLE IF NOT EXISTS ivr_lockouts (
    number          text PRIMARY KEY CHECK (number ~ '^050[0-9]{8}$'),
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_failure_at timestamptz
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

-- あんしん発信: the subscriber's own phones (事前登録), usable as callback leg 1 only once
-- verified (the system called the number and the person confirmed on the keypad).
CREATE TABLE IF NOT EXISTS own_numbers (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    number      text NOT NULL CHECK (number ~ '^0[0-9]{9,10}$'),
    preferred   boolean NOT NULL DEFAULT false,
    verified_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, number)
);
CREATE UNIQUE INDEX IF NOT EXISTS own_numbers_one_preferred
    ON own_numbers(account_id) WHERE preferred;

-- Billing records for callback: one row per leg (R-OUT-3).
CREATE TABLE IF NOT EXISTS callback_legs (
    id               bigserial PRIMARY KEY,
    request_id       bigint NOT NULL REFERENCES call_requests(id) ON DELETE CASCADE,
    leg              smallint NOT NULL CHECK (leg IN (1, 2)),
    from_number      text NOT NULL,
    to_number        text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    answered_at      timestamptz,
    ended_at         timestamptz,
    result           text,
    billable_seconds integer,
    UNIQUE (request_id, leg)
);

-- ---------------------------------------------------------------------------------------------
-- Portal (issue 7): server-side sessions, two-factor codes, trusted browsers, login/2FA
-- lockouts, and the SMS outbox shown by the lab's SMS inbox. Secrets are stored hashed
-- (session and trusted-browser tokens as SHA-256, codes as HMAC-SHA-256).
CREATE TABLE IF NOT EXISTS portal_sessions (
    token_hash   text PRIMARY KEY,
    account_id   bigint REFERENCES accounts(id) ON DELETE CASCADE,
    stage        text NOT NULL DEFAULT 'anonymous'
                 CHECK (stage IN ('anonymous', 'password', 'full')),
    csrf_token   text NOT NULL,
    challenge_id bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '12 hours'
);
CREATE INDEX IF NOT EXISTS portal_sessions_expiry ON portal_sessions(expires_at);

CREATE TABLE IF NOT EXISTS twofa_challenges (
    id             bigserial PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact_number text NOT NULL,
    method         text NOT NULL CHECK (method IN ('sms', 'voice')),
    code_hash      text NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    sends          integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL DEFAULT now() + interval '10 minutes',
    used_at        timestamptz,
    cancelled_at   timestamptz
);
CREATE INDEX IF NOT EXISTS twofa_challenges_contact ON twofa_challenges(contact_number, created_at);

CREATE TABLE IF NOT EXISTS twofa_sends (
    id             bigserial PRIMARY KEY,
    account_id     bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact_number text NOT NULL,
    sent_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS twofa_sends_recent ON twofa_sends(contact_number, sent_at);

CREATE TABLE IF NOT EXISTS trusted_browsers (
    token_hash text PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL DEFAULT now() + interval '30 days'
);

-- Failures per key ('login:<email>', 'twofa:<account id>'); locked_until set at the limit.
CREATE TABLE IF NOT EXISTS portal_lockouts (
    key          text PRIMARY KEY,
    failures     integer NOT NULL DEFAULT 0,
    window_start timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz
);

CREATE TABLE IF NOT EXISTS sms_outbox (
    id         bigserial PRIMARY KEY,
    to_number  text NOT NULL,
    body       text NOT NULL,
    provider   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    status     text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed'))
);

-- ---------------------------------------------------------------------------------------------
-- あんしん発信 (callback), request worker: fraud limits and indexes (owned by callflow/callback).
-- At most one active callback per 050 number, whatever instance or portal inserts it.
CREATE UNIQUE INDEX IF NOT EXISTS call_requests_one_active_callback
    ON call_requests(number)
    WHERE kind = 'callback' AND status IN ('pending', 'taken', 'ringing', 'connected');
-- Per-account attempt caps count recent requests.
CREATE INDEX IF NOT EXISTS call_requests_account_time ON call_requests(account_id, created_at);
CREATE INDEX IF NOT EXISTS call_requests_active
    ON call_requests(taken_at) WHERE status IN ('taken', 'ringing', 'connected');
CREATE INDEX IF NOT EXISTS own_numbers_account ON own_numbers(account_id);
CREATE INDEX IF NOT EXISTS callback_legs_created ON callback_legs(created_at);

-- Per-account overrides of the callback limits in Settings (NULL = the Settings default).
-- The operator raises a trusted business account's caps here, or shortens ring times.
CREATE TABLE IF NOT EXISTS callback_account_limits (
    account_id                    bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    max_per_hour                  integer CHECK (max_per_hour >= 0),
    max_per_day                   integer CHECK (max_per_day >= 0),
    max_billable_minutes_per_day  integer CHECK (max_billable_minutes_per_day >= 0),
    leg1_ring_seconds             integer CHECK (leg1_ring_seconds BETWEEN 3 AND 120),
    leg2_ring_seconds             integer CHECK (leg2_ring_seconds BETWEEN 3 AND 120)
);

-- ---------------------------------------------------------------------------------------------
-- Voicemail deposit and e-mail notification (R-IN-4, R-IN-5).
-- A mail the relay refused permanently (5xx) mail_max_attempts times is given up: failed_at
-- is set and the sender no longer picks it (last_error says why).
ALTER TABLE mail_outbox ADD COLUMN IF NOT EXISTS failed_at timestamptz;

-- ---------------------------------------------------------------------------------------------
-- Voicemail transcription (migration 0007, docs/transcription.md). One row per message to
-- transcribe, made with the message when ANSHIN_TRANSCRIBE is on; a worker
-- (python -m callflow.transcribe) takes a pending row (FOR UPDATE SKIP LOCKED) under a lease
-- (leased_until: a crashed worker's row is taken again after it) and stores the text.
CREATE TABLE IF NOT EXISTS voicemail_transcripts (
    message_id   bigint PRIMARY KEY REFERENCES voicemail_messages(id) ON DELETE CASCADE,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    text         text CHECK (length(text) <= 20000),
    attempts     integer NOT NULL DEFAULT 0,
    leased_until timestamptz,
    leased_by    text,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz,
    audio_ms     integer,                    -- what the recogniser heard and what it cost
    cpu_ms       integer
);
CREATE INDEX IF NOT EXISTS voicemail_transcripts_pending
    ON voicemail_transcripts(created_at) WHERE status = 'pending';
-- A notification that waits for its message's text: held (next_attempt_at in the future) until
-- the worker has it or ANSHIN_TRANSCRIPT_WAIT_S passed; the sender puts the text in the body.
ALTER TABLE mail_outbox ADD COLUMN IF NOT EXISTS voicemail_message_id bigint;
CREATE INDEX IF NOT EXISTS mail_outbox_voicemail_message
    ON mail_outbox(voicemail_message_id) WHERE voicemail_message_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- A subscriber's own voicemail greeting (応答メッセージ, R-PLUS-6, migration 0006): recorded
-- in the retrieval IVR (9#) or uploaded in the portal, stored like messages (audio in the row),
-- one per 050 number, never counted as a message; no row = the standard greeting
-- (callflow/store/greetings.py is its one writer).
CREATE TABLE IF NOT EXISTS voicemail_greetings (
    number      text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    audio       bytea NOT NULL,             -- WAV, 8 kHz 16-bit mono
    duration_ms integer NOT NULL CHECK (duration_ms BETWEEN 0 AND 31000),
    source      text NOT NULL CHECK (source IN ('ivr', 'portal')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------------
-- おやすみモード (quiet hours, migration 0005, callflow/quiet_hours.py): on/off and the action,
-- at most one window per weekday (JST; the end at or before the start is the next day), up to
-- 10 exception numbers. Written only by callflow/store/quiet_hours.py.
CREATE TABLE IF NOT EXISTS quiet_hours (
    number     text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    enabled    boolean NOT NULL DEFAULT false,
    action     text NOT NULL DEFAULT 'voicemail' CHECK (action IN ('voicemail', 'announce')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS quiet_hours_windows (
    number       text NOT NULL REFERENCES quiet_hours(number) ON DELETE CASCADE,
    weekday      smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),      -- 0 = Monday (JST)
    start_minute smallint NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   smallint NOT NULL CHECK (end_minute BETWEEN 0 AND 1439),
    PRIMARY KEY (number, weekday)
);
CREATE TABLE IF NOT EXISTS quiet_hours_exceptions (
    number     text NOT NULL REFERENCES quiet_hours(number) ON DELETE CASCADE,
    caller     text NOT NULL CHECK (caller ~ '^\+?[0-9]{2,20}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number, caller)
);
DROP TRIGGER IF EXISTS quiet_hours_exceptions_limit ON quiet_hours_exceptions;
CREATE TRIGGER quiet_hours_exceptions_limit BEFORE INSERT ON quiet_hours_exceptions
    FOR EACH ROW EXECUTE FUNCTION anshin_enforce_limit(10);

-- ---------------------------------------------------------------------------------------------
-- Ring several phones (migration 0005b): the forward mode ('single' = the active destination,
-- 'simultaneous', 'sequential'), the destinations' order and each one's ring time in order
-- (NULL: forward_ring_seconds). Written only by callflow/store/forwarding.py.
ALTER TABLE subscriber_numbers ADD COLUMN IF NOT EXISTS forward_mode text NOT NULL
    DEFAULT 'single' CHECK (forward_mode IN ('single', 'simultaneous', 'sequential'));
ALTER TABLE forward_destinations ADD COLUMN IF NOT EXISTS position smallint NOT NULL DEFAULT 0;
ALTER TABLE forward_destinations ADD COLUMN IF NOT EXISTS ring_seconds integer
    CHECK (ring_seconds BETWEEN 5 AND 60);

-- ---------------------------------------------------------------------------------------------
-- 迷惑電話の可能性 (R-PLUS-7, migration 0006b): per caller number, how many distinct accounts
-- have it on a block list added within the last 90 days. Kept by the block-list writer in the
-- transaction that changes a list and recounted by the retention job as entries age out
-- (callflow/store/likely_spam.py), so the screening query reads one row by primary key. Who
-- blocked a number is never stored here, and never shown.
CREATE INDEX IF NOT EXISTS block_list_blocked ON block_list(blocked, created_at);

CREATE TABLE IF NOT EXISTS likely_spam_numbers (
    caller     text PRIMARY KEY,              -- normalised, as block_list.blocked
    reporters  integer NOT NULL CHECK (reporters >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- A subscriber's choice to send such calls straight to the rejection announcement.
CREATE TABLE IF NOT EXISTS likely_spam_settings (
    number text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    reject boolean NOT NULL DEFAULT false
);

-- The label as it was when the call came (the history page and API show it).
ALTER TABLE call_history ADD COLUMN IF NOT EXISTS likely_spam boolean NOT NULL DEFAULT false;

-- The 050 number on a softphone (migration 0010): one SIP account per number; only
-- HA1 = md5(username:realm:password) is kept (the password is shown once); revoked rows
-- stay so the app's sync job removes them from Asterisk (callflow/store/softphones.py).
CREATE SEQUENCE IF NOT EXISTS softphone_change_seq;
CREATE TABLE IF NOT EXISTS softphone_accounts (
    number      text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    username    text NOT NULL UNIQUE CHECK (username ~ '^sp050[0-9]{8}$'),
    ha1         text NOT NULL CHECK (ha1 ~ '^[0-9a-f]{32}$'),
    rings       boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    change_seq  bigint NOT NULL DEFAULT nextval('softphone_change_seq')
);
CREATE INDEX IF NOT EXISTS softphone_accounts_change ON softphone_accounts(change_seq);

-- ---------------------------------------------------------------------------------------------
-- 名乗り確認 (call screening, migration 0009): on/off per 050 number. Written only by
-- callflow/store/call_screening.py; read in the incoming call's one statement.
CREATE TABLE IF NOT EXISTS call_screening (
    number     text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    enabled    boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- up to 10 numbers that always ring without the question (migration 0009b)
CREATE TABLE IF NOT EXISTS call_screening_exceptions (
    number     text NOT NULL REFERENCES call_screening(number) ON DELETE CASCADE,
    caller     text NOT NULL CHECK (caller ~ '^\+?[0-9]{2,20}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number, caller)
);
DROP TRIGGER IF EXISTS call_screening_exceptions_limit ON call_screening_exceptions;
CREATE TRIGGER call_screening_exceptions_limit BEFORE INSERT ON call_screening_exceptions
    FOR EACH ROW EXECUTE FUNCTION anshin_enforce_limit(10);

-- ---------------------------------------------------------------------------------------------
-- One notification per voicemail recording (migration 0011, docs/operations.md "Work that
-- happens once"): the mail of a call whose recording holds no message carries the recording's
-- name, so the call task, the recovery sweep of its node's other instance and a restarted
-- process taking the call over queue it once between them.
ALTER TABLE mail_outbox ADD COLUMN IF NOT EXISTS recording_name text;
CREATE UNIQUE INDEX IF NOT EXISTS mail_outbox_one_per_recording
    ON mail_outbox(recording_name) WHERE recording_name IS NOT NULL;
