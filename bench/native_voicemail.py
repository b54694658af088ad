"""`python -m bench.native_voicemail`: the product's voicemail deposit and retrieval IVR against
Asterisk's own `VoiceMail()` and `VoiceMailMain()` (app_voicemail), on the same Asterisk, in
the same run, judged by the same rules as `bench.run` (bench/load.py).

* deposit: the caller dials a mailbox, hears the greeting and the beep, and speaks (SIPp
  *sends* speech-like RTP from a pcap) until it hangs up after `--hold` s.
  App: `[from-pstn]` → Stasis → greeting, slot reservation, recording, import into
  PostgreSQL (voicemail_messages.audio), outbox row (no mail address: no mail is sent).
  Native: `VoiceMail(<mailbox>@bench,u)`, app_voicemail's file storage
  (/var/spool/asterisk/voicemail/bench/<mailbox>/INBOX, WAV + msgNNNN.txt): the closest
  native equivalent (its ODBC storage would put audio in a database, but is not built into
  the lab image's app_voicemail).
* retrieval: the caller dials 050-3300-5000, types the mailbox number + # and the PIN + #
  (SIP INFO), hears its one message and hangs up after `--hold` s. Native:
  `VoiceMailMain(@bench)`, which wants "1" to play the first message (sent 2 s after the
  PIN). The PIN is checked against an Argon2 hash by the app and against voicemail.conf's
  clear text by app_voicemail (the product's cost, reported as is).

Every call uses its own mailbox (a SIPp injection file), so neither side is measured on
contention for one mailbox: `--mailboxes` numbers are provisioned in both. Between steps
the deposited messages are deleted on both sides.

Writes bench/results/voicemail-<time>.{json,md}: sustained rate per mode, the ratio app ÷
native per path, CPU per call.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from argon2 import PasswordHasher

from bench.lab import CALLER, REPO, RETRIEVAL_NUMBER, Lab
from bench.load import Mode, StepResult, run_step
from bench.report import _fmt
from labkit.asterisk import DOCKER
from labkit.harness.rtp import RtpStream, parse_rtp, pcm_to_wav, ulaw_to_linear, write_pcap

PIN = "4826"
NATIVE_CONTEXT = "bench"

MODES = {m.name: m for m in (
    Mode("deposit-app", "voicemail deposit, app", "uac_deposit.xml", CALLER, "-", False,
         "INVITE→200", True),
    Mode("deposit-native", "voicemail deposit, VoiceMail()", "uac_deposit.xml", "benchvm", "-",
         False, "INVITE→200", False),
    Mode("retrieval-app", "retrieval IVR login + one message, app", "uac_retrieval_app.xml",
         CALLER, "-", False, "INVITE→200", True),
    Mode("retrieval-native", "login + one message, VoiceMailMain()",
         "uac_retrieval_native.xml", "benchvm", "-", False, "INVITE→200", False),
)}
PAIRS = (("deposit-app", "deposit-native"), ("retrieval-app", "retrieval-native"))
LADDER = [20.0, 30.0, 40.0, 50.0, 60.0, 80.0]


# ------------------------------------------------------------------ scenarios

def _request(method: str, cseq: int, uri: str, body_lines: list[str] | None = None,
             content_type: str = "") -> str:
    lines = [f"{method} {uri} SIP/2.0",
             "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
             "From: <sip:[$caller]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]",
             "[last_To:]" if method != "INVITE" else "To: <sip:[field0]@[remote_ip]:[remote_port]>",
             "Call-ID: [call_id]", f"CSeq: {cseq} {method}",
             "Contact: <sip:[$caller]@[local_ip]:[local_port]>", "Max-Forwards: 70"]
    if method not in ("INVITE", "ACK"):
        lines.insert(4, "[routes]")
    if body_lines is None:
        lines.append("Content-Length: 0")
        return "\n".join(lines) + "\n"
    lines += [f"Content-Type: {content_type}", "Content-Length: [len]", "", *body_lines]
    return "\n".join(lines) + "\n"


SDP = ["v=0", "o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]", "s=-",
       "c=IN IP[media_ip_type] [media_ip]", "t=0 0", "m=audio [media_port] RTP/AVP 0",
       "a=rtpmap:0 PCMU/8000"]


def _send(text: str, **attrs: str) -> str:
    a = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f"  <send{a}>\n    <![CDATA[\n{text}\n]]>\n  </send>\n"


def scenario(kind: str, pcap: Path | None, digit_fields: list[list[int]],
             digit_gaps_ms: list[int]) -> str:
    """A linear UAC: INVITE [field0] (timed: rtd 1 = INVITE→200), ACK, optional pcap audio,
    groups of SIP INFO digits read from injection fields (each group after its pause), a
    pause of -d ms, BYE. A BYE from the far end at any point fails the call."""
    out = ['<?xml version="1.0" encoding="UTF-8" ?>', '<!DOCTYPE scenario SYSTEM "sipp.dtd">',
           f'<scenario name="anshin bench {kind}">', '  <Global variables="caller"/>']
    out.append(_send(_request("INVITE", 1, "sip:[field0]@[remote_ip]:[remote_port]", SDP,
                              "application/sdp"), retrans="500", start_rtd="1"))
    out += ['  <recv response="100" optional="true"/>', '  <recv response="180" optional="true"/>',
            '  <recv response="183" optional="true"/>',
            '  <recv response="200" rtd="1" rrs="true"/>']
    out.append(_send(_request("ACK", 1, "[next_url]")))
    if pcap is not None:
        out.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
    cseq = 2
    for fields, gap in zip(digit_fields, digit_gaps_ms, strict=True):
        out.append(f'  <pause milliseconds="{gap}"/>')
        for f in fields:
            out.append(_send(_request("INFO", cseq, "[next_url]",
                                      [f"Signal=[field{f}]", "Duration=160"],
                                      "application/dtmf-relay"), retrans="500"))
            out.append('  <recv response="200"/>')
            cseq += 1
    out.append("  <pause/>")
    out.append(_send(_request("BYE", cseq, "[next_url]"), retrans="500"))
    out.append('  <recv response="200" crlf="true"/>')
    out.append("</scenario>")
    return "\n".join(out) + "\n"


def write_scenarios(directory: Path) -> dict[str, Path]:
    """The three scenarios and the speech pcap, in `directory`. Injection file fields:
    0 = the number dialed, 1..11 = the mailbox number's digits, 12 = '#', 13..16 = the PIN,
    17 = '#', 18 = '1'."""
    directory.mkdir(parents=True, exist_ok=True)
    pcap = write_pcap(directory / "speech.pcap", RtpStream().speech(30.0).packets)
    number = list(range(1, 13))
    pin = list(range(13, 18))
    files = {
        "uac_deposit.xml": scenario("deposit", pcap, [], []),
        "uac_retrieval_app.xml": scenario("retrieval, app", None, [number, pin], [2500, 1200]),
        "uac_retrieval_native.xml": scenario("retrieval, VoiceMailMain", None,
                                             [number, pin, [18]], [2500, 1200, 2000]),
    }
    for name, text in files.items():
        (directory / name).write_text(text)
    return {name: directory / name for name in files}


def speech_wav(seconds: float) -> bytes:
    """The harness's speech-like test audio as an 8 kHz WAV (the stored message)."""
    pcm = bytearray()
    for packet in RtpStream().speech(seconds).packets:
        rtp = parse_rtp(packet.data)
        assert rtp is not None
        for byte in rtp.payload:
            pcm += ulaw_to_linear(byte).to_bytes(2, "little", signed=True)
    return pcm_to_wav(bytes(pcm))


