"""Work that must happen once, however many app instances run (docs/operations.md, "Work that
happens once"). Two app-side job runners — each with its own connection pool (and ARI client),
as two instances on two nodes have — run the same job functions at once (asyncio.gather)
against one real PostgreSQL, and every unit of work is done exactly once: messages expired,
rows purged, mails sent, call requests taken and expired, leftover recordings imported and
mailed. The round lock (callflow/store/once.py) is also shown to go with an instance that is
killed (`kill -9` of a real process) or whose connection idles past the hold limit.

The database-only jobs run in a database of their own in the session's cluster, so that the
lab's app (if another test started it) neither takes their rows nor adds to their counts.
The recovery sweep needs the session's Asterisk and shares its database with that app: a
running app is then a third instance, and the assertions are per recording."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import struct
import sys
import time
import uuid
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import psycopg
import pytest

from callflow.ari import AriClient
from callflow.clock import SystemClock
from callflow.config import Settings
from callflow.features.callback import store as requests
from callflow.features.ivr.driver import MEDIA_PREFIX
from callflow.features.ivr.jobs import expire_once
from callflow.features.voicemail import deposit
from callflow.features.voicemail.audio import parse_recording_name, recording_name
from callflow.features.voicemail.recovery import recover_recordings
from callflow.jobs import retention_once
from callflow.mail.compose import OutgoingMail
from callflow.mail.outbox import enqueue
from callflow.mail.sender import deliver_one
from callflow.migrate import upgrade
from callflow.services import Services
from callflow.store import Database, StoreError
from callflow.store.once import alone
from callflow.store.subscribers import find_subscriber
from integration.support import MailSink, new_subscriber
from labkit.asterisk import AsteriskContainer
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
DAY = timedelta(days=1)
NO_ARI = "http://127.0.0.1:9/ari"  # the database-only jobs never call it


@pytest.fixture(scope="module")
def own_db(pg: PgCluster) -> Iterator[str]:
    name = f"once_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg.url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def own_sql(own_db: str) -> Iterator[Sql]:
    with psycopg.connect(own_db, autocommit=True) as conn:
        yield conn


def instance(url: str, db: Database, *, ari: AriClient | None = None,
             media_dir: Path | None = None, smtp_port: int = 9) -> Services:
    settings = Settings(database_url=url, media_dir=media_dir or Path("/nonexistent"),
                        smtp_port=smtp_port, smtp_timeout=5)
    return Services(settings=settings, db=db,
                    ari=ari or AriClient(NO_ARI, "u", "p", "anshin"), clock=SystemClock())


@pytest.fixture
async def two(own_db: str) -> AsyncIterator[tuple[Database, Database]]:
    """Two instances' connection pools on the same database."""
    async with Database(own_db) as a, Database(own_db) as b:
        yield a, b


async def takes(db: Database, job: str) -> bool:
    async with alone(db, job) as mine:
        return mine


# ------------------------------------------------------------------- the round lock itself


async def test_a_round_is_one_instances_and_goes_with_it(
        own_db: str, two: tuple[Database, Database]) -> None:
    a, b = two
    async with alone(a, "test-round") as mine:
        assert mine
        assert not await takes(b, "test-round")  # skipped, not waited for
        async with alone(b, "test-round", "another key") as other:
            assert other  # other work (another recording) is not held up
    assert await takes(b, "test-round")  # ended with A's block

    with pytest.raises(RuntimeError):  # an instance failing mid-round gives it up at once
        async with alone(a, "test-round") as mine:
            assert mine
            raise RuntimeError("failed mid-round")
    assert await takes(b, "test-round")

    # kill -9 of a process holding the round: the server sees its socket close
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import sys, time, psycopg\n"
        "c = psycopg.connect(sys.argv[1])\n"
        "c.execute(\"SELECT pg_advisory_xact_lock(hashtext('test-round'), hashtext(''))\")\n"
        "print('holding', flush=True)\n"
        "time.sleep(60)\n", own_db, stdout=asyncio.subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"holding"
        assert not await takes(b, "test-round")
        t0 = time.monotonic()
        holder.kill()
        await wait_until(lambda: takes(b, "test-round"), 10, "the round free after kill -9")
        print(f"round free {time.monotonic() - t0:.3f} s after kill -9 of its holder")
    finally:
        with contextlib.suppress(ProcessLookupError):
            holder.kill()
        await holder.wait()

    # a holder that stays silent (its host vanished): the server ends its idle transaction
    # after the hold limit, and the lock with it; its own commit then fails
    with pytest.raises(StoreError):
        async with alone(a, "test-round", hold_limit_s=0.5) as mine:
            assert mine
            assert not await takes(b, "test-round")
            await wait_until(lambda: takes(b, "test-round"), 10,
                             "the round free after the holder idled past the hold limit")


# ------------------------------------------------------------------- sweep-style jobs


