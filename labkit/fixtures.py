"""The lab's parts as context managers: the one way the integration and reliability labs
(tests/*/conftest.py, thin pytest fixtures over these) build a throw-away PostgreSQL, the
project's Asterisk image on free ports, an in-memory mail relay and the app as a host process.
Each part is started on entry and stopped on exit, also when the suite fails half-way.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.edge import Edge, EdgeConfig
from labkit.lab import app_env, new_asterisk
from labkit.mailsink import MailSink
from labkit.postgres import PgCluster
from labkit.replica import ReplicatedPg, replicated


@contextmanager
def lab_dir(prefix: str) -> Iterator[Path]:
    """A fresh temporary folder for a lab's parts, removed afterwards. World-readable: the
    Asterisk container reads its configuration and prompts from it as its own user."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def pg_cluster(directory: Path, *, migrate: bool = True) -> Iterator[PgCluster]:
    """A throw-away PostgreSQL cluster in `directory`, migrated to today's schema unless
    `migrate` is False (an empty database: restore and migration tests)."""
    cluster = PgCluster(directory, migrate=migrate)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def replicated_pg(directory: Path) -> Iterator[ReplicatedPg]:
    """A throw-away primary (migrated) and its hot standby, streaming replication with
    synchronous commit (labkit/replica.py); `.url` names both, read-write target."""
    pair = replicated(directory)
    pair.primary.start()
    try:
        pair.start_standby()
        yield pair
    finally:
        pair.standby.stop()
        pair.primary.stop()


@contextmanager
def asterisk_container(run_dir: Path, prefix: str, *, log_path: Path, rtp_ports: int = 400,
                       host: str = "127.0.0.1", edge: str = "") -> Iterator[AsteriskContainer]:
    """The project's Asterisk image on free ports, ready (ARI answering); its log is saved to
    `log_path` when it stops. `prefix` starts the instance name; `rtp_ports`: how many RTP
    ports it gets (two per call leg); `host`, `edge`: a node of the multi-node lab, bound to
    its own loopback address behind the Kamailio edge at "host:port" (labkit/render.py)."""
    container = new_asterisk(run_dir, prefix, rtp_ports=rtp_ports, host=host, edge=edge)
    container.start()
    try:
        asyncio.run(container.wait_ready())
        yield container
    finally:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text(container.logs())
        container.stop()


@contextmanager
def mail_sink() -> Iterator[MailSink]:
    """The mail relay the app sends to, collecting every message in memory."""
    sink = MailSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@contextmanager
def app_process(asterisk: AsteriskContainer, database_url: str, *, log_path: Path,
                **settings: str) -> Iterator[AppProcess]:
    """The app (python -m callflow) for this Asterisk and database, connected to ARI; its
    log starts empty at `log_path`. `settings`: ANSHIN_* values that differ from the lab's
    (they override app_env's, e.g. ANSHIN_ARI_URL through a proxy)."""
    proc = AppProcess(env=app_env(asterisk, database_url, **settings), log_path=log_path)
    proc.log_path.parent.mkdir(parents=True, exist_ok=True)
    proc.log_path.unlink(missing_ok=True)
    proc.start()
    try:
        proc.wait_connected()
        yield proc
    finally:
        proc.stop()


@contextmanager
def edge(config: EdgeConfig, run_dir: Path, *, log_path: Path | None = None) -> Iterator[Edge]:
    """The Kamailio edge (labkit/edge.py) rendered into `run_dir`, started and ready (its
    control socket and SIP port answer); its log is copied to `log_path` when it stops."""
    proc = Edge(config, run_dir)
    proc.start()
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.stop()
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text(proc.logs())
