"""The SIPp harness against itself: real sipp UAC <-> real sipp UAS on 127.0.0.1."""

from __future__ import annotations

import shutil

import pytest

from labkit.harness.sipp import Dtmf, Uas, Wait, place_call

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not installed")


async def test_answer_info_dtmf_then_we_hang_up() -> None:
    async with Uas(mode="answer", answer_after_s=0.2, play_audio_s=2.0) as uas:
        result = await place_call(
            target=uas.target,
            dialed="0312345678",
            dtmf="1#",
            dtmf_mode="info",
            dtmf_delay_s=0.3,
            hold_s=0.8,
            timeout_s=15,
        )
        assert result.final_status == 200, result.describe()
        assert result.answered and result.local_hung_up and not result.remote_hung_up
        infos = result.sent("INFO")
        assert [m.body.replace("\r", "") for m in infos] == [
            "Signal=1\nDuration=160",
            "Signal=#\nDuration=160",
        ]
        assert all(m.header("content-type") == "application/dtmf-relay" for m in infos)
        assert len(result.received("INFO", status=200)) == 2
        # 0.3 + 2 * 0.32 + 0.8 hold
        assert 1.5 < result.duration_s < 3.0, result.describe()
        # the UAS played 2 s of speech-like audio at us, and we measured it
        assert result.rtp is not None and result.rtp_received_bytes
        assert result.rtp.voiced_s > 1.0, result.rtp
        uas_msgs = await uas.wait_for(lambda ms: any(m.method == "BYE" for m in ms), 5)
        assert [m.method for m in uas_msgs if m.direction == "received"] == [
            "INVITE", "ACK", "INFO", "INFO", "BYE",
        ]  # fmt: skip


async def test_rfc4733_repeated_digits_reach_the_far_end() -> None:
    async with Uas(mode="answer", answer_after_s=0.1) as uas:
        result = await place_call(
            target=uas.target,
            dialed="0312345678",
            steps=[Wait(0.3), Dtmf("1111"), Wait(0.2), Dtmf("9#")],
            hold_s=0.3,
            timeout_s=15,
        )
        assert result.answered, result.describe()
        stats = uas.rtp_stats()
        assert stats.dtmf_digits == "11119#", stats
        assert stats.payload_types.keys() == {0, 101}
        assert len(stats.ssrcs) == 1


async def test_busy_is_recorded() -> None:
    async with Uas(mode="busy", answer_after_s=0) as uas:
        result = await place_call(target=uas.target, dialed="0312345678", timeout_s=10)
        assert result.final_status == 486, result.describe()
        assert not result.answered and result.duration_s == 0
        assert [m.method for m in result.sent()] == ["INVITE", "ACK"]
        assert result.final_response is not None
        assert result.final_response.reason == "Busy Here"


async def test_reject_code_is_recorded() -> None:
    async with Uas(mode="reject", reject_code=503, answer_after_s=0) as uas:
        result = await place_call(target=uas.target, dialed="0312345678", timeout_s=10)
        assert result.final_status == 503, result.describe()


async def test_ring_no_answer_caller_cancels() -> None:
    async with Uas(mode="ring") as uas:
        result = await place_call(
            target=uas.target, dialed="0312345678", cancel_after_s=1.0, timeout_s=10
        )
        assert result.cancelled and result.final_status == 487, result.describe()
        assert result.received(status=180)
        assert result.setup_s is not None and 0.9 < result.setup_s < 2.0
        msgs = await uas.wait_for(lambda ms: any(m.method == "ACK" for m in ms), 5)
        assert [m.first_line.split()[0] for m in msgs if m.direction == "received"] == [
            "INVITE", "CANCEL", "ACK",
        ]  # fmt: skip
        assert [m.status for m in msgs if m.direction == "sent"] == [100, 180, 200, 487]


