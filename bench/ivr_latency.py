"""IVR latency: DTMF received → next prompt started, median and p99.

Run (as root, after `./lab test` has built the Asterisk image and prompts once):

    .venv/bin/python -m bench.ivr_latency [--calls 16] [--concurrency 4]

It starts its own throw-away lab (PostgreSQL, the Asterisk image, the app as a host process),
places SIPp calls into the retrieval IVR (050-3300-5000) that log in and walk the message menu,
and watches every channel with a second ARI connection (`subscribeAll`). For each '#' that ends
an entry while nothing was playing on the channel (i.e. the app was collecting digits), the
latency is Asterisk's own timestamp of the next PlaybackStarted minus that of the
ChannelDtmfReceived. Entries ending with the PIN include the Argon2 check and the database
round trips; the others are pure app + ARI latency. Takes about 2.5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import math
import statistics
import tempfile
import uuid
import wave
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import psycopg
from argon2 import PasswordHasher

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Dtmf, DtmfMode, Hangup, Step, Wait, place_call
from labkit.lab import app_env, new_asterisk
from labkit.postgres import PgCluster

REPO = Path(__file__).resolve().parents[1]

PIN = "4826"


@dataclass
class Channel:
    playing: set[str] = field(default_factory=set)
    pending_hash_at: datetime | None = None
    label: str = ""


@dataclass
class Watcher:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    channels: dict[str, Channel] = field(default_factory=lambda: defaultdict(Channel))
    entries: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def on_event(self, ev: dict[str, object]) -> None:
        kind = ev.get("type")
        ts = ev.get("timestamp")
        if not isinstance(ts, str):
            return
        at = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f%z")
        if kind == "ChannelDtmfReceived":
            chan = ev["channel"]
            assert isinstance(chan, dict)
            c = self.channels[chan["id"]]
            if ev.get("digit") == "#" and not c.playing:
                n = self.entries[chan["id"]]
                self.entries[chan["id"]] += 1
                c.pending_hash_at = at
                c.label = {0: "number# → enter_pin", 1: "PIN# → guidance (auth+DB)"}.get(
                    n, "menu# → next prompt")
            elif ev.get("digit") == "#":
                self.entries[chan["id"]] += 1
        elif kind in ("PlaybackStarted", "PlaybackFinished"):
            pb = ev["playback"]
            assert isinstance(pb, dict)
            target = str(pb.get("target_uri", ""))
            if not target.startswith("channel:"):
                return
            c = self.channels[target.removeprefix("channel:")]
            if kind == "PlaybackStarted":
                c.playing.add(pb["id"])
                if c.pending_hash_at is not None:
                    ms = (at - c.pending_hash_at).total_seconds() * 1000
                    self.samples[c.label].append(ms)
                    self.samples["all"].append(ms)
                    c.pending_hash_at = None
            else:
                c.playing.discard(pb["id"])


async def watch(asterisk: AsteriskContainer, watcher: Watcher, ready: asyncio.Event) -> None:
    cfg = asterisk.config
    url = (f"{asterisk.ari_url.replace('http', 'ws', 1)}/events?app=bench-watch"
           f"&subscribeAll=true&api_key={cfg.ari_user}:{cfg.ari_password}")
    async with aiohttp.ClientSession() as http, http.ws_connect(url, heartbeat=10) as ws:
        ready.set()
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                watcher.on_event(json.loads(msg.data))


def tone_wav(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(int(8000 * math.sin(2 * math.pi * 440 * i / 8000))
                               .to_bytes(2, "little", signed=True) for i in range(8000)))
    return buf.getvalue()


def provision(url: str, calls: int) -> list[str]:
    hasher = PasswordHasher()
    pin_hash = hasher.hash(PIN)
    numbers = []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(calls):
            number = "050" + str(uuid.uuid4().int)[:8]
            row = conn.execute("INSERT INTO accounts (email, password_hash) VALUES (%s, 'x')"
                               " RETURNING id", (f"{uuid.uuid4().hex[:10]}@bench.jp",)).fetchone()
            assert row is not None
            conn.execute("INSERT INTO subscriber_numbers (number, account_id, voicemail_enabled,"
                         " voicemail_pin_hash) VALUES (%s, %s, true, %s)",
                         (number, row[0], pin_hash))
            for age_h in (2, 1):
                conn.execute("INSERT INTO voicemail_messages (number, received_at, duration_ms,"
                             " audio) VALUES (%s, %s, 1000, %s)",
                             (number, datetime.now(UTC) - timedelta(hours=age_h), tone_wav()))
            numbers.append(number)
    return numbers


async def one_call(asterisk: AsteriskContainer, number: str, mode: DtmfMode) -> None:
    # Log in, then (after the first message and its menu prompt have started) 3# twice.
    # Header ≈ 5 s, message 1 s: the menu prompt plays from ≈ 10 s after the PIN.
    steps: list[Step] = [
        Wait(1.0), Dtmf(number + "#", mode=mode), Wait(0.5), Dtmf(PIN + "#", mode=mode),
        Wait(14.0), Dtmf("3#", mode=mode), Wait(9.0), Dtmf("3#", mode=mode), Wait(1.0),
        Hangup()]
    await place_call(target=asterisk.sip_target, dialed="05033005000", steps=steps,
                     digit_gap_s=0.08, timeout_s=60)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1)]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    lab = Path(tempfile.mkdtemp(prefix="anshin-bench-"))
    await asyncio.to_thread(lab.chmod, 0o755)
    pg = PgCluster(lab / "pg")
    pg.start()
    asterisk = new_asterisk(lab / "asterisk", "bench")
    asterisk.start()
    app = AppProcess(env=app_env(asterisk, pg.url, ANSHIN_LOG_LEVEL="INFO"),
                     log_path=REPO / "build" / "bench-ivr-app.log")
    watcher = Watcher()
    try:
        await asterisk.wait_ready()
        app.start()
        app.wait_connected()
        numbers = provision(pg.url, args.calls)
        ready = asyncio.Event()
        watch_task = asyncio.create_task(watch(asterisk, watcher, ready))
        await asyncio.wait_for(ready.wait(), 10)
        sem = asyncio.Semaphore(args.concurrency)

        async def limited(i: int, number: str) -> None:
            async with sem:
                await one_call(asterisk, number, "rfc4733" if i % 2 else "info")

        await asyncio.gather(*(limited(i, n) for i, n in enumerate(numbers)))
        await asyncio.sleep(1.0)
        watch_task.cancel()
    finally:
        app.stop()
        asterisk.stop()
        pg.stop()
    print(f"IVR latency, '#' received → next prompt started ({args.calls} calls, "
          f"{args.concurrency} concurrent; Asterisk event timestamps):")
    for label, values in sorted(watcher.samples.items()):
        if values:
            print(f"  {label:30s} n={len(values):3d}  median={statistics.median(values):6.1f} ms"
                  f"  p99={pct(values, 99):6.1f} ms  max={max(values):6.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
