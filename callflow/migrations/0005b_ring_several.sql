-- Ring several phones (issue 21): how a forward rings the registered destinations -
-- 'single' (the active one, as before), 'simultaneous' (all at once, the first to answer
-- wins) or 'sequential' (one after the other, each for its own ring time) - the order of
-- the destinations as the subscriber listed them, and each one's ring time in order
-- (NULL: the number's forward_ring_seconds). Written only by callflow/store/forwarding.py.
-- depends: 0002_ivr_lockouts_reservations_no_050_forward
SET client_min_messages = warning;

ALTER TABLE subscriber_numbers ADD COLUMN IF NOT EXISTS forward_mode text NOT NULL
    DEFAULT 'single' CHECK (forward_mode IN ('single', 'simultaneous', 'sequential'));
ALTER TABLE forward_destinations ADD COLUMN IF NOT EXISTS position smallint NOT NULL DEFAULT 0;
ALTER TABLE forward_destinations ADD COLUMN IF NOT EXISTS ring_seconds integer
    CHECK (ring_seconds BETWEEN 5 AND 60);