def injection(path: Path, mailboxes: list[str], dialed: str | None) -> Path:
    """SIPp -inf file: one line per mailbox, used in turn (SEQUENTIAL)."""
    lines = ["SEQUENTIAL"]
    for mbox in mailboxes:
        lines.append(";".join([dialed or mbox, *mbox, "#", *PIN, "#", "1"]))
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ both mailboxes

BENCH_VM_PJSIP = """
; ---- bench: app_voicemail comparison (bench/native_voicemail.py) ---------------------------
[benchvm](endpoint-common)
context = bench-voicemail
; app_voicemail's Japanese phrasing wants sound files (jp-arimasu …) no package ships: it
; hangs up when one is missing. English prompts (Asterisk's core sounds) are in the image.
language = en
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
"""
BENCH_VM_DIALPLAN = f"""
; ---- bench: app_voicemail comparison (bench/native_voicemail.py) ---------------------------
[bench-voicemail]
exten => {RETRIEVAL_NUMBER},1,Answer()
 same => n,VoiceMailMain(@{NATIVE_CONTEXT})
 same => n,Hangup()
exten => _050XXXXXXXX,1,Answer()
 same => n,VoiceMail(${{EXTEN}}@{NATIVE_CONTEXT},us)
 same => n,Hangup()
"""


