from __future__ import annotations

import base64
import time

import pytest

from callflow.ari import (
    AriBadRequest,
    AriClient,
    AriConflict,
    AriConnectionError,
    AriError,
    AriHttpError,
    AriNotFound,
    AriProtocolError,
    AriServerError,
    AriTimeout,
    AriUnprocessable,
    Channel,
)

from .fakes import APP, PASSWORD, USER, FakeAri, Reply, channel, free_port

CID = "1714550400.42"


def client(fake: FakeAri, timeout: float = 2.0) -> AriClient:
    return AriClient(fake.base_url, USER, PASSWORD, APP, timeout=timeout)


async def test_get_channel_parses_and_sends_basic_auth(fake: FakeAri) -> None:
    fake.respond("GET", f"/channels/{CID}", Reply(json=channel(CID)))
    async with client(fake) as ari:
        ch = await ari.get_channel(CID)
    assert isinstance(ch, Channel)
    assert ch.id == CID
    assert ch.caller.number == "0312345678"
    assert ch.dialplan_context == "from-carrier"
    assert ch.dialplan_priority == 2
    assert ch.channelvars == {"ANSHIN_DID": "05033005000"}
    expected = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert fake.requests[0].authorization == f"Basic {expected}"


async def test_list_channels_and_info(fake: FakeAri) -> None:
    fake.respond("GET", "/channels", Reply(json=[channel("a.1"), channel("b.2")]))
    fake.respond(
        "GET",
        "/asterisk/info",
        Reply(json={"system": {"version": "20.5.0", "entity_id": "02:42:ac:11:00:02"}}),
    )
    async with client(fake) as ari:
        chans = await ari.list_channels()
        info = await ari.get_info()
    assert [c.id for c in chans] == ["a.1", "b.2"]
    assert info.version == "20.5.0"
    assert info.entity_id == "02:42:ac:11:00:02"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, AriBadRequest),
        (404, AriNotFound),
        (409, AriConflict),
        (422, AriUnprocessable),
        (500, AriServerError),
        (503, AriServerError),
        (401, AriHttpError),
    ],
)
async def test_http_errors_are_mapped(fake: FakeAri, status: int, cls: type[AriHttpError]) -> None:
    fake.respond("POST", f"/channels/{CID}/answer", Reply(status=status, json={"message": "nope"}))
    async with client(fake) as ari:
        with pytest.raises(cls) as info:
            await ari.answer(CID)
    err = info.value
    assert type(err) is cls
    assert (err.status, err.method, err.path, err.message) == (
        status,
        "POST",
        f"/channels/{CID}/answer",
        "nope",
    )


async def test_404_conflict_messages_from_asterisk(fake: FakeAri) -> None:
    fake.respond("GET", "/channels/gone", Reply(status=404, json={"message": "Channel not found"}))
    fake.respond(
        "POST",
        f"/channels/{CID}/ring",
        Reply(status=409, json={"message": "Channel not in Stasis application"}),
    )
    async with client(fake) as ari:
        with pytest.raises(AriNotFound, match="Channel not found"):
            await ari.get_channel("gone")
        with pytest.raises(AriConflict) as info:
            await ari.ring(CID)
    assert info.value.message == "Channel not in Stasis application"


async def test_error_without_json_body_uses_reason(fake: FakeAri) -> None:
    fake.respond("DELETE", f"/channels/{CID}", Reply(status=500))
    async with client(fake) as ari:
        with pytest.raises(AriServerError) as info:
            await ari.hangup(CID)
    assert info.value.message == "Internal Server Error"


async def test_timeout_maps_to_ari_timeout(fake: FakeAri) -> None:
    fake.respond("GET", "/channels", Reply(json=[], delay=2.0))
    async with client(fake, timeout=0.2) as ari:
        t0 = time.monotonic()
        with pytest.raises(AriTimeout):
            await ari.list_channels()
        assert time.monotonic() - t0 < 1.0
        # the per-request override works too
        with pytest.raises(AriTimeout):
            await ari.request("GET", "/channels", request_timeout=0.05)


async def test_connection_refused_maps_to_connection_error() -> None:
    port = free_port()
    async with AriClient(f"http://127.0.0.1:{port}/ari", USER, PASSWORD, APP, 1.0) as ari:
        with pytest.raises(AriConnectionError) as info:
            await ari.list_channels()
    assert not isinstance(info.value, AriTimeout)


async def test_not_open_is_an_ari_error() -> None:
    ari = AriClient("http://127.0.0.1:1/ari", USER, PASSWORD, APP)
    with pytest.raises(AriError):
        await ari.list_channels()


async def test_bad_json_on_success_is_protocol_error(fake: FakeAri) -> None:
    fake.respond("GET", "/channels", Reply(body=b"<html>oops</html>"))
    fake.respond("GET", "/channels/x", Reply(json={"name": "no id"}))
    async with client(fake) as ari:
        with pytest.raises(AriProtocolError):
            await ari.list_channels()
        with pytest.raises(AriProtocolError):
            await ari.get_channel("x")


