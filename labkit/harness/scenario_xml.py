"""SIPp 3.6 scenario XML generation (UAC call and UAS answer/ring/busy/reject).

Scenarios are generated per run rather than shipped as static files because
the interesting parts vary per test: the caller identity, the DTMF/INFO
timeline and the SDP media-port offset (see :mod:`labkit.harness.sipp`).  Run
``python -m labkit.harness.scenario_xml DIR`` to dump example scenarios for reading
or for running SIPp by hand.

Design (both directions):

* Every wait is a ``<pause>``; anything that arrives during a pause is an
  "unexpected" message and makes SIPp jump to the ``_unexp.main`` label.  The
  handler there is a chain of optional ``<recv>`` elements (BYE, CANCEL,
  re-INVITE, UPDATE/INFO/OPTIONS/NOTIFY, responses to our requests).  After
  answering, it resumes the interrupted pause for exactly its remaining time
  (``_unexp.retaddr`` / ``_unexp.pausedaddr`` / ``<pauserestore>`` /
  ``<jump>``).  So the far end may hang up, re-INVITE or UPDATE at any moment.
* While the handler label exists SIPp's ``-aa`` auto-answer is bypassed, so
  the handler answers UPDATE/INFO/OPTIONS/NOTIFY itself.
* Handler ``<recv>`` elements are ``optional="global"``: a message arriving
  while the call is still inside the handler is matched there too (SIPp's
  backward search would otherwise abort the call, or even hit an assertion
  for INVITE transactions).
* UAC: SIPp transactions match on the Via branch only, and CANCEL shares the
  INVITE's branch, so ``response_txn`` cannot tell "200 to INVITE" from "200
  to CANCEL".  Responses are therefore dispatched on the CSeq method
  (``ereg`` + ``strcmp`` + ``test``): a 200 to INVITE jumps through the call
  variable ``on200`` (a message index): first "answered", then "re-ACK" (a
  retransmitted 200), or "ACK + BYE" when it crosses our CANCEL; 3xx-6xx to
  INVITE -> ACK and end; anything else (200/4xx to INFO, BYE, CANCEL) resumes.
* Branch values follow SIPp's ``[branch]`` recipe ``z9hG4bK-[pid]-[call_number]-<index>``
  so CANCEL and the non-2xx ACK can reuse the INVITE's branch (index 1).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import quoteattr

# SIP final responses a UAC may get for INVITE (besides 200), one optional <recv> each.
FAILURE_CODES: tuple[int, ...] = (
    300, 301, 302, 305, 380,
    400, 401, 402, 403, 404, 405, 406, 407, 408, 410, 413, 414, 415, 416, 420, 421, 422, 423,
    428, 429, 433, 436, 437, 438, 470, 480, 481, 482, 483, 484, 485, 486, 487, 488, 489, 491,
    493, 494,
    500, 501, 502, 503, 504, 505, 513, 580,
    600, 603, 604, 606, 607, 608,
)  # fmt: skip
INVITE_INDEX = 1  # the UAC's INVITE is scenario element 1 (SIPp's [branch] uses the index)
PROVISIONAL_CODES: tuple[int, ...] = (100, 180, 181, 182, 183, 199)
INDIALOG_REQUESTS: tuple[str, ...] = ("UPDATE", "INFO", "OPTIONS", "NOTIFY", "MESSAGE")

_LABEL_REF = re.compile(r"\{\{idx:([A-Za-z0-9_.]+)\}\}")
_USER_SAFE = re.compile(r"^[^\[\]\r\n]*$")


def check_user_text(value: str, what: str) -> str:
    """SIPp treats ``[...]`` as keywords; refuse them (and line breaks) in user values."""
    if not _USER_SAFE.match(value) or "]]>" in value:
        raise ValueError(f"{what} must not contain '[', ']' or line breaks: {value!r}")
    return value


def media_port_keyword(offset: int) -> str:
    """``[media_port+N]``: SIPp also uses this value as the pcap source port."""
    return f"[media_port{offset:+d}]"


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    cdata: str | None = None
    actions: list[str] = field(default_factory=list)


class ScenarioBuilder:
    """Small builder that knows SIPp message indices (for ``<jump value=...>``).

    Labels are zero-width; every ``send``/``recv``/``pause``/``nop`` is one
    index.  ``{{idx:LABEL}}`` inside action strings is replaced by the index
    the label points at.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._items: list[_Element | str] = []  # str = label

    def label(self, name: str) -> None:
        self._items.append(name)

    def jump_target(self, name: str) -> None:
        """A label reached by ``<jump>``: SIPp sets index = target - 1 and then
        applies the ``next`` attribute of *that* element, so put a plain
        ``<nop/>`` spacer in front."""
        self.nop()
        self.label(name)

    def send(self, message: str, **attrs: str) -> None:
        self._items.append(_Element("send", dict(attrs), cdata=message))

    def recv(self, actions: Sequence[str] = (), **attrs: str) -> None:
        self._items.append(_Element("recv", dict(attrs), actions=list(actions)))

    def pause(self, milliseconds: int, **attrs: str) -> None:
        self._items.append(
            _Element("pause", {"milliseconds": str(max(1, int(milliseconds))), **attrs})
        )

    def nop(self, actions: Sequence[str] = (), **attrs: str) -> None:
        self._items.append(_Element("nop", dict(attrs), actions=list(actions)))

    def label_indices(self) -> dict[str, int]:
        out: dict[str, int] = {}
        index = 0
        for item in self._items:
            if isinstance(item, str):
                if item in out:
                    raise ValueError(f"duplicate label {item}")
                out[item] = index
            else:
                index += 1
        return out

    def render(self) -> str:
        labels = self.label_indices()

        def resolve(text: str) -> str:
            return _LABEL_REF.sub(lambda m: str(labels[m.group(1)]), text)

        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<!DOCTYPE scenario SYSTEM "sipp.dtd">',
            f"<scenario name={quoteattr(self.name)}>",
        ]
        index = 0
        for item in self._items:
            if isinstance(item, str):
                lines.append(f"  <label id={quoteattr(item)}/>")
                continue
            attrs = "".join(f" {k}={quoteattr(resolve(v))}" for k, v in item.attrs.items())
            lines.append(f"  <!-- index {index} -->")
            index += 1
            if item.cdata is None and not item.actions:
                lines.append(f"  <{item.tag}{attrs}/>")
                continue
            lines.append(f"  <{item.tag}{attrs}>")
            if item.cdata is not None:
                if "]]>" in item.cdata:
                    raise ValueError("CDATA must not contain ]]>")
                lines.append("    <![CDATA[")
                lines.append(item.cdata.strip("\n"))
                lines.append("")
                lines.append("    ]]>")
            if item.actions:
                lines.append("    <action>")
                lines.extend(f"      {resolve(a)}" for a in item.actions)
                lines.append("    </action>")
            lines.append(f"  </{item.tag}>")
        lines.append("</scenario>")
        return "\n".join(lines) + "\n"


