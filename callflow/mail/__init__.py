"""E-mail notification (R-IN-5): composing, the transactional outbox, and the sender job."""