def old_cache_file(media_dir: Path) -> Path:
    media_dir.mkdir(parents=True, exist_ok=True)
    path = media_dir / f"{MEDIA_PREFIX}{uuid.uuid4().hex}.wav"
    path.write_bytes(b"RIFF")
    two_hours_ago = time.time() - 7200
    os.utime(path, (two_hours_ago, two_hours_ago))
    return path


async def test_messages_expire_once_and_each_node_sweeps_its_own_cache(
        own_db: str, own_sql: Sql, two: tuple[Database, Database], tmp_path: Path) -> None:
    number = new_subscriber(own_sql)
    now = datetime.now(UTC)
    ids = {age: [int(str(r[0])) for r in own_sql.execute(
        "INSERT INTO voicemail_messages (number, duration_ms, audio, received_at)"
        " SELECT %s, 1000, 'wav', %s FROM generate_series(1, %s) RETURNING id",
        (number, now - age, n)).fetchall()]
        for age, n in ((timedelta(hours=169), 6), (timedelta(hours=1), 2))}
    (expired_before,) = own_sql.execute(
        "SELECT count(*) FROM voicemail_messages WHERE received_at <= %s",
        (now - timedelta(hours=168),)).fetchone() or (0,)
    assert expired_before == 6
    node_a, node_b = tmp_path / "node-a", tmp_path / "node-b"  # two nodes' media folders
    a, b = (instance(own_db, db, media_dir=d) for db, d in zip(two, (node_a, node_b),
                                                              strict=True))

    # a third instance is in the middle of a round: both skip theirs, but still sweep
    # their own node's cache (node-local work is done by every instance)
    cached = [old_cache_file(node_a), old_cache_file(node_b)]
    async with Database(own_db) as c, alone(c, "voicemail-expiry") as mine:
        assert mine
        assert list(await asyncio.gather(expire_once(a), expire_once(b))) == [None, None]
    assert not any(p.exists() for p in cached)
    (left,) = own_sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                              (number,)).fetchone() or (0,)
    assert left == 8

    results = await asyncio.gather(expire_once(a), expire_once(b))
    print(f"expiry rounds of two instances at once: {results}")
    deleted = [r for r in results if r]
    assert deleted == [6], results  # one instance deleted them all; the other skipped or
    #                                 ran after it and found nothing (0)
    again = list(await asyncio.gather(expire_once(a), expire_once(b)))
    assert again in ([0, 0], [0, None], [None, 0]), again  # nothing left for anyone
    remaining = {int(str(r[0])) for r in own_sql.execute(
        "SELECT id FROM voicemail_messages WHERE number = %s", (number,)).fetchall()}
    assert remaining == set(ids[timedelta(hours=1)])


async def test_retention_purges_once_with_two_instances(
        own_db: str, own_sql: Sql, two: tuple[Database, Database]) -> None:
    number = new_subscriber(own_sql)
    now = datetime.now(UTC)
    for age, n in ((91 * DAY, 5), (89 * DAY, 1)):
        own_sql.execute("INSERT INTO call_history (number, caller, received_at)"
                        " SELECT %s, '09011112222', %s FROM generate_series(1, %s)",
                        (number, now - age, n))
    own_sql.execute("INSERT INTO mail_outbox (to_addr, subject, body, created_at, sent_at)"
                    " SELECT 'r@example.jp', 's', 'b', %s, %s FROM generate_series(1, 3)",
                    (now - 32 * DAY, now - 31 * DAY))
    a, b = (instance(own_db, db) for db in two)
    results = await asyncio.gather(retention_once(a), retention_once(b))
    print(f"retention rounds of two instances at once: {results}")
    totals: dict[str, int] = {}
    for r in results:
        for table, n in (r or {}).items():
            totals[table] = totals.get(table, 0) + n
    assert totals.get("call_history") == 5 and totals.get("mail_outbox") == 3, results
    assert sum(1 for r in results if r) == 1, results  # one round did all of it
    (kept,) = own_sql.execute("SELECT count(*) FROM call_history WHERE number = %s",
                              (number,)).fetchone() or (0,)
    assert kept == 1


# ------------------------------------------------------------------- queue-style jobs


async def test_two_mail_senders_send_each_mail_once(
        own_db: str, own_sql: Sql, two: tuple[Database, Database], mail_sink: MailSink) -> None:
    addrs = [f"once-{uuid.uuid4().hex[:10]}@example.jp" for _ in range(12)]
    a, b = (instance(own_db, db, smtp_port=mail_sink.port) for db in two)
    async with a.db.transaction() as conn:
        for addr in addrs:
            await enqueue(conn, OutgoingMail(addr, "件名", "本文"), created_at=datetime.now(UTC))

    async def sender(svc: Services) -> int:
        sent = 0
        while await deliver_one(svc):
            sent += 1
        return sent

    counts = await asyncio.gather(sender(a), sender(b))
    print(f"mails sent by each of two senders: {counts}")
    assert sum(counts) == len(addrs)
    assert [len(mail_sink.to(addr)) for addr in addrs] == [1] * len(addrs)
    rows = own_sql.execute("SELECT attempts, sent_at IS NOT NULL FROM mail_outbox"
                           " WHERE to_addr = ANY(%s)", (addrs,)).fetchall()
    assert sorted(rows) == [(1, True)] * len(addrs)


