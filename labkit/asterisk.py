"""Run the project's Asterisk image as a container on host networking (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from labkit.render import LabConfig, render

DOCKER = "/usr/bin/docker"


class LabError(RuntimeError):
    pass


def _docker(*args: str, check: bool = True, timeout: float = 60) -> str:
    proc = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise LabError(f"docker {' '.join(args[:2])} failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class AsteriskContainer:
    image: str
    config: LabConfig
    prompts_dir: Path
    run_dir: Path
    # Configuration appended to rendered files (labkit/render.py `extra`): the bench's own.
    extra_config: dict[str, str] = field(default_factory=dict)
    # Environment of the Asterisk process (the bench's allocator A/B: MALLOC_ARENA_MAX, …)
    env: dict[str, str] = field(default_factory=dict)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"anshin-ast-{self.config.instance}"

    @property
    def ari_url(self) -> str:
        return f"http://{self.config.host}:{self.config.ports.http}/ari"

    @property
    def sip_target(self) -> str:
        return f"{self.config.host}:{self.config.ports.sip}"

    @property
    def softphone_tls_target(self) -> str:
        """Where softphones reach the TLS transport (pjsip.conf [transport-tls])."""
        return f"{self.config.softphone_tls_host}:{self.config.ports.sip_tls}"

    def start(self) -> None:
        etc = render(self.config, self.run_dir / "etc-asterisk", self.extra_config)
        media = self.run_dir / "media"
        recordings = self.run_dir / "recordings"
        media.mkdir(parents=True, exist_ok=True)
        recordings.mkdir(parents=True, exist_ok=True)
        _docker("rm", "-f", self.name, check=False)
        _docker(
            "run", "-d", "--name", self.name, "--network", "host",
            "-v", f"{etc}:/etc/asterisk:ro",
            "-v", f"{self.prompts_dir}:/usr/share/asterisk/sounds/anshin:ro",
            "-v", f"{media}:/var/lib/anshin/media",
            "-v", f"{recordings}:/var/spool/asterisk/recording",
            *[arg for k, v in sorted(self.env.items()) for arg in ("-e", f"{k}={v}")],
            self.image,
        )

    async def wait_ready(self, timeout: float = 60.0) -> float:
        """Wait until ARI answers; return the seconds it took."""
        t0 = time.monotonic()
        auth = aiohttp.encode_basic_auth(self.config.ari_user, self.config.ari_password)
        async with aiohttp.ClientSession(headers={"Authorization": auth}) as http:
            while True:
                try:
                    async with http.get(f"{self.ari_url}/asterisk/info",
                                        timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return time.monotonic() - t0
                except (aiohttp.ClientError, TimeoutError):
                    pass
                if time.monotonic() - t0 > timeout:
                    raise LabError(
                        f"Asterisk ARI not ready after {timeout}s:\n{self.logs()[-3000:]}")
                if not self.running():
                    raise LabError(f"Asterisk container exited:\n{self.logs()[-3000:]}")
                await asyncio.sleep(0.2)

    def running(self) -> bool:
        out = _docker("inspect", "-f", "{{.State.Running}}", self.name, check=False)
        return out.strip() == "true"

    def cli(self, command: str) -> str:
        return _docker("exec", self.name, "asterisk", "-rx", command, timeout=20)

    def logs(self) -> str:
        proc = subprocess.run([DOCKER, "logs", self.name], capture_output=True, text=True,
                              timeout=30)
        return proc.stdout + proc.stderr

    def restart(self) -> None:
        _docker("restart", "-t", "2", self.name)

    def stop(self) -> None:
        _docker("rm", "-f", self.name, check=False)