def sdp(media_port_offset: int, *, session: str = "anshin-test") -> str:
    return "\n".join(
        [
            "v=0",
            "o=anshin 1 1 IN IP[local_ip_type] [local_ip]",
            f"s={session}",
            "c=IN IP[media_ip_type] [media_ip]",
            "t=0 0",
            f"m=audio {media_port_keyword(media_port_offset)} RTP/AVP 0 101",
            "a=rtpmap:0 PCMU/8000",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-16",
            "a=ptime:20",
            "a=sendrecv",
        ]
    )


_RETURN_ACTIONS = (
    '<assign assign_to="ret" variable="_unexp.retaddr"/>',
    '<assign assign_to="_unexp.retaddr" value="0"/>',
    '<pauserestore variable="_unexp.pausedaddr"/>',
    '<jump variable="ret"/>',
)


_CSEQ_METHOD = (
    '<ereg regexp="[0-9]+ +([A-Za-z]+)" search_in="hdr" header="CSeq:" check_it="true" '
    'assign_to="_,cseq_method"/>'
)
_IS_INVITE = (
    '<strcmp assign_to="cseq_cmp" variable="cseq_method" value="INVITE"/>',
    '<test assign_to="is_invite" variable="cseq_cmp" compare="equal" value="0"/>',
)


def _return_from_handler(b: ScenarioBuilder) -> None:
    b.nop(_RETURN_ACTIONS)


def _reply_200(extra: str = "", body: str = "") -> str:
    lines = [
        "SIP/2.0 200 OK",
        "[last_Via:]",
        "[last_From:]",
        "[last_To:]",
        "[last_Call-ID:]",
        "[last_CSeq:]",
        "Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>",
    ]
    if extra:
        lines.append(extra)
    if body:
        lines += ["Content-Type: application/sdp", "Content-Length: [len]", "", body]
    else:
        lines.append("Content-Length: 0")
    return "\n".join(lines)