async def test_two_workers_take_each_call_request_once_and_expire_overdue_ones_once(
        own_db: str, own_sql: Sql, two: tuple[Database, Database]) -> None:
    def insert(expires: str, n: int) -> set[int]:
        return {int(str(r[0])) for r in own_sql.execute(
            "INSERT INTO call_requests (kind, leg1, code, expires_at)"
            f" SELECT 'twofa_voice', '09011112222', '123456', {expires}"
            " FROM generate_series(1, %s) RETURNING id", (n,)).fetchall()}

    due = insert("now() + interval '1 minute'", 10)
    overdue = insert("now() - interval '1 second'", 3)
    a, b = two

    async def worker(db: Database, name: str) -> list[int]:
        taken = []
        while (req := await requests.claim_next(db, name)) is not None:
            taken.append(req.id)
        return taken

    taken_a, taken_b = await asyncio.gather(worker(a, "node-a"), worker(b, "node-b"))
    print(f"requests taken by each of two workers: {len(taken_a)}, {len(taken_b)}")
    assert not set(taken_a) & set(taken_b)
    assert sorted(taken_a + taken_b) == sorted(due)
    expired = await asyncio.gather(requests.expire_overdue(a, 3600),
                                   requests.expire_overdue(b, 3600))
    assert sum(expired) == len(overdue), expired
    states = own_sql.execute("SELECT status, count(*) FROM call_requests WHERE id = ANY(%s)"
                             " GROUP BY status ORDER BY status",
                             (list(due | overdue),)).fetchall()
    assert states == [("expired", 3), ("taken", 10)]


# ------------------------------------------------------------------- node-local: recovery


def wav(seconds: float, *, tone: bool) -> bytes:
    rate = 8000
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)) if tone else 0)
        for i in range(int(seconds * rate)))
    out = BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


async def test_two_instances_of_a_node_import_each_leftover_recording_once(
        pg: PgCluster, asterisk: AsteriskContainer, sql: Sql) -> None:
    """The voicemail recovery sweep is per node (each instance lists its own Asterisk's
    recordings); the two instances of one node list the same ones, and each recording is
    still imported once, with one mail: 4 messages and 2 calls without a message in
    「すべての着信」 mode — also when the calls' own tasks conclude after the sweep."""
    addr = f"rec-{uuid.uuid4().hex[:10]}@example.jp"
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                            notify_email=addr, notify_only_recorded=False)
    folder = asterisk.run_dir / "recordings"
    names = {}
    for i, tone in enumerate([True] * 4 + [False] * 2):
        name = recording_name(number, f"0903333{i:04d}", datetime.now(UTC) - timedelta(minutes=2))
        (folder / f"{name}.wav").write_bytes(wav(2.0, tone=tone))
        names[name] = tone
    cfg = asterisk.config
    async with AsyncExitStack() as stack:
        svcs = []
        for _ in range(2):
            db = await stack.enter_async_context(Database(pg.url))
            ari = await stack.enter_async_context(
                AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password, "anshin-once"))
            svcs.append(instance(pg.url, db, ari=ari))
        imported = await asyncio.gather(*(recover_recordings(s) for s in svcs))
        print(f"messages imported by each of two instances: {imported}")
        # a lab app running beside this test sweeps the same Asterisk: a third instance
        assert sum(imported) <= 4
        await wait_until(lambda: not any(folder.glob(f"vm-{number}-*")), 15,
                         "every leftover recording imported and deleted from Asterisk")
        # The call tasks of those calls (on the node's other instance, or a process taking
        # them over) conclude after the sweep: each finds its recording saved (no mail) or
        # gone, and the mail of a call without a message is not queued a second time.
        subscriber = await find_subscriber(svcs[0].db, number)
        assert subscriber is not None
        for name, tone in names.items():
            rec = parse_recording_name(name)
            assert rec is not None
            outcome, _ = await deposit.import_recording(svcs[0], rec, subscriber)
            assert outcome is (deposit.Outcome.DUPLICATE if tone else deposit.Outcome.GONE)
            await deposit.mail_without_message(svcs[0], subscriber, rec.caller,
                                               rec.received_at, outcome, recording=name)
    saved = [str(r[0]) for r in sql.execute(
        "SELECT recording_name FROM voicemail_messages WHERE number = %s", (number,))]
    assert sorted(saved) == sorted(n for n, tone in names.items() if tone)
    await wait_until(lambda: sql.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = %s",
                                         (addr,)).fetchone() == (6,), 10,
                     "one mail per recording")
    (mails,) = sql.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = %s",
                           (addr,)).fetchone() or (0,)
    assert mails == 6
