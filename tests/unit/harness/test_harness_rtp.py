"""labkit.harness.rtp / labkit.harness.scenario_xml / message-log parsing: fast, no SIPp."""

from __future__ import annotations

import asyncio
import itertools
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.harness.rtp import (
    PT_PCMU,
    PT_TELEPHONE_EVENT,
    RtpReceiver,
    RtpStream,
    linear_to_ulaw,
    mean_abs_amplitude,
    parse_rtp,
    parse_telephone_event,
    read_pcap,
    ulaw_to_linear,
    write_audio_pcap,
    write_dtmf_pcap,
    write_pcap,
)
from labkit.harness.scenario_xml import (
    InfoDigit,
    UacConfig,
    UasConfig,
    check_user_text,
    uac_scenario,
    uas_scenario,
)
from labkit.harness.sipp import Dtmf, Hangup, Speak, Wait, build_plan, parse_message_log


@given(st.integers(min_value=-32768, max_value=32767))
def test_ulaw_roundtrip_is_close(sample: int) -> None:
    decoded = ulaw_to_linear(linear_to_ulaw(sample))
    assert abs(decoded - sample) <= max(16, abs(sample) // 16)


def test_ulaw_silence_is_ff() -> None:
    assert linear_to_ulaw(0) == 0xFF


def test_pcap_file_layout(tmp_path: Path) -> None:
    path = write_dtmf_pcap(tmp_path / "d.pcap", "5", lead_in_s=0.04, tail_s=0.0)
    raw = path.read_bytes()
    magic, major, minor, _zone, _sig, snaplen, link = struct.unpack("<IHHiIII", raw[:24])
    assert (magic, major, minor, snaplen, link) == (0xA1B2C3D4, 2, 4, 65535, 1)
    records = read_pcap(path)
    # 2 lead-in + 8 event + 3 end + 5 gap (0.1 s)
    assert len(records) == 2 + 8 + 3 + 5
    for r in records:
        assert (r.src_ip, r.dst_ip) == ("127.0.0.1", "127.0.0.1")
        assert r.ip_checksum_ok and r.udp_checksum_ok
    gaps = [round(b.timestamp - a.timestamp, 6) for a, b in itertools.pairwise(records)]
    assert set(gaps) == {0.02}


def test_dtmf_stream_repeated_digits_are_distinct_events(tmp_path: Path) -> None:
    stream = RtpStream(ssrc=0x1234, first_sequence=65530, first_timestamp=1000)
    stream.silence(0.1).dtmf("1111").silence(0.1)
    path = write_pcap(tmp_path / "pin.pcap", stream.packets)
    packets = [parse_rtp(r.payload) for r in read_pcap(path)]
    assert all(p is not None for p in packets)
    pkts = [p for p in packets if p is not None]

    # one SSRC, sequence numbers continuous (and wrapping) over the whole stream
    assert {p.ssrc for p in pkts} == {0x1234}
    for a, b in itertools.pairwise(pkts):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
    # audio timestamps follow the 8 kHz clock, 160 per 20 ms packet
    for i, p in enumerate(pkts):
        if p.payload_type == PT_PCMU:
            assert p.timestamp == 1000 + 160 * i
            assert len(p.payload) == 160

    events = [p for p in pkts if p.payload_type == PT_TELEPHONE_EVENT]
    by_ts: dict[int, list[tuple[bool, int, int, bool]]] = {}
    for p in events:
        ev = parse_telephone_event(p.payload)
        assert ev is not None
        by_ts.setdefault(p.timestamp, []).append((p.marker, ev.event, ev.duration, ev.end))
    assert len(by_ts) == 4, "each '1' must be its own event (own timestamp)"
    for ts, evs in by_ts.items():
        assert {e[1] for e in evs} == {1}
        assert evs[0][0] is True and not any(e[0] for e in evs[1:])  # marker on first only
        durations = [e[2] for e in evs if not e[3]]
        assert durations == [160 * (i + 1) for i in range(8)]
        ends = [e for e in evs if e[3]]
        assert len(ends) == 3 and {e[2] for e in ends} == {1280}
        assert evs[-3:] == ends  # E-bit packets last
        assert (ts - 1000) % 160 == 0


def test_audio_pcaps(tmp_path: Path) -> None:
    speech = [parse_rtp(r.payload) for r in read_pcap(write_audio_pcap(tmp_path / "s.pcap", 1.0))]
    silence = [
        parse_rtp(r.payload)
        for r in read_pcap(write_audio_pcap(tmp_path / "q.pcap", 1.0, kind="silence"))
    ]
    assert len(speech) == len(silence) == 50
    voiced = [p for p in speech if p is not None and mean_abs_amplitude(p.payload) > 200]
    assert 30 <= len(voiced) <= 50  # gated tone: mostly voiced, some pauses
    assert all(p is not None and mean_abs_amplitude(p.payload) == 0 for p in silence)


async def test_receiver_counts_media_and_digits() -> None:
    stream = RtpStream().speech(0.2).dtmf("19#").silence(0.1)
    rx = RtpReceiver()
    for pkt in stream.packets:
        rx.datagram_received(pkt.data, ("127.0.0.1", 4000))
    rx.datagram_received(b"\x80\xc8" + b"\x00" * 26, ("127.0.0.1", 4000))  # RTCP SR
    rx.datagram_received(b"junk", ("127.0.0.1", 4000))
    stats = rx.stats()
    assert stats.packets == len(stream.packets)
    assert stats.bytes == sum(len(p.data) for p in stream.packets)
    assert stats.dtmf_digits == "19#"
    assert stats.voiced_s > 0.1
    assert stats.rtcp_packets == 1
    assert stats.sources == ("127.0.0.1:4000",)
    await asyncio.sleep(0)


def test_plan_info_and_rfc4733_share_one_timeline() -> None:
    plan = build_plan(
        [Wait(1.0), Dtmf("12", mode="info"), Wait(0.5), Dtmf("3"), Speak(0.4), Hangup(), Wait(9)],
        dtmf_mode="rfc4733",
        digit_gap_s=0.1,
    )
    assert [(round(i.at_s, 2), i.digit) for i in plan.info] == [(1.0, "1"), (1.32, "2")]
    # 1.0 + 2 * 0.32 (info digits) + 0.5 + 0.32 (rfc4733 digit) + 0.4 speech
    assert plan.hangup_at_s == pytest.approx(2.86)
    assert plan.media_end_s == pytest.approx(2.86)


def test_plan_rejects_bad_digit() -> None:
    with pytest.raises(ValueError):
        build_plan([Dtmf("12x")], dtmf_mode="rfc4733", digit_gap_s=0.1)


def test_scenarios_are_well_formed_xml() -> None:
    uac = uac_scenario(
        UacConfig(
            dialed="0501234567",
            caller="anonymous",
            privacy_id=True,
            pcap="/tmp/x.pcap",
            media_port_offset=-1234,
            info_digits=(InfoDigit(0.5, "#"),),
        )
    )
    root = ET.fromstring(uac)
    assert root.tag == "scenario"
    assert "[media_port-1234]" in uac
    assert "Privacy: id" in uac
    assert "sip:anonymous@anonymous.invalid" in uac
    assert "Signal=#" in uac
    for mode in ("answer", "ring", "busy", "reject"):
        ET.fromstring(uas_scenario(UasConfig(mode=mode)))


def test_user_text_with_sipp_keywords_is_refused() -> None:
    with pytest.raises(ValueError):
        check_user_text("[call_id]", "caller")
    with pytest.raises(ValueError):
        uac_scenario(UacConfig(dialed="123", extra_headers=("X-A: b\r\nX-B: c",)))


_LOG = (
    "----------------------------------------------- 2026-01-02 03:04:05.100000\n"
    "UDP message sent (100 bytes):\n\n"
    "INVITE sip:0501234567@127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1-1-0\r\n"
    'f: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=1\r\n'
    "To: <sip:0501234567@127.0.0.1:5060>\r\n"
    "CSeq: 1 INVITE\r\n"
    "Privacy: id\r\n"
    "Content-Length: 4\r\n\r\n"
    "v=0\n\n"
    "----------------------------------------------- 2026-01-02 03:04:05.200000\n"
    "Unexpected UDP message received:\n\n"
    "SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n\n"
    "----------------------------------------------- 2026-01-02 03:04:06.700000\n"
    "UDP message received [80] bytes :\n\n"
    "SIP/2.0 486 Busy Here\r\n"
    "To: <sip:0501234567@127.0.0.1:5060>;tag=abc\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n\r\n\n"
)


def test_parse_message_log() -> None:
    msgs = parse_message_log(_LOG)
    assert [m.direction for m in msgs] == ["sent", "received"]
    invite, busy = msgs
    assert invite.method == "INVITE" and invite.status is None
    assert invite.request_user == "0501234567"
    assert invite.from_user == "anonymous"  # compact "f:" expanded
    assert invite.header("PRIVACY") == "id"
    assert invite.body == "v=0"
    assert busy.status == 486 and busy.reason == "Busy Here"
    assert busy.cseq_method == "INVITE" and busy.cseq_number == 1
    assert busy.to_tag == "abc"
    assert invite.timestamp is not None and busy.timestamp is not None
    assert (busy.timestamp - invite.timestamp).total_seconds() == pytest.approx(1.6)