# --------------------------------------------------------------------------- UAC


@dataclass(frozen=True)
class InfoDigit:
    """Send one SIP INFO (application/dtmf-relay) at ``at_s`` after the ACK."""

    at_s: float
    digit: str
    duration_ms: int = 160


@dataclass(frozen=True)
class UacConfig:
    dialed: str
    caller: str = "09012345678"
    caller_name: str | None = None
    from_host: str | None = None  # default: [local_ip] (or anonymous.invalid for anonymous)
    privacy_id: bool = False
    extra_headers: tuple[str, ...] = ()
    media_port_offset: int = 0
    pcap: str | None = None  # played with play_pcap_audio right after the ACK
    # played when a 183 (early media, its SDP gives the address) arrives, before any answer
    early_pcap: str | None = None
    info_digits: tuple[InfoDigit, ...] = ()
    # After the ACK: stay this long (ms) in total, then BYE - unless the remote hangs up first.
    hangup_after_ms: int = 5000
    # Before the final response: CANCEL after this long (ms after INVITE).
    cancel_after_ms: int = 60000
    user_agent: str = "anshin-test-harness (SIPp)"


def _uac_headers(cfg: UacConfig) -> tuple[str, str, str]:
    caller = check_user_text(cfg.caller, "caller")
    anonymous = caller.lower() == "anonymous"
    if cfg.from_host is not None:
        host = check_user_text(cfg.from_host, "from_host")
    else:
        host = "anonymous.invalid" if anonymous else "[local_ip]"
    name = cfg.caller_name if cfg.caller_name is not None else ("Anonymous" if anonymous else None)
    display = f'"{check_user_text(name, "caller_name")}" ' if name else ""
    from_hdr = f"From: {display}<sip:{caller}@{host}>;tag=[pid]SIPpTag00[call_number]"
    dialed = check_user_text(cfg.dialed, "dialed")
    to_uri = f"sip:{dialed}@[remote_ip]:[remote_port]"
    contact_user = "anonymous" if anonymous else caller
    contact = f"Contact: <sip:{contact_user}@[local_ip]:[local_port];transport=[transport]>"
    return from_hdr, to_uri, contact


