"""The store's exception tree: everything the database layer raises past its boundary."""

from __future__ import annotations


class StoreError(Exception):
    """Base of all store errors."""


class StoreUnavailable(StoreError):
    """The database could not be reached or did not answer in time."""


class LimitExceeded(StoreError):
    """A per-number limit from SPEC.md (e.g. 30 block-list entries) would be exceeded."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what}: at most {limit} entries")
        self.what = what
        self.limit = limit


class InvalidValue(StoreError):
    """A value the schema refuses (malformed number, out-of-range setting)."""
