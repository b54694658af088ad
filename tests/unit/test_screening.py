"""The screening decision (R-IN-1,2,3,4): order, block actions, forward caller id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.features.inbound.forwarding import dial_instructions
from callflow.features.inbound.screening import (
    Action,
    CallerInfo,
    ForwardPlan,
    Outcome,
    ScreeningSettings,
    decide,
    identify_caller,
    notify_every_call,
)

SUB = "05012345678"
KNOWN = CallerInfo("09012345678", None)
ANON = CallerInfo(None, None)


# ------------------------------------------------------------------ identify_caller

@pytest.mark.parametrize("number,pres", [
    ("anonymous", "allowed_not_screened"), ("Anonymous", ""), ("unavailable", None),
    ("", "allowed_not_screened"), ("", None),
    ("09012345678", "prohib_not_screened"),  # Privacy: id with a number
    ("09012345678", "prohib"), ("09012345678", "unavailable"),
    ("not-a-number", "allowed"),
])
def test_withheld_forms(number: str, pres: str | None) -> None:
    assert identify_caller(number, "Anonymous", pres) == CallerInfo(None, None)


@pytest.mark.parametrize("privacy", ["id", "ID", "id;critical", "header;id", "user", "header"])
def test_privacy_header_withholds_a_presented_number(privacy: str) -> None:
    assert identify_caller("09012345678", "Yamada", "allowed_not_screened", privacy) == ANON


@pytest.mark.parametrize("privacy", [None, "", "none", "session"])
def test_privacy_values_that_do_not_withhold(privacy: str | None) -> None:
    assert identify_caller("09012345678", None, "allowed_not_screened", privacy) == KNOWN


def test_presented_caller_normalised_with_name() -> None:
    assert identify_caller("+81 90-1234-5678", "山田", "allowed_not_screened") == \
        CallerInfo("09012345678", "山田")


@pytest.mark.parametrize("name", ["", "Anonymous", "09012345678", "090-1234-5678", "  "])
def test_placeholder_names_are_no_name(name: str) -> None:
    assert identify_caller("09012345678", name, "allowed") == KNOWN


# ------------------------------------------------------------------ decide

def test_anonymous_rejected_only_when_enabled() -> None:
    on = ScreeningSettings(reject_anonymous=True, voicemail_enabled=True)
    d = decide(on, ANON, subscriber_number=SUB, blocked=False, forward_destination=None)
    assert (d.action, d.outcome) == (Action.REJECT_ANONYMOUS, Outcome.REJECTED_ANONYMOUS)
    off = ScreeningSettings(voicemail_enabled=True)
    d = decide(off, ANON, subscriber_number=SUB, blocked=False, forward_destination=None)
    assert d.action is Action.VOICEMAIL


def test_presented_caller_not_rejected_as_anonymous() -> None:
    s = ScreeningSettings(reject_anonymous=True)
    d = decide(s, KNOWN, subscriber_number=SUB, blocked=False, forward_destination=None)
    assert d.action is Action.UNAVAILABLE and d.outcome is Outcome.MISSED


@pytest.mark.parametrize("mode,action", [("announce", Action.BLOCK_ANNOUNCE),
                                         ("busy", Action.BLOCK_BUSY)])
def test_blocked_caller(mode: str, action: Action) -> None:
    s = ScreeningSettings(block_action=mode, forward_enabled=True, voicemail_enabled=True)
    d = decide(s, KNOWN, subscriber_number=SUB, blocked=True, forward_destination="0312345678")
    assert (d.action, d.outcome, d.forward) == (action, Outcome.BLOCKED, None)


def test_forward_plan_shows_caller_or_050() -> None:
    s = ScreeningSettings(forward_enabled=True, forward_ring_seconds=7)
    caller = CallerInfo("09012345678", "Yamada")
    d = decide(s, caller, subscriber_number=SUB, blocked=False, forward_destination="0311112222")
    assert d.action is Action.FORWARD and d.outcome is Outcome.RECEIVED
    assert d.forward == ForwardPlan("0311112222", "09012345678", "Yamada", 7, Action.UNAVAILABLE)
    assert dial_instructions("PJSIP/0311112222@carrier", d.forward) == \
        "PJSIP/0311112222@carrier^7^Yamada <09012345678>^allowed"
    s050 = ScreeningSettings(forward_enabled=True, forward_show_caller="050",
                             voicemail_enabled=True)
    d = decide(s050, caller, subscriber_number=SUB, blocked=False,
               forward_destination="0311112222")
    assert d.forward is not None
    assert (d.forward.caller_number, d.forward.caller_name) == (SUB, None)
    assert d.forward.on_failure is Action.VOICEMAIL
    assert dial_instructions("D", d.forward) == f"D^20^<{SUB}>^allowed"


def test_withheld_caller_forwarded_as_anonymous() -> None:
    s = ScreeningSettings(forward_enabled=True)
    d = decide(s, ANON, subscriber_number=SUB, blocked=False, forward_destination="0311112222")
    assert d.forward is not None and d.forward.caller_number is None
    assert dial_instructions("D", d.forward) == "D^20^<anonymous>^prohib"


def test_forward_enabled_without_destination_falls_through() -> None:
    s = ScreeningSettings(forward_enabled=True, voicemail_enabled=True)
    d = decide(s, KNOWN, subscriber_number=SUB, blocked=False, forward_destination=None)
    assert d.action is Action.VOICEMAIL and d.outcome is Outcome.VOICEMAIL


def test_notification_in_every_call_mode_only() -> None:
    every = ScreeningSettings(notify_email="a@example.jp")
    assert notify_every_call(every, Outcome.FORWARDED)
    assert notify_every_call(every, Outcome.MISSED)
    for refused in (Outcome.BLOCKED, Outcome.REJECTED_ANONYMOUS, Outcome.VOICEMAIL):
        assert not notify_every_call(every, refused)
    only_recorded = ScreeningSettings(notify_email="a@example.jp", notify_only_recorded=True)
    assert not notify_every_call(only_recorded, Outcome.FORWARDED)
    assert not notify_every_call(ScreeningSettings(), Outcome.FORWARDED)


# ------------------------------------------------------------------ properties

settings_st = st.builds(
    ScreeningSettings,
    reject_anonymous=st.booleans(),
    block_action=st.sampled_from(["announce", "busy"]),
    forward_enabled=st.booleans(),
    forward_ring_seconds=st.integers(5, 60),
    forward_show_caller=st.sampled_from(["caller", "050"]),
    voicemail_enabled=st.booleans(),
    notify_email=st.one_of(st.none(), st.just("a@example.jp")),
    notify_only_recorded=st.booleans(),
)
caller_st = st.one_of(st.just(ANON), st.builds(
    CallerInfo, st.from_regex(r"0[1-9][0-9]{8,9}", fullmatch=True),
    st.one_of(st.none(), st.text(min_size=1, max_size=10))))
dest_st = st.one_of(st.none(), st.from_regex(r"0[789]0[0-9]{8}", fullmatch=True))


@given(settings_st, caller_st, st.booleans(), dest_st)
def test_decision_invariants(settings: ScreeningSettings, caller: CallerInfo, blocked: bool,
                             dest: str | None) -> None:
    d = decide(settings, caller, subscriber_number=SUB, blocked=blocked,
               forward_destination=dest)
    refused = d.action in (Action.REJECT_ANONYMOUS, Action.BLOCK_ANNOUNCE, Action.BLOCK_BUSY)
    # 1. a withheld caller with rejection on never reaches forwarding or voicemail
    if caller.anonymous and settings.reject_anonymous:
        assert d.action is Action.REJECT_ANONYMOUS
    # 2. a blocked (presented) caller never reaches forwarding or voicemail
    if blocked and not caller.anonymous:
        assert d.action in (Action.BLOCK_ANNOUNCE, Action.BLOCK_BUSY)
    # refusals never produce mail
    if refused:
        assert d.forward is None
        assert not notify_every_call(settings, d.outcome)
    # 3. forwarding only with the setting on and a destination
    if d.action is Action.FORWARD:
        assert d.forward is not None and settings.forward_enabled and dest is not None
        assert d.forward.destination == dest
        assert d.forward.on_failure is (Action.VOICEMAIL if settings.voicemail_enabled
                                        else Action.UNAVAILABLE)
    # 4. voicemail only when enabled
    if d.action is Action.VOICEMAIL:
        assert settings.voicemail_enabled
    if not refused and d.action is not Action.FORWARD:
        assert d.action is (Action.VOICEMAIL if settings.voicemail_enabled
                            else Action.UNAVAILABLE)


@given(st.text(max_size=80))
def test_forward_caller_name_cannot_reach_dial_syntax(name: str) -> None:
    """The caller's display name comes from the caller's From header and ends up inside
    Dial's options: nothing Asterisk would parse may survive."""
    plan = ForwardPlan("0311112222", "09012345678", name, 20, Action.VOICEMAIL)
    dial, ring, caller_id, pres = dial_instructions("PJSIP/0311112222@carrier", plan).split("^")
    assert (dial, ring, pres) == ("PJSIP/0311112222@carrier", "20", "allowed")
    shown_name, _, number = caller_id.rpartition("<")
    assert number == "09012345678>"
    assert not set(shown_name) & set(',()^"<>$[]{}|;\\\n\r\t')
