"""The app's figures and log lines, without a lab: what each observation adds to the
Prometheus metrics and the benchmark's windows, the live and database-derived figures, the
operator endpoint's probes over real HTTP, and the log formats with a call's context."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from callflow.logs import JsonFormatter, TextFormatter, bind
from callflow.metrics import DialplanCounters, LiveFigures, Metrics, dtmf_received
from callflow.status import StatusServer
from callflow.store.figures import OperationalFigures
from labkit.ports import free_port


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.prometheus().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_first_action_and_dtmf_to_prompt_are_observed_once_per_call() -> None:
    m = Metrics()

    def call() -> None:
        m.call_started("2026-11-29T10:00:00.000+0900")
        m.on_ari_request("GET", "/channels/c1")  # first request, not an action
        m.on_ari_request("POST", "/channels/c1/answer")  # first action
        m.on_ari_request("POST", "/channels/c1/ring")  # not counted again
        m.on_ari_request("POST", "/channels/c1/play")  # no key pressed yet: not DTMF → prompt
        dtmf_received()
        dtmf_received()  # the first unanswered key is the one timed
        m.on_ari_request("POST", "/channels/c1/variable")  # not a prompt
        m.on_ari_request("POST", "/channels/c1/play")  # the prompt that answers the key
        m.on_ari_request("POST", "/channels/c1/play")

    contextvars.copy_context().run(call)
    s = samples(m)
    assert s[("anshin_stasis_start_to_first_request_seconds_count", ())] == 1
    assert s[("anshin_stasis_start_to_first_action_seconds_count", (("clock", "app"),))] == 1
    assert s[("anshin_stasis_start_to_first_action_seconds_count", (("clock", "asterisk"),))] == 1
    assert s[("anshin_dtmf_to_prompt_seconds_count", ())] == 1
    snap = m.snapshot()
    assert snap["stasis_start_to_first_action_ms"]["n"] == 1  # type: ignore[index]
    assert snap["dtmf_to_prompt_ms"]["n"] == 1  # type: ignore[index]
    m.reset()  # the benchmark's windows only; Prometheus series are cumulative
    assert m.snapshot()["dtmf_to_prompt_ms"]["n"] == 0  # type: ignore[index]
    assert samples(m)[("anshin_dtmf_to_prompt_seconds_count", ())] == 1


def test_requests_outside_a_call_are_not_timed() -> None:
    m = Metrics()
    contextvars.copy_context().run(lambda: m.on_ari_request("POST", "/channels/c1/play"))
    s = samples(m)
    assert s[("anshin_stasis_start_to_first_request_seconds_count", ())] == 0
    assert s[("anshin_dtmf_to_prompt_seconds_count", ())] == 0


def test_calls_by_route_and_outcome_live_figures_and_fallbacks() -> None:
    m = Metrics()
    m.watch_live(LiveFigures(live_calls=lambda: 3, ari_connected=lambda: True,
                             ari_connections=lambda: 2, ari_reconnects=lambda: 1))
    m.call_ended("retrieval_ivr", "caller_hung_up")
    m.call_ended("retrieval_ivr", "caller_hung_up")
    s = samples(m)
    assert s[("anshin_calls_total", (("outcome", "caller_hung_up"),
                                     ("route", "retrieval_ivr")))] == 2
    assert s[("anshin_live_calls", ())] == 3
    assert s[("anshin_ari_connected", ())] == 1
    assert s[("anshin_ari_reconnects_total", ())] == 1
    assert not any(name.startswith("anshin_dialplan_") for name, _ in s)
    m.dialplan = DialplanCounters(fallbacks=4, overload_refusals=7)  # once connected
    assert samples(m)[("anshin_dialplan_fallback_announcements_total", ())] == 4
    assert samples(m)[("anshin_dialplan_overload_refusals_total", ())] == 7


def test_database_figures_replace_the_last_ones() -> None:
    m = Metrics()
    m.database_figures(OperationalFigures(
        outbox_depth=5, outbox_oldest_age_s=700.0, outbox_retrying=2, mail_given_up=1,
        ivr_lockouts_active=3, voicemail_messages=4, voicemail_bytes=64000,
        call_requests={("callback", "pending"): 2, ("twofa_voice", "completed"): 7}))
    s = samples(m)
    assert s[("anshin_mail_outbox_depth", ())] == 5
    assert s[("anshin_mail_outbox_oldest_age_seconds", ())] == 700
    assert s[("anshin_mail_delivery_failed", ())] == 1
    assert s[("anshin_ivr_lockouts_active", ())] == 3
    assert s[("anshin_voicemail_storage_bytes", ())] == 64000
    assert s[("anshin_call_requests", (("kind", "callback"), ("state", "pending")))] == 2
    m.database_figures(OperationalFigures(call_requests={("callback", "completed"): 1}))
    s = samples(m)
    assert ("anshin_call_requests", (("kind", "callback"), ("state", "pending"))) not in s
    assert s[("anshin_mail_outbox_depth", ())] == 0


async def test_database_job_survives_failures_and_keeps_last_values() -> None:
    m = Metrics()
    reads = 0
    third = asyncio.Event()

    async def read() -> OperationalFigures:
        nonlocal reads
        reads += 1
        if reads == 3:
            third.set()
        if reads == 2:
            raise OSError("database down")
        return OperationalFigures(outbox_depth=reads)

    async def dialplan() -> DialplanCounters | None:
        return None  # ARI not connected: the counts stay unknown

    job = asyncio.create_task(m.watch_database(read, dialplan, interval=0.01, timeout=1))
    await asyncio.wait_for(third.wait(), 10)
    job.cancel()
    assert samples(m)[("anshin_mail_outbox_depth", ())] >= 1
    assert m.dialplan is None


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


async def test_status_server_separates_liveness_and_readiness() -> None:
    m = Metrics()
    connected = False
    database = True

    async def database_ok() -> bool:
        return database

    server = StatusServer(lambda: {"ari_connected": connected, "live_calls": 0}, m,
                          port := free_port(), database_ok=database_ok)
    await server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        status, body, _ = await asyncio.to_thread(_get, base + "/health")
        assert status == 200 and json.loads(body)["ari_connected"] is False
        status, body, _ = await asyncio.to_thread(_get, base + "/ready")
        assert status == 503
        connected = True
        assert (await asyncio.to_thread(_get, base + "/ready"))[0] == 200
        database = False
        status, body, _ = await asyncio.to_thread(_get, base + "/ready")
        assert status == 503 and json.loads(body)["database_reachable"] is False
        status, body, ctype = await asyncio.to_thread(_get, base + "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert any(f.name == "anshin_calls"
                   for f in text_string_to_metric_families(body.decode()))
        status, body, _ = await asyncio.to_thread(_get, base + "/metrics.json")
        assert "stasis_start_to_first_action_ms" in json.loads(body)
    finally:
        await server.stop()


def _record(msg: str) -> logging.LogRecord:
    return logging.LogRecord("callflow.app", logging.INFO, __file__, 1, msg, None, None)


def test_log_lines_carry_the_context_of_their_call() -> None:
    def call() -> tuple[str, str]:
        bind(call_id="ch-1", channel="PJSIP/carrier-1", number=None)
        bind(number="05012345678")
        return (JsonFormatter("callflow").format(_record("call ch-1: answered")),
                TextFormatter().format(_record("call ch-1: answered")))

    line, text = contextvars.copy_context().run(call)
    entry = json.loads(line)
    assert entry["msg"] == "call ch-1: answered" and entry["service"] == "callflow"
    assert (entry["call_id"], entry["channel"], entry["number"]) == (
        "ch-1", "PJSIP/carrier-1", "05012345678")
    assert text.endswith("[call_id=ch-1 channel=PJSIP/carrier-1 number=05012345678]")
    # outside the call: no context
    assert "call_id" not in json.loads(JsonFormatter("callflow").format(_record("idle")))
