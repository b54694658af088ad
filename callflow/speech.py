"""Values -> sequences of prompt ids, for one ARI playback list.

Pure functions, no I/O. Every id returned is defined in
``ivr_prompts/manifest.toml`` (checked by tests/unit/test_speech.py); the app
plays a result as ``[f"sound:{i}" for i in ids]`` in a single playback.

Conventions chosen here:

* Telephone numbers are read digit by digit (ゼロ, イチ, ニー, ... ゴー ...), as
  operators read numbers; hyphens and spaces are ignored.
* Times are spoken in Japan time (UTC+9; Japan has had no DST since 1951, so a
  fixed offset is exact for any recording date and needs no tzdata) on a
  12-hour clock with 午前/午後 and hours 0-11: midnight is 午前0時 and noon is
  午後0時 (the broadcast/official convention; "午前12時" is ambiguous).
* On the hour the minute is omitted: 15:00 is "午後3時", not "午後3時0分".
* Counts of messages use the fused forms (いっけん, ろっけん, はっけん,
  じゅっけん: ``ken_1`` ... ``ken_20``); larger counts fall back to
  ``count(n)`` + ``ken``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from callflow.clock import JST

__all__ = [
    "JST",
    "MAX_COUNT",
    "count",
    "counted_ken",
    "datetime_ja",
    "digits",
    "message_caller",
    "message_count_guidance",
    "message_header",
    "nth_ken",
]

MAX_COUNT = 99
_MAX_SINGLE_COUNT = 20
_MAX_KEN = 20


def digits(number: str) -> list[str]:
    """``"050-1234-5678"`` -> ``["digit_0", "digit_5", "digit_0", ...]``.

    Hyphens and spaces are ignored. Anything else that is not an ASCII digit
    (``+``, ``*``, ``#``, full-width digits) raises :class:`ValueError`, as does
    a string with no digit at all: normalise numbers before speaking them.
    """
    out: list[str] = []
    for ch in number:
        if ch in "- ":
            continue
        if not ("0" <= ch <= "9"):
            raise ValueError(f"cannot read {ch!r} in {number!r} as a telephone digit")
        out.append(f"digit_{ch}")
    if not out:
        raise ValueError(f"no digits in {number!r}")
    return out


def count(n: int) -> list[str]:
    """A plain number 0..99: 0-20 are one prompt each; 21-99 are tens + unit
    (``count(42)`` -> ``["count_40", "count_2"]``). Out of range -> ValueError."""
    if isinstance(n, bool) or not 0 <= n <= MAX_COUNT:
        raise ValueError(f"count() speaks 0..{MAX_COUNT}, got {n!r}")
    if n <= _MAX_SINGLE_COUNT:
        return [f"count_{n}"]
    tens, unit = divmod(n, 10)
    return [f"count_{tens * 10}"] + ([f"count_{unit}"] if unit else [])


def counted_ken(n: int) -> list[str]:
    """``n`` 件 with the correct sound change: 1..20 fused (``ken_6`` ろっけん),
    21..99 as ``count(n) + ["ken"]``. n < 1 -> ValueError."""
    if isinstance(n, bool) or n < 1:
        raise ValueError(f"counted_ken() needs n >= 1, got {n!r}")
    if n <= _MAX_KEN:
        return [f"ken_{n}"]
    return [*count(n), "ken"]


def _to_jst(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("datetime_ja() needs an aware datetime (naive times are ambiguous)")
    return dt.astimezone(JST)


def datetime_ja(dt: datetime, *, now: datetime | None = None) -> list[str]:
    """Month, day, 午前/午後, hour, minute in Japan time.

    ``2024-11-25 15:42 JST`` -> ``["month_11", "day_25", "pm", "hour_3",
    "minute_42"]`` ("じゅういちがつ にじゅうごにち ごご さんじ よんじゅうにふん").
    On the hour the minute is omitted. If ``now`` is given and ``dt`` falls on
    the same Japanese calendar day (or the day before), the date is spoken as
    ``today`` (きょう) / ``yesterday`` (きのう) instead of month and day.
    A naive ``dt`` or ``now`` raises :class:`ValueError`.
    """
    local = _to_jst(dt)
    when: list[str] = [f"month_{local.month}", f"day_{local.day}"]
    if now is not None:
        today: date = _to_jst(now).date()
        if local.date() == today:
            when = ["today"]
        elif local.date() == today - timedelta(days=1):
            when = ["yesterday"]
    when.append("am" if local.hour < 12 else "pm")
    when.append(f"hour_{local.hour % 12}")
    if local.minute:
        when.append(f"minute_{local.minute}")
    return when


def message_count_guidance(new: int, saved: int) -> list[str]:
    """The guidance after login to the message center.

    * no messages at all -> ``["no_messages"]`` (which ends with ご利用ありがとう
      ございました; the caller then hangs up the call, R-VM-3);
    * otherwise "新しいメッセージが N件あります。" when ``new`` > 0, followed by
      "保存されているメッセージが M件あります。" when ``saved`` > 0.

    Negative counts raise :class:`ValueError`.
    """
    for name, value in (("new", new), ("saved", saved)):
        if isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a count >= 0, got {value!r}")
    if new == 0 and saved == 0:
        return ["no_messages"]
    out: list[str] = []
    if new:
        out += ["new_messages_prefix", *counted_ken(new), "arimasu"]
    if saved:
        out += ["saved_messages_prefix", *counted_ken(saved), "arimasu"]
    return out


def _dialable(caller: str | None) -> str:
    """The caller id as a Japanese caller would dial it back: ``+81 90-...`` ->
    ``090...``, other E.164 ``+X`` -> ``010X`` (international prefix); only
    digits kept. Empty when there is nothing to read."""
    if not caller:
        return ""
    number = "".join(ch for ch in caller.strip() if "0" <= ch <= "9")
    if not number:
        return ""
    if caller.strip().startswith("+"):
        number = "0" + number[2:] if number.startswith("81") else "010" + number
    return number


def nth_ken(n: int) -> list[str]:
    """``n`` 件目 (the position of a message): 1..20 one prompt each (``nth_1``
    いっけんめ ... ``nth_20``; a mailbox holds at most 20 messages), larger as
    ``count(n) + ["kenme"]``. n < 1 -> ValueError."""
    if isinstance(n, bool) or n < 1:
        raise ValueError(f"nth_ken() needs n >= 1, got {n!r}")
    if n <= _MAX_KEN:
        return [f"nth_{n}"]
    return [*count(n), "kenme"]


def message_header(
    position: int,
    received_at: datetime,
    *,
    already_heard: bool = False,
    now: datetime | None = None,
) -> list[str]:
    """What is said before a message is played (R-VM-4), kept short as carriers do:
    ``<n>件目。[再生済みです。] <date time>`` (e.g. 1件目。今日 午後2時30分。) - about
    3-5 s. The caller's number is read only on request (`message_caller`).
    """
    out = nth_ken(position)
    if already_heard:
        out.append("already_heard")
    out += datetime_ja(received_at, now=now)
    return out


def message_caller(caller: str | None) -> list[str]:
    """Who left a message, read on request: このメッセージは 電話番号 <digits> からです。
    or, for an anonymous/withheld caller (``caller`` None, empty or without
    digits, e.g. "anonymous"), このメッセージは 番号非通知の方からです。
    A caller in E.164 form is read as dialled from Japan (``+8190...`` -> 090...,
    ``+1...`` -> 0101...).
    """
    number = _dialable(caller)
    if number:
        return ["message_received_at", "from_number", *digits(number), "kara"]
    return ["message_received_at", "from_anonymous"]
