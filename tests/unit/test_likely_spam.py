"""迷惑電話の可能性: the screening decision with the label, the threshold, and the mail."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from callflow.features.inbound.screening import (
    Action,
    CallerInfo,
    Outcome,
    ScreeningSettings,
    decide,
)
from callflow.mail.compose import IncomingCall, compose_notification
from callflow.store.likely_spam import is_likely_spam

SUB = "05012345678"
CALLER = CallerInfo("09012345678", None)
ANON = CallerInfo(None, None)
VOICEMAIL = ScreeningSettings(voicemail_enabled=True)
REJECTING = ScreeningSettings(voicemail_enabled=True, reject_likely_spam=True)


def test_labelled_calls_go_on_as_usual_unless_the_subscriber_refuses_them() -> None:
    d = decide(VOICEMAIL, CALLER, subscriber_number=SUB, blocked=False,
               forward_destination=None, likely_spam=True)
    assert (d.action, d.outcome) == (Action.VOICEMAIL, Outcome.VOICEMAIL)
    d = decide(REJECTING, CALLER, subscriber_number=SUB, blocked=False,
               forward_destination=None, likely_spam=True)
    assert (d.action, d.outcome) == (Action.BLOCK_ANNOUNCE, Outcome.REJECTED_LIKELY_SPAM)
    # the setting alone refuses nobody
    d = decide(REJECTING, CALLER, subscriber_number=SUB, blocked=False,
               forward_destination=None, likely_spam=False)
    assert d.action is Action.VOICEMAIL


def test_own_block_list_and_anonymous_rules_come_first() -> None:
    busy = ScreeningSettings(block_action="busy", reject_likely_spam=True)
    d = decide(busy, CALLER, subscriber_number=SUB, blocked=True, forward_destination=None,
               likely_spam=True)
    assert (d.action, d.outcome) == (Action.BLOCK_BUSY, Outcome.BLOCKED)
    # a withheld caller has no number to be labelled by
    d = decide(REJECTING, ANON, subscriber_number=SUB, blocked=False,
               forward_destination=None, likely_spam=True)
    assert d.action is Action.VOICEMAIL


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans(),
       st.sampled_from(["announce", "busy"]))
def test_refusing_likely_spam_only_ever_refuses_more(
        blocked: bool, anonymous: bool, reject_anonymous: bool, labelled: bool,
        block_action: str) -> None:
    caller = ANON if anonymous else CALLER
    base = ScreeningSettings(reject_anonymous=reject_anonymous, block_action=block_action,
                             voicemail_enabled=True)
    on = ScreeningSettings(reject_anonymous=reject_anonymous, block_action=block_action,
                           voicemail_enabled=True, reject_likely_spam=True)
    args = dict(subscriber_number=SUB, blocked=blocked, forward_destination=None,
                likely_spam=labelled)
    off_d, on_d = decide(base, caller, **args), decide(on, caller, **args)  # type: ignore[arg-type]
    if on_d != off_d:
        assert labelled and not anonymous and not blocked
        assert on_d.outcome is Outcome.REJECTED_LIKELY_SPAM


def test_threshold() -> None:
    assert not is_likely_spam(4, 5)
    assert is_likely_spam(5, 5) and is_likely_spam(6, 5)
    assert not is_likely_spam(0, 1) and is_likely_spam(1, 1)


def test_mail_says_it_in_subject_and_body() -> None:
    call = IncomingCall(number=SUB, caller="0312345678",
                        received_at=datetime(2026, 1, 5, 3, 0, tzinfo=UTC), likely_spam=True)
    mail = compose_notification(call, to_addr="a@example.jp", attach=False,
                                retrieval_number="05033005000")
    assert mail.subject == "【050あんしんナンバー】着信のお知らせ（03-1234-5678・迷惑電話の可能性）"
    assert "発信者番号：03-1234-5678・迷惑電話の可能性" in mail.body
    assert "多くのお客さまが着信拒否している番号です" in mail.body
    plain = compose_notification(
        IncomingCall(number=SUB, caller="0312345678", received_at=call.received_at),
        to_addr="a@example.jp", attach=False, retrieval_number="05033005000")
    assert "迷惑電話" not in plain.subject + plain.body
