-- おやすみモード (quiet hours, issue 21): per 050 number an on/off switch and what a call
-- gets during the quiet windows (the voicemail center or the refusal announcement), at most
-- one window per weekday in JST (callflow/quiet_hours.py: a window belongs to the day it
-- starts on; an end at or before the start is the next day), and up to 10 caller numbers
-- that always ring. Written only by callflow/store/quiet_hours.py; read with the incoming
-- call's one statement (store/subscribers.incoming_call).
-- depends: 0002_ivr_lockouts_reservations_no_050_forward
SET client_min_messages = warning;

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

-- Numbers as the block list stores them (callflow.numbers.normalize).
CREATE TABLE IF NOT EXISTS quiet_hours_exceptions (
    number     text NOT NULL REFERENCES quiet_hours(number) ON DELETE CASCADE,
    caller     text NOT NULL CHECK (caller ~ '^\+?[0-9]{2,20}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number, caller)
);

DROP TRIGGER IF EXISTS quiet_hours_exceptions_limit ON quiet_hours_exceptions;
CREATE TRIGGER quiet_hours_exceptions_limit BEFORE INSERT ON quiet_hours_exceptions
    FOR EACH ROW EXECUTE FUNCTION anshin_enforce_limit(10);
