"""応答メッセージの設定: the retrieval IVR's greeting menu (9# after login), a pure machine.

「応答メッセージの設定です。録音する場合は1とシャープ、…聞く場合は2とシャープ、…登録する
場合は3とシャープ、標準の応答メッセージに戻す場合は4とシャープを押してください。」

1# the guidance and the beep, then a recording of up to 30 s ('#' ends it); it is a draft
   until kept — one without enough sound is refused (「…録音できませんでした。」).
2# plays the draft, or else the greeting callers hear now (own or standard); a key stops it
   and begins the next entry.
3# keeps the draft as the number's greeting, then goodbye and hang-up.
4# removes the own greeting (callers hear the standard one again), then goodbye.
"""

from __future__ import annotations

import enum

from callflow.features.ivr.model import (
    Action,
    Ask,
    Event,
    Finish,
    GreetingKept,
    GreetingRecorded,
    KeepGreeting,
    KeyPressed,
    Played,
    PlayGreeting,
    ProtocolViolation,
    RecordGreeting,
    Say,
    StandardGreetingRestored,
    UseStandardGreeting,
)
from callflow.features.ivr.prompter import Prompter
from callflow.greeting import MAX_SECONDS

MENU = ("greeting_menu",)
MENU_DIGITS = 2
RECORD, LISTEN, KEEP, STANDARD = "1", "2", "3", "4"


class _Step(enum.Enum):
    MENU = "menu"
    GUIDE = "guide"  # 「発信音のあとに…」 and the beep playing
    RECORDING = "recording"
    LISTENING = "listening"
    KEEPING = "keeping"
    RESTORING = "restoring"


class GreetingMenu:
    def __init__(self, prompter: Prompter, number: str) -> None:
        self.prompter = prompter
        self.number = number
        self.step = _Step.MENU
        self.draft: bytes | None = None
        self.draft_ms = 0

    def start(self) -> Action:
        self.step = _Step.MENU
        return self.prompter.ask(MENU, MENU_DIGITS)

    def _menu_after(self, *prefix: str) -> Action:
        self.step = _Step.MENU
        return self.prompter.ask_after(prefix, MENU, MENU_DIGITS)

    def feed(self, event: Event) -> Action:
        match self.step:
            case _Step.MENU:
                return self._choice(event)
            case _Step.GUIDE if isinstance(event, Played):
                self.step = _Step.RECORDING
                return RecordGreeting(self.number, MAX_SECONDS)
            case _Step.RECORDING if isinstance(event, GreetingRecorded):
                if event.audio is None:
                    return self._menu_after("greeting_not_recorded")
                self.draft, self.draft_ms = event.audio, event.duration_ms
                return self._menu_after("greeting_recorded")
            case _Step.LISTENING if isinstance(event, Played):
                return self.start()
            case _Step.LISTENING if isinstance(event, KeyPressed):
                # the key stopped the greeting: it begins the next menu entry
                self.start()
                return Ask((), MENU_DIGITS, typed=event.digit)
            case _Step.KEEPING if isinstance(event, GreetingKept):
                return Finish(("greeting_kept", "goodbye"))
            case _Step.RESTORING if isinstance(event, StandardGreetingRestored):
                return Finish(("greeting_standard", "goodbye"))
        raise ProtocolViolation(self.step, event)

    def _choice(self, event: Event) -> Action:
        got = self.prompter.answer(event)
        if not isinstance(got, str):
            return got
        if got == RECORD:
            self.step = _Step.GUIDE
            return Say(("greeting_record_guide", "beep"))
        if got == LISTEN:
            self.step = _Step.LISTENING
            return PlayGreeting(self.number, self.draft)
        if got == KEEP:
            if self.draft is None:
                return self._menu_after("greeting_no_draft")
            self.step = _Step.KEEPING
            return KeepGreeting(self.number, self.draft, self.draft_ms)
        if got == STANDARD:
            self.step = _Step.RESTORING
            return UseStandardGreeting(self.number)
        return self.prompter.retry(("invalid_input",))
