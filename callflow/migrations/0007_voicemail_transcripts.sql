-- Voicemail transcription (issue 20, docs/transcription.md):
--   * `voicemail_transcripts`: one row per message to transcribe, made with the message when
--     ANSHIN_TRANSCRIBE is on; a worker takes a pending row under a lease and stores the text;
--   * `mail_outbox.voicemail_message_id`: a notification that waits for its message's text
--     (held until then, at most ANSHIN_TRANSCRIPT_WAIT_S).
-- Additive only: without the setting nothing writes either.
-- depends: 0002_ivr_lockouts_reservations_no_050_forward
SET client_min_messages = warning;

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
    audio_ms     integer,
    cpu_ms       integer
);
CREATE INDEX IF NOT EXISTS voicemail_transcripts_pending
    ON voicemail_transcripts(created_at) WHERE status = 'pending';

ALTER TABLE mail_outbox ADD COLUMN IF NOT EXISTS voicemail_message_id bigint;
CREATE INDEX IF NOT EXISTS mail_outbox_voicemail_message
    ON mail_outbox(voicemail_message_id) WHERE voicemail_message_id IS NOT NULL;
