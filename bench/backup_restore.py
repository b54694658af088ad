"""Backup and restore times: ops/backup.sh and ops/restore.sh on a database with N messages.

Run (as root; PostgreSQL 15 installed by `./lab test` once):

    .venv/bin/python -m bench.backup_restore 2000 20        # 2000 messages of 20 s
    ANSHIN_BACKUP_COMPRESS=0 .venv/bin/python -m bench.backup_restore 2000 20

Two throw-away clusters: the source gets N voicemail messages (20 per 050 number, random-noise
WAVs of the given length: the worst case for compression), is dumped with ops/backup.sh and
restored with ops/restore.sh into the other; prints sizes and the two times
(docs/operations.md has the figures).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import psycopg

from labkit.postgres import PG_BIN, PgCluster

OPS = Path(__file__).resolve().parents[1] / "ops"


def noise_wav(seed: int, seconds: float) -> bytes:
    rnd = random.Random(seed)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(
            max(-32768, min(32767, int(rnd.gauss(0, 1500)))).to_bytes(2, "little", signed=True)
            for _ in range(int(8000 * seconds))))
    return buf.getvalue()


def populate(url: str, messages: int, seconds: float) -> str:
    audios = [noise_wav(i, seconds) for i in range(20)]
    with psycopg.connect(url, autocommit=True) as conn:
        for box in range((messages + 19) // 20):
            row = conn.execute("INSERT INTO accounts (email, password_hash) VALUES (%s, 'x')"
                               " RETURNING id", (f"bench{box}@example.jp",)).fetchone()
            assert row is not None
            number = f"050{box:08d}"
            conn.execute("INSERT INTO subscriber_numbers (number, account_id) VALUES (%s, %s)",
                         (number, row[0]))
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO voicemail_messages (number, duration_ms, audio)"
                    " VALUES (%s, %s, %s)",
                    [(number, int(seconds * 1000), audios[i])
                     for i in range(min(20, messages - box * 20))])
        size = conn.execute("SELECT pg_size_pretty(pg_database_size('anshin'))").fetchone()
    return str(size[0]) if size else "?"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backup_restore")
    parser.add_argument("messages", type=int)
    parser.add_argument("seconds", type=float, help="length of each message")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="anshin-bench-backup-"))
    root.chmod(0o755)  # the clusters run as the postgres user
    source = PgCluster(root / "source")
    target = PgCluster(root / "target", migrate=False)
    env = {**os.environ, "PG_BIN": str(PG_BIN)}
    try:
        source.start()
        target.start()
        size = populate(source.url, args.messages, args.seconds)
        started = time.monotonic()
        dump = subprocess.run([str(OPS / "backup.sh"), "--database-url", source.url, "--dir",
                               str(root / "dumps")], env=env, check=True, capture_output=True,
                              text=True, timeout=3600).stdout.strip()
        backup_s = time.monotonic() - started
        started = time.monotonic()
        subprocess.run([str(OPS / "restore.sh"), dump, "--database-url", target.url], env=env,
                       check=True, capture_output=True, timeout=3600)
        restore_s = time.monotonic() - started
        with psycopg.connect(target.url) as conn:
            row = conn.execute("SELECT count(*) FROM voicemail_messages").fetchone()
        print(f"{args.messages} messages of {args.seconds:g} s, database {size}, "
              f"compress {env.get('ANSHIN_BACKUP_COMPRESS', 'default')}: dump "
              f"{os.path.getsize(dump) / 1e6:.0f} MB, backup.sh {backup_s:.1f} s, "
              f"restore.sh {restore_s:.1f} s, {row[0] if row else 0} messages restored")
    finally:
        source.stop()
        target.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
