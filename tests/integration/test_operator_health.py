"""The operator's /health endpoint as a scraper reads it: plain HTTP GET, JSON of the live
figures, and figures that follow real calls (SIPp → Asterisk → the app).

(/metrics, in the Prometheus format, is covered with the observability tests.)
"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Hangup, Wait, place_call
from labkit.harness.wait import wait_until

pytestmark = pytest.mark.lab

FIGURES = {"ari_connected": bool, "ari_connections": int, "ari_reconnects": int,
           "live_calls": int, "calls_handled": int, "uptime_s": float, "tasks": int}


def scrape(app: AppProcess) -> dict[str, object]:
    """What a scraper (curl, a monitoring agent) gets from GET /health."""
    with urllib.request.urlopen(f"http://127.0.0.1:{app.status_port}/health",
                                timeout=3) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "application/json"
        body = json.loads(response.read())
    assert isinstance(body, dict)
    for name, kind in FIGURES.items():
        value = body.get(name)
        assert isinstance(value, kind) or (kind is float and isinstance(value, int)), (name, body)
    return body


async def test_health_figures_follow_a_real_call(app: AppProcess,
                                                 asterisk: AsteriskContainer) -> None:
    before = scrape(app)
    assert before["ari_connected"] is True
    # a call to the message center, held in the first prompt for a few seconds
    call = asyncio.create_task(place_call(target=asterisk.sip_target, dialed="05033005000",
                                          steps=[Wait(6.0), Hangup()], timeout_s=30))
    await wait_until(lambda: scrape(app)["live_calls"] == 1, 10, "/health shows the live call")
    result = await call
    assert result.answered, result.describe()
    await wait_until(lambda: scrape(app)["live_calls"] == 0, 10, "/health shows it ended")
    after = scrape(app)
    handled_before, handled_after = before["calls_handled"], after["calls_handled"]
    assert isinstance(handled_before, int) and isinstance(handled_after, int)
    assert handled_after == handled_before + 1
    uptime_before, uptime_after = before["uptime_s"], after["uptime_s"]
    assert isinstance(uptime_before, int | float) and isinstance(uptime_after, int | float)
    assert uptime_after > uptime_before
    assert after["ari_reconnects"] == before["ari_reconnects"]
