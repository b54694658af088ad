-- A subscriber's own voicemail greeting (応答メッセージ, R-PLUS-6): recorded in the retrieval
-- IVR (9#) or uploaded in the portal, stored like messages (audio in the row), one per 050
-- number, never counted as a message; deleting the row goes back to the standard greeting.
-- depends: 0002_ivr_lockouts_reservations_no_050_forward
SET client_min_messages = warning;

CREATE TABLE IF NOT EXISTS voicemail_greetings (
    number      text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    audio       bytea NOT NULL,             -- WAV, 8 kHz 16-bit mono
    duration_ms integer NOT NULL CHECK (duration_ms BETWEEN 0 AND 31000),
    source      text NOT NULL CHECK (source IN ('ivr', 'portal')),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
