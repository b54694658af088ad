-- From the baseline (7a1b842) to the voicemail-center rework:
--   * one lock rule per entered 050 number: `ivr_lockouts` replaces `mailbox_lockouts` (real
--     mailboxes) and `ivr_unknown_lockouts` (numbers that are not mailboxes), with the time of
--     the last wrong PIN (wrong PINs are forgotten 24 h after the last one);
--   * `voicemail_reservations`: a slot held for a caller from the greeting to the save;
--   * forward_destinations refuses 050 numbers (a forward to one loops through the carrier).
-- Written to also upgrade a lab database that was kept up to date by re-applying schema.sql
-- (where `ivr_lockouts` may already exist next to the old tables).
-- depends: 0001_baseline
SET client_min_messages = warning;

CREATE TABLE IF NOT EXISTS ivr_lockouts (
    number          text PRIMARY KEY CHECK (number ~ '^050[0-9]{8}$'),
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    last_failure_at timestamptz
);

-- A mailbox's lock state is kept as it is. The old table did not record when the last wrong PIN
-- was entered: a lock was set by the 3rd wrong PIN, 15 minutes before it lifts; for wrong PINs
-- short of a lock, the upgrade's time is taken, so they are forgotten 24 h after the upgrade
-- (the old rule never forgot them). Rows that count nothing are not carried over.
INSERT INTO ivr_lockouts (number, failed_attempts, locked_until, last_failure_at)
SELECT number, failed_attempts, locked_until,
       CASE WHEN locked_until IS NOT NULL THEN locked_until - interval '15 minutes' ELSE now() END
  FROM mailbox_lockouts
 WHERE (failed_attempts > 0 OR locked_until IS NOT NULL) AND number ~ '^050[0-9]{8}$'
ON CONFLICT (number) DO NOTHING;

-- A number that is not a mailbox was stamped at each wrong PIN (updated_at).
INSERT INTO ivr_lockouts (number, failed_attempts, locked_until, last_failure_at)
SELECT number, failed_attempts, locked_until, updated_at
  FROM ivr_unknown_lockouts
 WHERE failed_attempts > 0 OR locked_until IS NOT NULL
ON CONFLICT (number) DO NOTHING;

DROP TABLE mailbox_lockouts;
DROP TABLE ivr_unknown_lockouts;

CREATE TABLE IF NOT EXISTS voicemail_reservations (
    recording_name text PRIMARY KEY,
    number         text NOT NULL REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS voicemail_reservations_number
    ON voicemail_reservations(number, expires_at);

-- The previous release's store already refused 050 destinations; a row written around it (by
-- hand) could only loop through the carrier, so it is removed rather than kept unusable.
DELETE FROM forward_destinations WHERE destination ~ '^050';
ALTER TABLE forward_destinations DROP CONSTRAINT IF EXISTS forward_destinations_destination_check;
ALTER TABLE forward_destinations ADD CONSTRAINT forward_destinations_destination_check
    CHECK (destination ~ '^0[0-9]{9,10}$' AND destination !~ '^050');
