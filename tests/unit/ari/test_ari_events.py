from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callflow.ari import (
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelStateChange,
    ChannelVarset,
    Dial,
    Event,
    LiveRecording,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)
from callflow.ari.events import _PARSERS

from .fakes import APP, channel, event

CID = "1714550400.42"


def playback(target: str = f"channel:{CID}", state: str = "playing") -> dict[str, Any]:
    return {
        "id": "pb-7",
        "media_uri": "sound:anshin/welcome",
        "next_media_uri": "sound:anshin/menu",
        "target_uri": target,
        "language": "ja",
        "state": state,
    }


def recording(state: str = "done", target: str = f"channel:{CID}") -> dict[str, Any]:
    return {
        "name": "vm/1714550400.42",
        "format": "wav",
        "target_uri": target,
        "state": state,
        "duration": 12,
        "talking_duration": 9,
        "silence_duration": 3,
    }


def test_stasis_start() -> None:
    ev = parse_event(event("StasisStart", args=["inbound", "05033005000"], channel=channel(CID)))
    assert isinstance(ev, StasisStart)
    assert ev.type == "StasisStart"
    assert ev.application == APP
    assert ev.timestamp == "2024-05-01T10:00:01.000+0900"
    assert ev.args == ("inbound", "05033005000")
    assert ev.replace_channel is None
    assert not ev.adopted
    assert ev.channel.caller.number == "0312345678"
    assert ev.channel.dialplan_app_data == "anshin,inbound"
    assert ev.channel_ids() == (CID,)


def test_stasis_start_with_replace_channel_routes_both() -> None:
    ev = parse_event(
        event("StasisStart", args=[], channel=channel("new.1"), replace_channel=channel("old.1"))
    )
    assert isinstance(ev, StasisStart)
    assert ev.replace_channel is not None and ev.replace_channel.id == "old.1"
    assert ev.channel_ids() == ("new.1", "old.1")


def test_stasis_end_state_change() -> None:
    end = parse_event(event("StasisEnd", channel=channel(CID)))
    change = parse_event(event("ChannelStateChange", channel=channel(CID, state="Up")))
    assert isinstance(end, StasisEnd) and end.channel_ids() == (CID,)
    assert isinstance(change, ChannelStateChange) and change.channel.state == "Up"


def test_dtmf() -> None:
    ev = parse_event(event("ChannelDtmfReceived", digit="#", duration_ms=120, channel=channel()))
    assert isinstance(ev, ChannelDtmfReceived)
    assert (ev.digit, ev.duration_ms) == ("#", 120)
    assert ev.channel_ids() == (CID,)


def test_hangup_request_and_destroyed() -> None:
    req = parse_event(event("ChannelHangupRequest", cause=16, soft=True, channel=channel()))
    bare = parse_event(event("ChannelHangupRequest", channel=channel()))
    gone = parse_event(
        event("ChannelDestroyed", cause=17, cause_txt="User busy", channel=channel())
    )
    assert isinstance(req, ChannelHangupRequest) and (req.cause, req.soft) == (16, True)
    assert isinstance(bare, ChannelHangupRequest) and (bare.cause, bare.soft) == (None, False)
    assert isinstance(gone, ChannelDestroyed)
    assert (gone.cause, gone.cause_txt) == (17, "User busy")
    assert gone.channel_ids() == (CID,)


def test_playback_events_and_targets() -> None:
    started = parse_event(event("PlaybackStarted", playback=playback()))
    done = parse_event(event("PlaybackFinished", playback=playback(state="done")))
    on_bridge = parse_event(event("PlaybackStarted", playback=playback(target="bridge:br-1")))
    assert isinstance(started, PlaybackStarted)
    assert started.playback.media_uri == "sound:anshin/welcome"
    assert started.channel_ids() == (CID,)
    assert isinstance(done, PlaybackFinished) and done.playback.state == "done"
    assert on_bridge.channel_ids() == ()