def uac_scenario(cfg: UacConfig) -> str:
    """A complete UAC call: INVITE ... (CANCEL | 4xx | 200 ACK media [INFO...] BYE)."""
    from_hdr, to_uri, contact = _uac_headers(cfg)
    b = ScenarioBuilder("anshin uac call")
    invite_branch = f"z9hG4bK-[pid]-[call_number]-{INVITE_INDEX}"
    extra = [check_user_text(h, "extra header") for h in cfg.extra_headers]
    if cfg.privacy_id:
        extra.append("Privacy: id")
    invite = "\n".join(
        [
            f"INVITE {to_uri} SIP/2.0",
            f"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={invite_branch}",
            from_hdr,
            f"To: <{to_uri}>",
            "Call-ID: [call_id]",
            "CSeq: 1 INVITE",
            contact,
            "Max-Forwards: 70",
            f"User-Agent: {check_user_text(cfg.user_agent, 'user_agent')}",
            "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY",
            "Supported: replaces",
            *extra,
            "Content-Type: application/sdp",
            "Content-Length: [len]",
            "",
            sdp(cfg.media_port_offset),
        ]
    )
    # 0: set up the 200 dispatch *before* sending: on loopback the answer can
    # arrive before the element after the INVITE has run.
    b.nop(
        [
            '<assign assign_to="on200" value="{{idx:answered}}"/>',
            '<assign assign_to="_unexp.retaddr" value="0"/>',
        ]
    )
    # 1: INVITE (its branch, index 1, is reused by CANCEL and the non-2xx ACK)
    b.send(invite, retrans="500")
    # Ringing: everything (1xx, 200, 4xx) is handled by _unexp.main during this pause.
    b.pause(cfg.cancel_after_ms)

    # ---- CANCEL path (no final response in time)
    b.nop(['<assign assign_to="on200" value="{{idx:ack_then_bye}}"/>'])
    b.send(
        "\n".join(
            [
                f"CANCEL {to_uri} SIP/2.0",
                f"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={invite_branch}",
                from_hdr,
                f"To: <{to_uri}>",
                "Call-ID: [call_id]",
                "CSeq: 1 CANCEL",
                "Max-Forwards: 70",
                "Content-Length: 0",
            ]
        ),
        retrans="500",
    )
    # The 200 (CANCEL) and 487 (INVITE) arrive via the handler during this pause.
    b.pause(8000)  # never put next= on a pause: the handler returns to pause + 1
    b.nop(next="end")

    # ---- answered
    b.jump_target("answered")
    b.send(
        "\n".join(
            [
                "ACK [next_url] SIP/2.0",
                "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                from_hdr,
                f"To: <{to_uri}>[peer_tag_param]",
                "Call-ID: [call_id]",
                "CSeq: 1 ACK",
                "[routes]",
                contact,
                "Max-Forwards: 70",
                "Content-Length: 0",
            ]
        )
    )
    answered_actions = [
        '<assign assign_to="on200" value="{{idx:reack}}"/>',
        '<assign assign_to="_unexp.retaddr" value="0"/>',
    ]
    if cfg.pcap:
        answered_actions.append(f"<exec play_pcap_audio={quoteattr(cfg.pcap)}/>")
    b.nop(answered_actions)

    cursor_ms = 0
    cseq = 2
    for info in sorted(cfg.info_digits, key=lambda d: d.at_s):
        at_ms = round(info.at_s * 1000)
        if at_ms > cursor_ms:
            b.pause(at_ms - cursor_ms)
            cursor_ms = at_ms
        signal = info.digit.upper()
        if signal not in "0123456789*#ABCD" or len(signal) != 1:
            raise ValueError(f"not a DTMF digit: {info.digit!r}")
        b.send(
            "\n".join(
                [
                    "INFO [next_url] SIP/2.0",
                    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                    from_hdr,
                    f"To: <{to_uri}>[peer_tag_param]",
                    "Call-ID: [call_id]",
                    f"CSeq: {cseq} INFO",
                    "[routes]",
                    contact,
                    "Max-Forwards: 70",
                    "Content-Type: application/dtmf-relay",
                    "Content-Length: [len]",
                    "",
                    f"Signal={signal}",
                    f"Duration={info.duration_ms}",
                ]
            ),
            retrans="500",
        )
        cseq += 1
    if cfg.hangup_after_ms > cursor_ms:
        b.pause(cfg.hangup_after_ms - cursor_ms)

    # ---- local hangup
    b.label("local_bye")
    b.send(
        "\n".join(
            [
                "BYE [next_url] SIP/2.0",
                "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                from_hdr,
                f"To: <{to_uri}>[peer_tag_param]",
                "Call-ID: [call_id]",
                f"CSeq: {cseq} BYE",
                "[routes]",
                contact,
                "Max-Forwards: 70",
                "Content-Length: 0",
            ]
        ),
        retrans="500",
    )
    b.recv(response="481", optional="true", next="end")
    b.recv(response="200", timeout="8000", ontimeout="end", next="end")

    # ---- unexpected-message handler
    # optional="global": a message that arrives while the call is still inside
    # the handler is matched here too (instead of SIPp's backward search, which
    # aborts or even asserts on INVITE transactions).
    b.label("_unexp.main")
    for code in PROVISIONAL_CODES:
        early = cfg.early_pcap if code == 183 else None
        b.recv([f"<exec play_pcap_audio={quoteattr(early)}/>"] if early else [],
               response=str(code), optional="global", next="h_return")
    b.recv([_CSEQ_METHOD], response="200", optional="global", rrs="true", next="h_200")
    for code in FAILURE_CODES:
        b.recv([_CSEQ_METHOD], response=str(code), optional="global", next="h_err")
    b.recv(request="BYE", optional="global", next="h_bye")
    b.recv(request="INVITE", optional="global", next="h_reinvite")
    for method in INDIALOG_REQUESTS:
        b.recv(request=method, optional="global", next="h_ok")
    # SIPp wants every optional chain closed by a mandatory <recv>
    b.recv(request="ACK", next="h_return")
    b.label("h_return")
    _return_from_handler(b)

    # 200: for the INVITE (CSeq method) -> dispatch through on200, else (INFO/BYE/CANCEL) resume
    b.label("h_200")
    b.nop(_IS_INVITE, test="is_invite", next="h_inv200")
    b.nop(next="h_return")
    # >= 300: for the INVITE -> ACK and end, else (a failed INFO) resume
    b.label("h_err")
    b.nop(_IS_INVITE, test="is_invite", next="h_failed")
    b.nop(next="h_return")

    b.label("h_inv200")
    b.nop(['<jump variable="on200"/>'])

    b.jump_target("reack")  # retransmitted 200 for the INVITE: ACK again, resume
    b.send(
        "\n".join(
            [
                "ACK [next_url] SIP/2.0",
                "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                from_hdr,
                f"To: <{to_uri}>[peer_tag_param]",
                "Call-ID: [call_id]",
                "CSeq: 1 ACK",
                "[routes]",
                "Max-Forwards: 70",
                "Content-Length: 0",
            ]
        )
    )
    _return_from_handler(b)

    b.jump_target("ack_then_bye")  # 200 crossed our CANCEL
    b.send(
        "\n".join(
            [
                "ACK [next_url] SIP/2.0",
                "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                from_hdr,
                f"To: <{to_uri}>[peer_tag_param]",
                "Call-ID: [call_id]",
                "CSeq: 1 ACK",
                "[routes]",
                "Max-Forwards: 70",
                "Content-Length: 0",
            ]
        ),
        next="local_bye",
    )

    b.label("h_failed")  # non-2xx final: ACK in the INVITE transaction, done
    b.send(
        "\n".join(
            [
                f"ACK {to_uri} SIP/2.0",
                f"Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={invite_branch}",
                from_hdr,
                "[last_To:]",
                "Call-ID: [call_id]",
                "CSeq: 1 ACK",
                "Max-Forwards: 70",
                "Content-Length: 0",
            ]
        ),
        next="end",
    )

    b.label("h_bye")
    b.send(_reply_200(), next="end")

    b.label("h_reinvite")
    b.send(_reply_200(body=sdp(cfg.media_port_offset)))
    b.recv(request="ACK", timeout="5000", ontimeout="h_return", next="h_return")

    b.label("h_ok")
    b.send(_reply_200())
    _return_from_handler(b)

    b.label("end")
    b.nop([])  # reaching the end of the scenario = call finished normally
    return b.render()