async def test_originate_sends_params_and_variables_body(fake: FakeAri) -> None:
    fake.respond("POST", "/channels", Reply(json=channel("out.1", state="Down")))
    async with client(fake) as ari:
        ch = await ari.originate(
            "PJSIP/0312345678@carrier",
            app_args="outbound,leg-b",
            caller_id="05033005000",
            timeout=25,
            channel_id="out.1",
            originator=CID,
            variables={"ANSHIN_CALL": "c-1", "CALLERID(name)": "Anshin"},
        )
    assert ch.id == "out.1"
    req = fake.requests[0]
    assert req.q("endpoint") == "PJSIP/0312345678@carrier"
    assert req.q("app") == APP
    assert req.q("appArgs") == "outbound,leg-b"
    assert req.q("callerId") == "05033005000"
    assert req.q("timeout") == "25"
    assert req.q("channelId") == "out.1"
    assert req.q("originator") == CID
    assert req.q("formats") is None
    assert req.json() == {"variables": {"ANSHIN_CALL": "c-1", "CALLERID(name)": "Anshin"}}


async def test_originate_without_variables_sends_no_body(fake: FakeAri) -> None:
    fake.respond("POST", "/channels", Reply(json=channel("out.2")))
    async with client(fake) as ari:
        await ari.originate("PJSIP/100")
    assert fake.requests[0].body == b""
    assert fake.requests[0].q("appArgs") is None


async def test_play_single_and_multiple_media(fake: FakeAri) -> None:
    pb = {
        "id": "pb-1",
        "media_uri": "sound:anshin/welcome",
        "target_uri": f"channel:{CID}",
        "language": "ja",
        "state": "queued",
    }
    fake.respond("POST", f"/channels/{CID}/play", Reply(status=201, json=pb))
    async with client(fake) as ari:
        one = await ari.play(CID, "sound:anshin/welcome", playback_id="pb-1", lang="ja")
        await ari.play(CID, ["sound:anshin/your-number-is", "digits:0312345678"])
    assert one.id == "pb-1"
    assert one.state == "queued"
    assert one.target_channel_id == CID
    first, second = fake.requests
    assert first.query == [
        ("media", "sound:anshin/welcome"),
        ("lang", "ja"),
        ("playbackId", "pb-1"),
    ]
    assert second.q("media") == "sound:anshin/your-number-is,digits:0312345678"
    assert second.q("lang") is None


async def test_record_params_and_result(fake: FakeAri) -> None:
    rec = {
        "name": "vm/abc",
        "format": "wav",
        "state": "queued",
        "target_uri": f"channel:{CID}",
    }
    fake.respond("POST", f"/channels/{CID}/record", Reply(status=201, json=rec))
    async with client(fake) as ari:
        live = await ari.record(
            CID,
            "vm/abc",
            max_duration_seconds=60,
            max_silence_seconds=5,
            beep=True,
            terminate_on="#",
        )
    assert live.name == "vm/abc"
    assert live.duration is None
    assert dict(fake.requests[0].query) == {
        "name": "vm/abc",
        "format": "wav",
        "maxDurationSeconds": "60",
        "maxSilenceSeconds": "5",
        "beep": "true",
        "terminateOn": "#",
        "ifExists": "fail",
    }


async def test_unprocessable_record(fake: FakeAri) -> None:
    fake.respond(
        "POST",
        f"/channels/{CID}/record",
        Reply(status=422, json={"message": "Recording format not supported"}),
    )
    async with client(fake) as ari:
        with pytest.raises(AriUnprocessable, match="format not supported"):
            await ari.record(CID, "x", fmt="mp3")


async def test_path_segments_are_quoted(fake: FakeAri) -> None:
    fake.respond("GET", "/recordings/stored/vm/a b#1/file", Reply(body=b"RIFF\x00\x01"))
    fake.respond("DELETE", "/recordings/stored/vm/a b#1", Reply(status=204))
    async with client(fake) as ari:
        data = await ari.get_stored_recording_file("vm/a b#1")
        await ari.delete_stored_recording("vm/a b#1")
    assert data == b"RIFF\x00\x01"
    assert fake.requests[0].raw_path == "/ari/recordings/stored/vm%2Fa%20b%231/file"
    assert fake.requests[1].method == "DELETE"


