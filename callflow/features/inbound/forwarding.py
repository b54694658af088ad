"""指定番号への接続: forwarding a screened call to the subscriber's phone (R-IN-3).

The app decides (screening, block list, destination); Asterisk's own `Dial` carries the
call from there. The caller hears ringback at once (`ring`); the app packs the dial
instructions into one channel variable and sends the caller's channel to the
`[anshin-forward]` dialplan context (`continue`), which Dials the destination with the
ring time and the caller id to show, passing no early media from the other side. If
nobody answers (busy, no answer, unreachable), the dialplan brings the channel back into
our Stasis application with the dial status and the call goes on to voicemail or the
announcement as before.

Why not bridge in the app: each REST request and each event of a call that the app
bridges itself (originate, answer, bridge create/add, the second channel's events, the
hang-ups) costs Asterisk CPU; handing the media path to `Dial` leaves four requests per
forwarded call (ring, subscribe, variable, continue) and brought the app path close to a
dialplan-only exchange (bench/README.md).
It also keeps forwarded calls up through an app restart without any adoption.

The app stays subscribed to the caller's channel after it leaves Stasis, so it sees the
Dial progress (ANSWER → the call is "forwarded") and the hang-up (→ history, mail).

Ringing several phones: all at once is one Dial with the targets joined by `&` - Asterisk
forks the call, the first to answer wins and Dial cancels the others with hang-up cause
ANSWERED_ELSEWHERE (its default when another channel answers), which res_pjsip_rfc3326
sends as `Reason: SIP;cause=200;text="Call completed elsewhere"` on the CANCEL, so those
phones do not show a missed call; a busy or failing one leaves the others ringing. (Dial's
`c` option is not used: it would also mark a call the *caller* abandoned as answered
elsewhere.) One after the other is `[anshin-forward-sequence]`: one Dial per target with
its own ring time, the next after NOANSWER/BUSY/failure. Either way an unanswered forward
comes back as before.

名乗り確認 (call screening, `plan.screen`): `[anshin-forward-screened]` asks the caller for
their name, records it, and rings like the contexts above with Dial's `U` option: the phone
that answers runs `[anshin-screen-callee]` (hears the name and 「さんからの電話です。…」,
presses 1 or 2) before it is connected. 1 connects; 2, no key or the phone hanging up
sends the caller to `[anshin-screen-declined]`, back to the app as an unanswered forward
with dial status DECLINED (→ voicemail or the announcement). The caller is never answered
until 1 is pressed - so the name is recorded on early media by the dialplan's
`Record(…,n)`, not over ARI (ARI's record answers the channel first:
res_stasis_recording.c, ast_auto_answer), and the caller hears Asterisk's ringback tone in
that early media (SIP 183, Progress) from Dial's `r` until the subscriber decides. All of
it runs in Asterisk like any forward, so it survives an app restart. The recording is
deleted by the app when the call ends (`screening_recording`).

The subscriber's private number must never reach the caller. Asterisk would normally tell
the caller who answered through a connected-line update (a re-INVITE/UPDATE with
P-Asserted-Identity / Remote-Party-ID); pjsip.conf disables that on every endpoint
(send_connected_line=no, send_pai=no, send_rpid=no) and the Dial ignores the callee's
connected-line updates (option I). The integration tests inspect every SIP message the
caller receives for the destination number.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from enum import Enum

from callflow.ari import AriError
from callflow.call import Call
from callflow.config import Settings
from callflow.features.inbound.screening import ForwardPlan, RingMode
from callflow.outbound import dial_target
from callflow.stasis_args import Entry

log = logging.getLogger("callflow.forwarding")

FORWARD_CONTEXT = "anshin-forward"  # dialplan/anshin.conf
SEQUENCE_CONTEXT = "anshin-forward-sequence"  # one phone after the other
SCREEN_CONTEXT = "anshin-forward-screened"  # 名乗り確認, any ring mode
_STEP_SEPARATOR = "|"  # [anshin-forward-screened]: one Dial per step
FORWARD_VARIABLE = "ANSHIN_FORWARD"
# An unanswered forward comes back into Stasis as Entry.FORWARD_RESULT (stasis_args.py).
_FIELD_SEPARATOR = "^"


class ForwardResult(Enum):
    ANSWERED = "answered"  # answered; the call has ended by now (either side hung up)
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"
    DECLINED = "declined"  # 名乗り確認: the subscriber pressed 2, no key, or hung up


@dataclass(frozen=True)
class ForwardReport:
    result: ForwardResult
    talk_seconds: float = 0.0


def result_from_dialstatus(status: str) -> ForwardResult:
    """Dial's DIALSTATUS for a forward that did not connect."""
    match status.upper():
        case "BUSY":
            return ForwardResult.BUSY
        case "NOANSWER":
            return ForwardResult.NO_ANSWER
        case "DECLINED":  # set by [anshin-screen-declined]
            return ForwardResult.DECLINED
    return ForwardResult.FAILED  # CHANUNAVAIL, CONGESTION, INVALIDARGS, …


