"""PostgreSQL store: pool, exception tree, and one module per kind of data."""

from callflow.store.database import Database
from callflow.store.errors import InvalidValue, LimitExceeded, StoreError, StoreUnavailable

__all__ = ["Database", "InvalidValue", "LimitExceeded", "StoreError", "StoreUnavailable"]