def provision(lab: Lab, count: int) -> list[str]:
    """`count` subscriber numbers with voicemail and PIN in PostgreSQL, the same numbers as
    app_voicemail mailboxes (voicemail.conf written beside the rendered configuration;
    app_voicemail is loaded by hand: the shipped modules.conf keeps it off)."""
    assert lab.asterisk is not None
    pin_hash = PasswordHasher().hash(PIN)
    base = 50_000_000 + int(time.time()) % 40_000_000
    numbers = [f"050{base + i:08d}" for i in range(count)]
    with psycopg.connect(lab.pg.url, autocommit=True) as conn:
        for n in numbers:
            row = conn.execute(
                "INSERT INTO accounts (email, password_hash) VALUES (%s, 'x') RETURNING id",
                (f"vm-{n}@example.jp",)).fetchone()
            assert row is not None
            conn.execute(
                "INSERT INTO subscriber_numbers (number, account_id, voicemail_enabled,"
                " forward_enabled, voicemail_pin_hash) VALUES (%s, %s, true, false, %s)",
                (n, row[0], pin_hash))
    conf = ["[general]", "format = wav", "attach = no", "maxmsg = 9999", "minsecs = 0",
            "maxsilence = 0", "", f"[{NATIVE_CONTEXT}]"]
    conf += [f"{n} => {PIN},Bench {n}" for n in numbers]
    etc = lab.asterisk.run_dir / "etc-asterisk"
    (etc / "voicemail.conf").write_text("\n".join(conf) + "\n")
    # Each mailbox greets with the product's own greeting (the same audio, the same length;
    # app_voicemail's default reads the mailbox number out digit by digit) and, with the
    # `s` option, no instructions: greeting, beep, record, as the app does.
    _in_spool(lab, numbers, f"cp {GREETING} $d/unavail.wav")
    lab.asterisk.cli("module load app_voicemail.so")
    return numbers


GREETING = "/usr/share/asterisk/sounds/anshin/vm_greeting.wav"
SPOOL = f"/var/spool/asterisk/voicemail/{NATIVE_CONTEXT}"


def _in_spool(lab: Lab, numbers: list[str], command: str) -> None:
    """Run `command` in the container for each mailbox directory ($d)."""
    assert lab.asterisk is not None
    script = (f"for n in {' '.join(numbers)}; do d={SPOOL}/$n; mkdir -p $d/INBOX;"
              f" {command}; done")
    subprocess.run([DOCKER, "exec", lab.asterisk.name, "sh", "-c", script], check=True,
                   timeout=300)


