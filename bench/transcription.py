"""Voicemail transcription through the real call path: character error rate, seconds from
hang-up to the text and to the mail, CPU per second of audio (docs/transcription.md).

Run (as root, after `./lab test` has built the Asterisk image and prompts once):

    .venv/bin/python -m bench.transcription [--long-seconds 30]

It starts its own throw-away lab (PostgreSQL, the Asterisk image, the app with
ANSHIN_TRANSCRIBE=1, an aiosmtpd relay and ONE transcription worker process, as `./lab up`
runs), then leaves one message per sentence below, one after the other: a SIPp caller waits
for the beep, plays the sentence spoken by Open JTalk (8 kHz, as the prompts are made) and
hangs up. Asterisk records it, the app saves it and holds its mail, the worker transcribes it.
Per message: CER of the stored text against the sentence (both normalised as
labkit.harness.hearing.cer does), seconds from the caller's BYE to the text (done_at) and to
the mail (sent_at), and the worker's CPU seconds per audio second. Then one long message
(about --long-seconds of speech) for the "text in the mail within 30 s of hang-up" target.
Writes a Markdown report to bench/results/transcription-<time>.md. Takes about 3 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.policy import default
from pathlib import Path

import psycopg

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import cer
from labkit.harness.sipp import Hangup, Voice, Wait, place_call
from labkit.harness.speech import spoken
from labkit.lab import app_env, new_asterisk
from labkit.mailsink import MailSink
from labkit.postgres import PgCluster
from labkit.transcriber import TranscriberProcess

REPO = Path(__file__).resolve().parents[1]
GREETING_S = 11.0
WAIT_S = 60.0  # the mail's wait for its text: long enough never to be what releases it here

SENTENCES = [
    "お世話になっております。山田です。明日の打ち合わせは午後三時からに変更になりました。",
    "田中です。荷物が届きましたので、お電話ください。",
    "鈴木歯科です。ご予約の確認のお電話です。また折り返しお電話いたします。",
    "佐藤です。駅前の郵便局の前で待っています。",
    "お疲れ様です。会議の資料をメールで送りましたので、確認をお願いします。",
]
LONG_PARTS = [
    "もしもし、中村です。先日はありがとうございました。",
    "来週の月曜日の件でご連絡しました。",
    "会場の予約が取れましたので、午前十時に駅の改札で待ち合わせをお願いします。",
    "もし都合が悪くなったら、前日までにお電話かメールでお知らせください。",
    "資料は私の方で用意しておきます。",
    "それから、お昼は近くのお店を予約しておきましたので、ご安心ください。",
    "当日は雨の予報ですので、傘をお持ちください。",
    "何かご不明な点がありましたら、いつでもご連絡ください。",
    "よろしくお願いいたします。",
]


@dataclass
class Result:
    sentence: str
    text: str
    audio_s: float
    cpu_s: float
    text_after_hangup_s: float
    mail_after_hangup_s: float
    mail_has_text: bool

    @property
    def cer(self) -> float:
        return cer(self.sentence, self.text)


def mailbox(sql: psycopg.Connection[tuple[object, ...]]) -> tuple[str, str]:
    number = "050" + str(uuid.uuid4().int)[:8]
    addr = f"bench-{uuid.uuid4().hex[:8]}@example.jp"
    row = sql.execute("INSERT INTO accounts (email, password_hash) VALUES (%s, 'x') RETURNING id",
                      (addr,)).fetchone()
    assert row is not None
    sql.execute("INSERT INTO subscriber_numbers (number, account_id, voicemail_enabled,"
                " forward_enabled, notify_email, notify_only_recorded, attach_recording)"
                " VALUES (%s, %s, true, false, %s, true, true)", (number, row[0], addr))
    return number, addr


async def one_message(asterisk: AsteriskContainer, sql: psycopg.Connection[tuple[object, ...]],
                      sink: MailSink, sentence: str) -> Result:
    number, addr = mailbox(sql)
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="09011112222",
                              steps=[Wait(GREETING_S), Voice(spoken(sentence)), Wait(0.5),
                                     Hangup()], timeout_s=GREETING_S + 120)
    bye = next(m for m in result.messages if m.direction == "sent" and m.method == "BYE")
    assert bye.timestamp is not None, result.describe()
    hung_up = bye.timestamp.astimezone()  # SIPp logs this host's local wall-clock time
    for _ in range(1200):
        row = sql.execute(
            "SELECT t.status, t.text, t.audio_ms, t.cpu_ms, t.done_at, o.sent_at"
            " FROM voicemail_messages m JOIN voicemail_transcripts t ON t.message_id = m.id"
            " JOIN mail_outbox o ON o.voicemail_message_id = m.id WHERE m.number = %s",
            (number,)).fetchone()
        if row is not None and row[5] is not None and row[0] != "pending":
            break
        await asyncio.sleep(0.1)
    else:
        raise TimeoutError(f"no text and mail for {number}")
    status, text, audio_ms, cpu_ms, done_at, sent_at = row
    assert status == "done", row
    assert isinstance(done_at, datetime) and isinstance(sent_at, datetime)
    [raw] = sink.to(addr)
    msg = email.message_from_bytes(raw, policy=default)
    body = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    mail_text = body.get_content() if body is not None else ""
    return Result(sentence, str(text), int(audio_ms) / 1000, int(cpu_ms) / 1000,  # type: ignore[call-overload]
                  (done_at - hung_up).total_seconds(), (sent_at - hung_up).total_seconds(),
                  f"「{text}」" in str(mail_text))


def long_text(seconds: float) -> str:
    text = ""
    for part in LONG_PARTS * 3:
        text += part
        if len(spoken(text)) / 16000 >= seconds:
            break
    return text


def report(results: list[Result], long: Result) -> str:
    lines = ["# Voicemail transcription through the real call path", "",
             f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bench/transcription.py: Open JTalk speech"
             " → SIPp → Asterisk (8 kHz recording) → app → one worker (Whisper base, int8,"
             " VAD, 2 threads) → mail.", "",
             "| message | audio s | CER | text after hang-up s | mail after hang-up s |"
             " CPU s / audio s | text in mail | transcript |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for i, r in enumerate([*results, long], 1):
        label = "long" if r is long else str(i)
        lines.append(f"| {label} | {r.audio_s:.1f} | {r.cer:.1%} | {r.text_after_hangup_s:.1f}"
                     f" | {r.mail_after_hangup_s:.1f} | {r.cpu_s / r.audio_s:.2f}"
                     f" | {'yes' if r.mail_has_text else 'NO'} | {r.text} |")
    chars = sum(len(r.sentence) for r in results)
    weighted = sum(r.cer * len(r.sentence) for r in results) / chars
    cpu = sum(r.cpu_s for r in [*results, long]) / sum(r.audio_s for r in [*results, long])
    lines += ["", f"CER over the {len(results)} short messages (character-weighted):"
              f" {weighted:.1%}; long message: {long.cer:.1%}.",
              f"CPU per audio second (all): {cpu:.2f}.",
              f"Long message ({long.audio_s:.0f} s of audio): text {long.text_after_hangup_s:.1f} s"
              f" and mail {long.mail_after_hangup_s:.1f} s after the hang-up."]
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--long-seconds", type=float, default=30.0)
    args = parser.parse_args()
    lab = Path(tempfile.mkdtemp(prefix="anshin-bench-"))
    await asyncio.to_thread(lab.chmod, 0o755)
    pg = PgCluster(lab / "pg")
    pg.start()
    asterisk = new_asterisk(lab / "asterisk", "bench")
    asterisk.start()
    sink = MailSink()
    sink.start()
    app = AppProcess(env=app_env(asterisk, pg.url, ANSHIN_LOG_LEVEL="INFO",
                                 ANSHIN_SMTP_PORT=str(sink.port), ANSHIN_MAIL_POLL_INTERVAL="0.5",
                                 ANSHIN_TRANSCRIBE="1", ANSHIN_TRANSCRIPT_WAIT_S=str(WAIT_S)),
                     log_path=REPO / "build" / "bench-transcription-app.log")
    worker = TranscriberProcess({"ANSHIN_PROFILE": "lab", "ANSHIN_DATABASE_URL": pg.url,
                                 "ANSHIN_TRANSCRIBE": "1"},
                                REPO / "build" / "bench-transcription-worker.log")
    long_sentence = long_text(args.long_seconds)
    try:
        await asterisk.wait_ready()
        app.start()
        worker.start()
        app.wait_connected()
        worker.wait_ready()
        with psycopg.connect(pg.url, autocommit=True) as sql:
            results = [await one_message(asterisk, sql, sink, s) for s in SENTENCES]
            long = await one_message(asterisk, sql, sink, long_sentence)
    finally:
        worker.stop()
        app.stop()
        sink.stop()
        asterisk.stop()
        pg.stop()
    text = report(results, long)
    out = REPO / "bench" / "results" / f"transcription-{datetime.now(UTC):%Y%m%d-%H%M%S}.md"
    out.write_text(text)
    print(text)
    print(f"written to {out.relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
