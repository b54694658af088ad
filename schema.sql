-- 050 Anshin Number: the database schema, the one source of truth.
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
