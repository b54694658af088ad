"""A throw-away PostgreSQL cluster on a free loopback port (tests, benchmarks).

Its database `anshin` is brought to the current schema by the same migrations a deploy runs
(`callflow.migrate.upgrade`), not by applying schema.sql: tests run on what production runs."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from callflow.migrate import upgrade
from labkit.ports import free_port

PG_BIN = Path(os.environ.get("ANSHIN_PG_BIN", "/usr/lib/postgresql/15/bin"))
#: the readable whole of the schema; the migrations must give the same (test_migrations.py)
SCHEMA = Path(__file__).resolve().parent.parent / "schema.sql"


def _as_postgres_user() -> dict[str, object]:
    """initdb/postgres refuse to run as root: drop to the 'postgres' system user."""
    if os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam("postgres")
    return {"user": pw.pw_uid, "group": pw.pw_gid}


@dataclass
class PgCluster:
    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    #: False: leave the database `anshin` empty (migration and restore tests)
    migrate: bool = True

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/anshin"

    def start(self) -> None:
        self.port = self.port or free_port()
        data = self.root / "data"
        creds = _as_postgres_user()
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        if creds:
            os.chown(self.root, int(str(creds["user"])), int(str(creds["group"])))
        subprocess.run(
            [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
            check=True, capture_output=True, timeout=120, **creds)  # type: ignore[call-overload]
        self.proc = subprocess.Popen(  # type: ignore[call-overload]
            [str(PG_BIN / "postgres"), "-D", str(data), "-c", "listen_addresses=127.0.0.1",
             "-c", f"port={self.port}", "-c", f"unix_socket_directories={self.root}",
             "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "postgres.log", "wb"),  # noqa: SIM115
            **creds)
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres",
                                     autocommit=True, connect_timeout=2) as conn:
                    conn.execute("CREATE DATABASE anshin")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        if self.migrate:
            upgrade(self.url)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def halt(self) -> None:
        """Stop the server, keeping its data and port (an outage window; `resume()` ends it).
        A "fast" shutdown (SIGINT): clients are disconnected, as in a real restart."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
            self.proc = None

    def resume(self) -> None:
        """Start the server again after `halt()`, on the same port and data."""
        assert self.proc is None
        creds = _as_postgres_user()
        self.proc = subprocess.Popen(  # type: ignore[call-overload]
            [str(PG_BIN / "postgres"), "-D", str(self.root / "data"),
             "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
             "-c", f"unix_socket_directories={self.root}", "-c", "fsync=off",
             "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "postgres.log", "ab"),  # noqa: SIM115
            **creds)

    def restart(self) -> None:
        """Stop and start the server on the same port and data (fault tests)."""
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=15)
        creds = _as_postgres_user()
        self.proc = subprocess.Popen(  # type: ignore[call-overload]
            [str(PG_BIN / "postgres"), "-D", str(self.root / "data"),
             "-c", "listen_addresses=127.0.0.1", "-c", f"port={self.port}",
             "-c", f"unix_socket_directories={self.root}", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **creds)