async def test_received_invite_headers_are_captured() -> None:
    async with Uas(mode="busy", answer_after_s=0) as uas:
        await place_call(
            target=uas.target,
            dialed="0501112222",
            caller="anonymous",
            privacy_id=True,
            extra_headers=["P-Asserted-Identity: <sip:09099998888@127.0.0.1>"],
            timeout_s=10,
        )
        await place_call(
            target=uas.target, dialed="0501112222", caller="09012345678", caller_name="Taro"
        )
        first, second = await uas.wait_for_calls(2)
        assert first.from_user == "anonymous"
        assert first.header("privacy") == "id"
        assert first.header("p-asserted-identity") == "<sip:09099998888@127.0.0.1>"
        assert first.request_user == "0501112222" and first.to_user == "0501112222"
        assert "a=rtpmap:101 telephone-event/8000" in first.body
        assert second.from_user == "09012345678"
        assert (second.header("from") or "").startswith('"Taro" <sip:09012345678@')
        assert second.header("privacy") is None


async def test_remote_hangup_is_detected() -> None:
    async with Uas(mode="answer", answer_after_s=0.1, hold_s=1.0) as uas:
        result = await place_call(
            target=uas.target, dialed="0312345678", wait_for_remote_bye=True, timeout_s=15
        )
        assert result.remote_hung_up and not result.local_hung_up, result.describe()
        assert result.remote_bye_after_s is not None
        assert 0.8 < result.remote_bye_after_s < 2.0
        # our (silence) RTP reached the UAS the whole time
        assert uas.rtp_stats().packets > 30


_REINVITING_UAS = """<?xml version="1.0" encoding="UTF-8"?>
<scenario name="re-INVITE, UPDATE, expect 2 INFO, then BYE">
  <recv request="INVITE">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="to"/>
      <ereg regexp=".*" search_in="hdr" header="Call-ID:" check_it="true" assign_to="cid"/>
    </action>
  </recv>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
To: [$to];tag=uas1
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:uas@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
  ]]></send>
  <recv request="ACK"/>
  <pause milliseconds="300"/>
  <send retrans="500"><![CDATA[
INVITE sip:caller@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$to];tag=uas1
To: [$from]
Call-ID: [$cid]
CSeq: 1 INVITE
Contact: <sip:uas@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 2 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
  ]]></send>
  <recv response="200"/>
  <send><![CDATA[
ACK sip:caller@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$to];tag=uas1
To: [$from]
Call-ID: [$cid]
CSeq: 1 ACK
Content-Length: 0
  ]]></send>
  <send retrans="500"><![CDATA[
UPDATE sip:caller@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$to];tag=uas1
To: [$from]
Call-ID: [$cid]
CSeq: 2 UPDATE
Contact: <sip:uas@[local_ip]:[local_port]>
Content-Length: 0
  ]]></send>
  <recv response="200"/>
  <recv request="INFO"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
  ]]></send>
  <recv request="INFO"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
  ]]></send>
  <pause milliseconds="200"/>
  <send retrans="500"><![CDATA[
BYE sip:caller@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$to];tag=uas1
To: [$from]
Call-ID: [$cid]
CSeq: 3 BYE
Content-Length: 0
  ]]></send>
  <recv response="200"/>
</scenario>
"""


async def test_caller_answers_reinvite_and_update_then_sees_remote_bye() -> None:
    async with Uas(custom_scenario=_REINVITING_UAS) as uas:
        result = await place_call(
            target=uas.target,
            dialed="0312345678",
            dtmf="12",
            dtmf_mode="info",
            dtmf_delay_s=1.0,  # the re-INVITE/UPDATE arrive during this wait
            wait_for_remote_bye=True,
            timeout_s=15,
        )
        assert result.answered and result.remote_hung_up, result.describe()
        assert not result.local_hung_up
        assert result.received("INVITE") and result.sent("INVITE", status=200)
        assert result.sent("UPDATE", status=200)
        reinvite_ok = result.sent("INVITE", status=200)[0]
        assert "m=audio" in reinvite_ok.body
        # the INFO script continued after the re-INVITE was answered
        assert len(result.sent("INFO")) == 2, result.describe()
        assert result.returncode == 0, result.describe()
