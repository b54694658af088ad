"""Assembling a lab from its parts: the one place tests, the fault suite and the benchmarks
get the Asterisk image, the prompts, an Asterisk on free ports and the app's environment."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from labkit.asterisk import AsteriskContainer, LabError
from labkit.ports import free_port, free_range
from labkit.render import LabConfig, LabPorts

REPO = Path(__file__).resolve().parent.parent
# The softphone accounts in asterisk-conf/pjsip.conf.
LAB_PHONES = "09000000001,09000000002"


def asterisk_image() -> str:
    """The project's Asterisk image: ANSHIN_ASTERISK_IMAGE, or the tag `./lab` last built."""
    image = os.environ.get("ANSHIN_ASTERISK_IMAGE")
    if not image and (REPO / "build/asterisk-image").exists():
        image = (REPO / "build/asterisk-image").read_text().strip()
    if not image:
        raise LabError("no Asterisk image: run ./lab test or ./lab images (they build it)")
    return image


def prompts_dir() -> Path:
    """The generated Japanese prompts (generated now if missing or stale; cached)."""
    path = Path(os.environ.get("ANSHIN_PROMPTS_DIR", REPO / "build/prompts"))
    subprocess.run([sys.executable, "-m", "ivr_prompts", "--out", str(path)], check=True,
                   timeout=600, cwd=REPO)
    return path


def new_asterisk(run_dir: Path, prefix: str, *, rtp_ports: int = 400,
                 extra_config: dict[str, str] | None = None, host: str = "127.0.0.1",
                 edge: str = "") -> AsteriskContainer:
    """An Asterisk container (not started yet) with every port free, bound to `host`;
    `extra_config`: configuration appended to rendered files (labkit/render.py); `edge`:
    "host:port" of the Kamailio edge this node sits behind (docs/edge.md), "" for none."""
    rtp_start, rtp_end = free_range(rtp_ports)
    config = LabConfig(
        instance=prefix + uuid.uuid4().hex[:8],
        ports=LabPorts(sip=free_port(), http=free_port(), rtp_start=rtp_start,
                       rtp_end=rtp_end, carrier=free_port(), sip_tls=free_port()),
        softphone_tls_host=host, host=host, edge=edge,
    )
    return AsteriskContainer(image=asterisk_image(), config=config, prompts_dir=prompts_dir(),
                             run_dir=run_dir, extra_config=dict(extra_config or {}))


def app_env(asterisk: AsteriskContainer, database_url: str, **settings: str) -> dict[str, str]:
    """The app's ANSHIN_* environment for this Asterisk and database, plus `settings`
    (e.g. ANSHIN_LOG_LEVEL="DEBUG")."""
    cfg = asterisk.config
    return {
        # The lab's well-known secrets and trust login (callflow/deployment.py).
        "ANSHIN_PROFILE": "lab",
        "ANSHIN_ARI_URL": asterisk.ari_url,
        "ANSHIN_ARI_USER": cfg.ari_user,
        "ANSHIN_ARI_PASSWORD": cfg.ari_password,
        "ANSHIN_ARI_APP": cfg.ari_app,
        "ANSHIN_ARI_APP_SPREAD": str(cfg.ari_app_spread),
        "ANSHIN_DATABASE_URL": database_url,
        "ANSHIN_MEDIA_DIR": str(asterisk.run_dir / "media"),
        "ANSHIN_LAB_PHONES": LAB_PHONES,
        # the lab's carrier, SIPp callers and test phones all come from 127.0.0.1: never
        # ban it for password spraying (tests spray from 127.0.0.x, docs/softphone.md)
        "ANSHIN_REGISTER_GUARD_NEVER_BAN": "127.0.0.1/32",
        **settings,
    }