# --------------------------------------------------------------------------- UAS

UasMode = Literal["answer", "ring", "busy", "reject"]


@dataclass(frozen=True)
class UasConfig:
    mode: UasMode = "answer"
    ring_ms: int = 500  # 180 -> 200 delay in "answer" mode (and 180 -> final in busy/reject)
    hold_ms: int | None = None  # after ACK: None = wait for the caller's BYE; else BYE after this
    reject_code: int = 486
    reject_reason: str = "Busy Here"
    ring_timeout_ms: int = 600_000  # "ring": 480 after this long without CANCEL
    send_180: bool = True
    media_port_offset: int = 0
    pcap: str | None = None  # played after the ACK in "answer" mode
    contact_user: str = "sipp"


def _capture_invite() -> list[str]:
    return [
        # Every Via and Record-Route line of the INVITE, as the responses must carry them all
        # (search_in="hdr" yields only the first Via: through a proxy such as the Kamailio
        # edge, a response with its Via alone loses the node's and cannot find its way back).
        # (POSIX regex has no \r or \n escapes: the line ends are [[:cntrl:]])
        '<ereg regexp="Via:[^[:cntrl:]]*([[:cntrl:]]+(Via|v):[^[:cntrl:]]*)*" '
        'search_in="msg" check_it="true" assign_to="inv_via"/>',
        '<ereg regexp="([[:cntrl:]]+Record-Route:[^[:cntrl:]]*)+" search_in="msg" '
        'check_it="false" assign_to="inv_rr"/>',
        '<ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="inv_from"/>',
        '<ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="inv_to"/>',
        '<ereg regexp=".*" search_in="hdr" header="Call-ID:" check_it="true" '
        'assign_to="inv_callid"/>',
        '<ereg regexp=".*" search_in="hdr" header="CSeq:" check_it="true" assign_to="inv_cseq"/>',
        '<assign assign_to="_unexp.retaddr" value="0"/>',
    ]


def _invite_response(code: int, reason: str, *, cfg: UasConfig, body: str = "") -> str:
    lines = [
        f"SIP/2.0 {code} {reason}",
        "[$inv_via][$inv_rr]",
        "From: [$inv_from]",
        "To: [$inv_to];tag=[pid]SIPpTag01[call_number]" if code > 100 else "To: [$inv_to]",
        "Call-ID: [$inv_callid]",
        "CSeq: [$inv_cseq]",
    ]
    if code > 100:
        lines.append(
            f"Contact: <sip:{cfg.contact_user}@[local_ip]:[local_port];transport=[transport]>"
        )
        lines.append("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE")
    if body:
        lines += ["Content-Type: application/sdp", "Content-Length: [len]", "", body]
    else:
        lines.append("Content-Length: 0")
    return "\n".join(lines)