def _dialplan_safe(text: str) -> str:
    """A caller name as it may appear inside Dial's options: the name comes from the
    caller's SIP From header, so anything Asterisk would parse (`,` `(` `)` `^` `"` `<`
    `$` `[` …) is dropped - letters (kana and kanji too), digits and a little punctuation
    remain."""
    return "".join(ch for ch in text if ch.isalnum() or ch in " .-_'&+").strip()


def screening_recording(channel_id: str) -> str:
    """The stored-recording name (under Asterisk's recording directory) of a screened
    caller's name: one per call, without the channel id's dot (Asterisk would take what
    follows a dot for the file format). Flat, in the directory the voicemail recordings
    use; voicemail recovery skips names it does not know."""
    return "screening-" + "".join(ch if ch.isalnum() else "-" for ch in channel_id)


def dial_instructions(dial_string: str | list[str], plan: ForwardPlan,
                      name_recording: str | None = None) -> str:
    """The ANSHIN_FORWARD value `[anshin-forward]` takes apart with CUT:
    dial string ^ ring seconds ^ caller id to show ^ its presentation.
    Several phones (a list, one dial string per target): the dial strings joined by `&`
    (one forking Dial), and in the sequential mode the ring seconds joined by `&` as well
    (`[anshin-forward-sequence]` takes the n-th of each).

    A withheld caller stays withheld towards the subscriber's phone too ("anonymous",
    presentation prohibited)."""
    if plan.caller_number is None:
        caller_id, presentation = "<anonymous>", "prohib"
    else:
        name = _dialplan_safe(plan.caller_name or "")
        caller_id = f"{name} <{plan.caller_number}>" if name else f"<{plan.caller_number}>"
        presentation = "allowed"
    rings = str(plan.ring_seconds)
    if isinstance(dial_string, list):
        assert not any("&" in d for d in dial_string), dial_string
        if plan.mode is RingMode.SEQUENTIAL:
            rings = "&".join(str(t.ring_seconds) for t in plan.targets)
        dial_string = "&".join(dial_string)
    if plan.screen:
        # [anshin-forward-screened]: steps (one Dial each) and their ring times joined by
        # `|`, and the name recording as a fifth field
        assert name_recording is not None
        if plan.mode is RingMode.SEQUENTIAL:
            dial_string, rings = (d.replace("&", _STEP_SEPARATOR)
                                  for d in (dial_string, rings))
        fields: tuple[str, ...] = (dial_string, rings, caller_id, presentation,
                                   name_recording)
        assert not any(_FIELD_SEPARATOR in f for f in fields), fields
        return _FIELD_SEPARATOR.join(fields)
    fields = (dial_string, rings, caller_id, presentation)
    assert not any(_FIELD_SEPARATOR in f for f in fields), fields
    return _FIELD_SEPARATOR.join(fields)


async def prepare(call: Call, settings: Settings, plan: ForwardPlan) -> bool:
    """Set the forward up: ringback for the caller at once (180 Ringing, not answered, so
    the caller pays nothing while the phone rings), watch the caller's channel beyond
    Stasis and give the dialplan its instructions. False if Asterisk refused (the forward
    then fails over to voicemail or the announcement); raises CallerHungUp if the caller
    is gone."""
    target: str | list[str]
    if plan.targets:
        target = list(await asyncio.gather(
            *(dial_target(call.ari, settings, t.destination) for t in plan.targets)))
    else:
        target = await dial_target(call.ari, settings, plan.destination)
    try:
        await asyncio.gather(
            call.ring(), call.follow_beyond_stasis(),
            call.set_var(FORWARD_VARIABLE, dial_instructions(
                target, plan, screening_recording(call.id) if plan.screen else None)))
    except AriError as exc:
        log.warning("call %s: cannot set the forward up: %s", call.id, exc)
        return False
    return True


async def forward(call: Call, plan: ForwardPlan, *, subscriber_number: str,
                  prepared: bool) -> ForwardReport:
    """Hand the call (`prepare`d) to the dialplan's Dial towards `plan.destination` and
    follow it.

    Returns ANSWERED once an answered call has ended (either side hung up), or the reason
    it was not answered - the caller is then back in our Stasis application. Raises
    CallerHungUp if the caller gives up while it rings (Dial cancels the other side).
    """
    if not prepared:
        return ForwardReport(ForwardResult.FAILED)
    try:
        context = SCREEN_CONTEXT if plan.screen \
            else SEQUENCE_CONTEXT if plan.mode is RingMode.SEQUENTIAL else FORWARD_CONTEXT
        await call.continue_to(context, subscriber_number)
    except AriError as exc:
        log.warning("call %s: cannot hand the forward to the dialplan: %s", call.id, exc)
        return ForwardReport(ForwardResult.FAILED)
    returned = await call.follow_dialplan(Entry.FORWARD_RESULT)
    if returned.back is None:
        assert returned.answered_at is not None
        talk = time.monotonic() - returned.answered_at
        log.info("call %s: forwarded to %s, answered, %.0f s", call.id, plan.destination, talk)
        return ForwardReport(ForwardResult.ANSWERED, talk)
    status = returned.back.dial_status or ""
    log.info("call %s: forward to %s ended with %s", call.id, plan.destination, status or "?")
    return ForwardReport(result_from_dialstatus(status))
