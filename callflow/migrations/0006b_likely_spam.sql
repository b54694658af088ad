-- 迷惑電話の可能性 (R-PLUS-7): numbers that many subscribers block.
--   * likely_spam_numbers: per caller number, how many distinct accounts have it on a block
--     list added within the last 90 days; kept by the block-list writer in the transaction
--     that changes a list, and recounted by the retention job as entries age out, so the
--     screening query reads one row by primary key (callflow/store/likely_spam.py);
--   * block_list(blocked, created_at): the index those recounts use;
--   * likely_spam_settings: a subscriber's choice to refuse such calls at once;
--   * call_history.likely_spam: the label as it was when the call came.
-- depends: 0006_personal_greeting
SET client_min_messages = warning;

CREATE INDEX IF NOT EXISTS block_list_blocked ON block_list(blocked, created_at);

CREATE TABLE IF NOT EXISTS likely_spam_numbers (
    caller     text PRIMARY KEY,              -- normalised, as block_list.blocked
    reporters  integer NOT NULL CHECK (reporters >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS likely_spam_settings (
    number text PRIMARY KEY REFERENCES subscriber_numbers(number) ON DELETE CASCADE,
    reject boolean NOT NULL DEFAULT false
);

ALTER TABLE call_history ADD COLUMN IF NOT EXISTS likely_spam boolean NOT NULL DEFAULT false;

-- the block lists as they are
INSERT INTO likely_spam_numbers (caller, reporters)
SELECT b.blocked, count(DISTINCT s.account_id)
  FROM block_list b JOIN subscriber_numbers s ON s.number = b.number
 WHERE b.created_at > now() - interval '90 days'
 GROUP BY b.blocked
ON CONFLICT (caller) DO NOTHING;
