-- 名乗り確認 (call screening, issue 21): up to 10 caller numbers per 050 number that always
-- ring without the question (family, the office), besides the callers the history shows the
-- subscriber accepted. Numbers as the block list stores them (callflow.numbers.normalize).
-- Written only by callflow/store/call_screening.py; read with the incoming call's one
-- statement, and only while screening is on.
-- depends: 0009_call_screening
SET client_min_messages = warning;

CREATE TABLE IF NOT EXISTS call_screening_exceptions (
    number     text NOT NULL REFERENCES call_screening(number) ON DELETE CASCADE,
    caller     text NOT NULL CHECK (caller ~ '^\+?[0-9]{2,20}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (number, caller)
);

DROP TRIGGER IF EXISTS call_screening_exceptions_limit ON call_screening_exceptions;
CREATE TRIGGER call_screening_exceptions_limit BEFORE INSERT ON call_screening_exceptions
    FOR EACH ROW EXECUTE FUNCTION anshin_enforce_limit(10);
