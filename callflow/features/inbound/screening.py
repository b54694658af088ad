"""What happens to a call to a subscriber's 050 number: a pure decision (R-IN-1,2,3,4).

The inbound handler gathers the inputs (caller id and its presentation from Asterisk, the
subscriber's settings, whether the caller is on the block list, the active forward
destination) and then only carries out the `Decision`. Order, as in the user guide:

1. 非通知着信拒否 (reject_anonymous): a caller who presents no number is refused with an
   announcement; never reaches voicemail.
2. 指定番号着信拒否 (block list): announcement or busy; never reaches forwarding/voicemail.
   おやすみモード (quiet hours, callflow/quiet_hours.py): inside a window, a caller who is
   not one of the exceptions goes straight to voicemail or hears the refusal announcement
   (`blocked`, the block list's words); with voicemail off, the announcement.
3. 指定番号への接続 (forwarding) to the active destination, with voicemail (if enabled) or
   the "cannot connect" announcement when it is not answered, busy or fails. Ringing
   several phones (`RingMode`): every registered destination at once, or one after the
   other with a ring time each; the fallback is the same when none answers.
4. 留守番電話 directly when forwarding is off.
   名乗り確認 (call screening, when on and the caller is not known): the forward first
   records the caller's name, then rings; the answering phone hears the name and chooses
   1 (connect) or 2 (voicemail / the announcement, as for an unanswered forward).
5. Neither forwarding nor voicemail: the caller hears 「ただいま電話をおつなぎすることが
   できません。しばらくたってからおかけ直しください。」 (forward_failed) and the call is logged
   as missed - what a real carrier plays when a number has nowhere to deliver the call,
   rather than ringing forever or answering with a demo greeting.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from callflow.numbers import is_anonymous, normalize
from callflow.quiet_hours import QuietAction, QuietHoursForCall

# Asterisk's CALLERID(pres) values (main/callerid.c, ast_named_caller_presentation): only
# the "allowed_*" ones may be shown. "prohib_*" is what PJSIP sets for `Privacy: id` from a
# trusted peer (trust_id_inbound=yes); "unavailable" is a network that has no number.
_ALLOWED_PRES_PREFIX = "allowed"
# Display names that only say "no number" (SIP UAs put them in From when withholding).
_WITHHOLDING_PRIVACY = {"id", "header", "user"}
_PLACEHOLDER_NAMES = {"anonymous", "unavailable", "unknown", "private", "restricted",
                      "withheld", "非通知", "通知不可能", "公衆電話"}


class Action(Enum):
    REJECT_ANONYMOUS = "reject_anonymous"  # answer, anonymous_rejected, hang up
    BLOCK_ANNOUNCE = "block_announce"  # answer, blocked, hang up
    BLOCK_BUSY = "block_busy"  # 486 Busy Here without answering
    FORWARD = "forward"  # Dial the destination (dialplan), ringback for the caller
    VOICEMAIL = "voicemail"  # the voicemail center takes a message
    UNAVAILABLE = "unavailable"  # answer, forward_failed, hang up
    QUIET_ANNOUNCE = "quiet_announce"  # おやすみモード: answer, blocked, hang up


class Outcome(Enum):
    """call_history.outcome values (the portal shows them)."""

    RECEIVED = "received"  # written at call start; still in progress
    REJECTED_ANONYMOUS = "rejected_anonymous"
    BLOCKED = "blocked"
    FORWARDED = "forwarded"  # forwarded and answered
    VOICEMAIL = "voicemail"  # went to the voicemail center
    MISSED = "missed"  # nobody took it (caller gave up while ringing, or nowhere to go)
    QUIET_HOURS = "quiet_hours"  # refused with the announcement during おやすみモード
    REJECTED_LIKELY_SPAM = "rejected_likely_spam"  # 迷惑電話の可能性, refused by choice


@dataclass(frozen=True)
class CallerInfo:
    """The caller as the subscriber may see it: number None = 非通知, name None = 登録なし."""

    number: str | None
    name: str | None

    @property
    def anonymous(self) -> bool:
        return self.number is None


@dataclass(frozen=True)
class ScreeningSettings:
    """The subscriber settings the decision depends on (a view of SubscriberNumber)."""

    reject_anonymous: bool = False
    block_action: str = "announce"  # 'announce' | 'busy'
    forward_enabled: bool = False
    forward_ring_seconds: int = 20
    forward_show_caller: str = "caller"  # 'caller' | '050'
    forward_mode: str = "single"  # RingMode value
    voicemail_enabled: bool = False
    notify_email: str | None = None
    notify_only_recorded: bool = False
    # 迷惑電話の可能性: send calls from numbers many subscribers block to the rejection
    # announcement (store/likely_spam.py)
    reject_likely_spam: bool = False


class RingMode(Enum):
    SINGLE = "single"  # the active destination
    SIMULTANEOUS = "simultaneous"  # all at once; the first to answer wins
    SEQUENTIAL = "sequential"  # one after the other, each for its own ring time


@dataclass(frozen=True)
class RingTarget:
    destination: str  # national number
    ring_seconds: int


@dataclass(frozen=True)
class ForwardPlan:
    destination: str  # national number of the subscriber's phone (the first one rung)
    caller_number: str | None  # what the subscriber's phone shows; None = anonymous
    caller_name: str | None
    ring_seconds: int  # SINGLE and SIMULTANEOUS: how long the phone(s) ring
    on_failure: Action  # VOICEMAIL or UNAVAILABLE
    mode: RingMode = RingMode.SINGLE
    targets: tuple[RingTarget, ...] = ()  # SIMULTANEOUS/SEQUENTIAL: every phone, in order
    # 名乗り確認: the caller says their name first; the answering phone hears it and
    # chooses 1 (connect) or 2 (on_failure) - features/inbound/forwarding.py
    screen: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    outcome: Outcome  # the history outcome to write at call start
    forward: ForwardPlan | None = None


def privacy_withholds(privacy_header: str | None) -> bool:
    """Does a SIP Privacy header (RFC 3323/3325) ask to withhold the caller's identity?
    `id` is what Japanese carriers send for 184/非通知; `header`/`user` hide it as well."""
    if not privacy_header:
        return False
    tokens = {t.strip().lower() for t in re.split(r"[;,\s]+", privacy_header)}
    return bool(tokens & _WITHHOLDING_PRIVACY)


def identify_caller(raw_number: str | None, raw_name: str | None,
                    presentation: str | None, privacy_header: str | None = None) -> CallerInfo:
    """The presentable caller from Asterisk's caller id, CALLERID(pres) and the INVITE's
    Privacy header.

    Withheld in any form - `anonymous`/`Anonymous`/`unavailable`/empty user, a From that is
    not a phone number at all, a number with restricted presentation, or a SIP `Privacy: id`
    - gives number None. A withheld caller's display name is dropped as well: it was
    withheld with the number (and is usually just "Anonymous").

    Both presentation sources are needed: with trust_id_inbound=yes PJSIP marks the caller
    restricted only when the identity came from P-Asserted-Identity/Remote-Party-ID with
    `Privacy: id`; an INVITE carrying its number only in From plus `Privacy: id` arrives
    with presentation "allowed_not_screened", so the header itself must be honoured.
    """
    pres = (presentation or "").strip().lower()
    restricted = (bool(pres) and not pres.startswith(_ALLOWED_PRES_PREFIX)) \
        or privacy_withholds(privacy_header)
    number = None if restricted or is_anonymous(raw_number) else normalize(raw_number)
    if number is None:
        return CallerInfo(None, None)
    name = unicodedata.normalize("NFKC", raw_name or "").strip()
    if not name or name.lower() in _PLACEHOLDER_NAMES or normalize(name) == number:
        return CallerInfo(number, None)  # a "name" that is just the number is no name
    return CallerInfo(number, name[:80])


def decide(settings: ScreeningSettings, caller: CallerInfo, *, subscriber_number: str,
           blocked: bool, forward_destination: str | None,
           quiet: QuietHoursForCall | None = None, now: datetime | None = None,
           ring_list: tuple[tuple[str, int], ...] = (), likely_spam: bool = False,
           screen: bool = False) -> Decision:
    """The screening decision for one call. `blocked`: the caller's normalised number is
    on this 050 number's block list (meaningless for a withheld caller). `quiet`: the
    quiet hours when they are on (with `now`, the time the call arrived). `ring_list`:
    (destination, ring seconds) in order when the number rings several phones.
    `likely_spam`: many subscribers block the caller (迷惑電話の可能性); refused like a
    blocked caller (announcement) when the subscriber chose so, else only labelled.
    `screen`: 名乗り確認 is on and the caller is not one the subscriber accepted before; it
    only changes how a forward rings (the plan's `screen`)."""
    if caller.anonymous and settings.reject_anonymous:
        return Decision(Action.REJECT_ANONYMOUS, Outcome.REJECTED_ANONYMOUS)
    if blocked and not caller.anonymous:
        action = Action.BLOCK_BUSY if settings.block_action == "busy" else Action.BLOCK_ANNOUNCE
        return Decision(action, Outcome.BLOCKED)
    if likely_spam and settings.reject_likely_spam and not caller.anonymous:
        return Decision(Action.BLOCK_ANNOUNCE, Outcome.REJECTED_LIKELY_SPAM)
    if quiet is not None and now is not None and quiet.holds(now):
        if quiet.action is QuietAction.VOICEMAIL and settings.voicemail_enabled:
            return Decision(Action.VOICEMAIL, Outcome.VOICEMAIL)
        return Decision(Action.QUIET_ANNOUNCE, Outcome.QUIET_HOURS)
    fallback = Action.VOICEMAIL if settings.voicemail_enabled else Action.UNAVAILABLE
    mode = RingMode(settings.forward_mode)
    targets = tuple(RingTarget(d, r) for d, r in ring_list) if mode is not RingMode.SINGLE \
        else ()
    first = targets[0].destination if targets else forward_destination
    if settings.forward_enabled and first:
        shown: str | None = caller.number
        name = caller.name
        if settings.forward_show_caller == "050":
            shown, name = subscriber_number, None
        plan = ForwardPlan(destination=first, caller_number=shown,
                           caller_name=name, ring_seconds=settings.forward_ring_seconds,
                           on_failure=fallback, mode=mode if targets else RingMode.SINGLE,
                           targets=targets, screen=screen)
        return Decision(Action.FORWARD, Outcome.RECEIVED, plan)
    if fallback is Action.VOICEMAIL:
        return Decision(Action.VOICEMAIL, Outcome.VOICEMAIL)
    return Decision(Action.UNAVAILABLE, Outcome.MISSED)


def notify_every_call(settings: ScreeningSettings, outcome: Outcome) -> bool:
    """E-mail in "every incoming call" mode for a call that did not reach the voicemail
    center (which sends its own mail): forwarded or missed calls, and calls refused during
    おやすみモード (wanted, only not now). Refused calls (anonymous, blocked) never produce
    mail."""
    if not settings.notify_email or settings.notify_only_recorded:
        return False
    return outcome in (Outcome.FORWARDED, Outcome.MISSED, Outcome.QUIET_HOURS)