def uas_scenario(cfg: UasConfig) -> str:
    """A UAS handling any number of calls (one SIPp call per received INVITE)."""
    check_user_text(cfg.reject_reason, "reject_reason")
    check_user_text(cfg.contact_user, "contact_user")
    b = ScenarioBuilder(f"anshin uas {cfg.mode}")
    b.recv(_capture_invite(), request="INVITE", rrs="true")
    b.send(_invite_response(100, "Trying", cfg=cfg))
    if cfg.mode in ("answer", "ring") or cfg.send_180:
        b.send(_invite_response(180, "Ringing", cfg=cfg))

    if cfg.mode == "answer":
        b.pause(cfg.ring_ms)
        b.send(_invite_response(200, "OK", cfg=cfg, body=sdp(cfg.media_port_offset)), retrans="500")
        b.recv(request="ACK", timeout="10000", ontimeout="end")
        if cfg.pcap:
            b.nop([f"<exec play_pcap_audio={quoteattr(cfg.pcap)}/>"])
        if cfg.hold_ms is None:
            b.pause(24 * 3600 * 1000)  # wait for the caller's BYE (handler)
        else:
            b.pause(cfg.hold_ms)
        b.send(
            "\n".join(
                [
                    "BYE [next_url] SIP/2.0",
                    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]",
                    "From: [$inv_to];tag=[pid]SIPpTag01[call_number]",
                    "To: [$inv_from]",
                    "Call-ID: [$inv_callid]",
                    "CSeq: 1 BYE",
                    "[routes]",
                    "Max-Forwards: 70",
                    "Content-Length: 0",
                ]
            ),
            retrans="500",
        )
        b.recv(response="481", optional="true", next="end")
        b.recv(response="200", timeout="8000", ontimeout="end", next="end")
    elif cfg.mode == "ring":
        b.pause(cfg.ring_timeout_ms)
        b.send(_invite_response(480, "Temporarily Unavailable", cfg=cfg))
        b.recv(request="ACK", timeout="10000", ontimeout="end", next="end")
    else:
        code = 486 if cfg.mode == "busy" else cfg.reject_code
        reason = "Busy Here" if cfg.mode == "busy" else cfg.reject_reason
        if cfg.ring_ms > 0:
            b.pause(cfg.ring_ms)
        b.send(_invite_response(code, reason, cfg=cfg))
        b.recv(request="ACK", timeout="10000", ontimeout="end", next="end")

    b.label("_unexp.main")
    b.recv(request="CANCEL", optional="global", next="h_cancel")
    b.recv(request="BYE", optional="global", next="h_bye")
    b.recv(request="INVITE", optional="global", next="h_reinvite")
    for method in INDIALOG_REQUESTS:
        b.recv(request=method, optional="global", next="h_ok")
    # stray ACK; SIPp wants every optional chain closed by a mandatory <recv>
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
    b.send(_reply_200(body=sdp(cfg.media_port_offset)))
    b.recv(request="ACK", timeout="5000", ontimeout="h_return", next="h_return")

    b.label("h_ok")
    b.send(_reply_200())
    _return_from_handler(b)

    b.label("end")
    b.nop([])
    return b.render()


def _dump(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    examples: dict[str, str] = {
        "uac_call.xml": uac_scenario(
            UacConfig(
                dialed="05012345678",
                pcap="dtmf.pcap",
                info_digits=(InfoDigit(1.0, "1"), InfoDigit(1.5, "#")),
            )
        ),
        "uas_answer.xml": uas_scenario(UasConfig(mode="answer", hold_ms=5000)),
        "uas_ring.xml": uas_scenario(UasConfig(mode="ring")),
        "uas_busy.xml": uas_scenario(UasConfig(mode="busy")),
        "uas_reject.xml": uas_scenario(
            UasConfig(mode="reject", reject_code=503, reject_reason="Service Unavailable")
        ),
    }
    for name, text in examples.items():
        (directory / name).write_text(text)


if __name__ == "__main__":  # pragma: no cover
    _dump(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