def test_recording_events() -> None:
    started = parse_event(event("RecordingStarted", recording=recording("recording")))
    done = parse_event(event("RecordingFinished", recording=recording()))
    failed_data = recording("failed") | {"cause": "No such file"}
    failed = parse_event(event("RecordingFailed", recording=failed_data))
    assert isinstance(started, RecordingStarted) and started.channel_ids() == (CID,)
    assert isinstance(done, RecordingFinished)
    assert done.recording == LiveRecording(
        name="vm/1714550400.42",
        format="wav",
        target_uri=f"channel:{CID}",
        state="done",
        duration=12,
        talking_duration=9,
        silence_duration=3,
        cause=None,
    )
    assert isinstance(failed, RecordingFailed) and failed.recording.cause == "No such file"
    bridge_rec = parse_event(event("RecordingStarted", recording=recording(target="bridge:b")))
    assert bridge_rec.channel_ids() == ()


def test_dial() -> None:
    originated = parse_event(
        event("Dial", peer=channel("out.1"), dialstatus="RINGING", dialstring="0312345678@carrier")
    )
    assert isinstance(originated, Dial)
    assert originated.caller is None
    assert (originated.dialstatus, originated.dialstring, originated.forward) == (
        "RINGING",
        "0312345678@carrier",
        "",
    )
    assert originated.channel_ids() == ("out.1",)
    with_caller = parse_event(
        event("Dial", caller=channel("in.1"), peer=channel("out.1"), dialstatus="ANSWER")
    )
    assert with_caller.channel_ids() == ("out.1", "in.1")


def test_varset() -> None:
    ev = parse_event(event("ChannelVarset", variable="ANSHIN_X", value="1", channel=channel()))
    glob = parse_event(event("ChannelVarset", variable="GLOBAL_X", value="2"))
    assert isinstance(ev, ChannelVarset) and (ev.variable, ev.value) == ("ANSHIN_X", "1")
    assert ev.channel_ids() == (CID,)
    assert isinstance(glob, ChannelVarset) and glob.channel is None
    assert glob.channel_ids() == ()


def test_unknown_type() -> None:
    data = event("ChannelEnteredBridge", bridge={"id": "b"}, channel=channel())
    ev = parse_event(data)
    assert isinstance(ev, UnknownEvent)
    assert ev.type == "ChannelEnteredBridge"
    assert ev.raw == data
    assert ev.channel_ids() == ()


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"type": 7},
        {"type": "StasisStart"},
        {"type": "StasisStart", "channel": "nope"},
        {"type": "StasisStart", "channel": {"name": "no id"}},
        {"type": "Dial", "caller": channel()},
        {"type": "PlaybackStarted", "playback": {"media_uri": "sound:x"}},
    ],
)
def test_malformed_becomes_unknown(data: dict[str, Any]) -> None:
    assert isinstance(parse_event(data), UnknownEvent)


def test_channel_tolerates_missing_fields() -> None:
    ch = Channel.from_json({"id": "x.1"})
    assert ch == Channel(id="x.1")
    assert ch.caller.number == "" and ch.dialplan_priority == 0 and ch.channelvars == {}
    odd = Channel.from_json({"id": "x.2", "dialplan": {"priority": "3"}, "channelvars": None})
    assert odd.dialplan_priority == 3


# --------------------------------------------------------------------------- property

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "channel",
        "peer",
        "caller",
        "replace_channel",
        "playback",
        "recording",
        "args",
        "digit",
        "duration_ms",
        "cause",
        "soft",
        "cause_txt",
        "variable",
        "value",
        "application",
        "timestamp",
        "id",
        "target_uri",
        "name",
    ]
) | st.text(max_size=6)
channelish = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=6)},
    optional={"caller": json_values, "dialplan": json_values, "channelvars": json_values},
)


@settings(max_examples=300, deadline=None)
@given(
    type_=st.sampled_from(sorted(_PARSERS)) | st.text(max_size=10) | json_scalars,
    body=st.dictionaries(keys, json_values | channelish, max_size=6),
)
def test_parse_event_never_raises(type_: Any, body: dict[str, Any]) -> None:
    data = {**body, "type": type_}
    ev = parse_event(data)
    assert isinstance(ev, Event)
    ids = ev.channel_ids()
    assert isinstance(ids, tuple) and all(isinstance(i, str) and i for i in ids)
    if isinstance(ev, UnknownEvent):
        assert ev.raw is data