def one_message_each(lab: Lab, numbers: list[str]) -> None:
    """Each mailbox holds one new 3-s message on both sides (for the retrieval modes)."""
    assert lab.asterisk is not None
    wav = speech_wav(3.0)
    now = datetime.now(UTC)
    with psycopg.connect(lab.pg.url, autocommit=True) as conn:
        conn.execute("DELETE FROM voicemail_messages WHERE number = ANY(%s)", (numbers,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO voicemail_messages (number, caller, received_at, duration_ms,"
                " heard, audio) VALUES (%s, %s, %s, 3000, false, %s)",
                [(n, CALLER, now, wav) for n in numbers])
    subprocess.run([DOCKER, "exec", "-i", lab.asterisk.name, "sh", "-c",
                    "cat > /tmp/bench-msg.wav"], input=wav, check=True, timeout=30)
    _in_spool(lab, numbers,
              "rm -f $d/INBOX/*; cat /tmp/bench-msg.wav > $d/INBOX/msg0000.wav;"
              " printf '[message]\\ncallerid=<" + CALLER + ">\\norigtime=" +
              str(int(now.timestamp())) + "\\nduration=3\\n' > $d/INBOX/msg0000.txt")


def stored_messages(lab: Lab, numbers: list[str], native: bool) -> tuple[int, float]:
    """(messages stored, their mean duration in s) after a deposit step: app_voicemail's
    msgNNNN.txt `duration=` lines, or the app's voicemail_messages rows."""
    assert lab.asterisk is not None
    if native:
        out = subprocess.run(
            [DOCKER, "exec", lab.asterisk.name, "sh", "-c",
             f"cat {SPOOL}/*/INBOX/msg*.txt 2>/dev/null | grep '^duration='"],
            capture_output=True, text=True, timeout=120).stdout
        durations = [float(line.split("=", 1)[1]) for line in out.split()
                     if line.startswith("duration=")]
    else:
        with psycopg.connect(lab.pg.url, autocommit=True) as conn:
            durations = [int(str(r[0])) / 1000 for r in conn.execute(
                "SELECT duration_ms FROM voicemail_messages WHERE number = ANY(%s)",
                (numbers,)).fetchall()]
    return len(durations), round(sum(durations) / len(durations), 2) if durations else 0.0


def clear_deposits(lab: Lab, numbers: list[str]) -> None:
    assert lab.asterisk is not None
    with psycopg.connect(lab.pg.url, autocommit=True) as conn:
        conn.execute("DELETE FROM voicemail_messages WHERE number = ANY(%s)", (numbers,))
    _in_spool(lab, numbers, "rm -f $d/INBOX/*")


# ------------------------------------------------------------------ run

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.native_voicemail", description=__doc__)
    ap.add_argument("--rates", default=",".join(f"{r:g}" for r in LADDER),
                    help="CPS ladder, climbed per mode while sustained")
    ap.add_argument("--step", type=float, default=60.0, help="seconds of load per step")
    ap.add_argument("--hold", type=float, default=15.0,
                    help="seconds the caller stays after the answer (deposit: the 9.6-s"
                         " greeting, the beep, ~5 s of speech) or after its last digit"
                         " (retrieval: the count, the header, the 3-s message)")
    ap.add_argument("--mailboxes", type=int, default=0,
                    help="mailboxes per side (default: enough for the highest step)")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args(argv)
    if shutil.which("sipp") is None:
        print("sipp not found (apt-get install sip-tester)", file=sys.stderr)
        return 2
    rates = [float(r) for r in args.rates.split(",")]
    modes = [m for m in args.modes.split(",") if m]
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    workdir = REPO / "build" / "bench" / f"voicemail-{stamp}"
    scenarios = write_scenarios(workdir / "scenarios")
    # one mailbox per call of the largest step (deposits are cleared between steps)
    count = args.mailboxes or int(max(rates) * args.step) + 10
    lab = Lab(app_log=REPO / "build" / "bench-app.log",
              extra_config={"pjsip.conf": BENCH_VM_PJSIP, "extensions.conf": BENCH_VM_DIALPLAN})
    results: list[StepResult] = []
    stored: dict[tuple[str, float], tuple[int, float]] = {}
    t0 = time.monotonic()
    try:
        lab.start()
        numbers = provision(lab, count)
        print(f"[{datetime.now():%H:%M:%S}] {count} mailboxes on both sides", flush=True)
        for name in modes:
            mode = MODES[name]
            mode = Mode(mode.name, mode.title, str(scenarios[mode.scenario]), mode.caller,
                        mode.number_attr, mode.uas, mode.latency_label, mode.app)
            retrieval = name.startswith("retrieval")
            for rate in rates:
                if retrieval:
                    one_message_each(lab, numbers)
                else:
                    clear_deposits(lab, numbers)
                inf = injection(workdir / f"{name}-{rate:g}.csv", numbers,
                                RETRIEVAL_NUMBER if retrieval else None)
                r = run_step(lab, mode, RETRIEVAL_NUMBER, rate, args.step, args.hold,
                             workdir / f"{name}-{rate:g}", extra_args=["-inf", str(inf)])
                results.append(r)
                if not retrieval:
                    # the app imports a recording after the hang-up: give it a moment
                    time.sleep(3)
                    stored[(name, rate)] = stored_messages(lab, numbers, not mode.app)
                print(f"[{datetime.now():%H:%M:%S}] {name} {rate:g} CPS: ok"
                      f" {r.successful_calls} failed {r.failed_calls} p99"
                      f" {r.latency_ms.get('p99')} ms Asterisk"
                      f" {r.per_call_ms(r.asterisk_cpu_s)} ms/call"
                      f" {'SUSTAINED' if r.sustained else '; '.join(r.reasons)}", flush=True)
                if not r.capacity_ok:
                    break
    finally:
        lab.stop()
    best = {m: max((r.rate for r in results if r.mode == m and r.sustained), default=None)
            for m in modes}
    ratios = {f"{a} / {b}": round(best[a] / best[b], 3) if best.get(a) and best.get(b) else None
              for a, b in PAIRS}
    meta = {"started": started.isoformat(timespec="seconds"), "step_s": args.step,
            "hold_s": args.hold, "mailboxes": count, "elapsed_s": round(time.monotonic() - t0)}
    lines = [f"# Voicemail: app against app_voicemail {meta['started']}", "",
             f"`python -m bench.native_voicemail` — steps of {args.step:g} s, hold"
             f" {args.hold:g} s, {count} mailboxes per side, took {meta['elapsed_s']} s.", "",
             "| mode | sustained CPS | Asterisk CPU ms/call | app CPU ms/call |",
             "| --- | --- | --- | --- |"]
    for m in modes:
        r = next((x for x in results if x.mode == m and x.rate == best[m]), None)
        lines.append(f"| {m} | {_fmt(best[m])} |"
                     f" {_fmt(r.per_call_ms(r.asterisk_cpu_s)) if r else '–'} |"
                     f" {_fmt(r.per_call_ms(r.app_cpu_s)) if r and MODES[m].app else '–'} |")
    lines += ["", *(f"- **{k}: {_fmt(v)}**" for k, v in ratios.items()), "",
              "| mode | offered | ok | failed | INVITE→200 p50/p99 ms | messages stored"
              " (mean s) | verdict |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        kept = stored.get((r.mode, r.rate))
        lines.append(f"| {r.mode} | {r.rate:g} | {r.successful_calls} | {r.failed_calls} |"
                     f" {r.latency_ms.get('p50')}/{r.latency_ms.get('p99')} |"
                     f" {f'{kept[0]} ({kept[1]})' if kept else '–'} |"
                     f" {'sustained' if r.sustained else '; '.join(r.reasons)} |")
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"voicemail-{stamp}"
    (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
    (args.out / f"{name}.json").write_text(json.dumps(
        {"meta": meta, "sustained_cps": best, "ratios": ratios,
         "stored": {f"{m} {rate:g}": v for (m, rate), v in stored.items()},
         "steps": [asdict(r) for r in results]}, indent=1, ensure_ascii=False))
    print("\n".join(lines[:12]))
    print(f"wrote {args.out / name}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
