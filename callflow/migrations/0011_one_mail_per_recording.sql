-- One notification per voicemail recording, however many app instances handle it (docs/
-- operations.md, "Work that happens once"): the call task, the recovery sweep of its node's
-- other instance and a restarted process taking the call over may each conclude that a
-- recording holds no message (「すべての着信」: メッセージ：なし, or the mailbox was full). The
-- mail they queue carries the recording's name, and a second one for that name is not queued.
-- Additive: rows without a name (every other mail) are not constrained.
-- depends: 0010_softphones
SET client_min_messages = warning;

ALTER TABLE mail_outbox ADD COLUMN IF NOT EXISTS recording_name text;
CREATE UNIQUE INDEX IF NOT EXISTS mail_outbox_one_per_recording
    ON mail_outbox(recording_name) WHERE recording_name IS NOT NULL;
