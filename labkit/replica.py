"""A PostgreSQL primary and its hot standby, PostgreSQL's own streaming replication, on free
loopback ports (the failover test; docs/operations.md "Streaming replica and failover").

The standby is a `pg_basebackup -R` of the primary (the base copy, `standby.signal` and the
`primary_conninfo` to stream from), started as its own server. Once it streams, the primary
waits for it on every commit (`synchronous_standby_names = '*'`): a transaction the app saw
committed is on both servers, so a primary that dies loses nothing the app was told is saved.
`url` names both servers with `target_session_attrs=read-write`: libpq connects to whichever
accepts writes, i.e. the primary, and after `promote()` the former standby.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg

from labkit.ports import free_port
from labkit.postgres import PG_BIN, PgCluster, _as_postgres_user


def multi_host_url(*clusters: PgCluster, database: str = "anshin") -> str:
    """One libpq URL for all `clusters`, tried in order, connecting only to the writable one."""
    hosts = ",".join(f"127.0.0.1:{c.port}" for c in clusters)
    return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"


@dataclass
class ReplicatedPg:
    primary: PgCluster
    standby: PgCluster

    @property
    def url(self) -> str:
        return multi_host_url(self.primary, self.standby)

    def start_standby(self) -> None:
        """Copy the running primary (pg_basebackup -R), start the copy as a hot standby,
        wait until it streams, then make the primary's commits wait for it."""
        creds = _as_postgres_user()
        root = self.standby.root
        root.mkdir(parents=True)
        if creds:
            os.chown(root, int(str(creds["user"])), int(str(creds["group"])))
        subprocess.run(  # type: ignore[call-overload]
            [str(PG_BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port),
             "-U", "postgres", "-D", str(root / "data"), "-R", "-X", "stream",
             "--checkpoint=fast", "--no-sync"],
            check=True, capture_output=True, timeout=120, **creds)
        self.standby.port = self.standby.port or free_port()
        self.standby.resume()  # the server on its data, port and socket folder
        self._wait(self._streaming, 30, "the standby streaming from the primary")
        with psycopg.connect(self.primary.url, autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
            conn.execute("SELECT pg_reload_conf()")

    def _streaming(self) -> bool:
        try:
            with psycopg.connect(self.primary.url, autocommit=True, connect_timeout=2) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_replication"
                                   " WHERE state = 'streaming'").fetchone()
        except psycopg.OperationalError:
            return False
        return row is not None and int(str(row[0])) > 0

    def crash_primary(self) -> None:
        """The primary's server dies (an "immediate" shutdown: no checkpoint, clients cut,
        nothing more sent to the standby), keeping its data and port."""
        proc = self.primary.proc
        assert proc is not None
        proc.send_signal(signal.SIGQUIT)
        proc.wait(timeout=15)
        self.primary.proc = None

    def promote(self) -> None:
        """`pg_ctl promote`: the standby stops replaying and accepts writes."""
        subprocess.run(  # type: ignore[call-overload]
            [str(PG_BIN / "pg_ctl"), "promote", "-D", str(self.standby.root / "data"), "-w",
             "-t", "30"], check=True, capture_output=True, timeout=60, **_as_postgres_user())

    def in_recovery(self, cluster: PgCluster) -> bool:
        with psycopg.connect(cluster.url, autocommit=True, connect_timeout=2) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        return bool(row and row[0])

    @staticmethod
    def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not after {timeout} s")
            time.sleep(0.1)


def replicated(root: Path) -> ReplicatedPg:
    """A migrated primary in `root`/primary and a standby (not yet started) in `root`/standby."""
    return ReplicatedPg(PgCluster(root / "primary"), PgCluster(root / "standby"))