async def test_channel_variables_dtmf_continue(fake: FakeAri) -> None:
    fake.respond("GET", f"/channels/{CID}/variable", Reply(json={"value": "05033005000"}))
    fake.respond("POST", f"/channels/{CID}/variable", Reply(status=204))
    fake.respond("POST", f"/channels/{CID}/dtmf", Reply(status=204))
    fake.respond("POST", f"/channels/{CID}/continue", Reply(status=204))
    async with client(fake) as ari:
        assert await ari.get_channel_var(CID, "ANSHIN_DID") == "05033005000"
        await ari.set_channel_var(CID, "ANSHIN_X", "1")
        await ari.send_dtmf(CID, "12#")
        await ari.continue_in_dialplan(CID, context="anshin-out", extension="s", priority=1)
    get, setv, dtmf, cont = fake.requests
    assert get.query == [("variable", "ANSHIN_DID")]
    assert setv.query == [("variable", "ANSHIN_X"), ("value", "1")]
    assert dtmf.query == [("dtmf", "12#")]
    assert cont.query == [("context", "anshin-out"), ("extension", "s"), ("priority", "1")]


async def test_bridges(fake: FakeAri) -> None:
    bridge = {
        "id": "br-1",
        "technology": "simple_bridge",
        "bridge_type": "mixing",
        "bridge_class": "stasis",
        "creator": "Stasis",
        "name": "call-1",
        "channels": ["a.1", "b.2"],
        "video_mode": "talker",
        "creationtime": "2024-05-01T10:00:00.000+0900",
    }
    fake.respond("POST", "/bridges", Reply(json=bridge))
    fake.respond("GET", "/bridges", Reply(json=[bridge]))
    fake.respond("POST", "/bridges/br-1/addChannel", Reply(status=204))
    fake.respond("POST", "/bridges/br-1/removeChannel", Reply(status=204))
    fake.respond("DELETE", "/bridges/br-1", Reply(status=204))
    async with client(fake) as ari:
        br = await ari.create_bridge(bridge_id="br-1", name="call-1")
        assert (await ari.list_bridges())[0] == br
        await ari.add_channel("br-1", ["a.1", "b.2"])
        await ari.remove_channel("br-1", "a.1")
        await ari.destroy_bridge("br-1")
    assert br.channels == ("a.1", "b.2")
    assert br.bridge_type == "mixing"
    assert fake.requests[0].query == [("type", "mixing"), ("bridgeId", "br-1"), ("name", "call-1")]
    assert fake.requests[2].q("channel") == "a.1,b.2"
    assert fake.requests[3].q("channel") == "a.1"


async def test_stop_playback_and_recording(fake: FakeAri) -> None:
    fake.respond("DELETE", "/playbacks/pb-1", Reply(status=204))
    fake.respond("POST", "/recordings/live/vm%2Fx/stop", Reply(status=204))
    fake.respond("POST", "/recordings/live/vm/x/stop", Reply(status=204))
    async with client(fake) as ari:
        await ari.stop_playback("pb-1")
        await ari.stop_recording("vm/x")
    assert [r.method for r in fake.requests] == ["DELETE", "POST"]


async def test_list_stored_and_get_live_recording(fake: FakeAri) -> None:
    fake.respond("GET", "/recordings/stored",
                 Reply(json=[{"name": "vm-1", "format": "wav"},
                             {"name": "other", "format": "gsm"}]))
    fake.respond("GET", "/recordings/live/vm-2",
                 Reply(json={"name": "vm-2", "format": "wav", "state": "recording",
                             "target_uri": f"channel:{CID}"}))
    fake.respond("GET", "/recordings/live/vm-3", Reply(status=404, json={"message": "nope"}))
    async with client(fake) as ari:
        stored = await ari.list_stored_recordings()
        live = await ari.get_live_recording("vm-2")
        with pytest.raises(AriNotFound):
            await ari.get_live_recording("vm-3")
    assert [(r.name, r.format) for r in stored] == [("vm-1", "wav"), ("other", "gsm")]
    assert live.state == "recording" and live.target_channel_id == CID


async def test_endpoint_state_is_typed(fake: FakeAri) -> None:
    fake.respond("GET", "/endpoints/PJSIP/09000000001", Reply(json={
        "technology": "PJSIP", "resource": "09000000001", "state": "online",
        "channel_ids": ["a.1"]}))
    fake.respond("GET", "/endpoints/PJSIP/09000000002", Reply(json={
        "technology": "PJSIP", "resource": "09000000002", "state": "offline",
        "channel_ids": []}))
    async with client(fake) as ari:
        online = await ari.get_endpoint("PJSIP", "09000000001")
        offline = await ari.get_endpoint("PJSIP", "09000000002")
        with pytest.raises(AriNotFound):
            await ari.get_endpoint("PJSIP", "09000000003")
    assert online.online and online.channel_ids == ("a.1",)
    assert not offline.online


async def test_event_filter_is_a_put_with_the_declined_types(fake: FakeAri) -> None:
    fake.respond("PUT", "/applications/anshin-2/eventFilter", Reply(json={"name": "x"}))
    async with client(fake) as ari:
        await ari.set_event_filter("anshin-2", ["ChannelVarset", "ChannelDialplan"])
    assert fake.requests[0].json() == {
        "disallowed": [{"type": "ChannelVarset"}, {"type": "ChannelDialplan"}]}
