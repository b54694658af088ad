-- 名乗り確認 (call screening, issue 21): per 050 number an on/off switch. When on, a caller
-- whose number the subscriber never accepted before (no 'forwarded' call from it in the
-- history) says their name before the phones ring, and the subscriber hears it on answer
-- and chooses 1 (connect) or 2 (voicemail). Written only by callflow/store/call_screening.py;
-- read with the incoming call's one statement (store/subscribers.incoming_call). No index on
-- call_history is added on purpose: the known-caller probe runs only for numbers with
-- screening on and walks that number's own history (call_history_number_time), while an
-- index on the outcome would make every history outcome update of every call non-HOT.
-- depends: 0002_ivr_lockouts_reservations_no_050_forward
SET client_min_messages = warning;

CREATE TABLE IF NOT EXISTS call_screening (
    number     text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    enabled    boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
