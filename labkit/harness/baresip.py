"""baresip (Debian baresip-core) as a real softphone for tests, run inside a NatLab phone
namespace: registers over TLS with SRTP (SDES, mandatory), answers calls by itself and
sends a sine tone; the test drives it through its ctrl_tcp JSON interface.

No sound card: it sends a 440 Hz tone from a file (`aufile`, 8 kHz like the call; made
with sox) and what it hears goes to `aubridge` (a device no other call reads), so the media
flows both ways without ALSA.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from labkit.natlab import NatLab

_CTRL_PORT = 4444

_CONFIG = """\
poll_method		epoll
sip_listen		{phone_ip}:5060
call_local_timeout	120
call_max_calls		2
audio_player		aubridge,anshin
audio_source		aufile,{tone}
audio_alert		aubridge,anshin
audio_level		no
rtp_ports		20000-20100
rtcp_mux		no
jitter_buffer_delay	1-5
module_path		/usr/lib/baresip/modules
module			g711.so
module			srtp.so
module			aufile.so
module			aubridge.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{ctrl}
"""

# A netstring JSON command to ctrl_tcp, sent from inside the phone's namespace.
_SEND = """\
import json, socket, sys
body = sys.argv[1].encode()
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=5) as s:
    s.sendall(str(len(body)).encode() + b":" + body + b",")
    print(s.recv(65535).decode(errors="replace"))
"""


class Baresip:
    def __init__(self, lab: NatLab, workdir: Path, *, server: str, username: str,
                 password: str, regint: int = 60) -> None:
        self.lab, self.workdir, self.server = lab, workdir, server
        self.username = username
        workdir.mkdir(parents=True, exist_ok=True)
        tone = workdir / "tone.wav"
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone),
                        "synth", "60", "sine", "440", "vol", "0.3"], check=True, timeout=30)
        (workdir / "config").write_text(_CONFIG.format(phone_ip=lab.phone_ip,
                                                       ctrl=_CTRL_PORT, tone=tone))
        # answermode=auto: the phone answers a call by itself; mediaenc=srtp-mand: SDES
        # SRTP or nothing; the account is reached over TLS at `server` (host:port).
        (workdir / "accounts").write_text(
            f"<sip:{username}@{server};transport=tls>;auth_pass={password};"
            f"answermode=auto;mediaenc=srtp-mand;regint={regint};audio_codecs=PCMU\n")
        self.log_path = workdir / "baresip.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.lab.in_phone("baresip", "-f", str(self.workdir)),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def command(self, command: str, params: str = "") -> str:
        """One ctrl_tcp command (e.g. "dial", "hangup"); its JSON reply as text."""
        body = json.dumps({"command": command, "params": params, "token": "t"})
        done = subprocess.run(self.lab.in_phone("python3", "-c", _SEND, body, str(_CTRL_PORT)),
                              capture_output=True, text=True, timeout=15, check=False)
        return done.stdout + done.stderr

    def dial(self, number: str) -> str:
        return self.command("dial", f"sip:{number}@{self.server};transport=tls")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
