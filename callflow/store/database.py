"""PostgreSQL access: one async connection pool, timeouts on everything, typed errors."""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from callflow.store.errors import InvalidValue, LimitExceeded, StoreError, StoreUnavailable

_LIMIT = re.compile(r"limit_exceeded:(\w+):(\d+)")

Connection = psycopg.AsyncConnection[tuple[object, ...]]

# A pooled connection is checked (one round trip) before use only when it has been idle
# this long: one that was fine a moment ago almost surely still is, and checking on every
# checkout doubled the database round trips of a call (bench/README.md). If the server
# went away within that moment, the query fails with StoreUnavailable like any other
# database fault, and the pool drops the broken connection.
CHECK_AFTER_IDLE_S = 2.0


def translate(exc: BaseException) -> StoreError:
    """Map a psycopg/pool exception to the store's exception tree."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, pg_errors.RaiseException) and (m := _LIMIT.search(str(exc))):
        return LimitExceeded(m.group(1), int(m.group(2)))
    if isinstance(exc, pg_errors.IntegrityError | pg_errors.DataError):
        return InvalidValue(str(exc).splitlines()[0])
    if isinstance(exc, PoolTimeout | pg_errors.QueryCanceled | psycopg.OperationalError):
        return StoreUnavailable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    return StoreError(f"{type(exc).__name__}: {exc}")


class Database:
    def __init__(self, url: str, *, timeout: float = 5.0, min_size: int = 1,
                 max_size: int = 10) -> None:
        self.timeout = timeout
        self._pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            open=False,
            # A reconnect attempt after the server went away is bounded too.
            reconnect_timeout=30.0,
            kwargs={
                "connect_timeout": max(1, int(timeout)),
                "options": f"-c statement_timeout={int(timeout * 1000)}",
                "autocommit": True,
            },
            check=self._check_if_idle,
        )
        self._last_used: weakref.WeakKeyDictionary[Connection, float] = (
            weakref.WeakKeyDictionary())

    async def _check_if_idle(self, conn: Connection) -> None:
        last_used = self._last_used.get(conn)
        if last_used is None or time.monotonic() - last_used > CHECK_AFTER_IDLE_S:
            await AsyncConnectionPool.check_connection(conn)

    async def open(self, wait: bool = False) -> None:
        await self._pool.open(wait=wait, timeout=self.timeout)

    async def close(self) -> None:
        await self._pool.close(timeout=self.timeout)

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection in autocommit mode; errors come out as StoreError."""
        try:
            async with self._pool.connection(timeout=self.timeout) as conn:
                try:
                    yield conn
                finally:
                    self._last_used[conn] = time.monotonic()
        except StoreError:
            raise
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        async with self.connection() as conn:
            try:
                async with conn.transaction():
                    yield conn
            except psycopg.Error as exc:
                raise translate(exc) from exc
