"""A SIPp UAS on the lab carrier port that behaves per called number (To user).

Both callback legs go to the same carrier gateway; the scenario routes each INVITE by
the user in its To header to one behaviour: answer (optionally sending DTMF by SIP INFO
and/or playing speech, and hanging up after ``hold_ms``), ring (never answers; CANCEL ->
487), busy (486) or reject (``code``). Built from the shared harness's scenario pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .scenario_xml import (
    INDIALOG_REQUESTS,
    ScenarioBuilder,
    UasConfig,
    _capture_invite,
    _invite_response,
    _reply_200,
    _return_from_handler,
    sdp,
)


@dataclass(frozen=True)
class Behaviour:
    mode: Literal["answer", "ring", "busy", "reject"] = "answer"
    ring_ms: int = 300
    hold_ms: int | None = None  # answer: BYE after this; None = wait for the BYE
    dtmf: str = ""  # answer: SIP INFO digits after dtmf_after_ms
    dtmf_after_ms: int = 1500
    code: int = 403
    reason: str = "Forbidden"
    pcap: str | None = None


def _bye(cseq: int) -> str:
    return "\n".join([
        "BYE [next_url] SIP/2.0",
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        "From: [$inv_to];tag=[pid]SIPpTag01[call_number]",
        "To: [$inv_from]",
        "Call-ID: [$inv_callid]",
        f"CSeq: {cseq} BYE",
        "[routes]",
        "Max-Forwards: 70",
        "Content-Length: 0",
    ])


def _info(cseq: int, digit: str) -> str:
    return "\n".join([
        "INFO [next_url] SIP/2.0",
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
        "From: [$inv_to];tag=[pid]SIPpTag01[call_number]",
        "To: [$inv_from]",
        "Call-ID: [$inv_callid]",
        f"CSeq: {cseq} INFO",
        "[routes]",
        "Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>",
        "Max-Forwards: 70",
        "Content-Type: application/dtmf-relay",
        "Content-Length: [len]",
        "",
        f"Signal={digit}",
        "Duration=160",
    ])


def routed_uas_scenario(routes: Mapping[str, Behaviour], default: Behaviour) -> str:
    cfg = UasConfig()
    b = ScenarioBuilder("anshin callback uas")
    route_user = ['<ereg regexp="sip:([^@;>]+)" search_in="hdr" header="To:" '
                  'check_it="true" assign_to="_,ruser"/>'] if routes else []
    # (SIPp refuses a scenario with a variable set but never read: no routes, no ereg)
    b.recv([*_capture_invite(), *route_user], request="INVITE", rrs="true")
    b.send(_invite_response(100, "Trying", cfg=cfg))
    names = {user: f"r{i}" for i, user in enumerate(routes)}
    for user, name in names.items():
        b.nop([f'<strcmp assign_to="c_{name}" variable="ruser" value="{user}"/>',
               f'<test assign_to="is_{name}" variable="c_{name}" compare="equal" value="0"/>'],
              test=f"is_{name}", next=name)
    b.nop([], next="rdefault")
    for name, beh in [*((names[u], routes[u]) for u in routes), ("rdefault", default)]:
        b.jump_target(name)
        if beh.mode in ("answer", "ring"):
            b.send(_invite_response(180, "Ringing", cfg=cfg))
        if beh.mode == "answer":
            b.pause(beh.ring_ms)
            b.send(_invite_response(200, "OK", cfg=cfg, body=sdp(0)), retrans="500")
            b.recv(request="ACK", timeout="10000", ontimeout="end")
            if beh.pcap:
                b.nop([f'<exec play_pcap_audio="{beh.pcap}"/>'])
            cseq = 1
            for i, digit in enumerate(beh.dtmf):
                b.pause(beh.dtmf_after_ms if i == 0 else 300)
                b.send(_info(cseq, digit), retrans="500")
                b.recv(response="200", timeout="5000", ontimeout="end")
                cseq += 1
            if beh.hold_ms is None:
                b.pause(24 * 3600 * 1000)
            else:
                b.pause(beh.hold_ms)
            b.send(_bye(cseq), retrans="500")
            b.recv(response="481", optional="true", next="end")
            b.recv(response="200", timeout="8000", ontimeout="end", next="end")
        elif beh.mode == "ring":
            b.pause(600_000)
            b.send(_invite_response(480, "Temporarily Unavailable", cfg=cfg))
            b.recv(request="ACK", timeout="10000", ontimeout="end", next="end")
        else:
            code, reason = (486, "Busy Here") if beh.mode == "busy" else (beh.code, beh.reason)
            b.pause(beh.ring_ms)
            b.send(_invite_response(code, reason, cfg=cfg))
            b.recv(request="ACK", timeout="10000", ontimeout="end", next="end")

    b.label("_unexp.main")
    b.recv(request="CANCEL", optional="global", next="h_cancel")
    b.recv(request="BYE", optional="global", next="h_bye")
    b.recv(request="INVITE", optional="global", next="h_reinvite")
    for method in INDIALOG_REQUESTS:
        b.recv(request=method, optional="global", next="h_ok")
    b.recv(request="ACK", next="h_return")
    b.label("h_return")
    _return_from_handler(b)
    b.label("h_cancel")
    b.send(_reply_200())
    b.send(_invite_response(487, "Request Terminated", cfg=cfg))
    b.recv(request="ACK", timeout="10000", ontimeout="end", next="end")
    b.label("h_bye")
    b.send(_reply_200(), next="end")
    b.label("h_reinvite")
    b.send(_reply_200(body=sdp(0)))
    b.recv(request="ACK", timeout="5000", ontimeout="h_return", next="h_return")
    b.label("h_ok")
    b.send(_reply_200())
    _return_from_handler(b)
    b.label("end")
    b.nop([])
    return b.render()
